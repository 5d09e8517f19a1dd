//! The Rust SDK (`plugins/sdk`) as a vendor uses it: from a crate of its own, outside this
//! checkout, by path or git dependency.
//!
//! For that the SDK carries the WIT its bindings are generated from (`plugins/sdk/wit/`, a copy
//! of the repository's `wit/`) and inherits nothing from the plugins workspace. These tests keep
//! the copy exact, and build and load a plugin crate created in a temporary folder: once
//! depending on `plugins/sdk` by path, once on a copy of the SDK's folder alone, which proves
//! the SDK needs nothing outside that folder (a git dependency builds the same folder, from
//! cargo's checkout of the repository).
//!
//! The plugin crates build into `plugins/target` (the example plugins' own target directory,
//! which `build.rs` has filled before these tests run) with the example plugins' release
//! profile and their `Cargo.lock`, so the SDK's dependencies are already compiled and cargo
//! needs no network: a run compiles the SDK (and, the first time, the SDK as depended on from
//! outside) and the two small crates, a few seconds each.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use assay_runtime::ProductContext;
use assay_runtime::types::PackageQuery;
use assay_tests::fixtures::{build_and_load, files_under, repo_dir, sdk_dir};
use assay_wire::secret::Secret;
use tempfile::TempDir;

/// Its `src/lib.rs`: lists one package per name in its `tests` setting, each id prefixed with
/// the asking account, so the answer proves the settings and the query reached the plugin.
const PLUGIN_SOURCE: &str = r#"//! A vendor's plugin, in a crate of its own.

use assay_plugin_sdk::{
    CallbackOutcome, CallbackRequest, Fulfilment, Order, OrderKind, OrderResult, Package,
    PackageList, PackageQuery, PendingOrder, Plugin, PluginError, PluginMetadata, SettingSpec,
    export, settings,
};

struct Standalone;

impl Plugin for Standalone {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "standalone".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "A plugin built outside the Assay checkout".into(),
            kinds: vec![OrderKind::Assessment],
            settings: vec![SettingSpec::required("tests", "Comma-separated test names")],
        }
    }

    fn list_packages(query: PackageQuery) -> Result<PackageList, PluginError> {
        let packages = settings::require("tests")?
            .split(',')
            .map(|name| Package::new(format!("{}/{name}", query.account_id), name))
            .collect();
        Ok(PackageList::uncached(packages))
    }

    fn fulfil_order(_order: Order) -> Result<Fulfilment, PluginError> {
        Err(PluginError::Permanent("this plugin fulfils no orders".into()))
    }

    fn handle_callback(_request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        Ok(CallbackOutcome::unknown("this plugin expects no callbacks"))
    }

    fn poll_results(_orders: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        Ok(Vec::new())
    }
}

export!(Standalone);
"#;

/// Every SDK carries its WIT: the Rust SDK to bind to, the TypeScript and Python SDKs for
/// their builds, and `assay plugin new` writes each into projects outside the checkout.
#[test]
fn every_sdk_carries_an_exact_copy_of_the_contract() {
    let original = repo_dir().join("wit");
    let expected = files_under(&original);
    assert!(
        !expected.is_empty(),
        "{} holds no files",
        original.display()
    );
    let mut drift = Vec::new();
    for sdk in ["plugins/sdk", "plugins/sdk-js", "plugins/sdk-python"] {
        let actual = files_under(&repo_dir().join(sdk).join("wit"));
        for (file, bytes) in &expected {
            match actual.get(file) {
                None => drift.push(format!("missing: {sdk}/wit/{}", file.display())),
                Some(copied) if copied != bytes => {
                    drift.push(format!("differs: {sdk}/wit/{}", file.display()));
                }
                Some(_) => {}
            }
        }
        for file in actual.keys().filter(|file| !expected.contains_key(*file)) {
            drift.push(format!("not in wit/: {sdk}/wit/{}", file.display()));
        }
    }
    assert!(
        drift.is_empty(),
        "an SDK's vendored WIT is not an exact copy of wit/:\n{}\n\
         Refresh it from the repository root with, for each SDK folder: rm -r SDK/wit && cp -r wit SDK/wit",
        drift.join("\n")
    );
}

#[test]
fn the_sdk_inherits_nothing_from_the_plugins_workspace() {
    let path = sdk_dir().join("Cargo.toml");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let inherited = inherited_keys(&text);
    assert!(
        inherited.is_empty(),
        "plugins/sdk/Cargo.toml inherits {} from the plugins workspace, which a crate depending \
         on the SDK from outside this checkout does not have: write the values out",
        inherited.join(", ")
    );
    // The check finds inheritance where there is some.
    assert_eq!(
        inherited_keys(
            "[package]\nversion.workspace = true\n[dependencies]\nserde = { workspace = true }\n\
             [lints]\nworkspace = true\n"
        ),
        ["dependencies.serde", "lints", "package.version"]
    );
}

