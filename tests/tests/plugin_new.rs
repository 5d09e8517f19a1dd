//! `assay plugin new`: the project it writes, in each language, in a folder outside the
//! checkout, builds with the commands its README gives first, loads in the host's runtime,
//! lists the packages of its setting, and fails an order with a message that says what is left
//! to write. The TypeScript and Python projects, given a fulfil of a few lines, complete an
//! order through a whole deployment (webhook → fulfil at the demo vendor → result at the
//! StackOne emulator).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use assay::convert::order_from_json;
use assay_runtime::ProductContext;
use assay_runtime::types::{OrderKind, PackageQuery, PluginError};
use assay_tests::fixtures::{build_and_load, files_under, repo_dir};
use assay_tests::harness::Deployment;
use assay_tests::langs::{Lang, require};
use assay_wire::secret::Secret;
use serde_json::json;
use tokio::process::Command;

use crate::ASSAY;

async fn plugin_new(args: &[&str]) -> std::process::Output {
    Command::new(ASSAY)
        .args(["plugin", "new"])
        .args(args)
        .output()
        .await
        .expect("run assay plugin new")
}

fn context(packages: &str) -> ProductContext {
    let mut ctx = ProductContext::new("acme-quiz");
    ctx.settings = Arc::new(BTreeMap::from([(
        "packages".to_owned(),
        Secret::new(packages.to_owned()),
    )]));
    ctx
}

/// A scaffolded plugin's `fulfil-order` (for package `t1`) and `handle-callback` fail with
/// the permanent errors the scaffold documents, naming `source`, the file to write them in.
async fn assert_stubs_unwritten(plugin: &assay_runtime::Plugin, packages: &str, source: &str) {
    let object = json!({
        "id": "ord-1",
        "account_id": "acc-1",
        "package": {"id": "pkg", "remote_id": "t1"},
        "candidate": {"first_name": "Ada", "emails": [{"type": "personal", "value": "ada@example.com"}]}
    });
    let order =
        order_from_json(OrderKind::Assessment, &object, "", None, None).expect("a valid order");
    let unwritten = plugin
        .fulfil_order(&context(packages), order)
        .await
        .expect_err("fulfil-order is the vendor's to write");
    assert!(
        matches!(unwritten.plugin_error(), Some(PluginError::Permanent(m))
            if m.contains("fulfil-order is not written yet") && m.contains(source)),
        "{unwritten:#}"
    );
    let callback = assay_runtime::types::CallbackRequest {
        method: "POST".into(),
        path: "x".into(),
        query: None,
        headers: Vec::new(),
        body: b"{}".to_vec(),
    };
    let unwritten = plugin
        .handle_callback(&context(packages), callback)
        .await
        .expect_err("handle-callback is the vendor's to write");
    assert!(
        matches!(unwritten.plugin_error(), Some(PluginError::Permanent(m))
            if m.contains("handle-callback is not written yet") && m.contains(source)),
        "{unwritten:#}"
    );
}

