//! Jupyter from shared envs. `cenv kernel install` writes kernelspecs whose
//! argv is `cenv run NAME python -m ipykernel_launcher -f {connection_file}`,
//! so every kernel start is an ordinary run — policy, trust check, umask,
//! Landlock and the audit line — and, since the run execs, Jupyter's
//! interrupt and shutdown reach the kernel itself. `cenv notebook` starts the
//! env's Jupyter server through `cenv run` on 127.0.0.1 and a free port
//! (Jupyter's own token, which only Jupyter prints, once it serves), and
//! prints the `ssh -L` line that reaches it: a
//! notebook server left on 0.0.0.0 is the classic exposure on a shared host.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{
    KernelInstallArgs, KernelListArgs, KernelRemoveArgs, KernelSyncArgs, NotebookArgs, RunArgs,
};
use crate::conda::files::PrefixDir;
use crate::conda::records::python_version;
use crate::conda::{EnvSpec, SearchPath};
use crate::config::{self, LoadedConfig, SYSTEM_CONFIG_PATH};
use crate::error::{Error, Result};
use crate::policy::resolve_explained;
use crate::policy::{current_subject, list_envs, may_use};
use crate::system::escape;
use crate::system::output::write_stdout;
use crate::system::process::Process;
use crate::system::wholefile::write_atomically;

/// Where Jupyter looks for system-wide kernels (jupyter_core's
/// SYSTEM_JUPYTER_PATH on Linux).
const SYSTEM_KERNEL_DIRS: [&str; 2] = ["/usr/local/share/jupyter/kernels", "/usr/share/jupyter/kernels"];
/// The logos ipykernel ships in an env, copied next to kernel.json.
/// The env's logos Jupyter shows. Not logo-svg.svg: jupyter_server serves it
/// as image/svg+xml from its own origin, so a script in it would run in
/// every user's Jupyter session — and its content is the env's.
const LOGOS: [&str; 2] = ["logo-32x32.png", "logo-64x64.png"];
/// The largest logo or kernel.json read.
const FILE_LIMIT: u64 = 1 << 20;
/// The prefix of every kernelspec directory cenv writes.
const KERNEL_PREFIX: &str = "cenv-";

/// The servers `cenv notebook` starts, the first the env has: its program
/// in `bin/`, the package that ships it, and the path its URL opens.
const SERVERS: [(&str, &str, &str); 3] = [
    ("jupyter-lab", "jupyterlab", "lab"),
    ("jupyter-notebook", "notebook", "tree"),
    ("jupyter-server", "jupyter_server", ""),
];

