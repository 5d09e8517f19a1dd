//! `assay check`: a configuration and deployment doctor.
//!
//! A host refuses to start on the first problem of its configuration; a vendor setting up
//! wants them all at once, each with its fix. So `assay check` goes through:
//!
//! 1. **The file**: it is read and parsed (a syntax error stops here: nothing else can be
//!    read).
//! 2. **Secrets**: every `env:` and `file:` reference anywhere in the file is resolved, and
//!    each one that does not resolve is a line of its own.
//! 3. **Values**: the configuration is loaded as the host loads it, with a stand-in for each
//!    secret that did not resolve, so that the values' own problems show as well.
//! 4. **The store**: the SQLite file's schema is one this build can migrate (or the file can
//!    be created), or PostgreSQL answers at `store.url` with such a schema; read only, never
//!    migrated here.
//! 5. **Plugins**: each product's plugin file exists, loads, serves the product's `kind` and
//!    accepts its settings ([`crate::products::plugin_problems`]).
//! 6. **Allowed hosts**: each `allowed_hosts` origin answers an HTTP request from this
//!    machine (a DNS, TCP or TLS failure is named).
//! 7. **A running host** (`--url`, `check/host.rs`): StackOne's testing checklist from its
//!    integration guide, request by request as StackOne sends them.
//!
//! Each line starts with ✓ or ✗; a ✗ says what to do, in the words of the guide's
//! troubleshooting table where it has a row for it. The exit code is 0 only when every check
//! passed. Nothing here prints a secret: references are shown, never their values.

#[cfg(feature = "emulator")]
mod host;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cli::CheckArgs;
use crate::config::{Config, SecretRef, process_env};
use assay_runtime::{Runtime, RuntimeOptions};

/// How long an `allowed_hosts` origin has to answer.
const REACH_TIMEOUT: Duration = Duration::from_secs(5);
/// What an unresolved secret stands for while the rest of the configuration is checked.
const STAND_IN: &str = "assay-check-stand-in-for-an-unresolved-secret";
/// The prefix of the environment names that stand for unresolved `file:` references.
const STAND_IN_ENV: &str = "ASSAY_CHECK_UNRESOLVED_";

/// The lines printed so far and how many failed.
#[derive(Debug, Default)]
pub(crate) struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    /// A check that passed.
    pub(crate) fn pass(&mut self, what: impl std::fmt::Display) {
        self.passed += 1;
        println!("✓ {what}");
    }

    /// A check that failed, why, and what to do about it.
    pub(crate) fn fail(
        &mut self,
        what: impl std::fmt::Display,
        why: impl std::fmt::Display,
        fix: impl std::fmt::Display,
    ) {
        self.failed += 1;
        println!("✗ {what}: {why}\n    fix: {fix}");
    }

    /// A line that is neither: something not checked, and why.
    pub(crate) fn note(&mut self, what: impl std::fmt::Display) {
        println!("· {what}");
    }

    /// Passes or fails one check by `result`.
    #[cfg(feature = "emulator")]
    pub(crate) fn outcome<T>(
        &mut self,
        what: impl std::fmt::Display,
        result: anyhow::Result<T>,
        fix: impl std::fmt::Display,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.pass(what);
                Some(value)
            }
            Err(e) => {
                self.fail(what, format!("{e:#}"), fix);
                None
            }
        }
    }
}

/// Runs `assay check`.
pub async fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let mut report = Report::default();
    let config = configuration(args, &mut report);
    if let Some(config) = &config {
        let selected = selected(config, &args.products, &mut report);
        store(config, &mut report).await;
        plugins(config, &selected, &mut report).await;
        allowed_hosts(config, &selected, &mut report).await;
        match &args.url {
            #[cfg(feature = "emulator")]
            Some(url) => host::run(args, config, &selected, url, &mut report).await,
            #[cfg(not(feature = "emulator"))]
            Some(_) => report.fail(
                "running host",
                "this build has no StackOne client (it was built without the `emulator` feature)",
                "run `assay check --url` from a build with default features",
            ),
            None => report.note("no --url: the running host's checklist is skipped"),
        }
    } else if args.url.is_some() {
        report.note("the running host is not checked until the configuration loads");
    }
    let total = report.passed + report.failed;
    if report.failed > 0 {
        bail!("{} of {total} checks failed", report.failed);
    }
    println!("all {total} checks passed");
    Ok(())
}

