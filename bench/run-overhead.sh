#!/usr/bin/env bash
# What `cenv run` costs in front of a command, measured with hyperfine.
#
# For each target the same command is run (a) directly, (b) through env(1)
# with the same variables — the floor for any wrapper: one extra exec — and
# (c) through `cenv run`. Targets: `true` and `python -c pass`, in an env
# without activate.d scripts (the fast path) and in one with a script. Then
# the Landlock rule's cost with an envs root of 1,000 envs (enforce vs off),
# the instructions cenv executes up to exec (callgrind: deterministic), and
# cenv's peak memory; root starting a command as a user against setpriv(1);
# the system calls up to the exec (bench/syscalls.sh); `cenv list` over
# 1,000 envs against `ls -l`. Prints medians and the ratios c/b;
# bench/RESULTS.md keeps one row per change that moved a figure.
#
# As root it measures as the user `nobody` (root is not a caller cenv runs as).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if ! command -v hyperfine >/dev/null || ! command -v valgrind >/dev/null || ! command -v strace >/dev/null || [ ! -x /usr/bin/time ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine time valgrind strace
    else
        echo "hyperfine and GNU time are needed: sudo apt-get install hyperfine time valgrind strace" >&2; exit 1
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
if [ "$(id -u)" = 0 ]; then runner_group=nogroup; else runner_group=$(id -gn); fi
# policy on (a group restriction the runner passes), trust check and audit on
printf 'envs_dirs = ["%s/envs"]\n[envs.fast]\ngroups = ["%s"]\n[envs.scripted]\ngroups = ["%s"]\n' \
    "$work" "$runner_group" "$runner_group" > "$work/fast.toml"
printf 'envs_dirs = ["%s/big"]\n' "$work" > "$work/big-enforce.toml"
printf 'envs_dirs = ["%s/big"]\nlandlock = "off"\n' "$work" > "$work/big-off.toml"
mkdir -p "$work/out"

# A syslog daemon, so that every run writes its audit line for real.
syslog_pid=""
if [ "$(id -u)" = 0 ] && [ ! -S /dev/log ] && command -v rsyslogd >/dev/null; then
    cat > "$work/rsyslog.conf" <<CONF
module(load="imuxsock" SysSock.Name="/dev/log")
authpriv.* action(type="omfile" file="$work/audit.log")
CONF
    rsyslogd -f "$work/rsyslog.conf" -i "$work/rsyslogd.pid"
    sleep 0.5
    syslog_pid=$(cat "$work/rsyslogd.pid")
fi
trap '[ -n "$syslog_pid" ] && kill "$syslog_pid"; rm -rf "$work"' EXIT
[ -S /dev/log ] && echo "audit: a syslog daemon is listening on /dev/log" || echo "audit: no syslog daemon (cenv warns on each run)"
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

# Each case runs in ROUNDS short hyperfine rounds, one after the other, and
# the median is taken over every run of every round: machine noise that comes
# and goes then hits the three variants alike.
ROUNDS=${ROUNDS:-7}
RUNS=${RUNS:-60}
bench() {
    local name=$1; shift
    for round in $(seq 1 "$ROUNDS"); do
        as_runner env CENV_CONFIG="$work/fast.toml" hyperfine -N --warmup 10 --runs "$RUNS" --style none \
            --export-json "$work/out/$name.$round.json" "$@" >/dev/null
    done
}

run_case() {
    local name=$1 env=$2; shift 2
    local target=("$@")
    local prefix="$work/envs/$env"
    bench "$name" \
        -n direct "$prefix/bin/${target[*]}" \
        -n env "$(floor_env "$env") ${target[*]}" \
        -n cenv "$work/cenv run $env ${target[*]}"
}

run_case true-fast fast true
run_case python-fast fast python -c pass
run_case true-script scripted true
run_case python-script scripted python -c pass
bench landlock-1000 \
    -n landlock-off "env CENV_CONFIG=$work/big-off.toml $work/cenv run env0 true" \
    -n landlock-enforce "env CENV_CONFIG=$work/big-enforce.toml $work/cenv run env0 true"

