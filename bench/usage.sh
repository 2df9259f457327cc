#!/usr/bin/env bash
# What `cenv usage` costs on a large authpriv log, against `grep -c cenv`
# over the same file in the same hyperfine run (the issue: well under 3x).
#
# The log (default 1 GiB, CENV_BENCH_LOG_MB) is a mix a busy server writes:
# sshd and sudo lines, sudo lines naming cenv in their command, cron, and
# one cenv audit line in ten (runs, refusals, shells), in rsyslog's RFC 3339
# format. Both read it from the page cache (a warm-up run first).
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
mb=${CENV_BENCH_LOG_MB:-1024}
work=$(mktemp -d /var/tmp/cenv-bench-usage.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/auth.log" "$mb" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
lines = []
for i in range(1000):
    t = f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i:06d}+00:00 gpu{i % 8}"
    u, e = f"user{i % 97}", f"env{i % 41}"
    k = i % 10
    if k == 0:
        lines.append(f"{t} cenv[{10000 + i}]: {u} : TTY=pts/{i % 9} ; ENV={e} ; PREFIX=/opt/miniconda/envs/{e} ; PWD=/home/{u}/work ; USER={u} ; UMASK=027 ; LANDLOCK=enforced (ABI 4) ; COMMAND=/opt/miniconda/envs/{e}/bin/python train.py --epochs 10\n")
    elif k == 1:
        lines.append(f"{t} sshd[{i}]: Accepted publickey for {u} from 10.0.{i % 250}.{i % 200} port {30000 + i} ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n")
    elif k == 2:
        lines.append(f"{t} sudo[{i}]: {u} : TTY=pts/1 ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/cenv run {e} python -c pass\n")
    elif k == 3:
        lines.append(f"{t} CRON[{i}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n")
    elif k == 4:
        lines.append(f"{t} cenv[{20000 + i}]: {u} : command refused ; TTY=pts/2 ; ENV={e} ; REASON=not in group ai-researchers ; PWD=/home/{u} ; COMMAND=python\n")
    else:
        lines.append(f"{t} sshd[{i}]: pam_unix(sshd:session): session closed for user {u}\n")
block = "".join(lines).encode()
with open(path, "wb") as f:
    for _ in range(mb * 1024 * 1024 // len(block) + 1):
        f.write(block)
PY
ls -l "$work/auth.log"
# --output=pipe: GNU grep stops at the first match when its output is
# /dev/null, which is what hyperfine gives it otherwise
hyperfine --warmup 1 --runs 5 -N --output=pipe \
    "grep -c cenv $work/auth.log" \
    "target/release/cenv usage --log $work/auth.log"
