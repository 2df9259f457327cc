#!/usr/bin/env bash
# What `cenv run` costs in front of a command, measured with hyperfine.
#
# For each target the same command is run (a) directly, (b) through env(1)
# with the same variables — the floor for any wrapper: one extra exec — and
# (c) through `cenv run`. Targets: `true` and `python -c pass`, in an env
# without activate.d scripts (the fast path) and in one with a script. Then
# the Landlock rule's cost with an envs root of 1,000 envs (enforce vs off),
# and cenv's peak memory. Prints medians and the ratios c/b.
#
# As root it measures as the user `nobody` (root is not a caller cenv runs as).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v hyperfine >/dev/null || [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time
    else
        echo "hyperfine and GNU time are needed: sudo apt-get install hyperfine time" >&2; exit 1
    fi
fi
cargo build --release --quiet

work=$(mktemp -d /var/tmp/cenv-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp target/release/cenv "$work/cenv"
python=/usr/bin/python3

make_env() {
    local prefix=$1
    mkdir -p "$prefix/conda-meta" "$prefix/bin"
    ln -s "$python" "$prefix/bin/python"
    ln -s /usr/bin/true "$prefix/bin/true"
    printf 'home = /usr/bin\n' > "$prefix/pyvenv.cfg"
    echo '{}' > "$prefix/conda-meta/python-3.11.0-bench_0.json"
}
make_env "$work/envs/fast"
make_env "$work/envs/scripted"
mkdir -p "$work/envs/scripted/etc/conda/activate.d"
echo 'export BENCH_SCRIPT=1' > "$work/envs/scripted/etc/conda/activate.d/bench.sh"
for i in $(seq 0 999); do
    mkdir -p "$work/big/env$i/conda-meta"
done
make_env "$work/big/env0"
printf 'envs_dirs = ["%s/envs"]\n' "$work" > "$work/fast.toml"
printf 'envs_dirs = ["%s/big"]\n' "$work" > "$work/big-enforce.toml"
printf 'envs_dirs = ["%s/big"]\nlandlock = "off"\n' "$work" > "$work/big-off.toml"
printf 'envs_dirs = ["%s/big"]\nreadonly_paths = ["%s/big"]\n' "$work" "$work" > "$work/big-root-ro.toml"
mkdir -p "$work/out"
chmod -R a+rX "$work"; chmod 1777 "$work/out"

as_runner() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid nobody --regid nogroup --clear-groups -- env HOME="$work" "$@"
    else
        "$@"
    fi
}

# the variables activation sets, for the env(1) floor
floor_env() {
    local prefix="$work/envs/$1"
    echo "/usr/bin/env PATH=$prefix/bin:$PATH CONDA_PREFIX=$prefix CONDA_SHLVL=1 CONDA_DEFAULT_ENV=$1 CONDA_PROMPT_MODIFIER='($1) '"
}

run_case() {
    local name=$1 env=$2; shift 2
    local target=("$@")
    local prefix="$work/envs/$env"
    as_runner env CENV_CONFIG="$work/fast.toml" hyperfine -N --warmup 20 --min-runs 200 --style none \
        --export-json "$work/out/$name.json" \
        -n direct "$prefix/bin/${target[*]}" \
        -n env "$(floor_env "$env") ${target[*]}" \
        -n cenv "$work/cenv run $env ${target[*]}" >/dev/null
}

run_case true-fast fast true
run_case python-fast fast python -c pass
run_case true-script scripted true
run_case python-script scripted python -c pass
as_runner hyperfine -N --warmup 20 --min-runs 200 --style none --export-json "$work/out/landlock-1000.json" \
    -n landlock-off "env CENV_CONFIG=$work/big-off.toml $work/cenv run env0 true" \
    -n landlock-enforce "env CENV_CONFIG=$work/big-enforce.toml $work/cenv run env0 true" \
    -n landlock-root-read-only "env CENV_CONFIG=$work/big-root-ro.toml $work/cenv run env0 true" >/dev/null

# GNU time's child is small before it execs cenv, so its peak is cenv's (or
# the command's, which for `true` is smaller).
peak_kib=$(as_runner env CENV_CONFIG="$work/fast.toml" /usr/bin/time -f %M "$work/cenv" run fast true 2>&1 >/dev/null | tail -1)
floor_kib=$(as_runner /usr/bin/time -f %M /usr/bin/env A=b /usr/bin/true 2>&1 >/dev/null | tail -1)

"$python" - "$work/out" "$peak_kib" "$floor_kib" <<'PY'
import json, os, sys
out, peak, floor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def medians(name):
    data = json.load(open(os.path.join(out, name + ".json")))
    return {r["command"]: r["median"] * 1000 for r in data["results"]}
print("%-16s %10s %10s %10s %8s" % ("case", "direct ms", "env ms", "cenv ms", "cenv/env"))
for case in ["true-fast", "python-fast", "true-script", "python-script"]:
    m = medians(case)
    print("%-16s %10.3f %10.3f %10.3f %7.2fx" % (case, m["direct"], m["env"], m["cenv"], m["cenv"] / m["env"]))
m = medians("landlock-1000")
print("landlock, 1000 envs in the root: off %.3f ms, enforce %.3f ms (extra %.3f ms); "
      "with the root in readonly_paths %.3f ms (extra %.3f ms)"
      % (m["landlock-off"], m["landlock-enforce"], m["landlock-enforce"] - m["landlock-off"],
         m["landlock-root-read-only"], m["landlock-root-read-only"] - m["landlock-off"]))
print("peak memory: cenv run fast true %.2f MiB; env(1) running true %.2f MiB" % (peak / 1024, floor / 1024))
PY