/// The caller's own kernels directory, as jupyter_core finds it:
/// `$JUPYTER_DATA_DIR/kernels`, else `$XDG_DATA_HOME/jupyter/kernels`, else
/// `~/.local/share/jupyter/kernels`.
fn user_kernels_dir(process: &Process) -> Result<PathBuf> {
    let absolute = |name: &str| {
        process
            .environ
            .get(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(dir) = absolute("JUPYTER_DATA_DIR") {
        return Ok(dir.join("kernels"));
    }
    if let Some(dir) = absolute("XDG_DATA_HOME") {
        return Ok(dir.join("jupyter/kernels"));
    }
    let home = absolute("HOME").ok_or_else(|| {
        Error::Usage("HOME is not set to an absolute path: say where with --prefix DIR".into())
    })?;
    Ok(home.join(".local/share/jupyter/kernels"))
}

/// Where kernels are written and removed: `--prefix DIR`, `--user` (the
/// caller's own), else the caller's own for a user and the system place
/// for root (as `jupyter kernelspec install` does: JupyterHub and every
/// user's Jupyter look there; root's own directory serves no one).
fn kernels_dir(process: &Process, prefix: Option<&Path>, user: bool) -> Result<PathBuf> {
    match prefix {
        Some(prefix) => Ok(prefix.join("share/jupyter/kernels")),
        None if process.real_uid == 0 && !user => Ok(PathBuf::from(SYSTEM_KERNEL_DIRS[0])),
        None => user_kernels_dir(process),
    }
}

/// Whether the env's records include ipykernel.
fn has_ipykernel(prefix: &Path) -> bool {
    PrefixDir::open(prefix)
        .and_then(|dir| dir.list("conda-meta"))
        .map(|names| {
            names.iter().any(|n| {
                n.to_str()
                    .is_some_and(|n| n.starts_with("ipykernel-") && n.ends_with(".json"))
            })
        })
        .unwrap_or(false)
}

fn no_ipykernel(name: &str) -> String {
    format!("no ipykernel in its records (its admin can add it: conda install -n {name} ipykernel)")
}

pub fn kernel_install(process: &Process, args: KernelInstallArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let dir = kernels_dir(process, args.prefix.as_deref(), args.user)?;
    crate::trust::require_roots_own_tree(&dir)?;
    let cenv = launcher_for_kernels(process)?;
    let mut report = format!("kernels directory: {}\n", escape::path(&dir));
    if args.all {
        install_all(process, &loaded, &dir, &cenv, &mut report)?;
    } else {
        if args.display_name.is_some() && args.names.len() > 1 {
            return Err(Error::Usage(
                "--display-name names one kernel: give one env".into(),
            ));
        }
        for name in &args.names {
            let prefix = usable_env(process, &loaded, name)?;
            if !has_ipykernel(&prefix) {
                return Err(Error::EnvLacks {
                    env: name.clone(),
                    message: format!(
                        "env '{}' has {}",
                        escape::text(name),
                        no_ipykernel(&escape::text(name))
                    ),
                });
            }
            let path = install_one(&dir, name, &prefix, args.display_name.as_deref(), &cenv)?;
            report.push_str(&format!(
                "{}: installed {}\n",
                escape::text(name),
                escape::path(&path)
            ));
        }
    }
    write_stdout(report.as_bytes())
}

/// A kernel for every env open to the caller (root: every env) that has
/// ipykernel, the others named with the reason; returns the envs that have
/// one now.
fn install_all(
    process: &Process,
    loaded: &LoadedConfig,
    dir: &Path,
    cenv: &Path,
    report: &mut String,
) -> Result<BTreeSet<String>> {
    let mut seen = BTreeSet::new();
    let mut installed = BTreeSet::new();
    for env in list_envs(process, loaded) {
        // a name found again further down the search path is shadowed
        if !seen.insert(env.name.clone()) {
            continue;
        }
        let name = escape::text(&env.name);
        if !env.may_use && process.real_uid != 0 {
            let why = env.reason.unwrap_or_default();
            report.push_str(&format!(
                "{name}: skipped: not open to you ({})\n",
                escape::text(&why)
            ));
        } else if !has_ipykernel(&env.prefix) {
            report.push_str(&format!("{name}: skipped: {}\n", no_ipykernel(&name)));
        } else {
            let path = install_one(dir, &env.name, &env.prefix, None, cenv)?;
            report.push_str(&format!("{name}: installed {}\n", escape::path(&path)));
            installed.insert(env.name.clone());
        }
    }
    if seen.is_empty() {
        report.push_str("no envs found\n");
    }
    Ok(installed)
}

/// `cenv kernel sync`: the kernels directory made to match the envs — a
/// kernel (re)written for every env that has ipykernel and is open to the
/// caller, and each cenv kernel there removed whose env is gone or has
/// lost ipykernel. A kernel of an env not open to the caller is kept and
/// named: the policy may open it again, and the kernel is not wrong.
pub fn kernel_sync(process: &Process, args: KernelSyncArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    let dir = kernels_dir(process, args.prefix.as_deref(), args.user)?;
    crate::trust::require_roots_own_tree(&dir)?;
    let cenv = launcher_for_kernels(process)?;
    let mut report = format!("kernels directory: {}\n", escape::path(&dir));
    let installed = install_all(process, &loaded, &dir, &cenv, &mut report)?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(KERNEL_PREFIX))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    // "gone" is believed only when every envs root could be listed: an
    // unmounted or failing filesystem must not look like envs deleted
    let unreadable_root = loaded
        .config
        .envs_dirs
        .iter()
        .find(|root| root.exists() && std::fs::read_dir(root).is_err())
        .cloned();
    for kernel in names {
        let shown = escape::text(&kernel);
        if installed.contains(&kernel[KERNEL_PREFIX.len()..]) {
            continue;
        }
        // only what cenv wrote: cenv-ENV whose argv is `cenv run ENV ...`
        // and whose metadata names ENV
        let Some(env) =
            cenv_kernel_env(&dir.join(&kernel)).filter(|env| kernel[KERNEL_PREFIX.len()..] == **env)
        else {
            report.push_str(&format!(
                "{shown}: kept: not a kernel cenv wrote (argv `cenv run NAME ...`, metadata cenv.env NAME)\n"
            ));
            continue;
        };
        let gone = match usable_env(process, &loaded, &env) {
            Ok(prefix) if !has_ipykernel(&prefix) => Some(no_ipykernel(&env)),
            Ok(_) => None,
            Err(e @ Error::EnvNotFound { .. }) => match &unreadable_root {
                None => Some(e.to_string()),
                Some(root) => {
                    report.push_str(&format!(
                        "{shown}: kept: {} (and {} cannot be listed: cannot tell whether it is gone)\n",
                        escape::text(&e.to_string()),
                        escape::path(root)
                    ));
                    None
                }
            },
            Err(e) => {
                report.push_str(&format!("{shown}: kept: {}\n", escape::text(&e.to_string())));
                None
            }
        };
        if let Some(why) = gone {
            let kernel_dir = dir.join(&kernel);
            remove_kernel_dir(&kernel_dir)?;
            report.push_str(&format!(
                "{shown}: removed {}: {}\n",
                escape::path(&kernel_dir),
                escape::text(&why)
            ));
        }
    }
    write_stdout(report.as_bytes())
}

/// The env a kernelspec cenv wrote runs: `argv` = `[CENV, "run", ENV, ...]`
/// and `metadata.cenv.env` = ENV, as `kernel install` writes them (CENV is
/// whatever path cenv had); None for any other.
fn cenv_kernel_env(kernel_dir: &Path) -> Option<String> {
    let bytes =
        crate::system::wholefile::read_regular_nofollow(&kernel_dir.join("kernel.json"), FILE_LIMIT).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let argv: Vec<&str> = spec["argv"]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let named = spec["metadata"]["cenv"]["env"].as_str()?;
    match argv.as_slice() {
        [_, "run", env, ..] if *env == named => Some((*env).to_owned()),
        _ => None,
    }
}

/// The path a kernelspec will run for every user. Root writes only a cenv
/// that no one but root can change (path and directories above it), or a
/// Jupyter user would run whatever another user put there.
fn launcher_for_kernels(process: &Process) -> Result<PathBuf> {
    let cenv = std::env::current_exe().map_err(|e| Error::system("finding cenv's own path", e))?;
    if process.real_uid == 0 {
        let rules = crate::system::permissions::TrustRules {
            owners: vec![0],
            groups: vec![0],
        };
        if let Some(finding) = crate::system::permissions::check_chain(&cenv, &rules)?.first() {
            return Err(Error::Trust(format!(
                "not writing kernels that run {}: {finding}. Every Jupyter user would run it; as root, \
                 install kernels with a cenv only root can change (the package's /usr/bin/cenv)",
                escape::path(&cenv)
            )));
        }
    }
    Ok(cenv)
}

/// Resolves `name` as `cenv run` would and checks the policy and the file
/// permissions let the caller use it (root itself: resolved only).
fn usable_env(process: &Process, loaded: &LoadedConfig, name: &str) -> Result<PathBuf> {
    let search = SearchPath::for_caller(&loaded.config, process);
    let env = resolve_explained(
        &EnvSpec::Name(name.to_owned()),
        &loaded.config,
        &search,
        &loaded.path,
        || Ok(current_subject(process)),
    )?;
    // root itself installs kernels for others (a JupyterHub's system
    // place); each kernel start is then held to the policy of who starts it
    if process.real_uid == 0 {
        return Ok(env.prefix);
    }
    let owner = std::fs::metadata(&env.prefix)
        .map(|m| crate::system::users::user_name(std::os::unix::fs::MetadataExt::uid(&m)))
        .unwrap_or_default();
    match may_use(&loaded.config, &current_subject(process), &env.prefix, &owner) {
        (true, _) => Ok(env.prefix),
        (false, reason) => Err(Error::NotAllowed {
            message: format!(
                "env '{}' is not open to you: {}",
                escape::text(name),
                reason.as_deref().unwrap_or("refused")
            ),
            reason: reason.unwrap_or_default(),
        }),
    }
}

/// The kernelspec of one env, as Jupyter reads it.
fn kernel_json(name: &str, prefix: &Path, display_name: Option<&str>, cenv: &Path) -> serde_json::Value {
    let display = display_name.map_or_else(
        || match python_version(prefix) {
            Some(version) => {
                let major_minor: Vec<&str> = version.split('.').take(2).collect();
                format!("Python {} ({name})", major_minor.join("."))
            }
            None => format!("Python ({name})"),
        },
        str::to_owned,
    );
    serde_json::json!({
        "argv": [cenv, "run", name, "python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": { "cenv": { "env": name } },
    })
}

/// Writes `DIR/cenv-NAME/kernel.json` (and the env's logos): each file to a
/// temporary name and renamed into place, so a reader never sees half a
/// kernelspec and a planted symlink is replaced, never followed.
fn install_one(
    dir: &Path,
    name: &str,
    prefix: &Path,
    display_name: Option<&str>,
    cenv: &Path,
) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let kernel_dir = dir.join(format!("{KERNEL_PREFIX}{name}"));
    crate::trust::require_roots_own_tree(&kernel_dir)?;
    let failed = |what: &str, path: &Path, e: std::io::Error| Error::System {
        what: format!("{what} {}", path.display()),
        source: e,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| failed("cannot create", dir, e))?;
    match std::fs::symlink_metadata(&kernel_dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::Kernel(format!(
                "{} exists and is not a directory: remove it first",
                escape::path(&kernel_dir)
            )))
        }
        Ok(_) => {}
        Err(_) => std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&kernel_dir)
            .map_err(|e| failed("cannot create", &kernel_dir, e))?,
    }
    std::fs::set_permissions(&kernel_dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| failed("cannot set the mode of", &kernel_dir, e))?;
    let spec = kernel_json(name, prefix, display_name, cenv);
    let mut text = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Json(e.to_string()))?;
    text.push(b'\n');
    write_atomically(&kernel_dir.join("kernel.json"), &text, Some(0o644))?;
    let env = PrefixDir::open(prefix)?;
    for logo in LOGOS {
        if let Ok(Some(bytes)) = env.read(&format!("share/jupyter/kernels/python3/{logo}"), FILE_LIMIT) {
            write_atomically(&kernel_dir.join(logo), &bytes, Some(0o644))?;
        }
    }
    Ok(kernel_dir)
}

