//! Builds, from source, every WebAssembly component the integration tests load: the example
//! plugins of `plugins/` and the fixture plugins of `tests/fixtures/`.
//!
//! Each is a cargo workspace of its own, built with the same cargo that runs this script
//! (`cargo build --release --target wasm32-wasip2`) into the workspace's own, git-ignored
//! `target/` folder. It must not be the outer build's target directory: the outer cargo holds
//! that directory's lock while this script runs, so a nested build there would wait forever.
//! Keeping the output next to the sources also means a hand-run `cargo build --release` in
//! either workspace and `cargo test` share one cache, and two worktrees sharing an outer target
//! directory never overwrite each other's plugins.
//!
//! The directories holding the `.wasm` files reach the tests crate as compile-time environment
//! variables (`ASSAY_PLUGINS_WASM_DIR`, `ASSAY_FIXTURES_DIR`); see `src/fixtures.rs`.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};

/// The target every plugin is built for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Variables of the outer build that would change the nested one. Cargo reads each of them
/// (RUSTFLAGS for the wrong target, a wrapper such as clippy-driver that would lint the plugins
/// with the outer build's `-D warnings`, the outer target directory, the outer build script's
/// own identity), and none of them was meant for the plugins.
const LEAKING_VARS: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
    "RUSTC_LINKER",
];

/// Prefixes of variables that describe the outer package or profile. Nested build scripts
/// (wit-bindgen has one) would otherwise see the outer package's features and cfgs next to
/// their own, and `CARGO_PROFILE_*` would silently change the plugins' release profile.
///
/// `CARGO_MAKEFLAGS` is kept on purpose: it lets the nested cargo share the outer jobserver, so
/// the two builds together stay within the machine's cores instead of each using them all.
const LEAKING_PREFIXES: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_MANIFEST_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_WASM32_WASIP2_",
    "DEP_",
];

/// One plugin workspace to build.
struct PluginWorkspace {
    /// What the warnings and errors call it.
    what: &'static str,
    /// The workspace root, holding its `Cargo.toml`.
    dir: PathBuf,
    /// The compile-time variable that receives the directory of its `.wasm` files.
    env_var: &'static str,
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let repo = manifest_dir
        .parent()
        .expect("the tests crate sits in the repository root");
    let cargo = env::var_os("CARGO").expect("cargo sets CARGO for build scripts");

    println!("cargo:rerun-if-changed=build.rs");
    watch(&repo.join("wit"));

    let workspaces = [
        PluginWorkspace {
            what: "example plugins",
            dir: repo.join("plugins"),
            env_var: "ASSAY_PLUGINS_WASM_DIR",
        },
        PluginWorkspace {
            what: "fixture plugins",
            dir: manifest_dir.join("fixtures"),
            env_var: "ASSAY_FIXTURES_DIR",
        },
    ];
    for workspace in &workspaces {
        let target_dir = workspace.dir.join("target");
        let wasm_dir = target_dir.join(WASM_TARGET).join("release");
        println!(
            "cargo:rustc-env={}={}",
            workspace.env_var,
            wasm_dir.display()
        );

        let manifest = workspace.dir.join("Cargo.toml");
        if !manifest.is_file() {
            // Watching the missing manifest makes cargo run this script again on every build
            // until it appears, so the workspace is built as soon as it exists.
            println!("cargo:rerun-if-changed={}", manifest.display());
            println!(
                "cargo:warning=no {} to build: {} does not exist; tests that need them will fail",
                workspace.what,
                manifest.display()
            );
            continue;
        }
        watch(&workspace.dir);
        build(&cargo, workspace, &target_dir);
        // Cargo writes this tag once, when it creates the target directory. Watching it makes a
        // deleted target directory (`cargo clean` in the workspace) rebuild the plugins, while
        // the built files themselves, which change on every rebuild, are not watched: that
        // would run this script again after each one.
        let tag = target_dir.join("CACHEDIR.TAG");
        if tag.is_file() {
            println!("cargo:rerun-if-changed={}", tag.display());
        }
    }
}

/// Runs `cargo build --release --target wasm32-wasip2` in the workspace, failing this script
/// (with the compiler's output shown) if it fails.
fn build(cargo: &OsStr, workspace: &PluginWorkspace, target_dir: &Path) {
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace.dir)
        .args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "--target-dir",
        ])
        .arg(target_dir)
        // This script's stdout is read by cargo as instructions; the nested build's messages
        // belong with its stderr, which cargo shows when the script fails.
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit());
    for (name, _) in env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if LEAKING_VARS.contains(&name) || LEAKING_PREFIXES.iter().any(|p| name.starts_with(p)) {
            command.env_remove(name);
        }
    }
    let status = command.status().unwrap_or_else(|error| {
        fail(&format!(
            "could not run {} to build the {}: {error}",
            Path::new(cargo).display(),
            workspace.what
        ))
    });
    if !status.success() {
        fail(&format!(
            "building the {} in {} failed ({status}); the compiler's output is above",
            workspace.what,
            workspace.dir.display()
        ));
    }
}

/// Fails this build script with `message`. Cargo then shows the script's stderr, which holds the
/// nested build's output; a panic would add a backtrace of this script, which helps nobody.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    process::exit(1)
}

/// Asks cargo to run this script again when any source under `dir` changes.
///
/// Files are listed one by one rather than naming the directory, because cargo scans a named
/// directory recursively and would then rebuild every time something under `target/` changed.
/// Build output (`target/`), hidden files and folders other than `.cargo/` (editor swap files,
/// half-copied plugins), `.wasm` files (the `plugins/` folder doubles as the host's drop
/// folder), and the JavaScript and Python projects' installed packages and build output
/// (`node_modules/`, `dist/`, `__pycache__/`: thousands of files no Rust plugin reads) are
/// skipped.
fn watch(dir: &Path) {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|error| fail(&format!("could not list {}: {error}", dir.display())));
    for entry in entries {
        let entry = entry
            .unwrap_or_else(|error| fail(&format!("could not list {}: {error}", dir.display())));
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry
            .file_type()
            .unwrap_or_else(|error| fail(&format!("could not stat {}: {error}", path.display())))
            .is_dir();
        if is_dir && name == ".cargo" {
            watch(&path);
        } else if matches!(&*name, "target" | "node_modules" | "dist" | "__pycache__")
            || name.starts_with('.')
        {
            continue;
        } else if is_dir {
            watch(&path);
        } else if !name.ends_with(".wasm") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
