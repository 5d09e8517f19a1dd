//! Building plugin crates from source and installing the `.wasm` into a plugins folder.
//!
//! Used by `assay demo` (the example plugins) and the plugin author's loop. The build runs
//! `cargo build --release --target wasm32-wasip2` on the plugin's workspace; the result is
//! copied into the drop folder through a temporary file and a rename, so a watching host never
//! sees a half-written plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Why a build or an install failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be started.
    #[error("could not run cargo: {0}")]
    Spawn(#[source] std::io::Error),
    /// The compiler reported errors; its output is included.
    #[error("building {manifest} failed:\n{output}")]
    Failed {
        /// The workspace or crate manifest.
        manifest: String,
        /// What cargo printed.
        output: String,
    },
    /// The build succeeded but the expected file is not there.
    #[error("the build did not produce {0}")]
    Missing(PathBuf),
    /// Copying into the plugins folder failed.
    #[error("installing {path}")]
    Install {
        /// The destination.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Builds the crates `packages` of the cargo workspace at `manifest` for [`WASM_TARGET`] in
/// release mode, and returns the path of each crate's `.wasm`, in order.
pub fn build(
    manifest: &Path,
    target_dir: &Path,
    packages: &[&str],
) -> Result<Vec<PathBuf>, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir);
    for p in packages {
        command.arg("-p").arg(p);
    }
    // Flags meant for the host's own build must not leak into the plugins' build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        command.env_remove(var);
    }
    let output = command.output().map_err(BuildError::Spawn)?;
    if !output.status.success() {
        return Err(BuildError::Failed {
            manifest: manifest.display().to_string(),
            output: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    packages
        .iter()
        .map(|p| {
            let file = target_dir
                .join(WASM_TARGET)
                .join("release")
                .join(format!("{}.wasm", p.replace('-', "_")));
            if file.is_file() {
                Ok(file)
            } else {
                Err(BuildError::Missing(file))
            }
        })
        .collect()
}

/// Copies `wasm` into `dir` as `file_name`, atomically (temporary file, then rename).
pub fn install(wasm: &Path, dir: &Path, file_name: &str) -> Result<PathBuf, BuildError> {
    let dest = dir.join(file_name);
    let temp = dir.join(format!(".{file_name}.part"));
    let io = |source| BuildError::Install {
        path: dest.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::copy(wasm, &temp).map_err(io)?;
    std::fs::rename(&temp, &dest).map_err(io)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src.wasm");
        std::fs::write(&src, b"new").expect("write");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("mkdir");
        std::fs::write(plugins.join("p.wasm"), b"old").expect("write");
        let dest = install(&src, &plugins, "p.wasm").expect("install");
        assert_eq!(std::fs::read(&dest).expect("read"), b"new");
        let names: Vec<_> = std::fs::read_dir(&plugins)
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["p.wasm"]);
    }

    #[test]
    fn a_failed_build_reports_cargo_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"broken\"\nversion = \"0.1.0\"\nedition = \"2024\"\n[lib]\npath = \"lib.rs\"\n").expect("write");
        std::fs::write(
            dir.path().join("lib.rs"),
            "pub fn f() -> u8 { \"not a number\" }",
        )
        .expect("write");
        match build(&manifest, &dir.path().join("target"), &["broken"]) {
            Err(BuildError::Failed { output, .. }) => {
                assert!(output.contains("mismatched types"), "{output}")
            }
            other => panic!("expected a build failure, got {other:?}"),
        }
    }
}
