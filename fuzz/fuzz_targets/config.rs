//! The config parser, the checks that read no file, and layering: no input
//! may panic, and a user's config laid over any config may only tighten it.
#![no_main]

use std::path::Path;

use cenv::config::{weakening_warnings, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // one input, two configs: the system's and a user's, split at a NUL
    let (system_text, user_text) = text.split_once('\0').unwrap_or((text, ""));
    let path = Path::new("/etc/cenv/cenv.toml");
    let Ok(system) = Config::parse(system_text, path) else { return };
    let _ = weakening_warnings(&system, path);
    for key in system.envs.keys() {
        let settings = system.settings_for_name(key);
        assert!(settings.umask <= 0o777);
    }
    let Ok(user) = Config::parse(user_text, Path::new("/home/u/cenv.toml")) else { return };
    let (merged, _) = system.layered_with(&user, Path::new("/home/u/cenv.toml"));
    assert_eq!(merged.umask & system.umask, system.umask, "a user's config loosened the umask");
    assert_eq!(merged.default_groups, system.default_groups);
    assert_eq!(merged.trusted_owners, system.trusted_owners);
    assert_eq!(merged.trusted_groups, system.trusted_groups);
    assert_eq!(merged.envs, system.envs);
    assert_eq!(merged.allow_root, system.allow_root);
    assert!(merged.strict_permissions || !system.strict_permissions);
});