#[tokio::test]
async fn a_new_rust_plugin_builds_outside_the_checkout_loads_and_lists_its_packages() {
    let outside = tempfile::Builder::new()
        .prefix("assay-plugin-new-")
        .tempdir()
        .expect("a temporary folder");
    let project = outside.path().join("acme-quiz");
    let dir = project.display().to_string();
    let made = plugin_new(&["acme-quiz", "--dir", &dir]).await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "rust-toolchain.toml",
        "src/lib.rs",
        "README.md",
        "assay-plugin-sdk/Cargo.toml",
        "assay-plugin-sdk/wit/plugin.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} written");
    }
    // The contract the project carries is the one this host serves.
    assert_eq!(
        std::fs::read(project.join("assay-plugin-sdk/wit/plugin.wit")).expect("the WIT"),
        std::fs::read(repo_dir().join("wit/plugin.wit")).expect("the host's WIT")
    );
    assert_sdk_is_the_repositorys(
        &project.join("assay-plugin-sdk"),
        "plugins/sdk",
        "src/http/response.rs",
    );
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
    let first_block = readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block");
    assert!(
        first_block.contains("cargo build --release --target wasm32-wasip2"),
        "{first_block}"
    );

    // Again into the same folder, or with a name cargo refuses: a clear error, nothing written.
    let again = plugin_new(&["acme-quiz", "--dir", &dir]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    let bad = plugin_new(&["Acme Quiz", "--dir", &format!("{dir}-2")]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot name a plugin"));
    assert!(!Path::new(&format!("{dir}-2")).exists());

    // Built as its README says.
    let plugin = build_and_load(&project, "acme-quiz").await;
    assert_eq!(plugin.metadata().name, "acme-quiz");
    assert_eq!(plugin.contract_version(), "0.2.0");

    let query = || PackageQuery {
        account_id: "acc-1".into(),
        provider: None,
    };
    let list = plugin
        .list_packages(&context("t1:First test, t2:Second test"), query())
        .await
        .expect("list-packages answers");
    let packages: Vec<(&str, &str)> = list
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(packages, [("t1", "First test"), ("t2", "Second test")]);
    let wrong = plugin
        .list_packages(&context("just-a-name"), query())
        .await
        .expect_err("a setting without id:Name");
    assert!(
        matches!(wrong.plugin_error(), Some(PluginError::Misconfigured(m)) if m.contains("just-a-name")),
        "{wrong:#}"
    );

    assert_stubs_unwritten(&plugin, "t1:First test", "src/lib.rs").await;
}

/// Every file of the SDK copy at `copy` is the repository's at the same path under `sdk` (its
/// `conformance/http-status.json` is `plugins/sdk-conformance/http-status.json`), and the copy
/// has `http_module`, the module that reads a vendor's answers, and the conformance table.
fn assert_sdk_is_the_repositorys(copy: &Path, sdk: &str, http_module: &str) {
    for needed in [http_module, "conformance/http-status.json"] {
        assert!(copy.join(needed).is_file(), "the SDK copy has {needed}");
    }
    for (relative, copied) in files_under(copy) {
        let relative = relative.as_path();
        let original = if relative == Path::new("conformance/http-status.json") {
            repo_dir().join("plugins/sdk-conformance/http-status.json")
        } else {
            repo_dir().join(sdk).join(relative)
        };
        assert!(
            std::fs::read(&original).ok() == Some(copied),
            "{} is not {} as the repository has it",
            copy.join(relative).display(),
            original.display()
        );
    }
}

/// The packages npm installed into the TypeScript project at `project` (its
/// `node_modules/.package-lock.json`) are the SDK's own lock's, at the same paths, versions and
/// integrity hashes, and every package that lock needs on every platform is there.
fn assert_installed_as_the_sdk_is_locked(project: &Path) {
    let read = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).expect("a lock file")).expect("JSON")
    };
    let installed = read(&project.join("node_modules/.package-lock.json"));
    let sdk = read(&repo_dir().join("plugins/sdk-js/package-lock.json"));
    let installed = installed["packages"].as_object().expect("packages");
    let sdk = sdk["packages"].as_object().expect("packages");
    let mut checked = 0;
    for (path, entry) in installed {
        if entry["link"] == true || !path.starts_with("node_modules/") {
            continue;
        }
        let locked = &sdk[path.as_str()];
        assert_eq!(
            (&entry["version"], &entry["integrity"]),
            (&locked["version"], &locked["integrity"]),
            "{path}"
        );
        checked += 1;
    }
    for (path, entry) in sdk {
        if path.starts_with("node_modules/") && entry["optional"] != true {
            assert!(installed.contains_key(path), "{path} installed");
        }
    }
    assert!(checked > 50, "{checked} packages installed");
}