/// An installed cenv kernel, as `cenv kernel list` shows it.
#[derive(Debug, Serialize)]
pub struct InstalledKernel {
    pub kernel: String,
    pub dir: PathBuf,
    pub env: Option<String>,
    pub display_name: Option<String>,
    /// Starts for you as things are now.
    pub ok: bool,
    /// "ok"; "refused": the env is not open to you (the kernel is fine,
    /// the policy or file permissions keep you out); "broken".
    pub state: &'static str,
    /// What is wrong, when not ok.
    pub problem: Option<String>,
}

pub fn kernel_list(process: &Process, args: KernelListArgs, cli_config: Option<&Path>) -> Result<u8> {
    let loaded = config::load(process, cli_config)?;
    // without a home (a service, `env -i`), the other places are listed
    let mut dirs: Vec<PathBuf> = user_kernels_dir(process).into_iter().collect();
    dirs.extend(args.prefix.as_deref().map(|p| p.join("share/jupyter/kernels")));
    dirs.extend(SYSTEM_KERNEL_DIRS.iter().map(PathBuf::from));
    dirs.dedup();
    let mut kernels = Vec::new();
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(KERNEL_PREFIX))
            .collect();
        names.sort();
        for kernel in names {
            kernels.push(inspect_kernel(process, &loaded, dir, kernel));
        }
    }
    if args.json {
        let mut text = serde_json::to_string_pretty(&kernels).map_err(|e| Error::Json(e.to_string()))?;
        text.push('\n');
        return write_stdout(text.as_bytes());
    }
    let mut text = String::new();
    for k in &kernels {
        text.push_str(&format!(
            "{}  {}  {}  {}\n",
            escape::text(&k.kernel),
            escape::text(k.display_name.as_deref().unwrap_or("?")),
            match k.state {
                "ok" => "ok".to_owned(),
                "refused" => format!(
                    "not open to you: {}",
                    escape::text(k.problem.as_deref().unwrap_or(""))
                ),
                _ => format!("BROKEN: {}", escape::text(k.problem.as_deref().unwrap_or(""))),
            },
            escape::path(&k.dir)
        ));
    }
    if kernels.is_empty() {
        text.push_str("no cenv kernels installed (cenv kernel install NAME)\n");
    }
    write_stdout(text.as_bytes())
}

