//! Tells the host what it was built from, for `assay --version` and `assay_build_info`:
//!
//! - `ASSAY_GIT_COMMIT`: `git rev-parse --short HEAD`, or `unknown` outside a git checkout
//!   (a source tarball); a dirty work tree is not marked, the commit is what was checked out.
//! - `ASSAY_WASMTIME_VERSION`: the wasmtime the workspace's `Cargo.lock` resolved, or
//!   `unknown` without a lock file (wasmtime exports no version constant of its own).
//!
//! And it embeds what `assay plugin new` writes into a vendor's project: every file of the
//! Rust SDK (`plugins/sdk`, its WIT included), the example plugins' `Cargo.lock` and release
//! profile, and the toolchain pin, listed in `$OUT_DIR/scaffold_files.rs`.

use std::path::Path;
use std::process::Command;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let manifest = Path::new(&manifest);
    let commit = git(manifest, &["rev-parse", "--short", "HEAD"]);
    println!(
        "cargo:rustc-env=ASSAY_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // Build again when HEAD moves: HEAD itself (a checkout), the branch it names (a commit)
    // and packed-refs (a gc). Paths that do not exist make cargo rerun the script every
    // build, so only existing ones are named.
    if commit.is_some() {
        let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        if let Some(branch) = git(manifest, &["symbolic-ref", "-q", "HEAD"]) {
            watched.push(branch);
        }
        for name in watched {
            if let Some(path) = git(
                manifest,
                &["rev-parse", "--path-format=absolute", "--git-path", &name],
            ) && Path::new(&path).exists()
            {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let lock = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let wasmtime = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| locked_version(&text, "wasmtime"))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ASSAY_WASMTIME_VERSION={wasmtime}");
    scaffold_files(manifest);
    println!("cargo:rerun-if-changed=build.rs");
}

/// Writes `$OUT_DIR/scaffold_files.rs`: `SDK_FILES`, each file of `plugins/sdk` (but its
/// `target/`) as `(relative path, include_bytes!)`, sorted; `PLUGINS_LOCK`; `TOOLCHAIN`.
fn scaffold_files(manifest: &Path) {
    let root = manifest.join("../..");
    let sdk = root.join("plugins/sdk");
    let mut files = Vec::new();
    collect(&sdk, &sdk, &mut files);
    files.sort();
    let mut out = String::from("/// Every file of the Rust SDK, by its path inside it.\n");
    out.push_str("pub const SDK_FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&sdk).unwrap_or(file);
        out.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            relative.to_string_lossy(),
            file.canonicalize()
                .unwrap_or(file.clone())
                .to_string_lossy()
        ));
    }
    out.push_str("];\n");
    for (name, path) in [
        ("PLUGINS_LOCK", root.join("plugins/Cargo.lock")),
        ("PLUGINS_MANIFEST", root.join("plugins/Cargo.toml")),
        ("TOOLCHAIN", root.join("rust-toolchain.toml")),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!(
            "pub const {name}: &str = include_str!({:?});\n",
            path.canonicalize()
                .unwrap_or(path.clone())
                .to_string_lossy()
        ));
    }
    println!("cargo:rerun-if-changed={}", sdk.display());
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("scaffold_files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}

/// Every file under `dir` but `target/` folders, each folder watched for changes.
fn collect(base: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") && dir == base {
                continue;
            }
            collect(base, &path, out);
        } else {
            out.push(path);
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (output.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// The version of package `name` in a `Cargo.lock`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let header = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == header {
            let version = lines.next()?.strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_owned());
        }
    }
    None
}