/// The lines of the first `sh` block of the README of the project at `project`.
fn readme_build_lines(project: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(project.join("README.md")).expect("README");
    readme
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a first sh block")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs each line of the README's first `sh` block in `project`, as its reader would (a
/// leading `assay` is the binary under test), with `env` added; prints how long each took.
async fn build_as_the_readme_says(project: &Path, env: &[(&str, std::ffi::OsString)]) {
    for line in readme_build_lines(project) {
        let command = match line.strip_prefix("assay ") {
            Some(rest) => format!("{ASSAY} {rest}"),
            None => line.clone(),
        };
        let started = std::time::Instant::now();
        let output = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(project)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .output()
            .await
            .unwrap_or_else(|e| panic!("`{line}` starts: {e}"));
        assert!(
            output.status.success(),
            "`{line}` in {} failed ({}):\n{}\n{}",
            project.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        println!("`{line}`: {:.1?}", started.elapsed());
    }
}

/// What a language's scaffold test needs to know.
struct Scaffolded {
    lang: Lang,
    /// The `--lang` value.
    flag: &'static str,
    /// The plugin's source file, as the stubs' messages name it.
    source: &'static str,
    /// The start of the scaffold's `fulfil-order` stub, which the test's code goes after.
    stub: &'static str,
    /// The test's `fulfil-order` for CodeTest's `ct-rust` test (any other package falls
    /// through to the stub).
    fulfil: &'static str,
    /// Environment for the build.
    env: fn() -> Vec<(&'static str, std::ffi::OsString)>,
}

/// The TypeScript fulfil: an invitation at the demo CodeTest, first result `initiated`.
const TS_FULFIL: &str = r#"async fulfilOrder(order) {
    if (packageId(order) === "ct-rust") {
      const invitation = (
        await new http.Client(settings.require("base_url"))
          .bearer(settings.require("api_token"))
          .post("/api/invitations")
          .header("idempotency-key", order.id)
          .json({
            test_id: "ct-rust",
            reference: order.id,
            candidate: { name: candidateName(order), email: candidateEmail(order) },
            callback_url: settings.require("callback_url"),
          })
          .send()
      ).errorForStatus().json<{ id: string; test_url: string; status: string }>();
      return {
        externalId: invitation.id,
        testUrl: invitation.test_url,
        firstResult: { ...status("initiated", invitation.status), summary: "Invitation sent" },
      };
    }
    "#;

/// The Python fulfil, as [`TS_FULFIL`].
const PY_FULFIL: &str = r#"def fulfil_order(self, order: t.Order) -> t.Fulfilment:
        if results.package_id(order) == "ct-rust":
            from assay_plugin import http

            invitation = (
                http.Client(settings.require("base_url"))
                .bearer(settings.require("api_token"))
                .post("/api/invitations")
                .header("idempotency-key", order.id)
                .json(
                    {
                        "test_id": "ct-rust",
                        "reference": order.id,
                        "candidate": {
                            "name": order.candidate.first_name,
                            "email": results.candidate_email(order),
                        },
                        "callback_url": settings.require("callback_url"),
                    }
                )
                .send()
                .error_for_status()
                .json()
            )
            first = results.status(
                t.ResultValue_Initiated(), invitation["status"], summary="Invitation sent"
            )
            return t.Fulfilment(invitation["id"], invitation["test_url"], first)
        "#;

/// Scaffolds `acme-quiz` in `s.flag` into a folder outside the checkout, adds a fulfil for one
/// CodeTest test (the rest of the scaffold untouched), builds it with its README's first `sh`
/// block, checks the stubs fail with the errors they document, and sends an order through a
/// whole deployment (webhook → fulfil at the demo vendor → `initiated` at the emulator).
async fn scaffolded_plugin_completes_an_order(s: Scaffolded) {
    if !require(s.lang) {
        return;
    }
    let outside = tempfile::Builder::new()
        .prefix("assay-plugin-new-")
        .tempdir()
        .expect("a temporary folder");
    assert!(!outside.path().starts_with(repo_dir()));
    let project = outside.path().join("acme-quiz");
    let dir = project.display().to_string();
    let made = plugin_new(&["acme-quiz", "--lang", s.flag, "--dir", &dir]).await;
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // The contract the project carries is the one this host serves.
    assert_eq!(
        std::fs::read(project.join("vendor/assay-plugin-sdk/wit/plugin.wit")).expect("the WIT"),
        std::fs::read(repo_dir().join("wit/plugin.wit")).expect("the host's WIT")
    );
    let (sdk, http_module) = match s.lang {
        Lang::Js => ("plugins/sdk-js", "src/http.ts"),
        Lang::Python => ("plugins/sdk-python", "assay_plugin/http.py"),
    };
    assert_sdk_is_the_repositorys(&project.join("vendor/assay-plugin-sdk"), sdk, http_module);
    // The build tools are pinned to one version each: the npm tree by the project's lock (its
    // build starts with `npm ci`, which installs exactly the lock), componentize-py by `==`.
    let lock = project.join("package-lock.json");
    let locked = std::fs::read(&lock).ok();
    match s.lang {
        Lang::Js => {
            assert!(
                locked.is_some(),
                "the TypeScript project has a package-lock.json"
            );
            assert_eq!(
                readme_build_lines(&project).first().map(String::as_str),
                Some("npm ci")
            );
        }
        Lang::Python => {
            let requirements =
                std::fs::read_to_string(project.join("vendor/assay-plugin-sdk/requirements.txt"))
                    .expect("the SDK's requirements.txt");
            let pins: Vec<&str> = requirements
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            assert!(
                !pins.is_empty() && pins.iter().all(|l| l.contains("==") && !l.contains(',')),
                "every requirement is pinned to one version: {pins:?}"
            );
        }
    }

    let source = project.join(s.source);
    let text = std::fs::read_to_string(&source).expect("the plugin's source");
    assert!(text.contains(s.stub), "{} has the stub:\n{text}", s.source);
    let imports = match s.lang {
        Lang::Js => {
            "import { candidateEmail, candidateName, http, packageId, status } from \"@assay/plugin-sdk\";\n"
        }
        Lang::Python => "",
    };
    // The stub's statement (`throw`/`raise`) stays, after the test's code.
    let statement = s.stub.split_whitespace().last().expect("a statement");
    let written = format!(
        "{imports}{}",
        text.replacen(s.stub, &format!("{}{statement}", s.fulfil), 1)
    );
    std::fs::write(&source, written).expect("write the fulfil");

    build_as_the_readme_says(&project, &(s.env)()).await;
    let plugin_file = project.join("dist/acme-quiz.wasm");
    if s.lang == Lang::Python {
        sdk_tests_run_from_the_copy(&project.join("vendor/assay-plugin-sdk")).await;
    }
    if s.lang == Lang::Js {
        assert_installed_as_the_sdk_is_locked(&project);
        assert_eq!(
            std::fs::read(&lock).ok(),
            locked,
            "the build leaves package-lock.json as written"
        );
    }

    // Loaded as the host loads it, compiled into a cache the deployment below reuses.
    let cache = tempfile::tempdir().expect("a cache folder");
    let runtime = assay_runtime::Runtime::new(assay_runtime::RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        ..assay_runtime::RuntimeOptions::default()
    })
    .expect("runtime");
    let plugin = runtime
        .load(&plugin_file)
        .await
        .unwrap_or_else(|e| panic!("the scaffolded plugin loads: {e:#}"));
    assert_eq!(plugin.metadata().name, "acme-quiz");
    let packages = "ct-rust:Rust backend engineer, t1:Other test";
    let list = plugin
        .list_packages(
            &context(packages),
            PackageQuery {
                account_id: "acc-1".into(),
                provider: None,
            },
        )
        .await
        .expect("list-packages answers");
    let listed: Vec<(&str, &str)> = list
        .packages
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("ct-rust", "Rust backend engineer"), ("t1", "Other test")]
    );
    // The stubs the test did not replace fail as documented, naming the file to write.
    assert_stubs_unwritten(&plugin, packages, s.source).await;
    drop(plugin);

    // Dropped into a deployment's plugins folder as the CodeTest product's plugin.
    let d = Deployment::start_with_plugins_edited(
        &[("codetest", &plugin_file)],
        cache.path(),
        |text| {
            *text = text.replacen(
                "[products.codetest.settings]\n",
                &format!("[products.codetest.settings]\npackages = \"{packages}\"\n"),
                1,
            );
        },
    )
    .await;
    let order = d.order("codetest", 1).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    assert_eq!(
        d.accepted_value(&order.order_id).await.as_deref(),
        Some("initiated"),
        "the scaffolded plugin's first result reached StackOne"
    );
    let invitations = d.vendor.invitations();
    assert!(
        invitations
            .iter()
            .any(|i| i.reference == order.order_id && i.test_id == "ct-rust"),
        "the demo vendor has the invitation: {invitations:?}"
    );
    drop(d);
    dev_builds_and_swaps_in(s.lang, &project, &plugin_file, &(s.env)()).await;
}