fn inspect_kernel(process: &Process, loaded: &LoadedConfig, dir: &Path, kernel: String) -> InstalledKernel {
    let kernel_dir = dir.join(&kernel);
    let mut found = InstalledKernel {
        kernel,
        dir: kernel_dir.clone(),
        env: None,
        display_name: None,
        ok: false,
        state: "broken",
        problem: None,
    };
    // a kernelspec lives in a tree its owner may change: never follow a
    // link, never block on a FIFO
    let spec =
        match crate::system::wholefile::read_regular_nofollow(&kernel_dir.join("kernel.json"), FILE_LIMIT)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string()))
        {
            Ok(spec) => spec,
            Err(e) => {
                found.problem = Some(format!("kernel.json: {e}"));
                return found;
            }
        };
    found.display_name = spec["display_name"].as_str().map(str::to_owned);
    let argv: Vec<&str> = spec["argv"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let (cenv, env) = match argv.as_slice() {
        [cenv, "run", env, ..] => (*cenv, *env),
        _ => {
            found.problem = Some("its argv is not `cenv run NAME ...`".into());
            return found;
        }
    };
    found.env = Some(env.to_owned());
    found.problem = if !Path::new(cenv).exists() {
        Some(format!("{cenv} no longer exists (reinstall the kernel)"))
    } else {
        match usable_env(process, loaded, env) {
            Ok(prefix) if !has_ipykernel(&prefix) => Some(no_ipykernel(env)),
            Ok(_) => None,
            Err(e @ (Error::NotAllowed { .. } | Error::EnvNotAccessible { .. })) => {
                found.state = "refused";
                Some(e.to_string())
            }
            Err(e) => Some(e.to_string()),
        }
    };
    found.ok = found.problem.is_none();
    if found.ok {
        found.state = "ok";
    }
    found
}

