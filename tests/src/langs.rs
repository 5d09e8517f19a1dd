//! Plugins written in TypeScript and Python: their toolchains and their builds, for the tests
//! that load them.
//!
//! Rust plugins are built by `build.rs` before the tests compile. The JavaScript and Python
//! ones need Node.js/npm and python3 (with `venv`), which rustup does not bring: a test that
//! needs one calls [`require`] first, which prints one line saying what to install and returns
//! `false` on a machine without it, or panics when `ASSAY_REQUIRE_ALL=1` (set by `.ci/run`),
//! so CI never skips them.
//!
//! [`example`] and [`hostile`] build an example plugin (`plugins/examples-js/codetest`,
//! `plugins/examples-python/backcheck`) or a hostile fixture with the documented command,
//! one build at a time and only when a source is newer than the last build's output (a
//! build takes 45–55 s here).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::browser::require_all;
use crate::fixtures::repo_dir;

/// A plugin language beyond Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// TypeScript/JavaScript, built with componentize-js (`plugins/sdk-js`).
    Js,
    /// Python, built with componentize-py (`plugins/sdk-python`).
    Python,
}

impl Lang {
    /// What a test prints (or panics with under `ASSAY_REQUIRE_ALL=1`) without the toolchain.
    pub fn skip_line(self) -> &'static str {
        match self {
            Lang::Js => {
                "skipped: TypeScript plugin tests need Node.js 20+ and npm (apt-get install nodejs npm)"
            }
            Lang::Python => {
                "skipped: Python plugin tests need python3 3.11+ with venv (apt-get install python3 python3-venv)"
            }
        }
    }

    /// Whether this machine has the toolchain: `node` 20+ and `npm`, or `python3` 3.11+ that
    /// can make a virtual environment with pip.
    pub fn toolchain_present(self) -> bool {
        static JS: OnceLock<bool> = OnceLock::new();
        static PYTHON: OnceLock<bool> = OnceLock::new();
        match self {
            Lang::Js => *JS.get_or_init(|| {
                major_version("node", &["--version"], 'v').is_some_and(|v| v >= 20)
                    && succeeds("npm", &["--version"])
            }),
            Lang::Python => *PYTHON.get_or_init(|| {
                succeeds(
                    "python3",
                    &[
                        "-c",
                        "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))",
                    ],
                )
            }),
        }
    }
}

/// Whether a test needing `lang`'s toolchain can run: `true` when it is installed; otherwise
/// prints [`Lang::skip_line`] and returns `false`, or panics with it when
/// `ASSAY_REQUIRE_ALL=1`.
pub fn require(lang: Lang) -> bool {
    if lang.toolchain_present() {
        return true;
    }
    assert!(
        !require_all(),
        "{} (ASSAY_REQUIRE_ALL=1 makes this a failure)",
        lang.skip_line()
    );
    println!("{}", lang.skip_line());
    false
}

/// The example plugin of `lang`, built with its documented command if a source changed since
/// its last build: `plugins/examples-js/codetest/dist/codetest.wasm` (`npm run build`) or
/// `plugins/examples-python/backcheck/backcheck.wasm` (`plugins/sdk-python/build.sh`).
///
/// # Panics
/// If the build fails (with the tool's output), or without the toolchain: call [`require`]
/// first.
pub fn example(lang: Lang) -> PathBuf {
    let plugins = repo_dir().join("plugins");
    match lang {
        Lang::Js => built(
            lang,
            &plugins.join("examples-js").join("codetest"),
            "codetest",
        ),
        Lang::Python => built(
            lang,
            &plugins.join("examples-python").join("backcheck"),
            "backcheck",
        ),
    }
}

/// The hostile fixture of `lang` (`tests/fixtures-js/hostile`, `tests/fixtures-python/hostile`:
/// spin, hog or offlist by its `behaviour` setting), built as [`example`] builds.
///
/// # Panics
/// As [`example`].
pub fn hostile(lang: Lang) -> PathBuf {
    let folder = match lang {
        Lang::Js => "fixtures-js",
        Lang::Python => "fixtures-python",
    };
    built(
        lang,
        &repo_dir().join("tests").join(folder).join("hostile"),
        "hostile",
    )
}

/// The component of the project at `dir` (`name` is its file stem); panics if it fails.
fn built(lang: Lang, dir: &Path, name: &str) -> PathBuf {
    build(lang, dir, name)
        .unwrap_or_else(|e| panic!("building the {lang:?} plugin {}: {e}", dir.display()))
}