#[tokio::test]
async fn a_new_typescript_plugin_builds_outside_the_checkout_and_completes_an_order() {
    scaffolded_plugin_completes_an_order(Scaffolded {
        lang: Lang::Js,
        flag: "ts",
        source: "src/plugin.ts",
        stub: "fulfilOrder() {\n    throw",
        fulfil: TS_FULFIL,
        env: Vec::new,
    })
    .await;
}

#[tokio::test]
async fn a_new_python_plugin_builds_outside_the_checkout_and_completes_an_order() {
    scaffolded_plugin_completes_an_order(Scaffolded {
        lang: Lang::Python,
        flag: "python",
        source: "src/app.py",
        stub: "def fulfil_order(self, order: t.Order) -> t.Fulfilment:\n        raise",
        fulfil: PY_FULFIL,
        env: python_env,
    })
    .await;
}

/// The Python SDK's own tests run from a project's copy of it (`test.sh`), which generates the
/// bindings from the WIT the copy carries, and again when that WIT changes.
async fn sdk_tests_run_from_the_copy(sdk: &Path) {
    let run = || async {
        let out = Command::new(sdk.join("test.sh"))
            .envs(python_env())
            .output()
            .await
            .expect("run the SDK copy's test.sh");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "the SDK copy's tests pass:\n{stderr}");
        assert!(stderr.contains("\nOK"), "unittest says OK:\n{stderr}");
        assert!(!stderr.contains("No such file"), "{stderr}");
        stderr
    };
    assert!(run().await.contains("generating the bindings"));
    assert!(!run().await.contains("generating the bindings"));
    // A changed contract (as a newer `assay plugin new` would write) regenerates them: the
    // WIT dated after the bindings.
    let wit = sdk.join("wit/plugin.wit");
    let bindings = sdk.join("bindings/wit_world/__init__.py");
    let later = std::fs::metadata(&bindings)
        .and_then(|m| m.modified())
        .expect("the bindings' time")
        + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .write(true)
        .open(&wit)
        .and_then(|f| f.set_modified(later))
        .expect("date the WIT after the bindings");
    assert!(run().await.contains("generating the bindings"));
}

