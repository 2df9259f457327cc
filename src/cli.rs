//! The command line, as clap types: the raw values each front end takes and
//! turns into checked ones. It imports nothing else of cenv. One piece of
//! logic lives here, [`parse_run_fast`]: the plain forms of `cenv run`,
//! parsed without building clap's command tree (held to clap by a test).
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The shells cenv integrates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    /// The extension of the activate.d scripts this shell sources.
    pub fn script_extension(self) -> &'static str {
        match self {
            Shell::Bash | Shell::Zsh => ".sh",
            Shell::Fish => ".fish",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "cenv",
    version = env!("CENV_LONG_VERSION"),
    about = "Run commands in shared conda environments: resolved, checked, confined, audited",
    long_about = "cenv runs a command inside a conda environment (env) kept in a shared place such as \
/opt/miniconda/envs. It resolves the env, sets up the environment exactly as `conda activate` \
would, and exec()s the command: no shell and no wrapper process is left behind, so signals, \
stdin/stdout and the exit code are the command's own.\n\n\
Exit status: the command's own; 125 when cenv itself fails, 126 when the command cannot be \
executed, 127 when it is not found.",
    after_help = "Configuration: /etc/cenv/cenv.toml. Security model and its limits: SECURITY.md."
)]
pub struct Cli {
    /// Your own config file, laid over the system one: it may add places and tighten
    /// settings, never lift the system's policy (unprivileged callers only; also CENV_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in an env: cenv run NAME COMMAND [ARGS...]
    Run(RunArgs),
    /// Check a config file without running anything (like visudo -c); exits 1 on any problem.
    CheckConfig(CheckConfigArgs),
    /// Activate an env in the current shell (through the function of `cenv shell-init`).
    #[command(
        long_about = "Activate an env in the current shell, as `conda activate` does: the same \
variables, env_vars.d/state handling and activate.d scripts as `cenv run`, sourced by the shell itself. \
The policy and trust checks of `cenv run` apply, and the activation is audited.\n\n\
Landlock cannot be applied to a shell that is already running: an activated shell is NOT confined \
and the env is not read-only for it. For confinement use `cenv run NAME COMMAND`, or `cenv shell NAME` \
for a confined interactive shell.\n\n\
This prints shell code; the `cenv` function defined by `eval \"$(cenv shell-init bash)\"` (or zsh; \
fish: `cenv shell-init fish | source`) evaluates it."
    )]
    Activate(ActivateArgs),
    /// Undo the activation of the active env in the current shell (through the shell function).
    Deactivate(DeactivateArgs),
    /// Start your shell confined in an env: `cenv run NAME $SHELL` with the env activated.
    Shell(ShellArgs),
    /// List the envs visible to you: name, prefix, python, owner:group, whether you may use it.
    List(ListArgs),
    /// Everything about one env: owner, mode, policy, packages, scripts, variables, trust, last change.
    Info(EnvArgs),
    /// A permission and hygiene audit; exit 0 when clean, 1 with warnings, 2 with errors.
    Doctor(DoctorArgs),
    /// Check an env's files against the installer's records (size, SHA-256, planted bin/ files).
    Verify(EnvArgs),
    /// Print what an env is made of: an @EXPLICIT spec file (conda create --file) or JSON.
    Export(ExportArgs),
    /// Write a dated explicit file and JSON of every env that changed since its last snapshot.
    #[command(
        long_about = "Write a dated explicit file and JSON export of each env into DIR/NAME/, for a daily \
timer run by the env admin: a new version only when the env's packages changed (the content hash is \
part of the file name), written to a temporary name and renamed into place, at most --keep versions per \
env kept, and DIR/MANIFEST listing what this run did. Exit 1 if any env could not be exported."
    )]
    Snapshot(SnapshotArgs),
    /// The revisions of conda-meta/history: date, command, packages added, removed, upgraded.
    #[command(
        long_about = "The revisions of conda-meta/history: date, command, packages added, removed, \
upgraded. conda does not record who made a change; run by root itself with auditd installed, the \
writes auditd recorded under the env's watch (key cenv_env_write, see audit-rules) are joined in by \
time, best effort: who wrote from 10 minutes before each revision's date to 1 minute after, and apart \
the writes near no revision (pip, copies by hand)."
    )]
    Changes(ChangesArgs),
    /// Which packages differ between a snapshot (or export) file and the live env; exit 1 when any.
    Diff(DiffArgs),
    /// Who may use what (like sudo -l): the envs you may use and why; as root --user NAME, or --env NAME.
    #[command(
        long_about = "Who may use what, as sudo -l answers for sudoers: the envs you may use and why (the \
policy's rule: open, member of a group, listed as a user), and those you may not and why — the decision \
cenv run refuses by, then file permissions. As root, --user NAME answers for another account (its groups from \
the user database, the modes of the path as it would meet them; POSIX ACLs are not read for another account). \
--env NAME shows the groups and users an env is open to, the members the group database lists, and its modes."
    )]
    Access(AccessArgs),
    /// Who used which env, from cenv's own audit lines in the authpriv log: runs, users, first and last use, refusals.
    #[command(
        long_about = "Who used which env, from the audit lines cenv itself wrote to the system's authpriv log \
(Debian: /var/log/auth.log*, EL: /var/log/secure*, rotated and .gz files included; --log for other files, such \
as a central log host's; the journal when there is no file): per env (or --by user) the runs, shell \
activations, distinct users, first and last use, refusals and failures. Envs the config and the envs roots know \
with no run in the window are listed as unused. Only lines in cenv's own format count; anyone who can log can \
forge one with logger(1), so this is a picture of usage, not evidence. Reading the log takes root or, on \
Debian, the adm group."
    )]
    Usage(UsageArgs),
    /// Print (or, as root, install and load) auditd rules watching the shared envs and /etc/cenv.
    #[command(
        long_about = "Print auditd rules that watch for writes and attribute changes in the shared envs (the base install with its pkgs/, the envs roots, readonly_paths; key cenv_env_write) and in /etc/cenv (key cenv_config). With --install (root only): write them to /etc/audit/rules.d/cenv.rules and load them with augenrules --load, run by its absolute path. `cenv doctor --all` run as root checks the rules the kernel has loaded."
    )]
    AuditRules(AuditRulesArgs),
    /// Jupyter kernels that start through `cenv run`: install, list, remove.
    #[command(subcommand)]
    Kernel(KernelCommand),
    /// Start jupyter lab (or notebook, or server) from an env on 127.0.0.1, through `cenv run`.
    #[command(
        long_about = "Start jupyter lab from an env (else jupyter notebook, else jupyter server: \
the first the env has), through `cenv run`, on 127.0.0.1 and a free port cenv chooses, without \
a browser, with a token cenv makes. Before the server's own output cenv prints the ssh command \
that forwards the port from your laptop and the URL with its token. An --ip (or --ServerApp.ip, \
--NotebookApp.ip) that is not a loopback address is refused unless the system config sets \
notebook_any_ip = true. Arguments after -- go to jupyter."
    )]
    Notebook(NotebookArgs),
    /// Print the shell function (and completion) for bash, zsh or fish.
    ShellInit(ShellNameArgs),
    /// Print completion for bash, zsh or fish (env names included).
    Completions(ShellNameArgs),
    /// Print what a login shell evaluates: the function, umask, default env (profile.d uses it).
    #[command(hide = true)]
    LoginInit(LoginInitArgs),
    /// Print a man page (roff), for packaging: cenv man-page > cenv.1; cenv man-page cenv-run > cenv-run.1;
    /// cenv man-page cenv.toml > cenv.toml.5; cenv man-page --list names the section-1 pages
    #[command(hide = true)]
    ManPage(ManPageArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("env").required(true).args(["name", "prefix"])))]
