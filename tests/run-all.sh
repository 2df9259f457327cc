#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, docs.
#
# Run it as root for the full suite (CI does): it installs the Debian packages
# the tests use, and the tests create the users cenvt-admin, cenvt-alice and
# cenvt-bob and the group cenvt-research, and run cenv as them, through sudo
# and as root. As an ordinary user the root-only tests say why they skip;
# with CI=true a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" = 0 ]; then
    packages=(sudo python3 python3-venv util-linux bsdutils mount passwd login rsyslog bash zsh fish acl lintian rpmlint rpm mmdebstrap slurm-wlm munge libslurm-dev auditd)
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "== installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

# A Python with py-rattler (the conda library behind pixi): the tests build a
# local conda channel and install genuine envs from it with rattler.
if [ "$(id -u)" = 0 ]; then cache=/var/cache/cenv-tests; else cache="$HOME/.cache/cenv-tests"; fi
venv="$cache/venv"
# jupyter_client starts kernels from cenv's kernelspecs as Jupyter does.
if ! "$venv/bin/python" -c "import rattler, jupyter_client" 2>/dev/null; then
    echo "== creating $venv with py-rattler and jupyter_client"
    mkdir -p "$cache"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check py-rattler jupyter_client
fi
chmod -R a+rX "$cache/venv"
export CENV_TEST_PYTHON="$venv/bin/python"

# rattler's own parser of @EXPLICIT files (a helper crate outside cenv's
# dependency tree): the export tests read cenv's output back with it.
echo "== building tests/explicit-parser (rattler_conda_types)"
cargo build --release --locked --quiet --manifest-path tests/explicit-parser/Cargo.toml
export CENV_TEST_EXPLICIT_PARSER="$PWD/tests/explicit-parser/target/release/cenv-explicit-parser"

# The test build reads its system config from here instead of
# /etc/cenv/cenv.toml, so tests of privileged runs never touch the real one.
export CENV_SYSTEM_CONFIG=/etc/cenv-test/cenv.toml

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
# the SLURM plugin needs Slurm's version header (Debian's libslurm-dev)
if [ -r /usr/include/slurm/slurm_version.h ]; then
    cargo clippy -p cenv-spank -- -D warnings
fi
# The rsyslogd the audit tests start (tests/common: Syslog) is stopped at
# the end by the pid it recorded, with the /dev/log it created.
stop_test_syslog() {
    local pidfile=/run/cenv-test-rsyslogd.pid
    if [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; then
        sleep 0.5
        rm -f /dev/log "$pidfile"
    fi
}

# A single-node SLURM cluster for the batch-job tests (root only), stopped
# on the way out whatever happens.
if [ "$(id -u)" = 0 ]; then
    echo "== building the SLURM plugin (spank/)"
    cargo build --release --locked -p cenv-spank
    export CENV_SPANK_PLUGIN="$PWD/target/release/libcenv_spank.so"
    echo "== starting a single-node SLURM cluster"
    export SLURM_CONF
    SLURM_CONF=$(tests/slurm/cluster.sh start)
    trap 'tests/slurm/cluster.sh stop; stop_test_syslog' EXIT
fi

echo "== cargo test"
cargo test --all-targets
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# Each fuzz target briefly, from the committed corpus, so that a regression
# in a parser or in the escaping is caught (fuzz/run.sh SECONDS for more).
echo "== fuzz"
fuzz/run.sh "${CENV_FUZZ_SECONDS:-30}"
echo "== all checks passed"
