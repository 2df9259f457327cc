//! The packages an admin installs, tested by building and installing them:
//! the .deb into a Debian 12 chroot made by mmdebstrap (apt install, conffiles,
//! man pages, a run as a member of the group, PAM through pam-auth-update,
//! login shells, completions, remove and purge), the .rpm with rpm --root
//! (layout, config flags, requirements, install, upgrade, erase), lintian and
//! rpmlint clean, and two builds from two checkouts bit-identical.
//!
//! What cannot be tested here, on Debian: dnf itself, EL's scriptlet
//! environment and SELinux labels (docs/admin-guide.md, "Install").

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Where this checkout's packages are built (tests/run-all.sh builds them
/// there too); the second checkout of the reproducibility test builds there
/// as well, so that it reuses the dependencies and compiles only cenv.
fn package_target() -> PathBuf {
    repo().join("target/package-build")
}

/// The packages of one build and the stripped binary in them, copied out of
/// the target directory (a later build there overwrites its outputs).
struct Packages {
    deb: PathBuf,
    rpm: PathBuf,
    binary: PathBuf,
    /// cenv-slurm's .deb and .rpm, built where Slurm's headers are
    slurm: Option<(PathBuf, PathBuf)>,
}

impl Packages {
    fn in_dir(dir: &Path) -> Packages {
        let maybe = |prefix: &str| {
            fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        };
        let find =
            |prefix: &str| maybe(prefix).unwrap_or_else(|| panic!("no {prefix}* in {}", dir.display()));
        Packages {
            deb: find("cenv_0"),
            rpm: find("cenv-0"),
            binary: dir.join("cenv"),
            slurm: maybe("cenv-slurm_0").zip(maybe("cenv-slurm-0")),
        }
    }
}

/// Builds the packages of the checkout `source` into `target` and copies
/// them to `copies`.
fn build_packages(source: &Path, target: &Path, copies: &Path) -> Packages {
    run(Command::new(source.join("packaging/build-packages.sh"))
        .env("CARGO_TARGET_DIR", target)
        .env_remove("CENV_SYSTEM_CONFIG")
        .env_remove("RUSTFLAGS"));
    let _ = fs::remove_dir_all(copies);
    fs::create_dir_all(copies).unwrap();
    let newest = |dir: &str, prefix: &str| {
        fs::read_dir(target.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .max_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).unwrap())
    };
    for file in [
        newest("debian", "cenv_0").expect("no cenv .deb built"),
        newest("generate-rpm", "cenv-0").expect("no cenv .rpm built"),
        target.join("release/packaging/cenv"),
    ]
    .into_iter()
    .chain(newest("debian", "cenv-slurm_0"))
    .chain(newest("generate-rpm", "cenv-slurm-0"))
    {
        fs::copy(&file, copies.join(file.file_name().unwrap())).unwrap();
    }
    Packages::in_dir(copies)
}

/// The packages of this checkout: the copies tests/run-all.sh made when it
/// built them (`CENV_TEST_PACKAGES`), else built once per test process.
fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| match std::env::var_os("CENV_TEST_PACKAGES") {
        Some(dir) => Packages::in_dir(Path::new(&dir)),
        None => build_packages(&repo(), &package_target(), &package_target().join("copies")),
    })
}

