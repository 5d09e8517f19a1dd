//! Where the built plugins are, and temporary plugin folders to load them from.
//!
//! `build.rs` builds both plugin workspaces before this crate compiles and passes the
//! directories of their `.wasm` files in as compile-time variables, so these paths always point
//! at components built from the sources of this checkout.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// What the fixture plugins promise (settings, defaults, messages, answers): the very file the
/// fixtures compile, so tests and fixtures cannot disagree.
#[path = "../fixtures/shared/contract.rs"]
pub mod contract;

/// The directory of the built fixture plugins (`tests/fixtures/`).
pub const FIXTURES_DIR: &str = env!("ASSAY_FIXTURES_DIR");

/// The directory of the built example plugins (`plugins/`).
pub const PLUGINS_WASM_DIR: &str = env!("ASSAY_PLUGINS_WASM_DIR");

/// Every fixture plugin, by the name [`fixture_path`] takes. All are built on contract 0.1.0
/// on purpose (they prove 0.1.0 plugins keep working), except `tokencache` (0.2.0: state
/// between calls) and `future` (a version no host knows).
pub const FIXTURE_NAMES: [&str; 11] = [
    "trap",
    "spin",
    "hog",
    "offlist",
    "loopback",
    "huge",
    "noexport",
    "partial",
    "wellbehaved",
    "tokencache",
    "future",
];

/// The 0.1.0 fixtures that are complete plugins: they export the whole `assay:plugin/product`
/// interface with a valid `metadata`, so the host loads them. The other 0.1.0 fixtures of
/// [`FIXTURE_NAMES`] must fail to load.
pub const LOADABLE_FIXTURES: [&str; 7] = [
    "trap",
    "spin",
    "hog",
    "offlist",
    "loopback",
    "huge",
    "wellbehaved",
];

/// The root folder of this checkout.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .to_owned()
}

/// The Rust SDK's crate folder (`plugins/sdk`).
pub fn sdk_dir() -> PathBuf {
    repo_dir().join("plugins").join("sdk")
}

/// The built component of the fixture `name` (one of [`FIXTURE_NAMES`]), e.g. `trap`.
pub fn fixture_path(name: &str) -> PathBuf {
    // The fixture crates are named `fixture-<name>`, and cargo names a library's file after the
    // crate with `-` turned into `_`.
    Path::new(FIXTURES_DIR).join(format!("fixture_{}.wasm", name.replace('-', "_")))
}

/// A plugin as it was released for an older contract, committed under
/// `tests/fixtures/v0.1.0/` (e.g. `codetest`: the example plugin built at contract 0.1.0), so
/// tests prove that the host still serves what vendors built then.
pub fn legacy_plugin_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/v0.1.0")
        .join(format!("{name}.wasm"))
}

/// The built component of the example plugin crate `name` in `plugins/` (its package name;
/// `-` and `_` are both accepted).
pub fn example_plugin_path(name: &str) -> PathBuf {
    Path::new(PLUGINS_WASM_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// `component` as a rebuild with no code change would leave it: a custom section naming build
/// `n` makes the bytes (and so the artifact cache's key) new, and changes nothing else.
pub fn rebuilt(component: &[u8], n: u64) -> Vec<u8> {
    let name = b"assay-test-build";
    let payload = [&[name.len() as u8][..], name, &n.to_le_bytes()].concat();
    let size = u8::try_from(payload.len()).expect("a one-byte LEB128 size");
    assert!(size < 0x80, "a one-byte LEB128 size");
    [component, &[0, size], &payload].concat()
}

/// Copies the component `wasm` into the plugins folder `dir` as `<file_stem>.wasm`, replacing
/// any file of that name, and returns the new path.
///
/// The copy is written under a hidden temporary name and then renamed into place, so a host
/// watching `dir` never sees a half-written plugin: it sees one complete file appear or change,
/// as when an operator `mv`s a new version into the folder.
pub fn install_plugin(dir: &Path, file_stem: &str, wasm: &Path) -> io::Result<PathBuf> {
    let destination = dir.join(format!("{file_stem}.wasm"));
    let partial = dir.join(format!(".{file_stem}.wasm.part"));
    fs::copy(wasm, &partial).map_err(|error| with_path(error, "copy", wasm))?;
    fs::rename(&partial, &destination).map_err(|error| with_path(error, "rename", &partial))?;
    Ok(destination)
}

/// A fresh temporary plugins folder holding a copy of each `(file_stem, wasm)` plugin as
/// `<file_stem>.wasm`. The folder is deleted when the returned value is dropped.
pub fn plugins_dir_with(plugins: &[(&str, &Path)]) -> io::Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("assay-plugins-")
        .tempdir()?;
    for (file_stem, wasm) in plugins {
        install_plugin(dir.path(), file_stem, wasm)?;
    }
    Ok(dir)
}

/// Names the file in an I/O error, which `fs` leaves out.
fn with_path(error: io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("could not {action} {}: {error}", path.display()),
    )
}

