#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests, docs,
# fuzzing.
#
# Run it as root for the full suite (CI does): it installs the Debian packages
# the tests use, and the tests create the users cenvt-admin, cenvt-alice and
# cenvt-bob and the group cenvt-research (removed again at the end), and run
# cenv as them, through sudo and as root. As an ordinary user the root-only
# tests say why they skip and the count of skips is printed at the end; with
# CI set to anything but "false" a skip is a failure.
#
# A run leaves the machine as it found it: the daemons it started are
# stopped by pid, its users and files are removed, and `dpkg -V` of the
# installed packages is the same before and after (checked at the end).
# Two runs on one machine wait for each other.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
is_root=false
[ "$(id -u)" = 0 ] && is_root=true

# ---- phases and their durations, printed at the end ----
phase_names=()
phase_seconds=()
phase_started=$SECONDS
phase_name=""
phase() {
    if [ -n "$phase_name" ]; then
        phase_names+=("$phase_name")
        phase_seconds+=($((SECONDS - phase_started)))
    fi
    phase_name="$1"
    phase_started=$SECONDS
    [ -n "$1" ] && echo "== $1"
    return 0
}
print_phases() {
    phase ""
    echo "== durations"
    local i
    for i in "${!phase_names[@]}"; do
        printf '%6ss  %s\n' "${phase_seconds[$i]}" "${phase_names[$i]}"
    done
    if [ -s "$run_dir/cargo-test.log" ]; then
        echo "== test binaries"
        awk '/Running (unittests|tests)/ {name = $2} /^test result/ {for (i = 1; i <= NF; i++) if ($i == "in") printf "%6.0fs  %s\n", $(i + 1), name}' "$run_dir/cargo-test.log"
    fi
    printf '%6ss  in all\n' "$SECONDS"
}

if $is_root; then
    lock=/run/lock/cenv-tests.lock
else
    lock="${XDG_RUNTIME_DIR:-/tmp}/cenv-tests-$(id -u).lock"
fi
exec 9>"$lock"
if ! flock -n 9; then
    echo "== another test run holds $lock: waiting for it"
    flock 9
fi

# Everything this run creates outside the source tree lives here.
run_dir=$(mktemp -d /var/tmp/cenv-test-run.XXXXXX)
chmod 755 "$run_dir"
export CENV_TEST_SKIP_LOG="$run_dir/skips"
: >"$CENV_TEST_SKIP_LOG"
chmod 666 "$CENV_TEST_SKIP_LOG"