/// The products to check: those `--product` names, else all.
fn selected(config: &Config, wanted: &[String], report: &mut Report) -> Vec<String> {
    if wanted.is_empty() {
        return config.products.keys().cloned().collect();
    }
    let mut names = Vec::new();
    for name in wanted {
        if config.products.contains_key(name) {
            names.push(name.clone());
        } else {
            let known: Vec<&str> = config.products.keys().map(String::as_str).collect();
            report.fail(
                format!("product `{name}`"),
                "the configuration has no such product",
                format!("name one of: {}", known.join(", ")),
            );
        }
    }
    names
}

/// Steps 1 to 3: the file, its secrets, its values. `None` when it does not load.
fn configuration(args: &CheckArgs, report: &mut Report) -> Option<Config> {
    let path = args.config.config_path();
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            report.fail(
                format!("configuration {shown}"),
                format!("cannot read it: {e}"),
                "pass the file with --config PATH (or ASSAY_CONFIG)",
            );
            return None;
        }
    };
    let table: toml::Table = match toml::from_str(&text) {
        Ok(table) => table,
        Err(e) => {
            let at = crate::config::Location::in_text(&shown, &text, e.span().map(|s| s.start));
            report.fail(
                format!("configuration {shown}"),
                format!("{at}: {}", e.message()),
                "correct the TOML at that place",
            );
            return None;
        }
    };
    report.pass(format!("configuration {shown} is TOML"));

    let base = std::path::absolute(&path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."));
    let (env_stand_ins, text) = secrets(&table, &text, &base, report);
    let env = |name: &str| {
        process_env(name).or_else(|| {
            (env_stand_ins.contains(name) || name.starts_with(STAND_IN_ENV))
                .then(|| STAND_IN.to_owned())
        })
    };
    let absolute = base.join(path.file_name().unwrap_or_default());
    match Config::from_str_with(&text, &absolute, &args.config.overrides(), env) {
        Ok(config) => {
            let names: Vec<&str> = config.products.keys().map(String::as_str).collect();
            report.pass(format!(
                "configuration values are valid ({} products: {})",
                names.len(),
                names.join(", ")
            ));
            Some(config)
        }
        Err(e) => {
            report.fail(
                "configuration values",
                e,
                "correct the value at the place named (the README's Configuration section \
                 lists every key)",
            );
            None
        }
    }
}

