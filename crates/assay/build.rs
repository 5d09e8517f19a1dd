//! Tells the host what it was built from, for `assay --version` and `assay_build_info`:
//!
//! - `ASSAY_GIT_COMMIT`: `git rev-parse --short HEAD`, or `unknown` outside a git checkout
//!   (a source tarball); a dirty work tree is not marked, the commit is what was checked out.
//! - `ASSAY_WASMTIME_VERSION`: the wasmtime the workspace's `Cargo.lock` resolved, or
//!   `unknown` without a lock file (wasmtime exports no version constant of its own).
//!
//! And it embeds what `assay plugin new` writes into a vendor's project: the files of the
//! Rust, TypeScript and Python SDKs (`plugins/sdk`, `plugins/sdk-js`, `plugins/sdk-python`,
//! each with its vendored WIT and the HTTP conformance table their tests share), the example
//! plugins' `Cargo.lock` and release profile, and the toolchain pin, listed in
//! `$OUT_DIR/scaffold_files.rs`.

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

/// Writes `$OUT_DIR/scaffold_files.rs`: `SDK_FILES` (the Rust SDK, `plugins/sdk`),
/// `JS_SDK_FILES` (`plugins/sdk-js`) and `PY_SDK_FILES` (`plugins/sdk-python`), each file as
/// `(relative path, include_bytes!)`, sorted, without build outputs, installed toolchains or
/// lock files (see [`SKIPPED`]); `PLUGINS_LOCK`; `PLUGINS_MANIFEST`; `TOOLCHAIN`; `JS_SDK_LOCK`
/// (the TypeScript project's `package-lock.json` is derived from it).
fn scaffold_files(manifest: &Path) {
    let root = manifest.join("../..");
    let mut out = String::new();
    for (name, folder) in [
        ("SDK_FILES", "plugins/sdk"),
        ("JS_SDK_FILES", "plugins/sdk-js"),
        ("PY_SDK_FILES", "plugins/sdk-python"),
    ] {
        let sdk = root.join(folder);
        let mut found = Vec::new();
        collect(&sdk, &sdk, &mut found);
        let mut files: Vec<(String, std::path::PathBuf)> = found
            .into_iter()
            .map(|file| {
                let relative = file.strip_prefix(&sdk).unwrap_or(&file);
                (relative.to_string_lossy().into_owned(), file.clone())
            })
            .collect();
        // The table every SDK's tests check it against, where those tests look for it first.
        files.push((CONFORMANCE_IN_SDK.to_owned(), root.join(CONFORMANCE)));
        files.sort();
        out.push_str(&format!(
            "/// Every file of `{folder}` a project needs, by its path inside it, and \
             `{CONFORMANCE}` as `{CONFORMANCE_IN_SDK}`.\n"
        ));
        out.push_str(&format!("pub const {name}: &[(&str, &[u8])] = &[\n"));
        for (relative, file) in &files {
            out.push_str(&format!(
                "    ({relative:?}, include_bytes!({:?})),\n",
                file.canonicalize()
                    .unwrap_or(file.clone())
                    .to_string_lossy()
            ));
        }
        out.push_str("];\n");
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join(CONFORMANCE).display()
    );
    for (name, path) in [
        ("PLUGINS_LOCK", root.join("plugins/Cargo.lock")),
        ("PLUGINS_MANIFEST", root.join("plugins/Cargo.toml")),
        ("TOOLCHAIN", root.join("rust-toolchain.toml")),
        ("JS_SDK_LOCK", root.join("plugins/sdk-js/package-lock.json")),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
        out.push_str(&format!(
            "pub const {name}: &str = include_str!({:?});\n",
            path.canonicalize()
                .unwrap_or(path.clone())
                .to_string_lossy()
        ));
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("scaffold_files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}

/// The HTTP conformance table the three SDKs' tests share, from the repository's root.
const CONFORMANCE: &str = "plugins/sdk-conformance/http-status.json";

/// Where a project's copy of an SDK carries [`CONFORMANCE`], so the copy's tests find it.
const CONFORMANCE_IN_SDK: &str = "conformance/http-status.json";

/// What an SDK folder holds that a project must not get: build outputs, installed
/// toolchains and packages, generated bindings, byte code, the SDK's own lock file and
/// ignore list. (The TypeScript project's own `package-lock.json` is derived from the SDK's
/// lock, embedded separately, so a scaffold installs the versions the SDK is tested with.)
const SKIPPED: &[&str] = &[
    "target",
    "node_modules",
    "dist",
    "dist-test",
    ".venv",
    "bindings",
    "__pycache__",
    "package-lock.json",
    ".gitignore",
];

/// Every file under `dir` but [`SKIPPED`] names. Each file is watched for changes, and each
/// folder but `base` itself (cargo scans a watched folder whole, and `base` holds the
/// installed toolchains).
fn collect(base: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    if dir != base {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path
            .file_name()
            .is_some_and(|n| SKIPPED.iter().any(|s| n == *s))
        {
            continue;
        }
        if path.is_dir() {
            collect(base, &path, out);
        } else {
            if dir == base {
                println!("cargo:rerun-if-changed={}", path.display());
            }
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
