//! Building plugins from source and installing the `.wasm` into a plugins folder.
//!
//! Used by `assay demo` (the example plugins) and the plugin author's loop (`assay dev`). A
//! plugin project is Rust, TypeScript or Python ([`Project::detect`], from `Cargo.toml`,
//! `package.json` or `pyproject.toml`), built with its language's documented command:
//!
//! - Rust: `cargo build --release --target wasm32-wasip2` on the plugin's workspace;
//! - TypeScript/JavaScript: `npm ci` (`npm install` without a `package-lock.json`) when
//!   `node_modules` is missing, then `npm run build`; the plugin is the `assay.plugin` of
//!   `package.json`, else the `--out` of its build script, else `dist/plugin.wasm` (the SDK's
//!   `assay-plugin-build` default);
//! - Python: the project's `build.sh` (as `assay plugin new --lang python` writes it); the
//!   plugin is `[tool.assay] plugin` of `pyproject.toml`, else `dist/<project name>.wasm`.
//!
//! The result is copied into the drop folder through a temporary file and a rename, so a
//! watching host never sees a half-written plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Why a build or an install failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The build tool could not be started.
    #[error("could not run {tool} (is it installed and on PATH?)")]
    Spawn {
        /// The command.
        tool: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
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
    run(&mut command, "cargo", manifest)?;
    packages
        .iter()
        .map(|p| {
            existing(
                target_dir
                    .join(WASM_TARGET)
                    .join("release")
                    .join(format!("{}.wasm", p.replace('-', "_"))),
            )
        })
        .collect()
}

/// Runs `command` (the tool `tool`, building `what`) to its end; its output (standard output,
/// then standard error) is the error when it fails.
fn run(command: &mut Command, tool: &str, what: &Path) -> Result<(), BuildError> {
    let output = command.output().map_err(|source| BuildError::Spawn {
        tool: tool.to_owned(),
        source,
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(BuildError::Failed {
        manifest: what.display().to_string(),
        output: text,
    })
}

/// A plugin project's language and what its build needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Project {
    /// A Rust crate: its `[package] name`.
    Rust {
        /// The crate.
        package: String,
    },
    /// A TypeScript/JavaScript package built by its `build` script.
    Js {
        /// Where the build leaves the plugin, relative to the project.
        plugin: PathBuf,
    },
    /// A Python project built by its `build.sh`.
    Python {
        /// Where the build leaves the plugin, relative to the project.
        plugin: PathBuf,
    },
}

/// The files that name a project's language, in [`Project::detect`]'s order.
pub const PROJECT_FILES: [&str; 3] = ["Cargo.toml", "package.json", "pyproject.toml"];

impl Project {
    /// The language of the project in `dir`, from the one of [`PROJECT_FILES`] it holds.
    pub fn detect(dir: &Path) -> anyhow::Result<Project> {
        use anyhow::{Context as _, bail};
        let present: Vec<&str> = PROJECT_FILES
            .into_iter()
            .filter(|f| dir.join(f).is_file())
            .collect();
        let file = match present[..] {
            [one] => one,
            [] => bail!(
                "{} holds none of {}: point `source` at a plugin project's folder (`assay plugin \
                 new NAME --lang rust|ts|python` writes one)",
                dir.display(),
                PROJECT_FILES.join(", ")
            ),
            _ => bail!(
                "{} holds {}: cannot tell which language to build; keep one project per folder",
                dir.display(),
                present.join(" and ")
            ),
        };
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        match file {
            "Cargo.toml" => {
                let value: toml::Table =
                    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                let package = value
                    .get("package")
                    .and_then(|p| p.get("name"))
                    .and_then(|n| n.as_str())
                    .with_context(|| format!("{} has no [package] name", path.display()))?;
                Ok(Project::Rust {
                    package: package.to_owned(),
                })
            }
            "package.json" => {
                let value: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?;
                let Some(script) = value["scripts"]["build"].as_str() else {
                    bail!(
                        "{} has no `build` script: add `\"build\": \"assay-plugin-build\"` to \
                         its scripts",
                        path.display()
                    );
                };
                let plugin = value["assay"]["plugin"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| {
                        let mut words = script.split_whitespace();
                        words.find(|w| *w == "--out")?;
                        words.next().map(str::to_owned)
                    })
                    .unwrap_or_else(|| "dist/plugin.wasm".to_owned());
                Ok(Project::Js {
                    plugin: plugin.into(),
                })
            }
            _ => {
                let value: toml::Table =
                    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
                if !dir.join("build.sh").is_file() {
                    bail!(
                        "{} has no build.sh: a Python plugin project builds with one (`assay \
                         plugin new NAME --lang python` writes it)",
                        dir.display()
                    );
                }
                let plugin = value
                    .get("tool")
                    .and_then(|t| t.get("assay"))
                    .and_then(|a| a.get("plugin"))
                    .and_then(|p| p.as_str())
                    .map(str::to_owned);
                let plugin = match plugin {
                    Some(p) => p,
                    None => {
                        let name = value
                            .get("project")
                            .and_then(|p| p.get("name"))
                            .and_then(|n| n.as_str())
                            .with_context(|| {
                                format!(
                                    "{} names neither [tool.assay] plugin nor [project] name",
                                    path.display()
                                )
                            })?;
                        format!("dist/{name}.wasm")
                    }
                };
                Ok(Project::Python {
                    plugin: plugin.into(),
                })
            }
        }
    }

    /// The language, as people say it.
    pub fn language(&self) -> &'static str {
        match self {
            Project::Rust { .. } => "Rust",
            Project::Js { .. } => "TypeScript/JavaScript",
            Project::Python { .. } => "Python",
        }
    }

    /// Builds the project in `dir` and returns the plugin it made. A Rust crate inside a
    /// workspace builds into the workspace's `target/`.
    pub fn build(&self, dir: &Path) -> Result<PathBuf, BuildError> {
        match self {
            Project::Rust { package } => {
                let manifest = dir.join("Cargo.toml");
                let target = dir
                    .parent()
                    .filter(|p| p.join("Cargo.toml").is_file())
                    .map_or_else(|| dir.join("target"), |p| p.join("target"));
                let mut files = build(&manifest, &target, &[package.as_str()])?;
                Ok(files.remove(0))
            }
            Project::Js { plugin } => {
                let manifest = dir.join("package.json");
                if !dir.join("node_modules").is_dir() {
                    let install = if dir.join("package-lock.json").is_file() {
                        "ci"
                    } else {
                        "install"
                    };
                    run(
                        Command::new("npm")
                            .args([install, "--no-audit", "--no-fund"])
                            .current_dir(dir),
                        "npm",
                        &manifest,
                    )?;
                }
                run(
                    Command::new("npm").args(["run", "build"]).current_dir(dir),
                    "npm",
                    &manifest,
                )?;
                existing(dir.join(plugin))
            }
            Project::Python { plugin } => {
                run(
                    Command::new("bash").arg("build.sh").current_dir(dir),
                    "bash",
                    &dir.join("build.sh"),
                )?;
                existing(dir.join(plugin))
            }
        }
    }
}

