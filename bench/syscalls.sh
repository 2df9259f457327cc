#!/usr/bin/env bash
# The system calls `cenv run` makes from its start to the exec of the
# command, and `cenv list` per env: counted with strace, so the figures do
# not move with the machine (a system call costs 1 µs on one VM and 5 µs on
# another). Issue 24's budget: at most 150 for `cenv run plain true` with
# every check on (policy, trust walk with ACLs, Landlock, audit line), and a
# constant number per env for `cenv list`.
#
# The layout is the issue's: an env four levels deep under /srv, a policy
# group the runner passes, a syslog daemon if one can be started. Run as root
# (it measures as `nobody`) or as an ordinary user. SYSLOG=0: start no
# syslog daemon (the audit line then fails; best effort warns).
#
#   bench/syscalls.sh [CENV_BINARY]     # default: a release build of this checkout
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
command -v strace >/dev/null || { echo "strace is needed (apt-get install strace)" >&2; exit 1; }
cenv=${1:-}
if [ -z "$cenv" ]; then
    cargo build --release --quiet
    cenv=target/release/cenv
fi

work=$(mktemp -d /srv/cenv-syscalls.XXXXXX 2>/dev/null || mktemp -d)
syslog_pid=""
# the syslog daemon always goes; KEEP=1 keeps the traces and the tree
cleanup() {
    if [ -n "$syslog_pid" ]; then
        kill "$syslog_pid" 2>/dev/null || true
        rm -f /dev/log
    fi
    [ -n "${KEEP:-}" ] && echo "kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work"
cp "$cenv" "$work/cenv"
prefix="$work/lab/shared/miniconda/envs/plain"
mkdir -p "$prefix/conda-meta" "$prefix/bin"
ln -s /usr/bin/true "$prefix/bin/true"
echo '{}' > "$prefix/conda-meta/python-3.11.0-bench_0.json"
for i in $(seq 0 999); do mkdir -p "$work/big/env$i/conda-meta"; done
if [ "$(id -u)" = 0 ]; then group=nogroup; else group=$(id -gn); fi
printf 'envs_dirs = ["%s"]\n[envs.plain]\ngroups = ["%s"]\n' "$(dirname "$prefix")" "$group" > "$work/run.toml"
printf 'envs_dirs = ["%s/big"]\n' "$work" > "$work/list.toml"
if [ "${SYSLOG:-1}" = 1 ] && [ "$(id -u)" = 0 ] && [ ! -S /dev/log ] && command -v rsyslogd >/dev/null; then
    printf 'module(load="imuxsock" SysSock.Name="/dev/log")\n*.* action(type="omfile" file="%s/log")\n' "$work" > "$work/rsyslog.conf"
    rsyslogd -f "$work/rsyslog.conf" -i "$work/rsyslogd.pid"
    sleep 0.3
    syslog_pid=$(cat "$work/rsyslogd.pid")
fi
chmod -R a+rX "$work"
mkdir -m 1777 "$work/out"
as_runner() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid nobody --regid nogroup --clear-groups -- env -i PATH=/usr/bin:/bin HOME="$work" "$@"
    else
        env -i PATH=/usr/bin:/bin HOME="$HOME" "$@"
    fi
}

# Every system call of cenv itself: from its execve to the execve(at) of
# the command (or to its exit), by name.
count() {
    local out=$1
    shift
    as_runner strace -f -qq -o "$out" "$@" >/dev/null 2>&1 || true
    python3 - "$out" <<'PY'
import collections, re, sys
lines = open(sys.argv[1]).read().splitlines()
calls = []
for line in lines:
    m = re.match(r'^(?:\d+\s+)?([a-z_0-9]+)\(', line)
    if m:
        calls.append(m.group(1))
# the first execve is cenv's own start; the next exec is the command
start = calls.index('execve') + 1
rest = calls[start:]
end = next((i for i, c in enumerate(rest) if c in ('execve', 'execveat')), len(rest))
mine = rest[:end]
by_name = collections.Counter(mine)
print(len(mine), ' '.join(f'{n}:{c}' for n, c in by_name.most_common()))
PY
}

echo "== cenv run plain true ($prefix)"
count "$work/out/run.trace" "$work/cenv" --config "$work/run.toml" run plain true
echo "== cenv --version"
count "$work/out/version.trace" "$work/cenv" --version
echo "== cenv list, 1 env vs 1,000 envs"
mkdir -p "$work/one/env0/conda-meta"
printf 'envs_dirs = ["%s/one"]\n' "$work" > "$work/one.toml"
chmod -R a+rX "$work"
one=$(count "$work/out/one.trace" "$work/cenv" --config "$work/one.toml" list | cut -d' ' -f1)
big=$(count "$work/out/big.trace" "$work/cenv" --config "$work/list.toml" list | cut -d' ' -f1)
echo "1 env: $one, 1,000 envs: $big — $(( (big - one) / 999 )) per env"