# ---- what runs on the way out, whatever happened ----
cleanups=()
on_exit() {
    local status=$?
    set +e
    local c
    for ((c = ${#cleanups[@]} - 1; c >= 0; c--)); do
        eval "${cleanups[$c]}"
    done
    print_phases
    rm -rf "$run_dir"
    exit "$status"
}
trap on_exit EXIT

if $is_root; then
    phase "Debian packages"
    packages=(sudo python3 python3-venv util-linux bsdutils mount passwd login rsyslog bash zsh fish acl lintian rpmlint rpm mmdebstrap slurm-wlm munge libslurm-dev auditd strace busybox-static
        slapd ldap-utils nslcd libnss-ldapd)
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        # The directory tests (tests/directory.rs) start their own slapd and
        # nslcd and change nsswitch.conf only while they run: the packages
        # must neither make a database, nor touch nsswitch.conf, nor start
        # a daemon (no policy-rc.d: one that says no, for the install only)
        debconf-set-selections <<'SELECTIONS'
slapd slapd/no_configuration boolean true
libnss-ldapd libnss-ldapd/nsswitch multiselect
nslcd nslcd/ldap-uris string ldap://127.0.0.1/
nslcd nslcd/ldap-base string dc=cenv,dc=test
SELECTIONS
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            # removed on every way out, a failed install included
            cleanups+=("rm -f /usr/sbin/policy-rc.d")
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    # what the installed packages' files look like before the tests
    dpkg -V 2>/dev/null | sort >"$run_dir/dpkg-before" || true
    check_host_packages() {
        dpkg -V 2>/dev/null | sort >"$run_dir/dpkg-after" || true
        local changed
        changed=$(comm -13 "$run_dir/dpkg-before" "$run_dir/dpkg-after")
        if [ -n "$changed" ]; then
            echo "== the tests changed files of installed packages (dpkg -V):"
            echo "$changed"
            return 1
        fi
    }
    remove_test_accounts() {
        local u
        for u in cenvt-alice cenvt-bob cenvt-admin; do
            if id "$u" >/dev/null 2>&1; then
                pkill -KILL -u "$u" 2>/dev/null
                sleep 0.2
                userdel --remove "$u" 2>/dev/null
            fi
        done
        getent group cenvt-research >/dev/null && groupdel cenvt-research
    }
    # what the tests made and could not remove themselves (a genuine root
    # lives as long as its test process; the syslog daemon's files)
    remove_test_files() {
        rm -rf /srv/cenv-genuine-* /srv/cenv-tests /var/tmp/cenv-test-bin /etc/cenv-test /var/log/cenv-test
    }
    cleanups+=(remove_test_accounts remove_test_files)
fi

# A Python with py-rattler (the conda library behind pixi): the tests build a
# local conda channel and install genuine envs from it with rattler.
phase "Python venv (py-rattler, jupyter_client)"
if $is_root; then cache=/var/cache/cenv-tests; else cache="$HOME/.cache/cenv-tests"; fi
venv="$cache/venv"
# jupyter_client starts kernels from cenv's kernelspecs as Jupyter does.
if ! "$venv/bin/python" -c "import rattler, jupyter_client" 2>/dev/null; then
    echo "creating $venv"
    mkdir -p "$cache"
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check py-rattler jupyter_client
fi
chmod -R a+rX "$cache/venv"
export CENV_TEST_PYTHON="$venv/bin/python"

# rattler's own parser of @EXPLICIT files (a helper crate outside cenv's
# dependency tree): the export tests read cenv's output back with it.
# Built in the cache: its rattler dependencies need minutes on a fresh
# machine, and nothing of the checkout's goes into them.
phase "tests/explicit-parser (rattler_conda_types)"
CARGO_TARGET_DIR="$cache/explicit-parser-target" \
    cargo build --release --locked --quiet --manifest-path tests/explicit-parser/Cargo.toml
export CENV_TEST_EXPLICIT_PARSER="$cache/explicit-parser-target/release/cenv-explicit-parser"

# The test build reads its system config from here instead of
# /etc/cenv/cenv.toml, so tests of privileged runs never touch the real one.
export CENV_SYSTEM_CONFIG=/etc/cenv-test/cenv.toml

phase "cargo fmt --check"
cargo fmt --all -- --check
phase "cargo clippy"
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

# The packages, built once (tests/packaging.rs installs, lints and rebuilds
# them from a second checkout): copies in this run's directory, since the
# reproducibility test builds in the same target directory again.
if $is_root; then
    phase "the .deb and .rpm packages"
    CARGO_TARGET_DIR="$PWD/target/package-build" packaging/build-packages.sh
    export CENV_TEST_PACKAGES="$run_dir/packages"
    mkdir -p "$CENV_TEST_PACKAGES"
    cp target/package-build/debian/cenv_0*.deb target/package-build/generate-rpm/cenv-0*.rpm \
        target/package-build/release/packaging/cenv "$CENV_TEST_PACKAGES/"
    # cenv-slurm's, where Slurm's headers made build-packages.sh build them
    cp target/package-build/debian/cenv-slurm_0*.deb target/package-build/generate-rpm/cenv-slurm-0*.rpm \
        "$CENV_TEST_PACKAGES/" 2>/dev/null || true
fi

# A single-node SLURM cluster for the batch-job tests (root only), in this
# run's directory and on free ports, stopped on the way out. Its plugin is
# a debug build with the test build's system config path: it shares every
# dependency with the test build.
if $is_root; then
    cleanups+=(stop_test_syslog)
    phase "the SLURM plugin (spank/)"
    cargo build --locked -p cenv-spank
    export CENV_SPANK_PLUGIN="$PWD/target/debug/libcenv_spank.so"
    phase "a single-node SLURM cluster"
    export SLURM_DIR="$run_dir/slurm"
    cleanups+=("tests/slurm/cluster.sh stop")
    export SLURM_CONF
    SLURM_CONF=$(tests/slurm/cluster.sh start)
fi

phase "cargo test"
cargo test --all-targets --no-fail-fast 2>&1 | tee "$run_dir/cargo-test.log"
phase "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# Each fuzz target briefly, from the committed corpus, so that a regression
# in a parser or in the escaping is caught (fuzz/run.sh SECONDS for more).
phase "fuzz"
fuzz/run.sh "${CENV_FUZZ_SECONDS:-30}"

if $is_root; then
    phase "the host as the tests found it"
    stop_test_syslog
    tests/slurm/cluster.sh stop
    check_host_packages
fi
phase ""
skips=$(wc -l <"$CENV_TEST_SKIP_LOG")
if [ "$skips" -gt 0 ]; then
    echo "== $skips tests skipped (not root, or a tool missing):"
    cat "$CENV_TEST_SKIP_LOG"
    echo "== all checks that ran passed; $skips skipped"
else
    echo "== all checks passed, none skipped"
fi