#[tokio::test]
async fn a_plugin_crate_outside_the_checkout_builds_with_the_sdk_and_loads() {
    let folder = outside_folder();
    let sdk = sdk_dir().canonicalize().expect("the SDK");
    let sdk = sdk.to_str().expect("a UTF-8 path to the SDK");
    write_plugin_crate(
        folder.path(),
        "standalone-plugin",
        &format!("{{ path = {sdk:?} }}"),
        "",
    );
    build_load_and_list(folder.path(), "standalone-plugin").await;
}

/// The SDK's folder alone, copied into the vendor's repository (as `cargo vendor` or a
/// generated project would hold it): nothing it needs may lie outside that folder, neither the
/// WIT nor a workspace to inherit from.
#[tokio::test]
async fn a_copy_of_the_sdk_folder_alone_builds_a_plugin_that_loads() {
    let folder = outside_folder();
    for (file, bytes) in files_under(&sdk_dir()) {
        let path = folder.path().join("assay-plugin-sdk").join(file);
        fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    // The copy is a member of the vendor's workspace: cargo then names its build by its place
    // in the workspace, so each run reuses (and overwrites) the same files in the shared
    // target directory.
    write_plugin_crate(
        folder.path(),
        "vendored-sdk-plugin",
        r#"{ path = "assay-plugin-sdk" }"#,
        "[workspace]\nmembers = [\"assay-plugin-sdk\"]\n",
    );
    build_load_and_list(folder.path(), "vendored-sdk-plugin").await;
}

/// A fresh temporary folder, checked to lie outside the checkout.
fn outside_folder() -> TempDir {
    let folder = tempfile::Builder::new()
        .prefix("assay-vendor-plugin-")
        .tempdir()
        .expect("a temporary folder");
    let at = folder.path().canonicalize().expect("the temporary folder");
    let repo = repo_dir().canonicalize().expect("the checkout");
    assert!(
        !at.starts_with(&repo),
        "the temporary folder {} is inside the checkout {}; set TMPDIR elsewhere",
        at.display(),
        repo.display()
    );
    folder
}

/// Builds the plugin crate `package` in `dir` for wasm32-wasip2, loads it in the host's
/// runtime and checks its metadata and its `list-packages` answer.
async fn build_load_and_list(dir: &Path, package: &'static str) {
    let plugin = build_and_load(dir, package).await;
    assert_eq!(plugin.metadata().name, "standalone");
    assert_eq!(plugin.contract_version(), "0.2.0");

    let mut ctx = ProductContext::new("standalone");
    ctx.settings = Arc::new(BTreeMap::from([(
        "tests".to_owned(),
        Secret::new("Rust,SQL".to_owned()),
    )]));
    let list = plugin
        .list_packages(
            &ctx,
            PackageQuery {
                account_id: "acc-7".into(),
                provider: None,
            },
        )
        .await
        .expect("list-packages answers");
    let packages: Vec<(&str, &str)> = list
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(packages, [("acc-7/Rust", "Rust"), ("acc-7/SQL", "SQL")]);
    assert!(list.freshness.is_none(), "an uncached list has no hint");
}

/// Writes the vendor's plugin crate `package` into `dir`: a manifest depending on the SDK as
/// `sdk` says, with `workspace` (a `[workspace]` table or nothing) appended, [`PLUGIN_SOURCE`],
/// and the pins a vendor would keep in their repository (the example plugins' `Cargo.lock` and
/// the checkout's `rust-toolchain.toml`).
fn write_plugin_crate(dir: &Path, package: &str, sdk: &str, workspace: &str) {
    let manifest = format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
assay-plugin-sdk = {sdk}

{profile}
{workspace}"#,
        profile = assay::scaffold::release_profile()
    );
    let write = |file: &str, contents: &[u8]| {
        let path = dir.join(file);
        fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    };
    let read = |path: PathBuf| {
        fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    };
    write("Cargo.toml", manifest.as_bytes());
    write("src/lib.rs", PLUGIN_SOURCE.as_bytes());
    write("Cargo.lock", &read(repo_dir().join("plugins/Cargo.lock")));
    write(
        "rust-toolchain.toml",
        &read(repo_dir().join("rust-toolchain.toml")),
    );
}

/// The keys of the manifest `text` whose value comes from a workspace (`key.workspace = true`,
/// or `workspace = true` in a table; a `[workspace]` table of its own counts too), as sorted
/// dotted paths.
fn inherited_keys(text: &str) -> Vec<String> {
    fn walk(table: &toml::Table, at: &str, out: &mut Vec<String>) {
        for (key, value) in table {
            if key == "workspace" {
                out.push(if at.is_empty() {
                    key.clone()
                } else {
                    at.to_owned()
                });
            } else if let toml::Value::Table(inner) = value {
                let here = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                walk(inner, &here, out);
            }
        }
    }
    let manifest: toml::Table = text.parse().expect("the SDK's manifest parses");
    let mut out = Vec::new();
    walk(&manifest, "", &mut out);
    out
}
