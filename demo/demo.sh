#!/usr/bin/env bash
# Builds cenv and runs its main job on a self-contained demo: a small
# conda-layout env created in a temporary directory (bin/python running the
# system Python, conda-meta/, an activate.d script, a state variable), then
# `cenv run` into it, printing what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building cenv (cargo build --release)"
cargo build --release --quiet
cenv="$PWD/target/release/cenv"

python=$(command -v /usr/bin/python3 || command -v python3)
demo=$(mktemp -d /var/tmp/cenv-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
chmod 755 "$demo"
prefix="$demo/envs/demo"
mkdir -p "$prefix/conda-meta" "$prefix/bin" "$prefix/etc/conda/activate.d" "$demo/work"
chmod 1777 "$demo/work"
ln -s "$python" "$prefix/bin/python"
printf 'home = %s\n' "$(dirname "$python")" > "$prefix/pyvenv.cfg"
echo '{}' > "$prefix/conda-meta/python-3.11.0-demo_0.json"
echo '{"env_vars": {"DEMO_DATA_DIR": "/data/demo"}}' > "$prefix/conda-meta/state"
echo 'export DEMO_GREETING="hello from activate.d"' > "$prefix/etc/conda/activate.d/demo.sh"
printf 'envs_dirs = ["%s/envs"]\n' "$demo" > "$demo/cenv.toml"
chmod -R a+rX "$demo"
env -0 > "$demo/before.env"

cat > "$demo/show.py" <<'PY'
import os, sys, pwd
before = dict(l.split("=", 1) for l in open(sys.argv[1]).read().split("\0") if "=" in l)
print("running as      ", pwd.getpwuid(os.getuid()).pw_name)
print("python          ", sys.executable)
print("sys.prefix      ", sys.prefix)
print("umask           ", oct(os.umask(0o027)))
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print("no_new_privs    ", status["NoNewPrivs"].strip(), " CapEff", status["CapEff"].strip())
print("variables set or changed by activation:")
for name in sorted(os.environ):
    if name.startswith(("CONDA", "DEMO", "PATH")) and before.get(name) != os.environ[name]:
        print("   %s=%s" % (name, os.environ[name]))
target = os.path.join(os.environ["CONDA_PREFIX"], "bin", "planted")
try:
    open(target, "w")
    print("writing into the env: ALLOWED (Landlock not in force)")
except OSError as e:
    print("writing into the env (whose owner is running): refused (%s) — Landlock keeps it read-only" % e.strerror)
PY

cd "$demo/work"
if [ "$(id -u)" = 0 ]; then
    # Root is not a caller cenv runs as: the demo runs it as the user nobody,
    # who owns the env — so file permissions would let the command write
    # there, and the refusal below is the Landlock rule's: an env in a
    # configured envs root is read-only for every run, its owner's included.
    chown -R nobody "$prefix"
    cp "$cenv" "$demo/cenv"
    chmod 755 "$demo/cenv"
    echo "== (as nobody) CENV_CONFIG=$demo/cenv.toml cenv run demo python show.py"
    setpriv --reuid nobody --regid nogroup --clear-groups -- env CENV_CONFIG="$demo/cenv.toml" HOME="$demo/work" \
        "$demo/cenv" run demo python "$demo/show.py" "$demo/before.env"
else
    echo "== CENV_CONFIG=$demo/cenv.toml cenv run demo python show.py"
    CENV_CONFIG="$demo/cenv.toml" "$cenv" run demo python "$demo/show.py" "$demo/before.env"
fi
