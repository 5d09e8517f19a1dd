//! `assay plugin new NAME [--lang rust|ts|python]`: a working plugin project in any folder,
//! with no Assay checkout.
//!
//! Everything the project needs of Assay this binary carries and writes into it, pinned to the
//! contract this binary serves, so the project's build needs only its language's package
//! registry:
//!
//! - Rust: the Rust SDK's sources with the WIT they bind to (`assay-plugin-sdk/`, a path
//!   dependency), the `Cargo.lock` the example plugins were built and tested with, and the
//!   toolchain pin with the `wasm32-wasip2` target.
//! - TypeScript: the TypeScript SDK (`vendor/assay-plugin-sdk/`: sources, jco-generated types,
//!   its WIT and the `assay-plugin-build` command), a `file:` dependency of the project's
//!   `package.json`, which also names the SDK's build tools (componentize-js, esbuild,
//!   TypeScript), and a `package-lock.json` that pins every package to the version and
//!   integrity hash of the SDK's own `package-lock.json` (the tree the SDK and the example
//!   plugins are tested with), so `npm ci` gives every vendor the same tree.
//! - Python: the Python SDK (`vendor/assay-plugin-sdk/`: the `assay_plugin` package, its WIT
//!   and `build.sh`, which installs componentize-py, pinned to one exact version by the SDK's
//!   `requirements.txt`, from PyPI into the SDK's `.venv` on first use) and the project's
//!   `build.sh` calling it.
//!
//! Each SDK copy also carries `conformance/http-status.json`, the table its tests check its
//! reading of a vendor's HTTP answers against (the same in all three languages).
//!
//! The plugin it writes works from the start where nothing vendor-specific is needed: it lists
//! the packages its `packages` setting names. Fulfilling an order and handling a callback are
//! the vendor's to write; until then they fail with an error that says so and names the file,
//! so an order sent to it is visible as failed, never as silently done.
//!
//! Each project's README starts with a `sh` block of its build commands; `assay dev` finds the
//! language from `Cargo.toml`, `package.json` or `pyproject.toml` and runs the same commands.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

mod files {
    include!(concat!(env!("OUT_DIR"), "/scaffold_files.rs"));
}

/// The folder the SDK is written to inside a new Rust project.
pub const SDK_FOLDER: &str = "assay-plugin-sdk";

/// The folder the SDK is written to inside a new TypeScript or Python project.
pub const VENDOR_SDK_FOLDER: &str = "vendor/assay-plugin-sdk";

/// The languages a plugin project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Rust, built by cargo for `wasm32-wasip2`.
    Rust,
    /// TypeScript (or JavaScript), built by componentize-js.
    TypeScript,
    /// Python, built by componentize-py.
    Python,
}

impl Language {
    /// The commands that build a project of this language, from its folder: the first `sh`
    /// block of its README.
    pub fn build_commands(self) -> &'static str {
        match self {
            Language::Rust => "cargo build --release --target wasm32-wasip2",
            Language::TypeScript => "npm ci\nnpm run build",
            Language::Python => "./build.sh",
        }
    }

    /// Where the build of a project `name` of this language leaves the plugin, relative to
    /// the project's folder.
    pub fn built_plugin(self, name: &str) -> String {
        match self {
            Language::Rust => format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            ),
            Language::TypeScript | Language::Python => format!("dist/{name}.wasm"),
        }
    }
}

/// Writes the project `name` in `language` into `dir` (which must not exist or be empty);
/// returns the files written, relative to `dir`.
pub fn new_plugin(language: Language, name: &str, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !is_crate_name(name) {
        bail!(
            "`{name}` cannot name a plugin: use lower-case letters, digits, `-` and `_`, \
             starting with a letter (it names the crate, npm package or Python project)"
        );
    }
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: choose a new folder with --dir",
            dir.display()
        );
    }
    let mut project = Project {
        dir,
        written: Vec::new(),
    };
    match language {
        Language::Rust => rust_project(&mut project, name)?,
        Language::TypeScript => ts_project(&mut project, name)?,
        Language::Python => python_project(&mut project, name)?,
    }
    Ok(project.written)
}