pub struct ActivateArgs {
    /// The shell that will evaluate the output.
    #[arg(long, value_enum)]
    pub shell: Option<Shell>,
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
    /// The env to activate.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeactivateArgs {
    /// The shell that will evaluate the output.
    #[arg(long, value_enum)]
    pub shell: Option<Shell>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("env").required(true).args(["name", "prefix"])))]
pub struct ShellArgs {
    /// Print each step and its decision to stderr, as `cenv run -v`.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
    /// When started as root: the user to run as (name or uid).
    #[arg(long, value_name = "NAME|UID")]
    pub user: Option<String>,
    /// The env.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print only the names, one per line (for completion).
    #[arg(long, conflicts_with = "json")]
    pub names: bool,
    /// Print the commands in the env NAME's bin/, one per line (for completion).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["json", "names"])]
    pub commands: Option<String>,
    /// Print JSON (a stable schema: name, prefix, python, owner, group, may_use, reason).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("env").required(true).args(["name", "prefix"])))]
pub struct EnvArgs {
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
    /// The env.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The @EXPLICIT spec file conda writes (conda list, explicit with MD5): one URL#MD5 per package.
    Explicit,
    /// JSON: prefix, platform, packages (name, version, build, build_number, channel,
    /// subdir, url, sha256, md5, size) in install order, pip.
    Json,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("env").required(true).args(["name", "prefix"])))]
