//! `assay plugin new NAME`: a working plugin project in any folder, with no Assay checkout.
//!
//! Everything the project needs of Assay this binary carries and writes into it, pinned to the
//! contract this binary serves: the Rust SDK's sources with the WIT they bind to
//! (`assay-plugin-sdk/`, a path dependency), the `Cargo.lock` the example plugins were built
//! and tested with, and the toolchain pin with the `wasm32-wasip2` target. Cargo needs only the
//! package registry.
//!
//! The plugin it writes works from the start where nothing vendor-specific is needed: it lists
//! the packages its `packages` setting names. Fulfilling an order and handling a callback are
//! the vendor's to write; until then they fail with an error that says so and names the file,
//! so an order sent to it is visible as failed, never as silently done.
//!
//! Only Rust for now; TypeScript and Python follow their SDKs.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

mod files {
    include!(concat!(env!("OUT_DIR"), "/scaffold_files.rs"));
}

/// The folder the SDK is written to inside a new project.
pub const SDK_FOLDER: &str = "assay-plugin-sdk";

/// Writes the project `name` into `dir` (which must not exist or be empty); returns the files
/// written, relative to `dir`.
pub fn new_rust_plugin(name: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !is_crate_name(name) {
        bail!(
            "`{name}` cannot name a plugin crate: use lower-case letters, digits, `-` and `_`, \
             starting with a letter"
        );
    }
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: choose a new folder with --dir",
            dir.display()
        );
    }
    let lib = name.replace('-', "_");
    let mut written = Vec::new();
    let mut write = |path: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&full, bytes).with_context(|| format!("writing {}", full.display()))?;
        written.push(PathBuf::from(path));
        Ok(())
    };
    write("Cargo.toml", manifest(name).as_bytes())?;
    write("Cargo.lock", files::PLUGINS_LOCK.as_bytes())?;
    write("rust-toolchain.toml", files::TOOLCHAIN.as_bytes())?;
    write(".gitignore", b"/target\n")?;
    write("src/lib.rs", LIB_RS.replace("{{name}}", name).as_bytes())?;
    write(
        "README.md",
        README
            .replace("{{name}}", name)
            .replace("{{lib}}", &lib)
            .replace("{{env}}", &lib.to_uppercase())
            .as_bytes(),
    )?;
    for (path, bytes) in files::SDK_FILES {
        write(&format!("{SDK_FOLDER}/{path}"), bytes)?;
    }
    Ok(written)
}

/// A name cargo takes for a package and a library.
fn is_crate_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64
}

/// The project's `Cargo.toml`: a `cdylib`, the SDK by path, a workspace of its own that holds
/// the SDK (so its build is named by its place here), and the example plugins' release profile
/// (small code compiles faster in the host).
fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
assay-plugin-sdk = {{ path = "{SDK_FOLDER}" }}

[workspace]
members = ["{SDK_FOLDER}"]

{profile}"#,
        profile = release_profile()
    )
}

/// The `[profile.release]` table of the example plugins' workspace (`plugins/Cargo.toml`),
/// verbatim: a plugin project built with it reuses what their build compiled.
pub fn release_profile() -> String {
    let text = files::PLUGINS_MANIFEST;
    let Some(start) = text.find("[profile.release]") else {
        return String::new();
    };
    let table = &text[start..];
    let end = table[1..].find("\n[").map_or(table.len(), |at| at + 2);
    table[..end].to_owned()
}

/// The plugin's `src/lib.rs`.
const LIB_RS: &str = r#"//! The {{name}} plugin for Assay.
//!
//! `list-packages` works from the start: it lists the packages of the `packages` setting.
//! `fulfil-order` and `handle-callback` are yours to write: until then they fail with a
//! permanent error naming this file, so an order sent here is parked as failed and the
//! recruiter is told why.

use assay_plugin_sdk::{
    CallbackOutcome, CallbackRequest, Fulfilment, Order, OrderKind, OrderResult, Package,
    PackageList, PackageQuery, PendingOrder, Plugin, PluginError, PluginMetadata, SettingSpec,
    export, settings,
};

struct Vendor;

impl Plugin for Vendor {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "{{name}} assessments".into(),
            kinds: vec![OrderKind::Assessment],
            settings: vec![SettingSpec::required(
                "packages",
                "The packages to offer, as id:Name pairs separated by commas",
            )],
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<PackageList, PluginError> {
        let mut packages = Vec::new();
        for entry in settings::require("packages")?.split(',') {
            let Some((id, name)) = entry.trim().split_once(':') else {
                return Err(PluginError::Misconfigured(format!(
                    "the setting `packages` has `{entry}`; write id:Name pairs separated by commas"
                )));
            };
            packages.push(Package::new(id.trim(), name.trim()));
        }
        Ok(PackageList::uncached(packages))
    }

    fn fulfil_order(_order: Order) -> Result<Fulfilment, PluginError> {
        Err(PluginError::Permanent(
            "fulfil-order is not written yet: start the test in your system in src/lib.rs".into(),
        ))
    }

    fn handle_callback(_request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        Err(PluginError::Permanent(
            "handle-callback is not written yet: turn your callback into a result in src/lib.rs"
                .into(),
        ))
    }

    fn poll_results(_orders: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        Ok(Vec::new())
    }
}

export!(Vendor);
"#;

/// The project's README: its first `sh` block builds the plugin.
const README: &str = r#"# {{name}}: an Assay plugin

```sh
cargo build --release --target wasm32-wasip2
assay plugin inspect target/wasm32-wasip2/release/{{lib}}.wasm
```

`rust-toolchain.toml` brings the toolchain and the `wasm32-wasip2` target; `assay-plugin-sdk/`
is the Rust SDK with the WIT contract it binds to, as the `assay` binary that wrote this
project serves it. The SDK's documentation: `cargo doc --open -p assay-plugin-sdk`.

## Test and run

1. Write `fulfil_order` (start the test in your system) and `handle_callback` (turn your
   system's callback into a result) in `src/lib.rs`; until then an order fails with a message
   saying so.
2. Copy `target/wasm32-wasip2/release/{{lib}}.wasm` into the host's plugins folder and add the
   product to its `config.toml`:

   ```toml
   [products.{{name}}]
   plugin = "{{lib}}.wasm"
   kind = "assessment"
   webhook_secrets = ["env:{{env}}_WEBHOOK_SECRET"]
   package_list_keys = ["env:{{env}}_PACKAGE_LIST_KEY"]

   [products.{{name}}.settings]
   packages = "t1:First test,t2:Second test"
   ```

3. `assay check --config config.toml` says what is missing; `assay dev` rebuilds and reloads
   the plugin as you edit it.
"#;