/// Step 2: resolves every secret reference in `table`. Returns the environment names that
/// stand in for unresolved ones, and `text` with each unresolved `file:` reference replaced by
/// an `env:` stand-in, so the values can be checked next.
fn secrets(
    table: &toml::Table,
    text: &str,
    base: &Path,
    report: &mut Report,
) -> (BTreeSet<String>, String) {
    let mut references = Vec::new();
    collect_references(&toml::Value::Table(table.clone()), "", &mut references);
    let mut stand_ins = BTreeSet::new();
    let mut text = text.to_owned();
    let mut resolved = 0;
    for (n, (key, written)) in references.iter().enumerate() {
        let Ok(reference) = written.parse::<SecretRef>() else {
            // A malformed reference is a value problem: step 3 names it with its place.
            continue;
        };
        match reference.resolve(base, &process_env) {
            Ok(_) => resolved += 1,
            Err(problem) => {
                let fix = match &reference {
                    SecretRef::Env(name) => format!(
                        "set {name} in the host's environment (the README's 'Running it for real' \
                         lists each variable), or point {key} at a file with file:PATH"
                    ),
                    SecretRef::File(_) => format!(
                        "create the file (readable by the host, the secret alone in it) or \
                         correct {key}"
                    ),
                };
                report.fail(format!("secret {key} ({reference})"), problem, fix);
                match &reference {
                    SecretRef::Env(name) => {
                        stand_ins.insert(name.clone());
                    }
                    SecretRef::File(_) => {
                        text = text.replace(
                            &format!("\"{written}\""),
                            &format!("\"env:{STAND_IN_ENV}{n}\""),
                        );
                        text = text
                            .replace(&format!("'{written}'"), &format!("'env:{STAND_IN_ENV}{n}'"));
                    }
                }
            }
        }
    }
    if resolved > 0 && stand_ins.is_empty() && resolved == references.len() {
        report.pass(format!("all {resolved} secret references resolve"));
    } else if resolved > 0 {
        report.pass(format!(
            "{resolved} of {} secret references resolve",
            references.len()
        ));
    }
    (stand_ins, text)
}

/// Every string of `value` that is written as a secret reference, with its dotted key.
fn collect_references(value: &toml::Value, key: &str, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::String(s)
            if s.starts_with(crate::config::ENV_PREFIX)
                || s.starts_with(crate::config::FILE_PREFIX) =>
        {
            out.push((key.to_owned(), s.clone()));
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_references(item, &format!("{key}[{i}]"), out);
            }
        }
        toml::Value::Table(table) => {
            for (name, item) in table {
                let key = if key.is_empty() {
                    name.clone()
                } else {
                    format!("{key}.{name}")
                };
                collect_references(item, &key, out);
            }
        }
        _ => {}
    }
}

/// Step 4: the store, read only.
async fn store(config: &Config, report: &mut Report) {
    match &config.store.url {
        Some(url) if url.expose() == STAND_IN => {
            report.note("store.url does not resolve (above), so PostgreSQL is not checked");
        }
        Some(url) => {
            let fix = "check store.url (host, port, database, user), that PostgreSQL runs and \
                       that this machine may reach it";
            match assay_store::PostgresStore::schema_version(url.expose()).await {
                Ok((target, version)) => schema_line(
                    report,
                    &format!("store: PostgreSQL at {target}"),
                    version,
                    assay_store::postgres::SCHEMA_VERSION,
                ),
                Err(e) => report.fail("store: PostgreSQL (store.url)", e, fix),
            }
        }
        None => {
            let path = &config.store.path;
            let what = format!("store: SQLite {}", path.display());
            if path.exists() {
                let read = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || assay_store::sqlite::version_of(&path))
                        .await
                };
                match read {
                    Ok(Ok(version)) => schema_line(
                        report,
                        &what,
                        Some(version),
                        assay_store::sqlite::SCHEMA_VERSION,
                    ),
                    Ok(Err(e)) => report.fail(
                        what,
                        e,
                        "point store.path at an Assay store file (or a new path)",
                    ),
                    Err(e) => report.fail(what, e, "try again"),
                }
            } else {
                let folder = path.parent().unwrap_or(Path::new("."));
                let existing = folder.ancestors().find(|a| a.exists());
                match existing.map(std::fs::metadata) {
                    Some(Ok(m)) if !m.permissions().readonly() => report.pass(format!(
                        "{what} does not exist yet; the host creates it (and {})",
                        folder.display()
                    )),
                    _ => report.fail(
                        what,
                        format!("it cannot be created in {}", folder.display()),
                        "point store.path at a folder the host may write to",
                    ),
                }
            }
        }
    }
}

