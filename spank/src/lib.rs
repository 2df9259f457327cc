//! cenv's SLURM SPANK plugin: `srun --cenv=ENV` (and `#SBATCH --cenv=ENV`,
//! which reaches every step of the job) confines and activates every task.
//!
//! `slurm_spank_init` registers the `--cenv` option in every context.
//! `slurm_spank_task_init` runs in the task's own process, already the job's
//! user, just before slurmstepd execs the task: when the option is set it
//! calls `cenv::run::confine_task` — the pipeline of `cenv run` up to, not
//! including, the exec: resolve, policy, trust check, umask, no_new_privs,
//! capabilities, Landlock, activation (activate.d scripts included) and the
//! audit line with `JOB=` — and writes the activated environment back with
//! `spank_setenv`/`spank_unsetenv`. A refusal ends the task with cenv's
//! message on its stderr and exit status 125: a task never runs unconfined.
//! Without the option the plugin does nothing.
//!
//! The few SPANK functions used are declared by hand below, from Slurm
//! 22.05's spank.h, rather than generated with bindgen: six functions, one
//! struct and three item numbers do not justify a libclang build dependency,
//! and a reader sees exactly which ABI the plugin relies on. Only the version
//! number comes from the headers (build.rs).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

type Spank = *mut c_void;

/// `struct spank_option` (spank.h).
#[repr(C)]
struct SpankOption {
    name: *const c_char,
    arginfo: *const c_char,
    usage: *const c_char,
    has_arg: c_int,
    val: c_int,
    cb: Option<extern "C" fn(c_int, *const c_char, c_int) -> c_int>,
}

/// `enum spank_item` values used (spank.h, Slurm 22.05).
const S_JOB_ARGV: c_int = 9;
const S_JOB_ENV: c_int = 10;
const ESPANK_SUCCESS: c_int = 0;

extern "C" {
    fn spank_option_register(spank: Spank, opt: *mut SpankOption) -> c_int;
    fn spank_option_getopt(spank: Spank, opt: *mut SpankOption, optarg: *mut *mut c_char) -> c_int;
    fn spank_get_item(spank: Spank, item: c_int, ...) -> c_int;
    fn spank_setenv(spank: Spank, var: *const c_char, val: *const c_char, overwrite: c_int) -> c_int;
    fn spank_unsetenv(spank: Spank, var: *const c_char) -> c_int;
    fn spank_remote(spank: Spank) -> c_int;
}

/// What the Slurm plugin loader looks for (`SPANK_PLUGIN(cenv, 1)`).
#[no_mangle]
pub static plugin_name: [u8; 5] = *b"cenv\0";
#[no_mangle]
pub static plugin_type: [u8; 6] = *b"spank\0";
#[no_mangle]
pub static plugin_version: u32 = const_parse(env!("CENV_SLURM_VERSION_NUMBER"));
#[no_mangle]
pub static spank_plugin_version: u32 = 1;

/// `cenv-spank-built-for-slurm-22.05`, kept in the file (also stripped) so
/// that cenv-slurm-healthcheck can compare it with the node's slurmd: a
/// plugin of another release does not load, and a node where it does not
/// load must not run `--cenv` jobs.
#[used]
#[no_mangle]
pub static cenv_spank_built_for: [u8; 64] =
    padded(concat!("cenv-spank-built-for-slurm-", env!("CENV_SLURM_RELEASE")));