# Root starting a command as a user: cenv run --user against setpriv(1),
# which does the drop alone (no policy, trust check, Landlock or audit), in
# the same hyperfine rounds. A run from root reads only the system config
# (none here: the defaults), so the env is named by its prefix.
if [ "$(id -u)" = 0 ]; then
    for round in $(seq 1 "$ROUNDS"); do
        hyperfine -N --warmup 10 --runs "$RUNS" --style none --export-json "$work/out/as-user.$round.json" \
            -n setpriv "setpriv --reuid nobody --regid nogroup --init-groups /usr/bin/true" \
            -n "cenv --user" "$work/cenv run --user nobody -p $work/envs/fast true" >/dev/null
    done
fi

# A deterministic count beside the timings: the instructions cenv executes
# up to its exec, repeatable whatever else the machine is doing. callgrind
# writes no profile when execve replaces the process, so it is told to dump
# one before every execve and raw syscall() (cenv execs through
# syscall(SYS_execveat)); the parts add up to everything before the exec.
# valgrind 3.19 does not know Landlock's system calls, so the count is
# taken with landlock = "best-effort": it leaves out building the rule,
# whose cost is system calls (the timings above show it).
printf 'envs_dirs = ["%s/envs"]\nlandlock = "best-effort"\n[envs.fast]\ngroups = ["%s"]\n' \
    "$work" "$runner_group" > "$work/callgrind.toml"
chmod 644 "$work/callgrind.toml"
instructions() {
    rm -f "$work"/out/cg.*
    as_runner env "$@" >/dev/null 2>&1 || true
    cat "$work"/out/cg.* 2>/dev/null | awk '/^summary:/ {s += $2} END {print s}'
}
callgrind="valgrind --tool=callgrind --dump-before=execve --dump-before=syscall --callgrind-out-file=$work/out/cg.out"
if command -v valgrind >/dev/null; then
    ir_fast=$(instructions CENV_CONFIG="$work/callgrind.toml" $callgrind "$work/cenv" run fast true)
    ir_version=$(instructions $callgrind "$work/cenv" --version)
    ir_env=$(instructions $callgrind /usr/bin/env --version)
else
    ir_fast=n/a; ir_version=n/a; ir_env=n/a
fi

# System calls, counted (bench/syscalls.sh: strace from cenv's start to the
# exec of the command): they do not move with the machine's load.
echo
SYSLOG=0 bash bench/syscalls.sh "$work/cenv"
echo

# GNU time's child is small before it execs cenv, so its peak is cenv's (or
# the command's, which for `true` is smaller).
peak_kib=$(as_runner env CENV_CONFIG="$work/fast.toml" /usr/bin/time -f %M "$work/cenv" run fast true 2>&1 >/dev/null | tail -1)
floor_kib=$(as_runner /usr/bin/time -f %M /usr/bin/env A=b /usr/bin/true 2>&1 >/dev/null | tail -1)

"$python" - "$work/out" "$peak_kib" "$floor_kib" "$ir_fast" "$ir_version" "$ir_env" <<'PY'
import json, os, sys
out, peak, floor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ir_fast, ir_version, ir_env = sys.argv[4:7]
import glob, statistics
def medians(name):
    times = {}
    for path in glob.glob(os.path.join(out, name + ".*.json")):
        for r in json.load(open(path))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    return {command: statistics.median(t) * 1000 for command, t in times.items()}
print("medians over all runs of all rounds")
print("%-16s %10s %10s %10s %8s" % ("case", "direct ms", "env ms", "cenv ms", "cenv/env"))
for case in ["true-fast", "python-fast", "true-script", "python-script"]:
    m = medians(case)
    print("%-16s %10.3f %10.3f %10.3f %7.2fx" % (case, m["direct"], m["env"], m["cenv"], m["cenv"] / m["env"]))