pub fn kernel_remove(process: &Process, args: KernelRemoveArgs) -> Result<u8> {
    let dir = kernels_dir(process, args.prefix.as_deref(), args.user)?;
    let mut report = String::new();
    for name in &args.names {
        crate::conda::name::validate_env_name(name)?;
        let kernel_dir = dir.join(format!("{KERNEL_PREFIX}{name}"));
        if let Err(e) = std::fs::symlink_metadata(&kernel_dir) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Err(Error::Kernel(format!(
                    "no kernel {KERNEL_PREFIX}{} in {} (cenv kernel list shows where they are)",
                    escape::text(name),
                    escape::path(&dir)
                )));
            }
        }
        remove_kernel_dir(&kernel_dir)?;
        report.push_str(&format!("removed {}\n", escape::path(&kernel_dir)));
    }
    write_stdout(report.as_bytes())
}

/// Removes one kernel directory (or what stands in its place), in a tree
/// only root and the caller may change.
fn remove_kernel_dir(kernel_dir: &Path) -> Result<()> {
    crate::trust::require_roots_own_tree(kernel_dir)?;
    let removed = match std::fs::symlink_metadata(kernel_dir) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(kernel_dir),
        Ok(_) => std::fs::remove_file(kernel_dir),
        Err(e) => Err(e),
    };
    removed.map_err(|e| Error::System {
        what: format!("cannot remove {}", kernel_dir.display()),
        source: e,
    })
}