/// A store's schema `version` against the `newest` this build writes.
fn schema_line(report: &mut Report, what: &str, version: Option<u32>, newest: u32) {
    match version {
        None => report.pass(format!(
            "{what} answers; no schema yet (the first host, or `assay store migrate`, creates it)"
        )),
        Some(v) if v <= newest => report.pass(format!(
            "{what} is at schema version {v}{}",
            if v < newest {
                format!("; the host migrates it to {newest} when it starts")
            } else {
                String::new()
            }
        )),
        Some(v) => report.fail(
            what,
            format!("its schema version {v} is newer than this build's {newest}"),
            "run the Assay version that wrote it (or newer); this build refuses to serve from it",
        ),
    }
}

/// Step 5: each product's plugin.
async fn plugins(config: &Config, products: &[String], report: &mut Report) {
    let runtime = match Runtime::new(RuntimeOptions {
        pooling: false,
        cache_dir: None,
        ..RuntimeOptions::default()
    }) {
        Ok(runtime) => runtime,
        Err(e) => {
            report.fail(
                "plugin runtime",
                format!("{e:#}"),
                "this machine cannot run WebAssembly plugins (see the error)",
            );
            return;
        }
    };
    for name in products {
        let product = &config.products[name];
        let what = format!("product `{name}`: plugin {}", product.plugin.display());
        if !product.plugin.is_file() {
            let build = match &product.source {
                Some(source) => format!(
                    "build it: cargo build --release --target wasm32-wasip2 in {} (or run \
                     `assay dev`, which builds it), ",
                    source.display()
                ),
                None => "build the plugin for wasm32-wasip2 and put it there, ".to_owned(),
            };
            report.fail(
                what,
                "no such file",
                format!("{build}or correct products.{name}.plugin"),
            );
            continue;
        }
        let plugin = match runtime.load(&product.plugin).await {
            Ok(plugin) => plugin,
            Err(e) => {
                report.fail(
                    what,
                    format!("{:#}", anyhow::Error::new(e)),
                    "rebuild it against this host's contract (`assay plugin inspect FILE` \
                     shows what a plugin declares)",
                );
                continue;
            }
        };
        let problems = crate::products::plugin_problems(product, &plugin);
        if problems.is_empty() {
            report.pass(format!(
                "{what} is {} and serves `{}`; its settings fit",
                plugin.label(),
                product.kind.as_str()
            ));
        }
        for problem in problems {
            report.fail(
                format!("product `{name}`: plugin {}", plugin.label()),
                problem,
                format!("change [products.{name}] or the plugin, as the message says"),
            );
        }
    }
}

/// Step 6: whether each `allowed_hosts` origin answers from here.
async fn allowed_hosts(config: &Config, products: &[String], report: &mut Report) {
    let client = match reqwest::Client::builder()
        .timeout(REACH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            report.fail("HTTP client", e, "this machine cannot make HTTPS requests");
            return;
        }
    };
    let mut any = false;
    for name in products {
        for host in &config.products[name].allowed_hosts {
            any = true;
            let origin = host.to_string();
            let what = format!("product `{name}`: allowed host {origin}");
            let started = Instant::now();
            match client.head(&origin).send().await {
                Ok(answer) => report.pass(format!(
                    "{what} answers (HTTP {}, {} ms)",
                    answer.status().as_u16(),
                    started.elapsed().as_millis()
                )),
                Err(e) => report.fail(
                    what,
                    unreachable_reason(&e),
                    format!(
                        "check the name and port in products.{name}.allowed_hosts, and that \
                         this machine may reach it (DNS, firewall, proxy)"
                    ),
                ),
            }
        }
    }
    if !any {
        report.note("no allowed_hosts: the plugins make no outbound requests");
    }
}

/// Why a request did not get an answer, in one phrase: the deepest cause names it (DNS,
/// refused, TLS).
fn unreachable_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        format!("no answer within {} s", REACH_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(c) = cause {
        deepest = Some(c.to_string());
        cause = c.source();
    }
    match deepest {
        Some(d) => format!("{kind}: {d}"),
        None => kind,
    }
}