const fn padded(text: &str) -> [u8; 64] {
    let bytes = text.as_bytes();
    let mut out = [0u8; 64];
    let mut i = 0;
    while i < bytes.len() && i < 63 {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

const fn const_parse(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut value = 0u32;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    value
}

/// The option, allocated once and never freed: Slurm keeps the pointer.
fn option() -> *mut SpankOption {
    use std::sync::OnceLock;
    struct Leaked(*mut SpankOption);
    // SAFETY: the pointer is created once and only read afterwards; Slurm
    // calls plugins from one thread.
    unsafe impl Send for Leaked {}
    // SAFETY: as above.
    unsafe impl Sync for Leaked {}
    static OPTION: OnceLock<Leaked> = OnceLock::new();
    OPTION
        .get_or_init(|| {
            Leaked(Box::into_raw(Box::new(SpankOption {
                name: c"cenv".as_ptr(),
                arginfo: c"ENV".as_ptr(),
                usage: c"Run every task in the conda env ENV through cenv: activated, confined (umask, no_new_privs, Landlock) and audited".as_ptr(),
                has_arg: 1,
                val: 0,
                cb: None,
            })))
        })
        .0
}

/// Registers `--cenv=ENV` for srun, sbatch and salloc.
///
/// # Safety
/// Called by Slurm's plugin loader with its own handle.
#[no_mangle]
pub unsafe extern "C" fn slurm_spank_init(spank: Spank, _ac: c_int, _av: *mut *mut c_char) -> c_int {
    // SAFETY: `spank` is the handle Slurm passed in; the option lives for
    // the life of the process.
    let rc = unsafe { spank_option_register(spank, option()) };
    if rc == ESPANK_SUCCESS {
        0
    } else {
        -1
    }
}

/// Confines and activates the task when `--cenv` is set; otherwise nothing.
///
/// # Safety
/// Called by slurmstepd with its own handle, in the task's process.
#[no_mangle]
pub unsafe extern "C" fn slurm_spank_task_init(spank: Spank, _ac: c_int, _av: *mut *mut c_char) -> c_int {
    // SAFETY: `spank` is the handle slurmstepd passed to this callback.
    let outcome = std::panic::catch_unwind(|| unsafe { task_init(spank) });
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(message)) => refuse(&message),
        Err(_) => refuse("cenv: internal error in the SLURM plugin; the task is not run"),
    }
}

/// Ends the task: cenv's message on its stderr, exit status 125 in the job
/// record. Never returns to slurmstepd, so the task never runs unconfined.
/// `_exit`, not `exit`: this is slurmstepd's forked process, whose atexit
/// handlers and stdio buffers are slurmstepd's, not the task's.
fn refuse(message: &str) -> ! {
    use std::io::Write;
    // std's stderr is unbuffered: the message is written before _exit
    let _ = writeln!(std::io::stderr(), "{message}");
    // SAFETY: _exit(2) ends the process at once; nothing is read or written
    // after it.
    unsafe { libc::_exit(125) }
}

/// The job-environment variables a `--cenv` option may travel in to the
/// task (Slurm 22.05): the first is dropped by `--export=NONE`, the second
/// stays. Only the user's own request can be read from them: a variable set
/// by hand can ask for confinement, never lift it.
const OPTION_VARIABLES: [&str; 2] = [
    "_SLURM_SPANK_OPTION_cenv_cenv",
    "SLURM_SPANK__SLURM_SPANK_OPTION_cenv_cenv",
];

/// Confines the task when `--cenv` asked for it; `Err` is cenv's message.
///
/// # Safety
/// `spank` must be the handle Slurm passed to the callback this runs in,
/// valid for the whole call.
unsafe fn task_init(spank: Spank) -> Result<(), String> {
    // SAFETY: `spank` is Slurm's handle for this call.
    if unsafe { spank_remote(spank) } == 0 {
        return Ok(());
    }
    // SAFETY: our caller's `spank`, valid for this call.
    let job_env = unsafe { job_environment(spank) }?;
    let mut optarg: *mut c_char = std::ptr::null_mut();
    // SAFETY: the option was registered by slurm_spank_init; `optarg` is a
    // valid out-pointer; Slurm sets it to a string it owns.
    let rc = unsafe { spank_option_getopt(spank, option(), &mut optarg) };
    let env_name = if rc == ESPANK_SUCCESS && !optarg.is_null() {
        // SAFETY: a NUL-terminated string owned by Slurm, valid for this call.
        unsafe { CStr::from_ptr(optarg) }.to_string_lossy().into_owned()
    } else {
        // sbatch --export=NONE (also SBATCH_EXPORT=NONE, #SBATCH
        // --export=NONE) drops the variable getopt reads in a batch step;
        // the option still reached the job, and the task must not run
        // unconfined because of how the job's environment was exported
        match OPTION_VARIABLES
            .iter()
            .find_map(|name| job_env.get_str(name).filter(|v| !v.is_empty()))
        {
            Some(name) => name.to_owned(),
            None => return Ok(()),
        }
    };
    // SAFETY: as above.
    let argv = unsafe { job_argv(spank) };
    let environ = cenv::run::confine_task(&env_name, job_env.clone(), &argv)
        .map_err(|e| format!("cenv: {}", cenv::system::escape::text(&e.to_string())))?;
    // SAFETY: as above.
    unsafe { write_back(spank, &job_env, &environ) }
}