/// The value of the last of `keys` among Jupyter's arguments (`--key=V` or
/// `--key V`, as traitlets reads them): `None` when absent, `Some(None)`
/// when given without a value.
fn option_value(args: &[OsString], keys: &[&str]) -> Option<Option<String>> {
    let mut found = None;
    let mut words = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(word) = words.next() {
        let (key, value) = match word.split_once('=') {
            Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
            None => (word.clone(), None),
        };
        if keys.contains(&key.as_str()) {
            found = Some(value.or_else(|| words.next()));
        }
    }
    found
}

/// The address an `--ip`-like argument names; one without a value is an error.
fn ip_argument(args: &[OsString]) -> Result<Option<String>> {
    match option_value(args, &["--ip", "--ServerApp.ip", "--NotebookApp.ip"]) {
        Some(None) => Err(Error::Usage("--ip needs an address".into())),
        Some(Some(ip)) => Ok(Some(ip)),
        None => Ok(None),
    }
}

/// The port a `--port`-like argument gives: `Some(None)` when one is given
/// but is not a number cenv can read.
fn port_argument(args: &[OsString]) -> Option<Option<u16>> {
    option_value(args, &["--port", "--ServerApp.port", "--NotebookApp.port"])
        .map(|value| value.and_then(|v| v.parse().ok()))
}

