//! What this binary is: its version, the commit it was built from, the plugin contract
//! versions it loads and the wasmtime it embeds. `assay --version` prints it and
//! `assay_build_info` exports it; `build.rs` finds the commit and the wasmtime version.

use std::sync::LazyLock;

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `git rev-parse --short HEAD` at build time, `unknown` outside a git checkout.
pub const COMMIT: &str = env!("ASSAY_GIT_COMMIT");

/// The wasmtime version `Cargo.lock` resolved.
pub const WASMTIME: &str = env!("ASSAY_WASMTIME_VERSION");

/// The plugin contract versions this host loads, newest first, comma-separated.
pub fn contracts() -> String {
    assay_runtime::contract::SUPPORTED_VERSIONS.join(",")
}

/// What `assay --version` prints after the name.
pub static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{VERSION}\ncommit    {COMMIT}\ncontracts {}\nwasmtime  {WASMTIME}",
        assay_runtime::contract::SUPPORTED_VERSIONS
            .iter()
            .map(|v| format!("assay:plugin@{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
});