/// The Python build's toolchain: the pinned componentize-py in the repository's SDK `.venv`
/// (the same `requirements.txt` the project carries), so the test installs it once per
/// machine; `build.sh` creates it there if it is missing.
fn python_env() -> Vec<(&'static str, std::ffi::OsString)> {
    vec![(
        "ASSAY_PLUGIN_VENV",
        repo_dir().join("plugins/sdk-python/.venv").into_os_string(),
    )]
}

/// `assay dev` on the project at `project` (TypeScript or Python, built once already): it tells
/// the language from `package.json` or `pyproject.toml`, builds with `npm run build` or
/// `./build.sh` (saying so, with a heartbeat and the time), installs the plugin into the
/// plugins folder; an error in the source (a type error, a syntax error) fails the next build
/// with the tool's words, and the last good plugin stays.
async fn dev_builds_and_swaps_in(
    lang: Lang,
    project: &Path,
    built: &Path,
    env: &[(&str, std::ffi::OsString)],
) {
    use tokio::io::{AsyncBufReadExt as _, BufReader};

    let home = tempfile::tempdir().expect("a folder for the host");
    let plugins = home.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("plugins folder");
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{store}\"\n\
             [stackone]\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"env:T_STACKONE\"\n\
             [plugins]\ndir = \"{plugins}\"\n\
             [products.acme]\nplugin = \"acme.wasm\"\nkind = \"assessment\"\nsource = \"{source}\"\n\
             webhook_secrets = [\"env:T_WHSEC\"]\npackage_list_keys = [\"env:T_PKG\"]\n\
             [products.acme.settings]\npackages = \"t1:First test\"\n",
            store = home.path().join("assay.db").display(),
            plugins = plugins.display(),
            source = project.display(),
        ),
    )
    .expect("write the configuration");
    let mut child = Command::new(ASSAY)
        .args(["dev", "--config"])
        .arg(&config)
        .env("T_STACKONE", "stackone-key-for-dev")
        .env("T_WHSEC", "whsec-for-dev")
        .env("T_PKG", "package-key-for-dev")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("assay dev starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    // A JS or Python build takes a minute or more on a busy machine.
    let deadline = std::time::Duration::from_secs(600);
    let mut until = async |wanted: &str, seen: &mut Vec<String>| {
        tokio::time::timeout(deadline, async {
            while let Some(line) = lines.next_line().await.expect("read assay dev") {
                seen.push(line.clone());
                if line.contains(wanted) {
                    return;
                }
            }
            panic!("assay dev ended before `{wanted}`:\n{}", seen.join("\n"));
        })
        .await
        .unwrap_or_else(|_| panic!("no `{wanted}` from assay dev:\n{}", seen.join("\n")));
    };
    until("[acme] built in", &mut seen).await;
    let text = seen.join("\n");
    let language = match lang {
        Lang::Js => "(TypeScript/JavaScript)",
        Lang::Python => "(Python)",
    };
    assert!(
        text.contains("[acme] building") && text.contains(language),
        "{text}"
    );
    // A heartbeat every `HEARTBEAT` (10 s) while it runs: required when the build took longer
    // (a warm toolchain on a quiet machine builds in less).
    let took: f64 = text
        .split("[acme] built in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|secs| secs.parse().ok())
        .unwrap_or_else(|| panic!("the build's time: {text}"));
    assert!(
        took < assay::dev::HEARTBEAT.as_secs_f64() + 1.0 || text.contains("[acme] still building"),
        "a heartbeat during a build of {took} s: {text}"
    );
    // The watcher starts with the host: edits before this line would go unseen.
    until("watching 1 plugin source", &mut seen).await;
    let installed = plugins.join("acme.wasm");
    let good = std::fs::read(&installed).expect("the plugin installed");
    assert_eq!(good, std::fs::read(built).expect("the build's output"));

    // An error in the source: the build fails with the tool's words; the plugin stays.
    // The file as the tool names it: componentize-py maps the source folder to `/0/`.
    let (file, named, broken, says) = match lang {
        Lang::Js => (
            "src/plugin.ts",
            "src/plugin.ts",
            "\nexport const broken: number = \"not a number\";\n",
            "not assignable",
        ),
        Lang::Python => (
            "src/app.py",
            "app.py",
            "\ndef broken(:\n    pass\n",
            "SyntaxError",
        ),
    };
    let source = project.join(file);
    let mut text = std::fs::read_to_string(&source).expect("the source");
    text.push_str(broken);
    std::fs::write(&source, text).expect("write the error");
    seen.clear();
    until("[acme] the last good plugin keeps serving", &mut seen).await;
    let text = seen.join("\n");
    assert!(text.contains("build failed"), "{text}");
    assert!(
        text.contains(named) && text.contains(says),
        "the tool's output: {text}"
    );
    assert_eq!(
        std::fs::read(&installed).expect("the plugin"),
        good,
        "the last good plugin stays"
    );
    child.kill().await.expect("stop assay dev");
}
