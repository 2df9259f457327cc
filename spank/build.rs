//! The plugin must carry the Slurm version it was built for: slurmstepd
//! refuses a plugin of another release. It is read from slurm_version.h
//! (Debian's libslurm-dev), the only thing taken from Slurm's headers.

fn main() {
    let header = std::env::var("SLURM_VERSION_HEADER")
        .unwrap_or_else(|_| "/usr/include/slurm/slurm_version.h".to_owned());
    println!("cargo:rerun-if-changed={header}");
    println!("cargo:rerun-if-env-changed=SLURM_VERSION_HEADER");
    let text = std::fs::read_to_string(&header)
        .unwrap_or_else(|e| panic!("{header}: {e} (install libslurm-dev, or set SLURM_VERSION_HEADER)"));
    let number = text
        .lines()
        .find_map(|l| l.strip_prefix("#define SLURM_VERSION_NUMBER "))
        .and_then(|v| u32::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("{header} has no SLURM_VERSION_NUMBER"));
    println!("cargo:rustc-env=CENV_SLURM_VERSION_NUMBER={number}");
    // the release the plugin is for, readable in the file by a health check
    println!(
        "cargo:rustc-env=CENV_SLURM_RELEASE={}.{:02}",
        number >> 16,
        (number >> 8) & 0xff
    );
}