/// A project being written.
struct Project<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
}

impl Project<'_> {
    /// Writes `bytes` to `path` (relative to the project), creating folders as needed; a
    /// script (`#!` first) is made executable.
    fn write(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&full, bytes).with_context(|| format!("writing {}", full.display()))?;
        #[cfg(unix)]
        if bytes.starts_with(b"#!") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", full.display()))?;
        }
        self.written.push(PathBuf::from(path));
        Ok(())
    }

    /// Writes every SDK file of `files` under `folder`.
    fn write_sdk(&mut self, folder: &str, files: &[(&str, &[u8])]) -> anyhow::Result<()> {
        for (path, bytes) in files {
            self.write(&format!("{folder}/{path}"), bytes)?;
        }
        Ok(())
    }
}

/// `text` with the project's `name` (and the forms derived from it) filled in, and its
/// README's build commands.
fn fill(text: &str, language: Language, name: &str) -> String {
    let lib = name.replace('-', "_");
    text.replace("{{build}}", language.build_commands())
        .replace("{{plugin}}", &language.built_plugin(name))
        .replace("{{name}}", name)
        .replace("{{lib}}", &lib)
        .replace("{{env}}", &lib.to_uppercase())
}

/// A Rust project: a `cdylib` crate on the SDK by path.
fn rust_project(project: &mut Project<'_>, name: &str) -> anyhow::Result<()> {
    let language = Language::Rust;
    let mut write = |path: &str, bytes: &[u8]| project.write(path, bytes);
    write("Cargo.toml", manifest(name).as_bytes())?;
    write("Cargo.lock", files::PLUGINS_LOCK.as_bytes())?;
    write("rust-toolchain.toml", files::TOOLCHAIN.as_bytes())?;
    write(".gitignore", b"/target\n")?;
    write("src/lib.rs", fill(LIB_RS, language, name).as_bytes())?;
    write(
        "README.md",
        fill(&format!("{README}{RUN}"), language, name).as_bytes(),
    )?;
    project.write_sdk(SDK_FOLDER, files::SDK_FILES)
}

/// A TypeScript project: `src/plugin.ts` on the SDK in [`VENDOR_SDK_FOLDER`], a `file:`
/// dependency, with the SDK's build tools named at the versions the SDK asks for, and a
/// `package-lock.json` derived from the SDK's own, so `npm ci` installs what it was tested with.
fn ts_project(project: &mut Project<'_>, name: &str) -> anyhow::Result<()> {
    let language = Language::TypeScript;
    let package = package_json(name)?;
    project.write("package.json", pretty(&package)?.as_bytes())?;
    project.write(
        "package-lock.json",
        pretty(&package_lock(&package)?)?.as_bytes(),
    )?;
    project.write("tsconfig.json", TSCONFIG.as_bytes())?;
    project.write(".gitignore", b"node_modules/\ndist/\n")?;
    project.write("src/plugin.ts", fill(PLUGIN_TS, language, name).as_bytes())?;
    project.write(
        "README.md",
        fill(&format!("{README_TS}{RUN}"), language, name).as_bytes(),
    )?;
    project.write_sdk(VENDOR_SDK_FOLDER, files::JS_SDK_FILES)
}

/// A Python project: `src/app.py` and `build.sh`, which builds it with the SDK in
/// [`VENDOR_SDK_FOLDER`].
fn python_project(project: &mut Project<'_>, name: &str) -> anyhow::Result<()> {
    let language = Language::Python;
    project.write("pyproject.toml", fill(PYPROJECT, language, name).as_bytes())?;
    project.write("build.sh", fill(BUILD_SH, language, name).as_bytes())?;
    project.write(
        ".gitignore",
        b"dist/\n__pycache__/\n.venv/\nvendor/assay-plugin-sdk/.venv/\n",
    )?;
    project.write("src/app.py", fill(APP_PY, language, name).as_bytes())?;
    project.write(
        "README.md",
        fill(&format!("{README_PY}{RUN}"), language, name).as_bytes(),
    )?;
    project.write_sdk(VENDOR_SDK_FOLDER, files::PY_SDK_FILES)
}