pub struct ExportArgs {
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
    /// The env.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// What to write.
    #[arg(long, value_enum, default_value = "explicit")]
    pub format: ExportFormat,
}

#[derive(Debug, Args)]
pub struct AuditRulesArgs {
    /// Write the rules to /etc/audit/rules.d/cenv.rules and load them (root only).
    #[arg(long)]
    pub install: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Every env (the only mode: a snapshot is of the whole server).
    #[arg(long, required = true)]
    pub all: bool,
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Keep at most N versions per env, removing the oldest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep: Option<u32>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// The envs (default with --all: every env).
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub names: Vec<String>,
    /// Every env.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Only revisions at or after this date: YYYY-MM-DD, "YYYY-MM-DD HH:MM:SS", ISO 8601
    /// (2026-11-30T14:00, with Z or +01:00 too) or a snapshot's stamp 20261130T140000Z.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Where `cenv snapshot --dir` writes: for an env whose conda-meta/history is empty
    /// (rattler, pixi), the revisions come from its snapshots there.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccessArgs {
    /// Another account (root only): name or uid.
    #[arg(long, value_name = "NAME|UID", conflicts_with = "env")]
    pub user: Option<String>,
    /// One env: the groups and users it is open to, and their members.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageBy {
    Env,
    User,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Log files to read instead of the system's (plain or .gz).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub log: Vec<PathBuf>,
    /// One row per env (default) or per user.
    #[arg(long, value_enum, default_value = "env")]
    pub by: UsageBy,
    /// Only lines at or after this date (as changes --since takes it).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only lines at or before this date (a bare day counts whole).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// Only this env.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,
    /// The env, then the snapshot file (with -p: only the file).
    #[arg(value_name = "NAME|FILE", num_args = 1..=2, required = true)]
    pub operands: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The envs to check (default with --all: every env).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Every env, the envs roots, and the machine: umask, login and PAM
    /// integration, auditd watches, servers listening beyond loopback.
    #[arg(long)]
    pub all: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// First bring the modes of the envs (and the base install) to what a
    /// shared server wants — group-readable, no group or other write, no
    /// setuid file, setgid directories — printing every change; modes
    /// only, never owners. Root or the env's owner.
    #[arg(long)]
    pub fix: bool,
    /// With --fix: print what would change, change nothing.
    #[arg(long, requires = "fix")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ShellNameArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct LoginInitArgs {
    /// bash, zsh, fish, or sh (any other POSIX shell: no function, umask and default env only).
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct ManPageArgs {
    /// cenv, cenv-SUBCOMMAND (section 1) or cenv.toml (section 5).
    #[arg(default_value = "cenv")]
    pub page: String,
    /// Print the names of the section-1 pages, one per line.
    #[arg(long, conflicts_with = "page")]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The file to check (default: the system config).
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(
    override_usage = "cenv run [OPTIONS] NAME [--] COMMAND [ARGS]...\n       cenv run [OPTIONS] -p PREFIX [--] COMMAND [ARGS]...",
    after_help = "Examples:\n  cenv run project-cv python train.py\n  cenv run -p /opt/miniconda/envs/project-cv python -c 'import sys; print(sys.prefix)'\n  cenv run project-cv -- python -m pip list\n\nOptions go before the env name; everything after it is the command, passed through byte for byte."
)]
pub struct RunArgs {
    /// Use the env at this prefix instead of a name.
    #[arg(short = 'p', long = "prefix", value_name = "PATH")]
    pub prefix: Option<PathBuf>,

    /// When started as root: the user to run as (name or uid). Accepted only from root.
    #[arg(long, value_name = "NAME|UID")]
    pub user: Option<String>,

    /// Bits to add to the run's umask (your umask together with the configured one);
    /// a value looser than the configured umask is refused.
    #[arg(long, value_name = "OCTAL")]
    pub umask: Option<String>,