/// `file` if the build left it there.
fn existing(file: PathBuf) -> Result<PathBuf, BuildError> {
    if file.is_file() {
        Ok(file)
    } else {
        Err(BuildError::Missing(file))
    }
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
    fn the_language_comes_from_the_one_project_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = |files: &[(&str, &str)]| {
            let project = tempfile::tempdir_in(dir.path()).expect("a project");
            for (name, text) in files {
                std::fs::write(project.path().join(name), text).expect("write");
            }
            let detected = Project::detect(project.path());
            (project, detected)
        };
        let message = |r: anyhow::Result<Project>| format!("{:#}", r.expect_err("an error"));

        let (_, none) = at(&[("README.md", "")]);
        let none = message(none);
        assert!(
            none.contains("none of Cargo.toml, package.json, pyproject.toml"),
            "{none}"
        );
        let (_, both) = at(&[("Cargo.toml", ""), ("package.json", "{}")]);
        let both = message(both);
        assert!(both.contains("Cargo.toml and package.json"), "{both}");

        let (_, rust) = at(&[("Cargo.toml", "[package]\nname = \"quiz\"\n")]);
        assert_eq!(
            rust.expect("rust"),
            Project::Rust {
                package: "quiz".into()
            }
        );
        // package.json: `assay.plugin`, else the build script's `--out`, else the default.
        for (json, plugin) in [
            (
                r#"{"scripts": {"build": "assay-plugin-build --out dist/x.wasm"}, "assay": {"plugin": "dist/y.wasm"}}"#,
                "dist/y.wasm",
            ),
            (
                r#"{"scripts": {"build": "assay-plugin-build --entry src/p.ts --out out/x.wasm"}}"#,
                "out/x.wasm",
            ),
            (
                r#"{"scripts": {"build": "assay-plugin-build"}}"#,
                "dist/plugin.wasm",
            ),
        ] {
            let (_, js) = at(&[("package.json", json)]);
            assert_eq!(
                js.expect("js"),
                Project::Js {
                    plugin: plugin.into()
                }
            );
        }
        let (_, no_script) = at(&[("package.json", r#"{"scripts": {}}"#)]);
        assert!(message(no_script).contains("no `build` script"));

        let pyproject = "[project]\nname = \"quiz\"\n";
        let (_, python) = at(&[("pyproject.toml", pyproject), ("build.sh", "")]);
        assert_eq!(
            python.expect("python"),
            Project::Python {
                plugin: "dist/quiz.wasm".into()
            }
        );
        let (_, named) = at(&[
            (
                "pyproject.toml",
                "[project]\nname = \"quiz\"\n[tool.assay]\nplugin = \"out/q.wasm\"\n",
            ),
            ("build.sh", ""),
        ]);
        assert_eq!(
            named.expect("python"),
            Project::Python {
                plugin: "out/q.wasm".into()
            }
        );
        let (_, no_script) = at(&[("pyproject.toml", pyproject)]);
        assert!(message(no_script).contains("no build.sh"));
    }

    #[test]
    fn a_failed_js_build_keeps_the_tools_words() {
        // `npm run build` of a package whose build script fails: the error holds its output.
        if Command::new("npm").arg("--version").output().is_err() {
            let line = "skipped: needs npm (apt-get install nodejs npm)";
            assert!(
                std::env::var("ASSAY_REQUIRE_ALL").as_deref() != Ok("1"),
                "{line} (ASSAY_REQUIRE_ALL=1 makes this a failure)"
            );
            println!("{line}");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("node_modules")).expect("mkdir");
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"scripts": {"build": "echo the build broke on line 7 && exit 3"}}"#,
        )
        .expect("write");
        let project = Project::detect(dir.path()).expect("a JS project");
        match project.build(dir.path()) {
            Err(BuildError::Failed { output, .. }) => {
                assert!(output.contains("the build broke on line 7"), "{output}")
            }
            other => panic!("expected a build failure, got {other:?}"),
        }
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