/// `value` as npm writes JSON: two-space indents and a final newline.
fn pretty(value: &serde_json::Value) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The TypeScript project's `package.json`: the SDK by `file:`, and the SDK's own
/// dependencies (its build tools) as the project's, so npm installs them where the SDK's
/// build command finds them.
fn package_json(name: &str) -> anyhow::Result<serde_json::Value> {
    let sdk = files::JS_SDK_FILES
        .iter()
        .find(|(path, _)| *path == "package.json")
        .context("this binary carries no package.json of the TypeScript SDK")?;
    let sdk: serde_json::Value =
        serde_json::from_slice(sdk.1).context("the TypeScript SDK's package.json")?;
    let mut dependencies = serde_json::Map::new();
    dependencies.insert(
        "@assay/plugin-sdk".into(),
        format!("file:{VENDOR_SDK_FOLDER}").into(),
    );
    if let Some(tools) = sdk["dependencies"].as_object() {
        dependencies.extend(tools.clone());
    }
    let plugin = Language::TypeScript.built_plugin(name);
    Ok(serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "type": "module",
        "scripts": {
            "build": format!("assay-plugin-build --entry src/plugin.ts --out {plugin}"),
        },
        "assay": { "plugin": plugin },
        "devDependencies": dependencies,
    }))
}

/// The TypeScript project's `package-lock.json`, the lock npm itself writes for `package`
/// (checked by the scaffold test with `npm ci`), derived from the SDK's own lock rather than
/// resolved anew:
///
/// - the project's dependencies are the SDK's (by `file:`) and the SDK's own, so npm hoists the
///   SDK's whole tree (its development tools too: the SDK is part of the project) into the
///   project's `node_modules` exactly as in the SDK's lock: the same paths, versions,
///   `resolved` URLs and integrity hashes;
/// - every package is reached from the project only through `devDependencies`, so each is
///   marked `dev`;
/// - the SDK itself is the link `node_modules/@assay/plugin-sdk` → [`VENDOR_SDK_FOLDER`], whose
///   entry is the SDK lock's root entry.
fn package_lock(package: &serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let sdk: serde_json::Value = serde_json::from_str(files::JS_SDK_LOCK)
        .context("the TypeScript SDK's package-lock.json")?;
    let Some(sdk_packages) = sdk["packages"].as_object() else {
        bail!("the TypeScript SDK's package-lock.json has no `packages` (lockfileVersion 2 or 3)");
    };
    let dev = |entry: &serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let mut entry = entry
            .as_object()
            .context("a package of the TypeScript SDK's package-lock.json is not an object")?
            .clone();
        // Reached only through the project's devDependencies: dev, and optional only where it
        // was optional for the SDK too.
        entry.remove("devOptional");
        entry.insert("dev".into(), true.into());
        Ok(entry.into())
    };
    let mut packages = serde_json::Map::new();
    packages.insert(
        String::new(),
        serde_json::json!({
            "name": package["name"],
            "version": package["version"],
            "devDependencies": package["devDependencies"],
        }),
    );
    packages.insert(
        "node_modules/@assay/plugin-sdk".into(),
        serde_json::json!({ "resolved": VENDOR_SDK_FOLDER, "link": true }),
    );
    packages.insert(
        VENDOR_SDK_FOLDER.into(),
        dev(sdk_packages
            .get("")
            .context("the TypeScript SDK's package-lock.json has no root package")?)?,
    );
    for (path, entry) in sdk_packages {
        if path.starts_with("node_modules/") {
            packages.insert(path.clone(), dev(entry)?);
        }
    }
    Ok(serde_json::json!({
        "name": package["name"],
        "version": package["version"],
        "lockfileVersion": sdk["lockfileVersion"],
        "requires": true,
        "packages": packages,
    }))
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

/// The Rust project's README: its first `sh` block builds the plugin.
const README: &str = r#"# {{name}}: an Assay plugin

```sh
{{build}}
assay plugin inspect {{plugin}}
```