    /// Start from a reset environment, as a run dropped from root does (like sudo's env_reset).
    #[arg(long)]
    pub clean_env: bool,

    /// Print each step of the run and what it decided (config, caller, env, policy,
    /// trust, umask, Landlock, command, audit) to stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// The env name (unless -p is given), then the command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "WORDS",
        value_parser = clap::value_parser!(OsString)
    )]
    pub words: Vec<OsString>,

    /// Set by `cenv shell`: the command is the user's shell.
    #[arg(skip)]
    pub user_shell: bool,

    /// Set by `cenv notebook`: the only TCP port the run may bind.
    #[arg(skip)]
    pub bind_only: Option<u16>,
}

/// `cenv [--config PATH] run [OPTIONS] NAME|... COMMAND...` — the invocation
/// in front of every job — parsed without building clap's command tree,
/// which costs about a sixth of what a run does before its exec. Only the
/// plain forms are taken: anything else (help, version, a typo, a repeated
/// or attached option, a value that starts with `-`, a non-UTF-8 user or
/// umask) returns None, and clap parses it, with its messages. A unit test
/// holds this to clap's result for every form it accepts.
pub fn parse_run_fast(args: &[OsString]) -> Option<(Option<PathBuf>, RunArgs)> {
    let mut rest = args.get(1..)?.iter();
    let set_once = |slot: &mut Option<OsString>, value: Option<&OsString>| -> Option<()> {
        let value = value?;
        if slot.is_some() || value.as_encoded_bytes().first() == Some(&b'-') {
            return None;
        }
        *slot = Some(value.clone());
        Some(())
    };
    let mut config_raw: Option<OsString> = None;
    loop {
        let word = rest.next()?;
        match word.to_str() {
            Some("run") => break,
            Some("--config") => set_once(&mut config_raw, rest.next())?,
            Some(w) if w.starts_with("--config=") => {
                set_once(&mut config_raw, Some(&OsString::from(&w["--config=".len()..])))?
            }
            _ => return None,
        }
    }
    let (mut prefix, mut user, mut umask) = (None, None, None);
    let (mut clean_env, mut verbose) = (false, false);
    let mut words: Vec<OsString> = Vec::new();
    #[allow(clippy::while_let_on_iterator)] // the loop takes option values from `rest` too
    while let Some(word) = rest.next() {
        let Some(text) = word.to_str() else {
            words.push(word.clone());
            break;
        };
        if !text.starts_with('-') {
            words.push(word.clone());
            break;
        }
        let (flag, attached) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(OsString::from(value))),
            _ => (text, None),
        };
        let slot = match flag {
            "-p" | "--prefix" => &mut prefix,
            "--user" => &mut user,
            "--umask" => &mut umask,
            "--config" => &mut config_raw,
            "--clean-env" if attached.is_none() && !clean_env => {
                clean_env = true;
                continue;
            }
            "-v" | "--verbose" if attached.is_none() && !verbose => {
                verbose = true;
                continue;
            }
            _ => return None,
        };
        if flag == "-p" && attached.is_some() {
            return None;
        }
        match attached {
            Some(value) => set_once(slot, Some(&value))?,
            None => set_once(slot, rest.next())?,
        }
    }
    words.extend(rest.cloned());
    if words.is_empty() {
        return None;
    }
    let config = config_raw.map(PathBuf::from);
    let utf8 = |v: Option<OsString>| -> Option<Option<String>> {
        match v {
            None => Some(None),
            Some(v) => v.into_string().ok().map(Some),
        }
    };
    let run = RunArgs {
        prefix: prefix.map(PathBuf::from),
        user: utf8(user)?,
        umask: utf8(umask)?,
        clean_env,
        verbose,
        words,
        user_shell: false,
        bind_only: None,
    };
    Some((config, run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn by_clap(args: &[OsString]) -> Option<(Option<PathBuf>, RunArgs)> {
        let cli = Cli::try_parse_from(args).ok()?;
        match cli.command {
            Command::Run(run) => Some((cli.config, run)),
            _ => None,
        }
    }

    #[test]
    fn the_fast_path_agrees_with_clap() {
        let cases: &[&[&str]] = &[
            &["cenv", "run", "cv", "python", "train.py"],
            &["cenv", "run", "cv", "--", "python", "-m", "pip"],
            &["cenv", "run", "-p", "/opt/envs/cv", "python", "-c", "x"],
            &["cenv", "run", "--prefix", "/p", "-v", "--clean-env", "id"],
            &[
                "cenv",
                "run",
                "--prefix=/p",
                "--umask=077",
                "--user=bob",
                "id",
                "-u",
            ],
            &["cenv", "--config", "/c.toml", "run", "cv", "true"],
            &["cenv", "--config=/c.toml", "run", "--verbose", "cv", "true"],
            &["cenv", "run", "--config", "/c.toml", "cv", "true"],
            &["cenv", "run", "cv", "-v", "--prefix", "x"],
            &["cenv", "run", "--umask", "077", "cv", "sh", "-c", "umask"],
            &["cenv", "run", "-v", "-p", "/p", "sh"],
        ];
        for case in cases {
            let args = os(case);
            let fast = parse_run_fast(&args);
            assert!(fast.is_some(), "{case:?} should take the fast path");
            assert_eq!(fast, by_clap(&args), "{case:?}");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_clap() {
        let cases: &[&[&str]] = &[
            &["cenv", "run"],
            &["cenv", "run", "--help"],
            &["cenv", "run", "-h"],
            &["cenv", "--version"],
            &["cenv", "list"],
            &["cenv", "run", "-p"],
            &["cenv", "run", "-p", "/a", "-p", "/b", "x"],
            &["cenv", "run", "-pfoo", "x"],
            &["cenv", "run", "-vp", "/p", "x"],
            &["cenv", "run", "--prefx", "/p", "x"],
            &["cenv", "run", "-p", "-x", "cmd"],
            &["cenv", "run", "-v", "-v", "cv", "x"],
            &["cenv", "run", "--", "cv", "x"],
            &["cenv", "runn", "cv", "x"],
        ];
        for case in cases {
            assert_eq!(parse_run_fast(&os(case)), None, "{case:?}");
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Write a kernelspec cenv-NAME whose argv is `cenv run NAME python -m ipykernel_launcher`.
    Install(KernelInstallArgs),
    /// The cenv kernels installed, and whether each env still resolves and is open to you.
    List(KernelListArgs),
    /// Remove the kernelspecs cenv-NAME.
    Remove(KernelRemoveArgs),
    /// Make the kernels match the envs: install --all, and remove each cenv kernel whose env is gone or lost ipykernel.
    Sync(KernelSyncArgs),
}

#[derive(Debug, Args)]
pub struct KernelInstallArgs {
    /// The envs (each must have ipykernel).
    #[arg(value_name = "NAME", required_unless_present = "all")]
    pub names: Vec<String>,
    /// Every env open to you that has ipykernel; the others are named with the reason.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,
    /// Into your own kernels directory, ~/.local/share/jupyter/kernels: the default, except
    /// for root, whose default is the system place /usr/local/share/jupyter/kernels.
    #[arg(long, conflicts_with = "prefix")]
    pub user: bool,
    /// Into DIR/share/jupyter/kernels (a JupyterHub's system place, such as /usr/local).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// The name Jupyter shows (default: Python X.Y (NAME)); one env only.
    #[arg(long, value_name = "TEXT", conflicts_with = "all")]
    pub display_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct KernelListArgs {
    /// Look in DIR/share/jupyter/kernels too.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KernelRemoveArgs {
    /// The envs whose kernels to remove.
    #[arg(value_name = "NAME", required = true)]
    pub names: Vec<String>,
    /// From your own kernels directory: the default, except for root (the system place,
    /// /usr/local/share/jupyter/kernels).
    #[arg(long, conflicts_with = "prefix")]
    pub user: bool,
    /// From DIR/share/jupyter/kernels.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct KernelSyncArgs {
    /// Your own kernels directory: the default, except for root (the system place,
    /// /usr/local/share/jupyter/kernels).
    #[arg(long, conflicts_with = "prefix")]
    pub user: bool,
    /// DIR/share/jupyter/kernels.
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NotebookArgs {
    /// The env.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Print each step of the run (as cenv run -v).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Arguments for jupyter, after --.
    #[arg(last = true, value_name = "JUPYTER_ARGS", value_parser = clap::value_parser!(OsString))]
    pub jupyter_args: Vec<OsString>,
}