/// Builds the project at `dir` with its language's documented command, unless its output is
/// newer than every source (the project's and its SDK's).
///
/// One build runs at a time in a test process: builds share the SDKs' installed toolchains
/// (`plugins/sdk-js/node_modules`, `plugins/sdk-python/.venv`), which two concurrent first
/// installs would both write.
pub fn build(lang: Lang, dir: &Path, name: &str) -> Result<PathBuf, String> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let plugins = repo_dir().join("plugins");
    match lang {
        Lang::Js => {
            let sdk = plugins.join("sdk-js");
            let out = dir.join("dist").join(format!("{name}.wasm"));
            if is_fresh(&out, &[&sdk, dir]) {
                return Ok(out);
            }
            npm_install(&sdk)?;
            npm_install(dir)?;
            run(Command::new("npm").args(["run", "build"]).current_dir(dir))?;
            Ok(out)
        }
        Lang::Python => {
            let sdk = plugins.join("sdk-python");
            let out = dir.join(format!("{name}.wasm"));
            if is_fresh(&out, &[&sdk, dir, &repo_dir().join("wit")]) {
                return Ok(out);
            }
            run(Command::new(sdk.join("build.sh")).arg(dir).arg(&out))?;
            Ok(out)
        }
    }
}

/// `npm ci` in `dir` unless its `node_modules` is as new as its lock file.
pub fn npm_install(dir: &Path) -> Result<(), String> {
    let installed = modified(&dir.join("node_modules").join(".package-lock.json"));
    let lock = modified(&dir.join("package-lock.json"));
    if installed.is_some() && installed >= lock {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir))
}

/// Runs `command`; its output is the error when it fails.
pub fn run(command: &mut Command) -> Result<(), String> {
    let described = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("{described} did not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{described} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// Whether `out` exists and is newer than every source file under `sources` (build outputs
/// and installed packages are not sources).
fn is_fresh(out: &Path, sources: &[&Path]) -> bool {
    let Some(built) = modified(out) else {
        return false;
    };
    sources
        .iter()
        .all(|dir| newest_source(dir).is_none_or(|newest| newest <= built))
}

/// The newest modification time of a source file under `path`.
fn newest_source(path: &Path) -> Option<SystemTime> {
    const NOT_SOURCES: [&str; 7] = [
        "node_modules",
        "dist",
        "dist-test",
        ".venv",
        "__pycache__",
        "bindings",
        "target",
    ];
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        let wasm = path.extension().is_some_and(|e| e == "wasm");
        return if wasm { None } else { meta.modified().ok() };
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            !NOT_SOURCES.iter().any(|skip| name == *skip)
        })
        .filter_map(|entry| newest_source(&entry.path()))
        .max()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The major version `program` prints (`v20.1.0` → 20), its prefix `prefix` stripped.
fn major_version(program: &str, args: &[&str], prefix: char) -> Option<u32> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    text.trim()
        .trim_start_matches(prefix)
        .split('.')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_newer_than_the_output_makes_it_stale() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("node_modules")).expect("folders");
        let out = dir.path().join("out.wasm");
        assert!(!is_fresh(&out, &[&src]), "no output yet");

        std::fs::write(src.join("plugin.ts"), "old").expect("a source");
        std::fs::write(&out, "built").expect("an output");
        let built = modified(&out).expect("the output's time");
        let later = built + std::time::Duration::from_secs(5);
        let source = std::fs::File::options()
            .write(true)
            .open(src.join("plugin.ts"))
            .expect("the source");
        source
            .set_modified(built - std::time::Duration::from_secs(5))
            .expect("set the time");
        assert!(is_fresh(&out, &[&src]), "sources older than the output");

        // An installed package newer than the output is not a source.
        let package = src.join("node_modules").join("dep.js");
        std::fs::write(&package, "x").expect("a package file");
        std::fs::File::options()
            .write(true)
            .open(&package)
            .and_then(|f| f.set_modified(later))
            .expect("set the time");
        assert!(is_fresh(&out, &[&src]), "node_modules is not a source");

        source.set_modified(later).expect("set the time");
        assert!(!is_fresh(&out, &[&src]), "a newer source makes it stale");
    }

    #[test]
    fn node_version_is_parsed_from_its_v_prefix() {
        // `true` prints nothing: no version, not a panic.
        assert_eq!(major_version("true", &[], 'v'), None);
        assert_eq!(
            major_version("echo", &["v20.20.2"], 'v'),
            Some(20),
            "the form node prints"
        );
    }
}