#[test]
fn two_builds_from_two_checkouts_give_identical_packages() {
    require_root!();
    let first = packages();
    // a second checkout elsewhere: nothing of the build path may reach the packages
    let other = PathBuf::from(format!(
        "/var/tmp/cenv-reproducible-checkout-{}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&other);
    run(Command::new("git").args(["clone", "-q"]).arg(repo()).arg(&other));
    // the working tree as it is, uncommitted changes included
    run(Command::new("sh").arg("-c").arg(format!(
        "cd '{}' && git ls-files -z --cached --others --exclude-standard -- . ':!fuzz/corpus' | xargs -0 -I{{}} cp --parents {{}} '{}'",
        repo().display(),
        other.display()
    )));
    let second = build_packages(&other, &package_target(), &other.join("copies"));
    let (deb2, rpm2) = (fs::read(&second.deb).unwrap(), fs::read(&second.rpm).unwrap());
    let _ = fs::remove_dir_all(&other);
    assert!(
        fs::read(&first.deb).unwrap() == deb2,
        "the .deb differs between builds"
    );
    assert!(
        fs::read(&first.rpm).unwrap() == rpm2,
        "the .rpm differs between builds"
    );
}

#[test]
fn lintian_and_rpmlint_are_clean() {
    require_root!();
    let Packages { deb, rpm, .. } = packages();
    let lintian = run(Command::new("lintian").arg("--fail-on").arg("warning").arg(deb));
    assert!(
        !stdout(&lintian).contains("W: ") && !stdout(&lintian).contains("E: "),
        "{}",
        stdout(&lintian)
    );
    let rpmlint = run(Command::new("rpmlint")
        .arg("-c")
        .arg(repo().join("packaging/rpmlint.toml"))
        .arg(rpm));
    assert!(
        stdout(&rpmlint).contains("0 errors, 0 warnings"),
        "{}",
        stdout(&rpmlint)
    );
}

#[test]
fn the_binary_is_never_setuid_and_holds_no_build_path() {
    require_root!();
    let Packages { deb, binary, .. } = packages();
    let listing = stdout(&run(Command::new("dpkg-deb").arg("-c").arg(deb)));
    let bin = listing.lines().find(|l| l.ends_with("./usr/bin/cenv")).unwrap();
    assert!(bin.starts_with("-rwxr-xr-x "), "{bin}");
    let binary = fs::read(binary).unwrap();
    let text = String::from_utf8_lossy(&binary);
    assert!(
        !text.contains(repo().to_str().unwrap()),
        "the build path is in the binary"
    );
    assert!(!text.contains("/root/.cargo"), "the cargo home is in the binary");
    assert!(
        !text.contains("/etc/cenv-test"),
        "the test config path leaked into the package"
    );
}

/// A Debian 12 chroot, made once per machine and copied per test run.
struct Chroot {
    root: PathBuf,
}

impl Chroot {
    fn new() -> Chroot {
        // named for what it holds: a tarball made with other packages is not reused
        let cache = PathBuf::from("/var/cache/cenv-tests/bookworm-chroot-systemd.tar");
        if !cache.exists() {
            run(Command::new("mmdebstrap")
                .args([
                    "--quiet",
                    "--variant=minbase",
                    "--include=bash,fish,man-db,libpam-runtime,passwd,login,procps,bash-completion,systemd,zsh",
                    "bookworm",
                ])
                .arg(&cache)
                .arg("http://deb.debian.org/debian"));
        }
        let root = PathBuf::from(format!("/var/tmp/cenv-chroot-{}", std::process::id()));
        remove_tree_without_mounts(&root);
        fs::create_dir_all(&root).unwrap();
        run(Command::new("tar").arg("-xf").arg(&cache).arg("-C").arg(&root));
        // a /dev of its own (a tmpfs with the few nodes apt, su and the
        // shells use), never the host's: removing the tree must never
        // reach a host device node, even after an interrupted run
        run(Command::new("mount")
            .arg("-tproc")
            .arg("proc")
            .arg(root.join("proc")));
        run(Command::new("mount")
            .args(["-ttmpfs", "-omode=0755,nosuid", "cenv-chroot-dev"])
            .arg(root.join("dev")));
        for (name, major, minor) in [
            ("null", 1, 3),
            ("zero", 1, 5),
            ("full", 1, 7),
            ("random", 1, 8),
            ("urandom", 1, 9),
            ("tty", 5, 0),
        ] {
            nix::sys::stat::mknod(
                &root.join("dev").join(name),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o666),
                nix::sys::stat::makedev(major, minor),
            )
            .unwrap();
            fs::set_permissions(
                root.join("dev").join(name),
                std::os::unix::fs::PermissionsExt::from_mode(0o666),
            )
            .unwrap();
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            std::os::unix::fs::symlink(target, root.join("dev").join(name)).unwrap();
        }
        Chroot { root }
    }

    fn sh(&self, script: &str) -> Output {
        Command::new("chroot")
            .arg(&self.root)
            .args(["/bin/sh", "-c", script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("LANG", "C.UTF-8")
            .output()
            .unwrap()
    }

    fn ok(&self, script: &str) -> String {
        let out = self.sh(script);
        assert!(
            out.status.success(),
            "in the chroot: {script}\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }
}

impl Drop for Chroot {
    fn drop(&mut self) {
        remove_tree_without_mounts(&self.root);
    }
}

/// The mount points at or below `dir`, deepest first (/proc/self/mountinfo).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort();
    found.reverse();
    found
}

/// Unmounts whatever is mounted below `dir`, then removes it — and leaves
/// it in place (with a message) if anything is still mounted there, since
/// removing through a mount deletes what it shows.
fn remove_tree_without_mounts(dir: &Path) {
    for mount in mounts_under(dir) {
        let _ = Command::new("umount").arg("-l").arg(&mount).status();
    }
    let left = mounts_under(dir);
    if !left.is_empty() {
        eprintln!("not removing {}: still mounted there: {left:?}", dir.display());
        return;
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn the_deb_installs_works_and_leaves_nothing_when_purged_in_a_debian_12_chroot() {
    require_root!();
    let _lock = machine_lock();
    let Packages { deb, .. } = packages();
    let chroot = Chroot::new();
    fs::copy(deb, chroot.root.join("tmp/cenv.deb")).unwrap();
    // an admin's own config, there before the package
    fs::create_dir_all(chroot.root.join("etc/cenv")).unwrap();
    fs::write(
        chroot.root.join("etc/cenv/cenv.toml"),
        "# the admin's own\numask = \"077\"\n",
    )
    .unwrap();
    chroot.ok("apt-get install -y -q -o Dpkg::Options::=--force-confold /tmp/cenv.deb");
    assert_eq!(
        fs::read_to_string(chroot.root.join("etc/cenv/cenv.toml")).unwrap(),
        "# the admin's own\numask = \"077\"\n",
        "the admin's config was replaced"
    );
    let conffiles = chroot.ok("dpkg-query -W -f='${Conffiles}' cenv");
    for conffile in [
        "/etc/cenv/cenv.toml",
        "/etc/profile.d/cenv.sh",
        "/etc/pam.d/cenv-session",
        "/etc/cron.d/cenv-snapshot",
    ] {
        assert!(
            conffiles.contains(conffile),
            "{conffile} is no conffile: {conffiles}"
        );
    }
    // the shipped template passes check-config
    fs::copy(
        repo().join("packaging/cenv.toml"),
        chroot.root.join("etc/cenv/cenv.toml"),
    )
    .unwrap();
    let checked = chroot.ok("cenv check-config");
    assert!(checked.contains("/etc/cenv/cenv.toml: OK"), "{checked}");
    let man = chroot.ok("man -P cat cenv 2>/dev/null; man -P cat 5 cenv.toml 2>/dev/null");
    for section in ["EXIT STATUS", "FILES", "envs_dirs", "trusted_owners"] {
        assert!(man.contains(section), "man pages lack {section}:\n{man}");
    }
    // every page cenv(1) and the others refer to is installed: cenv(1) once
    // named cenv-run(1) and a dozen others no package had
    let missing = chroot.ok(
        "for page in $(man -P cat cenv 2>/dev/null | grep -o 'cenv-[a-z-]*(1)' | sed 's/(1)//' | sort -u); do \
           man -w \"$page\" >/dev/null 2>&1 || echo \"missing: $page\"; done; \
         man -w cenv-kernel-install >/dev/null 2>&1 || echo 'missing: cenv-kernel-install'",
    );
    assert!(missing.trim().is_empty(), "{missing}");
    let run_page = chroot.ok("man -P cat cenv-run 2>/dev/null");
    assert!(run_page.contains("--prefix <PATH>"), "{run_page}");
    // a member and a non-member of the group pam/cenv-session names
    chroot.ok(
        "groupadd ai-researchers && useradd -m -s /bin/bash -G ai-researchers member && useradd -m -s /bin/bash other && \
         mkdir -p /opt/miniconda/envs/demo/conda-meta /opt/miniconda/envs/demo/bin && \
         echo '{\"name\": \"python\", \"version\": \"3.11.0\", \"build\": \"0\", \"url\": \"https://conda.anaconda.org/conda-forge/linux-64/python-3.11.0-0.conda\"}' > /opt/miniconda/envs/demo/conda-meta/python-3.11.0-0.json && \
         ln -s /usr/bin/id /opt/miniconda/envs/demo/bin/id && \
         chgrp -R ai-researchers /opt/miniconda/envs && chmod -R g+rX,o-rwx /opt/miniconda/envs && chmod g+s /opt/miniconda/envs",
    );
    let ran = chroot.ok("su - member -c 'cenv run demo id -un; umask'");
    assert!(ran.starts_with("member\n"), "{ran}");
    // the README's site with the shipped config: a base install whose pkgs/
    // holds the files every env is hard-linked from, all the env admin's.
    // Nothing in a run — not even the admin's — writes into pkgs/ or through
    // the hard link, and `cenv info` says which trees are read-only.
    chroot.ok("useradd -r -m -s /bin/sh -G ai-researchers conda-user && \
         mkdir -p /opt/miniconda/conda-meta /opt/miniconda/pkgs/tool-1.0-0 && \
         echo data > /opt/miniconda/pkgs/tool-1.0-0/file && \
         ln /opt/miniconda/pkgs/tool-1.0-0/file /opt/miniconda/envs/demo/file && \
         chown -R conda-user:ai-researchers /opt/miniconda && chmod -R g+rX,o-rwx /opt/miniconda && \
         chmod g+s /opt/miniconda /opt/miniconda/envs /opt/miniconda/pkgs && \
         su conda-user -c 'test -w /opt/miniconda/pkgs/tool-1.0-0/file'");
    for target in [
        "/opt/miniconda/pkgs/tool-1.0-0/file",
        "/opt/miniconda/envs/demo/file",
    ] {
        let wrote = chroot.sh(&format!(
            "su conda-user -c 'cenv run demo sh -c \"echo x >> {target}\"'"
        ));
        assert!(
            !wrote.status.success() && stderr(&wrote).contains("Permission denied"),
            "{target} was writable in a run: {}{}",
            stdout(&wrote),
            stderr(&wrote)
        );
    }
    assert_eq!(
        fs::read_to_string(chroot.root.join("opt/miniconda/pkgs/tool-1.0-0/file")).unwrap(),
        "data\n"
    );
    // the snapshot timer and its service ship disabled, valid, and their
    // command works as the env admin; the cron file is all comments
    for unit in ["cenv-snapshot.service", "cenv-snapshot.timer"] {
        assert!(
            chroot.root.join("usr/lib/systemd/system").join(unit).exists(),
            "{unit}"
        );
        assert!(
            !chroot
                .root
                .join("etc/systemd/system/timers.target.wants")
                .join(unit)
                .exists(),
            "{unit} is enabled by the package"
        );
    }
    chroot.ok(
        "systemd-analyze verify --man=no /usr/lib/systemd/system/cenv-snapshot.service \
         /usr/lib/systemd/system/cenv-snapshot.timer",
    );
    let service =
        fs::read_to_string(chroot.root.join("usr/lib/systemd/system/cenv-snapshot.service")).unwrap();
    let exec = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .to_owned();
    assert!(
        service.contains("\nUser=conda-user\n") && service.contains("\nUMask=0027\n"),
        "{service}"
    );
    chroot.ok(&format!(
        "install -d -o conda-user -g conda-user -m 0750 /var/lib/cenv-snapshots && \
         su conda-user -s /bin/sh -c 'umask 0027; {exec}' && test -s /var/lib/cenv-snapshots/MANIFEST"
    ));
    let cron = fs::read_to_string(chroot.root.join("etc/cron.d/cenv-snapshot")).unwrap();
    assert!(
        cron.lines().all(|l| l.is_empty() || l.starts_with('#')),
        "the cron file runs something: {cron}"
    );
    assert!(cron.contains(&exec), "the cron line and the unit differ: {cron}");
    let info = chroot.ok("su - member -c 'cenv info demo'");
    let read_only = info
        .lines()
        .find(|l| l.starts_with("read-only paths:"))
        .unwrap_or_default()
        .to_owned();
    for tree in ["/opt/miniconda/envs", "/opt/miniconda/pkgs"] {
        assert!(read_only.contains(tree), "{tree} not read-only: {info}");
    }
    assert!(info.contains("the env is read-only during runs"), "{info}");
    // PAM: enabled through pam-auth-update, members get 027
    chroot.ok("pam-auth-update --enable cenv");
    let session = fs::read_to_string(chroot.root.join("etc/pam.d/common-session")).unwrap();
    assert!(session.contains("cenv-session"), "{session}");
    assert_eq!(chroot.ok("su - member -c umask").trim(), "0027");
    assert_eq!(chroot.ok("su - other -c umask").trim(), "0022");
    // login shells get the function; the completions load
    assert!(chroot.ok("su - member -c 'type cenv'").contains("function"));
    assert!(chroot
        .ok("su - member -s /usr/bin/fish -c 'functions -q cenv; and echo FUNCTION'")
        .contains("FUNCTION"));
    assert!(chroot
        .ok("bash -c '. /usr/share/bash-completion/completions/cenv && complete -p cenv'")
        .contains("_cenv"));
    // zsh's compinit finds the packaged _cenv (#compdef) and it completes
    let zsh = chroot.ok(
        "su - member -s /usr/bin/zsh -c 'autoload -U compinit && compinit -u -D && print -r -- \"comps=${_comps[cenv]}\"; \
         compadd() { local -a a; a=(\"$@\"); print -r -- \"${(j: :)a[${a[(i)--]}+1,-1]}\" }; words=(cenv kernel \"\"); CURRENT=3; _cenv'",
    );
    assert_eq!(zsh, "comps=_cenv\ninstall list remove sync\n", "{zsh}");
    // remove takes the PAM lines out — every session still opens — and a
    // reinstall enables the profile again, as the admin had it
    // root's kernels go to the system place every user's Jupyter reads, and
    // it says where; a remove names the kernels it leaves without cenv
    chroot.ok("echo '{\"name\": \"ipykernel\", \"version\": \"6.29.5\", \"build\": \"0\"}' > /opt/miniconda/envs/demo/conda-meta/ipykernel-6.29.5-0.json");
    let installed = chroot.ok("cenv kernel install --all");
    assert!(
        installed.contains("kernels directory: /usr/local/share/jupyter/kernels\n")
            && installed.contains("demo: installed /usr/local/share/jupyter/kernels/cenv-demo"),
        "{installed}"
    );
    let common = || fs::read_to_string(chroot.root.join("etc/pam.d/common-session")).unwrap();
    let removed = chroot.sh("apt-get remove -y -q cenv");
    assert!(removed.status.success(), "{}", stderr(&removed));
    assert!(
        stderr(&removed).contains("will fail without it")
            && stderr(&removed).contains("/usr/local/share/jupyter/kernels/cenv-demo"),
        "{}",
        stderr(&removed)
    );
    assert!(!common().contains("cenv-session"), "{}", common());
    assert_eq!(chroot.ok("su - member -c umask").trim(), "0022");
    chroot.ok("apt-get install -y -q /tmp/cenv.deb");
    assert!(
        common().contains("cenv-session"),
        "the admin's choice was lost: {}",
        common()
    );
    assert_eq!(chroot.ok("su - member -c umask").trim(), "0027");
    // an include written by hand would outlive the file a purge deletes
    // (every su would then fail): the package refuses to go, and says why
    chroot.ok("echo 'session include cenv-session' >> /etc/pam.d/su");
    let refused = chroot.sh("apt-get remove -y -q cenv");
    assert!(!refused.status.success(), "removed with an include left");
    assert!(
        stderr(&refused).contains("still included by: /etc/pam.d/su"),
        "{}{}",
        stdout(&refused),
        stderr(&refused)
    );
    chroot.ok("dpkg -s cenv | grep -q '^Status: install ok installed'");
    assert_eq!(chroot.ok("su - member -c umask").trim(), "0027");
    chroot.ok("sed -i '/cenv-session/d' /etc/pam.d/su");
    // the documented way without pam-auth-update: the two lines pasted in
    // survive the purge, and every session still opens
    chroot.ok("grep -v '^#' /etc/pam.d/cenv-session >> /etc/pam.d/su");
    chroot.ok("apt-get purge -y -q cenv");
    assert!(!common().contains("cenv-session"), "{}", common());
    assert_eq!(chroot.ok("su - member -c umask").trim(), "0027");
    assert_eq!(chroot.ok("su - other -c umask").trim(), "0022");
    assert!(
        !chroot.root.join("var/lib/cenv").exists(),
        "purge left /var/lib/cenv"
    );
    for gone in [
        "etc/cenv/cenv.toml",
        "etc/profile.d/cenv.sh",
        "etc/pam.d/cenv-session",
        "usr/bin/cenv",
        "etc/cenv",
        "etc/cron.d/cenv-snapshot",
        "usr/lib/systemd/system/cenv-snapshot.timer",
    ] {
        assert!(!chroot.root.join(gone).exists(), "{gone} is left after purge");
    }
    assert!(!chroot.sh("dpkg -s cenv").status.success());
}

#[test]
fn the_rpm_has_the_layout_and_installs_upgrades_and_erases() {
    require_root!();
    let Packages { rpm, .. } = packages();
    let query = |flag: &str, package: &Path| stdout(&run(Command::new("rpm").arg(flag).arg(package)));
    let files = query("-qlp", rpm);
    for path in [
        "/usr/bin/cenv",
        "/etc/cenv/cenv.toml",
        "/usr/share/man/man1/cenv.1.gz",
        "/usr/share/man/man5/cenv.toml.5.gz",
        "/usr/share/zsh/site-functions/_cenv",
        "/usr/share/bash-completion/completions/cenv",
        "/usr/share/fish/vendor_completions.d/cenv.fish",
        "/usr/share/fish/vendor_conf.d/cenv.fish",
        "/etc/profile.d/cenv.sh",
        "/etc/pam.d/cenv-session",
        "/usr/share/licenses/cenv/LICENSE-MIT",
        "/usr/lib/systemd/system/cenv-snapshot.service",
        "/usr/lib/systemd/system/cenv-snapshot.timer",
        "/etc/cron.d/cenv-snapshot",
    ] {
        assert!(
            files.lines().any(|l| l == path),
            "{path} not in the rpm:\n{files}"
        );
    }
    let configs = query("-qcp", rpm);
    assert_eq!(configs.lines().count(), 4, "{configs}");
    let requires = query("-qRp", rpm);
    assert!(requires.contains("libc.so.6(GLIBC_2.34)(64bit)"), "{requires}");
    // install, change the config, upgrade to a release whose config changed, erase
    let root = PathBuf::from(format!("/var/tmp/cenv-rpmroot-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    // the scriptlets run in the root: a shell and grep there (busybox,
    // statically linked), and a PAM directory
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("etc/pam.d")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("busybox-static (tests/run-all.sh installs it)");
    for tool in ["sh", "grep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    run(Command::new("rpm")
        .args(["-i", "--nodeps", "--root"])
        .arg(&root)
        .arg(rpm));
    assert!(root.join("usr/bin/cenv").exists());
    fs::write(root.join("etc/cenv/cenv.toml"), "umask = \"077\"\n").unwrap();
    let v2 = release_two(rpm);
    run(Command::new("rpm")
        .args(["-U", "--nodeps", "--root"])
        .arg(&root)
        .arg(&v2));
    assert_eq!(
        fs::read_to_string(root.join("etc/cenv/cenv.toml")).unwrap(),
        "umask = \"077\"\n"
    );
    assert!(
        root.join("etc/cenv/cenv.toml.rpmnew").exists(),
        "no .rpmnew after the upgrade"
    );
    // an include written by hand would outlive the file the erase deletes
    // (every su would then fail): the erase is refused, and says why
    fs::write(root.join("etc/pam.d/su"), "session include cenv-session\n").unwrap();
    let refused = Command::new("rpm")
        .args(["-e", "--nodeps", "--root"])
        .arg(&root)
        .arg("cenv")
        .output()
        .unwrap();
    assert!(!refused.status.success(), "erased with an include left");
    assert!(
        stderr(&refused).contains("still included by: /etc/pam.d/su"),
        "{}",
        stderr(&refused)
    );
    assert!(root.join("usr/bin/cenv").exists());
    fs::write(root.join("etc/pam.d/su"), "session required pam_unix.so\n").unwrap();
    run(Command::new("rpm")
        .args(["-e", "--nodeps", "--root"])
        .arg(&root)
        .arg("cenv"));
    assert!(!root.join("usr/bin/cenv").exists());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn the_plugin_packages_require_the_slurm_release_they_were_built_for() {
    require_root!();
    // CI installs Slurm's headers (libslurm-dev): the plugin's packages
    // must have been built there
    let Some((deb, rpm)) = &packages().slurm else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no cenv-slurm packages built (are Slurm's headers installed?)"
        );
        eprintln!("SKIP: no cenv-slurm packages (no Slurm headers)");
        return;
    };
    // slurmstepd loads only a plugin of its own release: the packages say which
    let depends = stdout(&run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(deb)
        .arg("Depends")));
    for want in [
        "slurm-wlm-basic-plugins (>= 22.05)",
        "slurm-wlm-basic-plugins (<< 22.06)",
    ] {
        assert!(depends.contains(want), "{want} not in {depends}");
    }
    let requires = stdout(&run(Command::new("rpm").arg("-qRp").arg(rpm)));
    assert!(requires.lines().any(|l| l == "slurm >= 22.05"), "{requires}");
    let conflicts = stdout(&run(Command::new("rpm").arg("-qp").arg("--conflicts").arg(rpm)));
    assert!(conflicts.lines().any(|l| l == "slurm >= 22.06"), "{conflicts}");
}

/// The same package as release 2, with a changed config template.
fn release_two(rpm: &Path) -> PathBuf {
    let dir = rpm.parent().unwrap().join("release-2");
    fs::create_dir_all(&dir).unwrap();
    let config = dir.join("cenv.toml");
    let mut text = fs::read_to_string(repo().join("packaging/cenv.toml")).unwrap();
    text.push_str("# release 2\n");
    fs::write(&config, text).unwrap();
    let manifest: toml::Value =
        toml::from_str(&fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let mut metadata = manifest["package"]["metadata"]["generate-rpm"].clone();
    let table = metadata.as_table_mut().unwrap();
    table.insert("release".into(), toml::Value::String("2".into()));
    for asset in table.get_mut("assets").unwrap().as_array_mut().unwrap() {
        let asset = asset.as_table_mut().unwrap();
        if asset["dest"].as_str() == Some("/etc/cenv/cenv.toml") {
            asset.insert("source".into(), toml::Value::String(config.display().to_string()));
        }
    }
    let overwrite = dir.join("overwrite.toml");
    fs::write(&overwrite, toml::to_string(&metadata).unwrap()).unwrap();
    run(Command::new("cargo")
        .args(["generate-rpm", "--metadata-overwrite"])
        .arg(&overwrite)
        .arg("--target-dir")
        .arg(package_target())
        .arg("--output")
        .arg(&dir)
        .current_dir(repo()));
    fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .unwrap()
}