/// The task's environment (`S_JOB_ENV`).
///
/// # Safety
/// `spank` must be the handle Slurm passed to the callback this runs in,
/// valid for the whole call.
unsafe fn job_environment(spank: Spank) -> Result<cenv::system::environ::Environ, String> {
    let mut env: *mut *mut c_char = std::ptr::null_mut();
    // SAFETY: S_JOB_ENV takes one `char ***` out-argument.
    let rc = unsafe { spank_get_item(spank, S_JOB_ENV, &mut env as *mut *mut *mut c_char) };
    if rc != ESPANK_SUCCESS || env.is_null() {
        return Err("cenv: the SLURM plugin could not read the task's environment".into());
    }
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        // SAFETY: Slurm's environment array is NULL-terminated and lives
        // for this call; each entry is a NUL-terminated string.
        let entry = unsafe { *env.add(i) };
        if entry.is_null() {
            break;
        }
        // SAFETY: as above.
        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
        if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
            pairs.push((
                OsStr::from_bytes(&bytes[..eq]).to_owned(),
                OsStr::from_bytes(&bytes[eq + 1..]).to_owned(),
            ));
        }
        i += 1;
    }
    Ok(cenv::system::environ::Environ::from_pairs(pairs))
}

/// The task's command (`S_JOB_ARGV`), for the audit line.
///
/// # Safety
/// `spank` must be the handle Slurm passed to the callback this runs in,
/// valid for the whole call.
unsafe fn job_argv(spank: Spank) -> Vec<OsString> {
    let mut argc: c_int = 0;
    let mut argv: *mut *mut c_char = std::ptr::null_mut();
    // SAFETY: S_JOB_ARGV takes an `int *` and a `char ***` out-argument.
    let rc = unsafe {
        spank_get_item(
            spank,
            S_JOB_ARGV,
            &mut argc as *mut c_int,
            &mut argv as *mut *mut *mut c_char,
        )
    };
    if rc != ESPANK_SUCCESS || argv.is_null() {
        return Vec::new();
    }
    (0..argc.max(0) as usize)
        .filter_map(|i| {
            // SAFETY: `argv` has `argc` entries owned by Slurm.
            let arg = unsafe { *argv.add(i) };
            // SAFETY: each a NUL-terminated string.
            (!arg.is_null()).then(|| OsStr::from_bytes(unsafe { CStr::from_ptr(arg) }.to_bytes()).to_owned())
        })
        .collect()
}

/// Makes the task's environment the activated one: removed variables
/// unset, new and changed ones set.
///
/// # Safety
/// `spank` must be the handle Slurm passed to the callback this runs in,
/// valid for the whole call.
unsafe fn write_back(
    spank: Spank,
    before: &cenv::system::environ::Environ,
    after: &cenv::system::environ::Environ,
) -> Result<(), String> {
    let c = |s: &OsStr| std::ffi::CString::new(s.as_bytes()).ok();
    for (name, _) in before.iter() {
        if after.get(name).is_none() {
            if let Some(name) = c(name) {
                // SAFETY: a NUL-terminated name, alive for the call.
                unsafe { spank_unsetenv(spank, name.as_ptr()) };
            }
        }
    }
    for (name, value) in after.iter() {
        if before.get(name) == Some(value) {
            continue;
        }
        let (Some(name_c), Some(value_c)) = (c(name), c(value)) else {
            continue;
        };
        // SAFETY: NUL-terminated strings, alive for the call.
        let rc = unsafe { spank_setenv(spank, name_c.as_ptr(), value_c.as_ptr(), 1) };
        if rc != ESPANK_SUCCESS {
            return Err(format!(
                "cenv: the SLURM plugin could not set {} in the task's environment",
                name.to_string_lossy()
            ));
        }
    }
    Ok(())
}