/// Whether Jupyter would listen on loopback only at `address`.
pub fn is_loopback(address: &str) -> bool {
    let address = address.trim_start_matches('[').trim_end_matches(']');
    address == "localhost" || address.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A TCP port free at this moment on the loopback address Jupyter will
/// bind (`--ip`, else 127.0.0.1; the kernel picks it).
fn free_loopback_port(ip: Option<&str>) -> Result<u16> {
    let address: IpAddr = ip
        .map(|ip| ip.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|ip| ip.parse().ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let failed = |e| Error::system(format!("finding a free port on {address}"), e);
    let listener = TcpListener::bind((address, 0)).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok(port)
}

/// What `cenv notebook` prints before the server's own output: where it
/// will serve, the ssh command that forwards the laptop's port to that
/// address (the one the server binds: `--ip=127.0.0.2` is forwarded to
/// 127.0.0.2), and the URL on the laptop's end of the tunnel.
fn banner(ip: &str, port: Option<u16>, user: &str, host: &str, url_path: &str) -> String {
    let remote = match ip.contains(':') {
        true => format!("[{}]", ip.trim_start_matches('[').trim_end_matches(']')),
        false => ip.to_owned(),
    };
    match port {
        Some(port) => format!(
            "jupyter will serve on {}:{port}. From your laptop:\n    ssh -N -L {port}:{}:{port} {}@{}\n  then open the http://127.0.0.1:{port}/{url_path}?token=... URL jupyter prints below once it serves{}",
            escape::text(&remote),
            escape::text(&remote),
            escape::text(user),
            escape::text(host),
            match remote.as_str() {
                "127.0.0.1" | "localhost" => String::new(),
                other => format!(" (it names {}: on the laptop, 127.0.0.1)", escape::text(other)),
            }
        ),
        None => format!(
            "jupyter will serve on the port you gave; forward it with ssh -N -L PORT:{}:PORT {}@{} and open the URL with the token jupyter prints once it serves",
            escape::text(&remote),
            escape::text(user),
            escape::text(host)
        ),
    }
}

/// 24 random bytes as hex, from the kernel's generator.
/// `cenv notebook NAME [-- ARGS]`: returns only if the server could not be
/// started (a successful run becomes the server).
pub fn notebook(process: &Process, args: NotebookArgs, cli_config: Option<&Path>) -> Error {
    match prepare_notebook(process, args, cli_config) {
        Ok((process, run_args)) => crate::run::run(&process, run_args, cli_config),
        Err(e) => e,
    }
}

fn prepare_notebook(
    process: &Process,
    args: NotebookArgs,
    cli_config: Option<&Path>,
) -> Result<(Process, RunArgs)> {
    if process.real_uid == 0 {
        return Err(Error::Identity(
            "cenv notebook serves as the user who starts it: run it as yourself, not as root or through sudo"
                .into(),
        ));
    }
    let loaded = config::load(process, cli_config)?;
    let ip = ip_argument(&args.jupyter_args)?;
    if let Some(ip) = ip.as_deref().filter(|ip| !is_loopback(ip)) {
        if !loaded.config.notebook_any_ip {
            return Err(Error::Usage(format!(
                "--ip {}: not a loopback address. cenv notebook serves on 127.0.0.1, reached from your \
                 laptop with ssh -L; an admin can allow other addresses with notebook_any_ip = true in \
                 {SYSTEM_CONFIG_PATH}",
                escape::text(ip)
            )));
        }
    }
    let prefix = usable_env(process, &loaded, &args.name)?;
    let bin = prefix.join("bin");
    let Some((program, _, url_path)) = SERVERS.iter().find(|(program, ..)| bin.join(program).exists()) else {
        return Err(Error::EnvLacks {
            env: args.name.clone(),
            message: format!(
                "env '{}' has no Jupyter server: none of {} in {} (packages {}); its admin can add one: \
             conda install -n {} jupyterlab",
                escape::text(&args.name),
                SERVERS.map(|s| s.0).join(", "),
                escape::path(&bin),
                SERVERS.map(|s| s.1).join(", "),
                escape::text(&args.name)
            ),
        });
    };
    // The token: Jupyter's own, generated when it starts (never in argv)
    // and printed in its URL once it serves — cenv does not make one up
    // and print it before the port is Jupyter's (see below).
    let process = process.clone();
    let mut words: Vec<OsString> = vec![args.name.clone().into(), (*program).into()];
    if ip.is_none() {
        words.push("--ip=127.0.0.1".into());
    }
    let (port, chosen) = match port_argument(&args.jupyter_args) {
        Some(given) => (given, false),
        None => (Some(free_loopback_port(ip.as_deref())?), true),
    };
    if let (Some(port), true) = (port, chosen) {
        words.push(format!("--port={port}").into());
    }
    words.push("--port-retries=0".into());
    words.push("--no-browser".into());
    // notebook_restrict_binds: the run may bind only the server's port
    // (Landlock ABI 4); kernels the server starts talk to it over Unix
    // sockets in the runtime directory instead of TCP ports of their own
    if port.is_none() && loaded.config.notebook_restrict_binds {
        return Err(Error::Usage(
            "the port given to jupyter is not a number cenv can read, and notebook_restrict_binds \
             needs it: give --port=NUMBER, or let cenv choose one"
                .into(),
        ));
    }
    let bind_only = port.filter(|_| loaded.config.notebook_restrict_binds);
    if bind_only.is_some() {
        words.push("--KernelManager.transport=ipc".into());
    }
    words.extend(args.jupyter_args.iter().cloned());
    let user = crate::identity::Account::by_uid(process.real_uid)
        .map_or_else(|| process.real_uid.to_string(), |a| a.name);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "HOST".into());
    // The address ssh forwards to is the one the server binds; the URL is
    // the laptop's end of the tunnel. The token is not printed here: the
    // chosen port is free now, but another user could bind it before
    // Jupyter does (then Jupyter fails, --port-retries=0). Jupyter prints
    // its URL, token included, once it serves on the port itself.
    let shown = ip.as_deref().unwrap_or("127.0.0.1");
    crate::system::output::message(&banner(shown, port, &user, &host, url_path));
    let run_args = RunArgs {
        prefix: None,
        user: None,
        umask: None,
        clean_env: false,
        verbose: args.verbose,
        words,
        user_shell: false,
        bind_only,
    };
    Ok((process, run_args))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tunnel goes to the address the server binds; the URL is the
    /// laptop's end. `--ip=127.0.0.2` once got a tunnel to 127.0.0.1.
    #[test]
    fn the_banner_forwards_to_the_address_jupyter_binds() {
        let text = banner("127.0.0.2", Some(8899), "alice", "gpu1", "lab");
        assert!(
            text.contains("ssh -N -L 8899:127.0.0.2:8899 alice@gpu1"),
            "{text}"
        );
        assert!(text.contains("http://127.0.0.1:8899/lab?token="), "{text}");
        assert!(
            text.contains("it names 127.0.0.2: on the laptop, 127.0.0.1"),
            "{text}"
        );
        let text = banner("::1", Some(8899), "alice", "gpu1", "lab");
        assert!(text.contains("ssh -N -L 8899:[::1]:8899 alice@gpu1"), "{text}");
        let plain = banner("127.0.0.1", Some(8899), "alice", "gpu1", "lab");
        assert!(!plain.contains("it names"), "{plain}");
        // the free port is found on that address
        let port = free_loopback_port(Some("127.0.0.2")).unwrap();
        assert!(std::net::TcpListener::bind(("127.0.0.2", port)).is_ok());
    }

    fn words(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn loopback_addresses() {
        for ok in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
            assert!(is_loopback(ok), "{ok}");
        }
        for not in [
            "0.0.0.0",
            "",
            "*",
            "10.0.0.1",
            "::",
            "example.org",
            "127.0.0.1.example.org",
        ] {
            assert!(!is_loopback(not), "{not}");
        }
    }

    #[test]
    fn every_spelling_of_the_ip_option_is_seen() {
        assert_eq!(
            ip_argument(&words(&["--ip=0.0.0.0"])).unwrap().as_deref(),
            Some("0.0.0.0")
        );
        assert_eq!(
            ip_argument(&words(&["--ip", "0.0.0.0"])).unwrap().as_deref(),
            Some("0.0.0.0")
        );
        assert_eq!(
            ip_argument(&words(&["--x", "--ServerApp.ip=*"]))
                .unwrap()
                .as_deref(),
            Some("*")
        );
        assert_eq!(
            ip_argument(&words(&["--NotebookApp.ip", "::"]))
                .unwrap()
                .as_deref(),
            Some("::")
        );
        // the last one wins, as in traitlets
        assert_eq!(
            ip_argument(&words(&["--ip=127.0.0.1", "--ip=0.0.0.0"]))
                .unwrap()
                .as_deref(),
            Some("0.0.0.0")
        );
        assert!(ip_argument(&words(&["--ip"])).is_err());
        assert_eq!(ip_argument(&words(&["--ipx=1", "--port=8888"])).unwrap(), None);
        assert_eq!(port_argument(&words(&["--port=1"])), Some(Some(1)));
        assert_eq!(
            port_argument(&words(&["--ServerApp.port", "8888"])),
            Some(Some(8888))
        );
        assert_eq!(port_argument(&words(&["--port=x"])), Some(None));
        assert_eq!(port_argument(&words(&["--port-retries=0"])), None);
    }

    #[test]
    fn the_kernelspec_runs_the_env_through_cenv() {
        let spec = kernel_json("cv", Path::new("/nonexistent"), None, Path::new("/usr/bin/cenv"));
        assert_eq!(
            spec["argv"],
            serde_json::json!([
                "/usr/bin/cenv",
                "run",
                "cv",
                "python",
                "-m",
                "ipykernel_launcher",
                "-f",
                "{connection_file}"
            ])
        );
        assert_eq!(spec["display_name"], "Python (cv)");
        assert_eq!(spec["language"], "python");
    }
}
