#!/usr/bin/env bash
# What `cenv snapshot --all` costs on an envs root of 1,000 envs.
#
# Each env gets 60 package records with 40 recorded files each and a
# site-packages directory, written like rattler's records. Measured with
# hyperfine as `nobody`: the daily run when nothing changed (the case the
# issue targets: <= 1 s), the same run with the fingerprints removed (every
# record parsed again), and, as the floor in the same run, find(1) listing
# every conda-meta/ entry with its size and time — the least a change check
# must read.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine
    else
        echo "hyperfine is needed: sudo apt-get install hyperfine" >&2; exit 1
    fi
fi
cargo build --release --quiet
envs=${CENV_BENCH_ENVS:-1000}
work=$(mktemp -d /var/tmp/cenv-bench-snapshot.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp target/release/cenv "$work/cenv"
python3 - "$work/envs" "$envs" <<'PY'
import json, os, sys
root, count = sys.argv[1], int(sys.argv[2])
for e in range(count):
    prefix = os.path.join(root, f"env{e:04}")
    meta = os.path.join(prefix, "conda-meta")
    os.makedirs(meta)
    os.makedirs(os.path.join(prefix, "lib/python3.11/site-packages"))
    for p in range(60):
        name, version, build = f"pkg{p}", f"1.{e % 7}.{p}", "h0_0"
        record = {
            "name": name, "version": version, "build": build, "build_number": 0,
            "depends": [f"pkg{d} >=1" for d in range(max(0, p - 3), p)],
            "channel": "https://conda.anaconda.org/conda-forge/",
            "subdir": "linux-64",
            "url": f"https://conda.anaconda.org/conda-forge/linux-64/{name}-{version}-{build}.conda",
            "md5": "0123456789abcdef0123456789abcdef", "sha256": "ab" * 32, "size": 123456,
            "files": [f"lib/{name}/f{i}.py" for i in range(40)],
            "paths_data": {"paths_version": 1, "paths": [
                {"_path": f"lib/{name}/f{i}.py", "path_type": "hardlink", "sha256": "cd" * 32,
                 "size_in_bytes": 1000} for i in range(40)]},
        }
        with open(os.path.join(meta, f"{name}-{version}-{build}.json"), "w") as f:
            json.dump(record, f)
PY
printf 'envs_dirs = ["%s"]\n' "$work/envs" > "$work/cenv.toml"
mkdir "$work/snaps"
chown -R nobody "$work/snaps" 2>/dev/null || true
as_nobody=()
if [ "$(id -u)" = 0 ]; then as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups); fi
snapshot="${as_nobody[*]} $work/cenv --config $work/cenv.toml snapshot --all --dir $work/snaps"
start=$(date +%s%N)
$snapshot > /dev/null
echo "first snapshot of $envs envs (everything written): $(( ($(date +%s%N) - start) / 1000000 )) ms"
du -sh "$work/snaps" | sed 's/^/snapshot directory: /'
hyperfine --warmup 1 --runs 10 --export-json "$work/h.json" \
    -n floor "find $work/envs -mindepth 3 -maxdepth 3 -path '*/conda-meta/*' -printf '%s %T@ %C@\n' > /dev/null" \
    -n unchanged "$snapshot > /dev/null" \
    -n reparse "rm -f $work/snaps/*/.fingerprint; $snapshot > /dev/null"
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"floor {r['floor']*1000:.0f} ms; unchanged {r['unchanged']*1000:.0f} ms ({r['unchanged']/r['floor']:.2f}x the floor); "
      f"without fingerprints {r['reparse']*1000:.0f} ms ({r['reparse']/r['floor']:.2f}x)")
PY
