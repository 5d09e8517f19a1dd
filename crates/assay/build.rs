//! Tells the host what it was built from, for `assay --version` and `assay_build_info`:
//!
//! - `ASSAY_GIT_COMMIT`: `git rev-parse --short HEAD`, or `unknown` outside a git checkout
//!   (a source tarball); a dirty work tree is not marked, the commit is what was checked out.
//! - `ASSAY_WASMTIME_VERSION`: the wasmtime the workspace's `Cargo.lock` resolved, or
//!   `unknown` without a lock file (wasmtime exports no version constant of its own).

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
    println!("cargo:rerun-if-changed=build.rs");
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