m = medians("as-user")
if m:
    print("root -> nobody: setpriv %.3f ms, cenv run --user %.3f ms (%.2fx)"
          % (m["setpriv"], m["cenv --user"], m["cenv --user"] / m["setpriv"]))
m = medians("landlock-1000")
print("landlock, 1000 envs in the root (the root read-only, the default): off %.3f ms, enforce %.3f ms (extra %.3f ms)"
      % (m["landlock-off"], m["landlock-enforce"], m["landlock-enforce"] - m["landlock-off"]))
print("instructions (callgrind, up to exec): cenv run fast true %s; cenv --version %s; env --version %s"
      % (ir_fast, ir_version, ir_env))
print("peak memory: cenv run fast true %.2f MiB; env(1) running true %.2f MiB" % (peak / 1024, floor / 1024))
PY

# ---- the tools around cenv run: list, doctor, verify ----
echo
echo "== tools: cenv list over 1,000 envs; doctor and verify on an env of 100,000 files"
"$python" - "$work" <<'PY'
import hashlib, json, os, sys
work = sys.argv[1]
# 1,000 envs with a python record each, for cenv list
for i in range(1000):
    meta = os.path.join(work, "many", f"env{i}", "conda-meta")
    os.makedirs(meta, exist_ok=True)
    open(os.path.join(meta, "python-3.11.7-h0_0.json"), "w").write("{}")
# one env of 100,000 small files with an installer record, for doctor and verify
prefix = os.path.join(work, "bigenv", "huge")
paths = []
for d in range(100):
    directory = os.path.join(prefix, "lib", f"d{d}")
    os.makedirs(directory, exist_ok=True)
    for f in range(1000):
        data = (f"{d}/{f} " * 40).encode()
        rel = f"lib/d{d}/f{f}.py"
        with open(os.path.join(prefix, rel), "wb") as out:
            out.write(data)
        paths.append({"_path": rel, "path_type": "hardlink", "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)})
os.makedirs(os.path.join(prefix, "conda-meta"), exist_ok=True)
json.dump({"name": "huge", "version": "1", "build": "0", "paths_data": {"paths": paths, "paths_version": 1}},
          open(os.path.join(prefix, "conda-meta", "huge-1-0.json"), "w"))
PY
printf 'envs_dirs = ["%s/many"]\n' "$work" > "$work/many.toml"
printf 'envs_dirs = ["%s/bigenv"]\n' "$work" > "$work/bigenv.toml"
chmod -R a+rX "$work/many" "$work/bigenv" "$work"/*.toml
# warm the cache, then measure
as_runner env CENV_CONFIG="$work/bigenv.toml" "$work/cenv" verify huge >/dev/null
# cenv list against ls -l of the same envs root, in the same hyperfine runs
for round in $(seq 1 "$ROUNDS"); do
    as_runner hyperfine -N --warmup 3 --runs 20 --style none --export-json "$work/out/tools-list.$round.json" \
        -n list-1000 "env CENV_CONFIG=$work/many.toml $work/cenv list" \
        -n "ls -l" "ls -l $work/many" >/dev/null
done
as_runner hyperfine -N -i --warmup 1 --runs 5 --style none --export-json "$work/out/tools-scan.1.json" \
    -n doctor-100k "env CENV_CONFIG=$work/bigenv.toml $work/cenv doctor huge" \
    -n verify-100k "env CENV_CONFIG=$work/bigenv.toml $work/cenv verify huge" \
    -n "find+xargs -P2 sha256sum" "sh -c 'find $work/bigenv/huge -type f -print0 | xargs -0 -P2 sha256sum >/dev/null'" >/dev/null
"$python" - "$work/out" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
for name in ["tools-list", "tools-scan"]:
    times = {}
    for path in glob.glob(os.path.join(out, name + ".*.json")):
        for r in json.load(open(path))["results"]:
            times.setdefault(r["command"], []).extend(r["times"])
    for command, t in times.items():
        print("%-28s median %8.2f ms" % (command, statistics.median(t) * 1000))
PY