`rust-toolchain.toml` brings the toolchain and the `wasm32-wasip2` target; `assay-plugin-sdk/`
is the Rust SDK with the WIT contract it binds to, as the `assay` binary that wrote this
project serves it. The SDK's documentation: `cargo doc --open -p assay-plugin-sdk`.

## Test and run

1. Write `fulfil_order` (start the test in your system) and `handle_callback` (turn your
   system's callback into a result) in `src/lib.rs`; until then an order fails with a message
   saying so.
"#;

/// The TypeScript project's README: its first `sh` block builds the plugin.
const README_TS: &str = r#"# {{name}}: an Assay plugin in TypeScript

```sh
{{build}}
assay plugin inspect {{plugin}}
```

Node.js 20 or later. `npm ci` fetches the build tools (componentize-js, esbuild, TypeScript)
from npm at the exact versions `package-lock.json` pins, those the SDK is tested with (`npm
install` instead lets npm move within the ranges of `package.json` and rewrite the lock);
`vendor/assay-plugin-sdk/` is the Assay SDK for TypeScript with the WIT
contract it binds to, as the `assay` binary that wrote this project serves it (its README lists
the helpers). `npm run build` type-checks `src/plugin.ts`, bundles it and makes it a
WebAssembly component (`{{plugin}}`, about 13 MB; the first build takes a minute).

## Test and run

1. Write `fulfilOrder` (start the test in your system) and `handleCallback` (turn your
   system's callback into a result) in `src/plugin.ts`; until then an order fails with a
   message saying so.
"#;

/// The Python project's README: its first `sh` block builds the plugin.
const README_PY: &str = r#"# {{name}}: an Assay plugin in Python

```sh
{{build}}
assay plugin inspect {{plugin}}
```

Python 3.11 or later with `venv`. `build.sh` runs `vendor/assay-plugin-sdk/build.sh`, which
installs the pinned componentize-py from PyPI into `vendor/assay-plugin-sdk/.venv` on its
first run and makes `src/` (the module `app`, class `Product`) a WebAssembly component
(`{{plugin}}`, about 19 MB). `vendor/assay-plugin-sdk/` is the Assay SDK for Python
(`assay_plugin`) with the WIT contract it binds to, as the `assay` binary that wrote this
project serves it (its README lists the helpers).

## Test and run

1. Write `fulfil_order` (start the test in your system) and `handle_callback` (turn your
   system's callback into a result) in `src/app.py`; until then an order fails with a message
   saying so.
"#;

/// The rest of every README: installing the plugin and the development loop.
const RUN: &str = r#"2. Copy `{{plugin}}` into the host's plugins folder as `{{lib}}.wasm` and add the product to
   its `config.toml`:

   ```toml
   [products.{{name}}]
   plugin = "{{lib}}.wasm"
   kind = "assessment"
   source = "path/to/this/folder"   # for `assay dev`; relative to config.toml
   webhook_secrets = ["env:{{env}}_WEBHOOK_SECRET"]
   package_list_keys = ["env:{{env}}_PACKAGE_LIST_KEY"]

   [products.{{name}}.settings]
   packages = "t1:First test,t2:Second test"
   ```

3. `assay check --config config.toml` says what is missing. `assay dev --config config.toml`
   runs the host with a local StackOne emulator, builds this folder with the commands above
   whenever a source file changes, and swaps the new plugin in; a failed build prints the
   tool's output and the last good plugin keeps serving.
"#;

/// The TypeScript project's `tsconfig.json` (type checking only: esbuild bundles).
const TSCONFIG: &str = r#"{
  "compilerOptions": {
    "target": "es2022",
    "module": "esnext",
    "moduleResolution": "bundler",
    "lib": ["esnext", "dom"],
    "strict": true,
    "noEmit": true,
    "types": []
  },
  "include": ["src/**/*.ts"]
}
"#;

/// The TypeScript plugin's `src/plugin.ts`.
const PLUGIN_TS: &str = r#"/**
 * The {{name}} plugin for Assay.
 *
 * `listPackages` works from the start: it lists the packages of the `packages` setting.
 * `fulfilOrder` and `handleCallback` are yours to write: until then they fail with a permanent
 * error naming this file, so an order sent here is parked as failed and the recruiter is told
 * why. The SDK's helpers (`http`, `settings`, `webhook`, result builders) are listed in
 * vendor/assay-plugin-sdk/README.md.
 */
import { PluginError, assessmentPackage, definePlugin, packageList, settings } from "@assay/plugin-sdk";

export const product = definePlugin({
  metadata: () => ({
    name: "{{name}}",
    version: "0.1.0",
    description: "{{name}} assessments",
    kinds: ["assessment"],
    settings: [
      settings.required("packages", "The packages to offer, as id:Name pairs separated by commas"),
    ],
  }),

  listPackages() {
    const packages = settings.require("packages").split(",").map((entry) => {
      const at = entry.indexOf(":");
      if (at < 0) {
        throw PluginError.misconfigured(
          `the setting \`packages\` has \`${entry.trim()}\`; write id:Name pairs separated by commas`,
        );
      }
      return assessmentPackage(entry.slice(0, at).trim(), entry.slice(at + 1).trim());
    });
    return packageList(packages);
  },

  fulfilOrder() {
    throw PluginError.permanent("fulfil-order is not written yet: start the test in your system in src/plugin.ts");
  },

  handleCallback() {
    throw PluginError.permanent("handle-callback is not written yet: turn your callback into a result in src/plugin.ts");
  },

  pollResults: () => [],
});
"#;

/// The Python project's `pyproject.toml`: what `assay dev` recognises the project by.
const PYPROJECT: &str = r#"[project]
name = "{{name}}"
version = "0.1.0"
description = "{{name}} assessments: an Assay plugin"
requires-python = ">=3.11"
# Nothing at run time: the plugin runs inside the component, on componentize-py's CPython.
dependencies = []

[tool.assay]
# What ./build.sh writes; `assay dev` installs it from here.
plugin = "{{plugin}}"
"#;

/// The Python project's `build.sh`.
const BUILD_SH: &str = r#"#!/usr/bin/env bash
# Builds this plugin (src/app.py, class Product) into {{plugin}} with the Assay SDK in
# vendor/assay-plugin-sdk (componentize-py, installed into its .venv on first use).
set -euo pipefail
cd "$(dirname "$0")"
exec bash vendor/assay-plugin-sdk/build.sh src {{plugin}} app
"#;

/// The Python plugin's `src/app.py`.
const APP_PY: &str = r#""""The {{name}} plugin for Assay.

``list_packages`` works from the start: it lists the packages of the ``packages`` setting.
``fulfil_order`` and ``handle_callback`` are yours to write: until then they fail with a
permanent error naming this file, so an order sent here is parked as failed and the recruiter
is told why. The SDK's helpers (``http``, ``settings``, ``webhook``, ``results``) are listed in
vendor/assay-plugin-sdk/README.md.
"""

from typing import List

from assay_plugin import Plugin, errors, results, settings
from assay_plugin import types as t


class Product(Plugin):
    def metadata(self) -> t.PluginMetadata:
        return t.PluginMetadata(
            "{{name}}",
            "0.1.0",
            "{{name}} assessments",
            [t.OrderKind.ASSESSMENT],
            [settings.required("packages", "The packages to offer, as id:Name pairs separated by commas")],
        )

    def list_packages(self, query: t.PackageQuery) -> t.PackageList:
        packages = []
        for entry in settings.require("packages").split(","):
            package, colon, name = entry.partition(":")
            if not colon:
                raise errors.misconfigured(
                    f"the setting `packages` has `{entry.strip()}`; write id:Name pairs separated by commas"
                )
            packages.append(t.Package(package.strip(), name.strip(), None, []))
        return results.uncached(packages)

    def fulfil_order(self, order: t.Order) -> t.Fulfilment:
        raise errors.permanent("fulfil-order is not written yet: start the test in your system in src/app.py")

    def handle_callback(self, request: t.CallbackRequest) -> t.CallbackOutcome:
        raise errors.permanent(
            "handle-callback is not written yet: turn your callback into a result in src/app.py"
        )

    def poll_results(self, pending: List[t.PendingOrder]) -> List[t.OrderResult]:
        return []
"#;