/// Builds the plugin crate `package` of the project at `dir` (a vendor's, outside the
/// checkout) for wasm32-wasip2 into `plugins/target`, whose dependencies the example plugins'
/// build compiled with the same profile and lock, and loads it in a fresh runtime.
pub async fn build_and_load(
    dir: &Path,
    package: &'static str,
) -> std::sync::Arc<assay_runtime::Plugin> {
    let manifest = dir.join("Cargo.toml");
    let target = repo_dir().join("plugins").join("target");
    let built = tokio::task::spawn_blocking(move || {
        assay::plugin_build::build(&manifest, &target, &[package])
    })
    .await
    .expect("the build thread")
    .unwrap_or_else(|e| panic!("the plugin crate {package} builds: {e}"));
    assay_runtime::Runtime::new(assay_runtime::RuntimeOptions::default())
        .expect("runtime")
        .load(&built[0])
        .await
        .unwrap_or_else(|e| panic!("{} loads: {e:#}", built[0].display()))
}

/// Every file under `dir`, recursively, by its path relative to `dir`, with its bytes.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries =
            fs::read_dir(&folder).unwrap_or_else(|e| panic!("listing {}: {e}", folder.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes =
                    fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let relative = path.strip_prefix(dir).expect("under dir").to_owned();
                files.insert(relative, bytes);
            }
        }
    }
    files
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fixture_paths_follow_the_crate_naming() {
        assert_eq!(
            fixture_path("trap"),
            Path::new(FIXTURES_DIR).join("fixture_trap.wasm")
        );
        assert_eq!(
            example_plugin_path("my-product"),
            Path::new(PLUGINS_WASM_DIR).join("my_product.wasm")
        );
    }

    #[test]
    fn loadable_fixtures_are_fixtures() {
        for name in LOADABLE_FIXTURES {
            assert!(
                FIXTURE_NAMES.contains(&name),
                "{name} is not in FIXTURE_NAMES"
            );
        }
    }

    #[test]
    fn plugins_dir_holds_exact_copies_and_replaces_atomically() {
        let source = tempfile::tempdir().unwrap();
        let first = source.path().join("first.wasm");
        let second = source.path().join("second.wasm");
        fs::write(&first, b"first version").unwrap();
        fs::write(&second, b"second version, longer").unwrap();

        let dir = plugins_dir_with(&[("product", &first)]).unwrap();
        let installed = dir.path().join("product.wasm");
        assert_eq!(fs::read(&installed).unwrap(), b"first version");

        let replaced = install_plugin(dir.path(), "product", &second).unwrap();
        assert_eq!(replaced, installed);
        assert_eq!(fs::read(&installed).unwrap(), b"second version, longer");
        // Only the plugin is left: the temporary copy was renamed, not left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["product.wasm"]);
    }

    #[test]
    fn a_missing_source_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere.wasm");
        let error = install_plugin(dir.path(), "product", &missing).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        assert!(error.to_string().contains("nowhere.wasm"), "{error}");
    }
}
