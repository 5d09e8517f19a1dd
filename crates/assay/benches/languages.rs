//! Plugins per language: what a plugin written in Rust, TypeScript or Python costs the host.
//!
//! ```sh
//! cargo bench -p assay --bench languages
//! ASSAY_BENCH_LANGUAGES=js,python ASSAY_BENCH_CALLS=500 cargo bench -p assay --bench languages
//! ```
//!
//! For each language's example plugin (`codetest` in Rust and TypeScript, `backcheck` in
//! Python, each answering `list-packages` from the same two-package `packages` setting), it
//! prints one row of BENCHMARKS.md's "Plugins per language":
//!
//! - **size** of the component file;
//! - **rename → first answer**: a host (`App`, real HTTP on loopback, the plugins folder
//!   watched) serves the product `p0` with the Rust example of the same kind; the language's
//!   plugin is renamed over `p0.wasm` and the package list is requested until the new
//!   generation answers it. "Cold": bytes the artifact cache has never seen (a custom section
//!   makes them new); "warm": the same bytes renamed in again once the first load's artifacts
//!   are cached (after a restart, or on a second host sharing the cache). Under
//!   `compiler = "tiered"` and `compiler = "cranelift"`; for tiered, also when Cranelift's code
//!   took over (the background compile, at nice 19), counted from the rename ("–" for a plugin
//!   below `TIERED_MIN_BYTES`, which is compiled by Cranelift straight away);
//! - **instance + `list-packages` call**: median and p99 of `ASSAY_BENCH_CALLS` sequential calls
//!   (default 2,000, after 200 of warm-up), each in a fresh instance from the pooling
//!   allocator, and the minor page faults per call, for Cranelift's code and for Winch's; in a
//!   second table, the median of the part spent instantiating (the runtime's own
//!   `assay_plugin_instantiate_seconds`, read through a recorder this benchmark installs);
//! - **RSS**: the resident memory of a process (this benchmark started again) with a runtime
//!   and the plugin loaded from a warm cache after one call, and of the same process with no
//!   plugin, so the difference is the plugin's.
//!
//! The plugins are built with their documented commands when missing: `cargo build --release`
//! in `plugins/` (both Rust examples: every host starts with the one of the plugin's kind), `npm ci && npm run build` in `plugins/examples-js/codetest`,
//! `plugins/sdk-python/build.sh` for `plugins/examples-python/backcheck`. A language whose
//! toolchain is missing (Node.js, python3) is skipped with a line saying so.
//!
//! `ASSAY_BENCH_ONLY=calls` measures the calls and RSS only (the renames print "–"; any other
//! value is refused), and
//! `ASSAY_BENCH_KEEP_RESIDENT_MB` tries another value of what the pooling allocator keeps
//! resident of an instance's memory between calls (`assay_runtime::POOL_KEEP_RESIDENT`).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay::app::{App, AppOptions};
use assay::config::{Config, Overrides};
use assay_runtime::types::PackageQuery;
use assay_runtime::{
    Compiler, CompilerChoice, ProductContext, Runtime, RuntimeOptions, TIERED_MIN_BYTES,
};
use assay_wire::secret::Secret;
use common::{first_package_id, median, unique};

/// The catalogue every example answers `list-packages` from.
const CATALOGUE: &str = r#"[{"id":"pk-rust","name":"Rust backend engineer","description":"90 minutes"},{"id":"pk-sql","name":"SQL fundamentals"}]"#;
const WARMUP: usize = 200;
const WARM_LOADS: usize = 3;

fn calls_count() -> usize {
    common::calls_count(2000)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lang {
    Rust,
    Js,
    Python,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust (`codetest`)",
            Lang::Js => "TypeScript (`examples-js/codetest`)",
            Lang::Python => "Python (`examples-python/backcheck`)",
        }
    }

    /// The Rust example of the same order kind, which the product serves first.
    fn rust_of_same_kind(self) -> (PathBuf, &'static str) {
        let release = root().join("plugins/target/wasm32-wasip2/release");
        match self {
            Lang::Rust | Lang::Js => (release.join("codetest.wasm"), "assessment"),
            Lang::Python => (release.join("backcheck.wasm"), "background_check"),
        }
    }

    fn path(self) -> PathBuf {
        let plugins = root().join("plugins");
        match self {
            Lang::Rust => plugins.join("target/wasm32-wasip2/release/codetest.wasm"),
            Lang::Js => plugins.join("examples-js/codetest/dist/codetest.wasm"),
            Lang::Python => plugins.join("examples-python/backcheck/backcheck.wasm"),
        }
    }

    /// Builds the plugin with its documented command; `Err` says what is missing.
    fn build(self) -> Result<(), String> {
        let plugins = root().join("plugins");
        let run = |cmd: &mut Command| -> Result<(), String> {
            let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{cmd:?}: {status}"))
            }
        };
        match self {
            Lang::Rust => run(Command::new("cargo")
                .args(["build", "--release"])
                .current_dir(&plugins)),
            Lang::Js => {
                for dir in [plugins.join("sdk-js"), plugins.join("examples-js/codetest")] {
                    run(Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund"])
                        .current_dir(&dir))
                    .map_err(|e| {
                        format!("{e} (Node.js 20+ and npm: apt-get install nodejs npm)")
                    })?;
                }
                run(Command::new("npm")
                    .args(["run", "build"])
                    .current_dir(plugins.join("examples-js/codetest")))
            }
            Lang::Python => run(Command::new(plugins.join("sdk-python/build.sh"))
                .arg(plugins.join("examples-python/backcheck"))
                .arg(self.path()))
            .map_err(|e| format!("{e} (python3 3.11+ with venv: apt-get install python3-venv)")),
        }
    }
}

fn settings() -> Arc<BTreeMap<String, Secret>> {
    Arc::new(BTreeMap::from([(
        "packages".to_owned(),
        Secret::new(CATALOGUE),
    )]))
}

/// The product the timed calls are made for.
const PRODUCT: &str = "bench";

fn context() -> ProductContext {
    let mut ctx = ProductContext::new(PRODUCT);
    ctx.settings = settings();
    ctx
}

fn query() -> PackageQuery {
    PackageQuery {
        account_id: "456551489512493414".into(),
        provider: Some("recruitee".into()),
    }
}

fn runtime(compiler: CompilerChoice, cache: &Path) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.to_owned()),
        compiler,
        pool_keep_resident_bytes: keep_resident(),
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

/// `ASSAY_BENCH_KEEP_RESIDENT_MB`, to try other values of what the pool keeps resident.
fn keep_resident() -> usize {
    std::env::var("ASSAY_BENCH_KEEP_RESIDENT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(assay_runtime::POOL_KEEP_RESIDENT, |mb| mb << 20)
}

/// The process's minor page faults so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.to_owned();
            after.split_whitespace().nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

/// Loads the plugin and calls it once; the plugin, for what follows.
async fn first_answer(rt: &Runtime, path: &Path) -> Arc<assay_runtime::Plugin> {
    let plugin = rt.load(path).await.expect("the plugin loads");
    let list = plugin
        .list_packages(&context(), query())
        .await
        .expect("list-packages");
    assert_eq!(list.packages.len(), 2, "the catalogue's two packages");
    plugin
}

/// Waits until calls of `plugin` run Cranelift's code; how long since `since`.
async fn optimised(plugin: &assay_runtime::Plugin, since: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(600);
    while plugin.compiler() != Compiler::Cranelift {
        assert!(Instant::now() < deadline, "not optimised within 600 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    since.elapsed()
}

/// What sequential calls, each in a fresh instance, cost.
struct Calls {
    median: Duration,
    p99: Duration,
    faults_per_call: f64,
    /// The median of the part spent instantiating.
    instantiating: Duration,
}

/// The samples of the runtime's `assay_plugin_instantiate_seconds` for [`PRODUCT`], collected
/// by the recorder `main` installs (every other series is dropped, so a load's `metadata` call
/// or another host's product never counts).
static INSTANTIATING: Mutex<Vec<f64>> = Mutex::new(Vec::new());

struct InstantiateRecorder;

struct Samples;

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        INSTANTIATING.lock().expect("not poisoned").push(value);
    }
}

impl metrics::Recorder for InstantiateRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let ours = key
            .labels()
            .any(|l| l.key() == "product" && l.value() == PRODUCT);
        if key.name() == assay_wire::metric::PLUGIN_INSTANTIATE_SECONDS && ours {
            metrics::Histogram::from_arc(Arc::new(Samples))
        } else {
            metrics::Histogram::noop()
        }
    }
}

/// Times sequential calls, each in a fresh instance.
async fn calls(plugin: &assay_runtime::Plugin) -> Calls {
    let ctx = context();
    for _ in 0..WARMUP {
        plugin.list_packages(&ctx, query()).await.expect("call");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(calls_count());
    INSTANTIATING.lock().expect("not poisoned").clear();
    let faults = minor_faults();
    for _ in 0..calls_count() {
        let t = Instant::now();
        plugin.list_packages(&ctx, query()).await.expect("call");
        times.push(t.elapsed());
    }
    let faults_per_call = (minor_faults() - faults) as f64 / calls_count() as f64;
    let mut instantiating = std::mem::take(&mut *INSTANTIATING.lock().expect("not poisoned"));
    assert_eq!(
        instantiating.len(),
        calls_count(),
        "every call's instantiation is recorded once"
    );
    instantiating.sort_by(f64::total_cmp);
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    Calls {
        median: at(0.5),
        p99: at(0.99),
        faults_per_call,
        instantiating: Duration::from_secs_f64(instantiating[instantiating.len() / 2]),
    }
}

fn fmt(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else if d >= Duration::from_millis(10) {
        format!("{:.0} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

/// `d` as `fmt` writes it, or "–" when not measured.
fn fmt_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "–".to_owned(), fmt)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The child's side of the RSS measurement: `--rss-child CACHE [PLUGIN]`.
fn rss_child(cache: &Path, plugin: Option<&Path>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let runtime = runtime(CompilerChoice::Tiered, cache);
        let _plugin = match plugin {
            Some(path) => Some(first_answer(&runtime, path).await),
            None => None,
        };
        println!("{}", vm_rss_kib());
    });
}

/// The resident memory of a fresh process with a runtime and, if given, `plugin` loaded.
fn rss_mib(cache: &Path, plugin: Option<&Path>) -> f64 {
    let mut cmd = Command::new(std::env::current_exe().expect("this benchmark"));
    cmd.arg("--rss-child").arg(cache);
    if let Some(p) = plugin {
        cmd.arg(p);
    }
    let out = cmd.output().expect("the RSS child runs");
    assert!(out.status.success(), "RSS child: {out:?}");
    let kib: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the child prints its RSS in KiB");
    kib / 1024.0
}

fn config_text(dir: &Path, kind: &str, compiler: CompilerChoice) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{db}\"\n\
         [stackone]\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"env:K\"\n\
         [plugins]\ndir = \"{plugins}\"\ncache_dir = \"{cache}\"\ncompiler = \"{compiler}\"\n\
         [products.p0]\nplugin = \"p0.wasm\"\nkind = \"{kind}\"\nwebhook_secrets = [\"env:K\"]\n\
         package_list_keys = [\"env:K\"]\n[products.p0.settings]\npackages = '{CATALOGUE}'\n\
         base_url = \"http://127.0.0.1:9\"\napi_token = \"env:K\"\nwebhook_secret = \"env:K\"\n\
         callback_url = \"http://127.0.0.1:9/v1/products/p0/callbacks/attempts\"\n",
        db = dir.join("assay.db").display(),
        plugins = dir.join("plugins").display(),
        cache = dir.join("cache").display(),
        compiler = compiler.as_str(),
    )
}

/// A host serving `p0` with the Rust example of `lang`'s kind, compiling with `compiler`.
async fn host(dir: &Path, lang: Lang, compiler: CompilerChoice) -> App {
    let (rust, kind) = lang.rust_of_same_kind();
    std::fs::create_dir_all(dir.join("plugins")).expect("plugins folder");
    std::fs::copy(&rust, dir.join("plugins/p0.wasm")).expect("the Rust example");
    let config = Config::from_str_with(
        &config_text(dir, kind, compiler),
        &dir.join("config.toml"),
        &Overrides::default(),
        |name| (name == "K").then(|| "bench-key".to_owned()),
    )
    .expect("config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    App::start(config, listener, AppOptions::default())
        .await
        .expect("host")
}

/// Whether the host answers `p0`'s package list with the catalogue.
async fn package_list(client: &reqwest::Client, host: &App) -> bool {
    first_package_id(client, host).await.as_deref() == Some("pk-rust")
}

/// Renames `bytes` over `p0.wasm`; the time until the new generation answers the package list,
/// and the new plugin.
async fn rename_to_answer(
    client: &reqwest::Client,
    host: &App,
    dir: &Path,
    bytes: &[u8],
) -> (Duration, Arc<assay_runtime::Plugin>) {
    let plugins = dir.join("plugins");
    let temp = plugins.join(".p0.wasm.part");
    std::fs::write(&temp, bytes).expect("write");
    let before = host.products.get("p0").expect("p0").generation;
    let started = Instant::now();
    std::fs::rename(&temp, plugins.join("p0.wasm")).expect("rename");
    let deadline = started + Duration::from_secs(600);
    loop {
        let product = host.products.get("p0").expect("p0");
        if let Some(e) = &product.last_error {
            panic!("the swap failed: {e}");
        }
        if product.generation > before && package_list(client, host).await {
            let plugin = product.plugin.clone().expect("a loaded plugin");
            return (started.elapsed(), plugin);
        }
        assert!(
            Instant::now() < deadline,
            "no answer within 600 s of the rename"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Rename → first answer, cold then warm, under `compiler`; for tiered, also when Cranelift's
/// code took over (`None` for a plugin below `TIERED_MIN_BYTES`, which went straight to it).
async fn renames(
    lang: Lang,
    compiler: CompilerChoice,
    n: u64,
) -> (Duration, Option<Duration>, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = host(dir.path(), lang, compiler).await;
    let client = reqwest::Client::new();
    let bytes = unique(
        &std::fs::read(lang.path()).expect("plugin"),
        b"assay-bench-languages",
        n,
    );
    let (cold, plugin) = rename_to_answer(&client, &host, dir.path(), &bytes).await;
    let optimised_after = match compiler {
        CompilerChoice::Tiered
            if bytes.len() >= TIERED_MIN_BYTES || plugin.compiler() != Compiler::Cranelift =>
        {
            Some(cold + optimised(&plugin, Instant::now()).await)
        }
        _ => None,
    };
    drop(plugin);
    let rust = std::fs::read(lang.rust_of_same_kind().0).expect("Rust example");
    let mut warm = Vec::new();
    for _ in 0..WARM_LOADS {
        // The Rust example back, then the same bytes again: the cache has their artifacts.
        rename_to_answer(&client, &host, dir.path(), &rust).await;
        let (took, plugin) = rename_to_answer(&client, &host, dir.path(), &bytes).await;
        assert_eq!(
            plugin.compiler(),
            Compiler::Cranelift,
            "warm: optimised code"
        );
        warm.push(took);
    }
    host.shutdown().await.expect("no background task died");
    (cold, optimised_after, median(warm))
}

/// The rename figures of one language.
struct Renames {
    cold_tiered: Duration,
    /// `None` when the plugin went straight to Cranelift (below `TIERED_MIN_BYTES`).
    optimised_after: Option<Duration>,
    warm_tiered: Duration,
    cold_cranelift: Duration,
    warm_cranelift: Duration,
}

struct Row {
    lang: Lang,
    size: u64,
    /// `None` under `ASSAY_BENCH_ONLY=calls`.
    renames: Option<Renames>,
    cranelift_calls: Calls,
    winch_calls: Calls,
    rss: f64,
    rss_none: f64,
}

async fn measure(lang: Lang, only_calls: bool) -> Row {
    let path = lang.path();
    let size = std::fs::metadata(&path).expect("plugin file").len();

    // A distinct build per run: every cold rename compiles.
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let renames = if only_calls {
        None
    } else {
        let (cold_tiered, optimised_after, warm_tiered) =
            renames(lang, CompilerChoice::Tiered, stamp).await;
        let (cold_cranelift, _, warm_cranelift) =
            renames(lang, CompilerChoice::Cranelift, stamp + 1).await;
        Some(Renames {
            cold_tiered,
            optimised_after,
            warm_tiered,
            cold_cranelift,
            warm_cranelift,
        })
    };

    // A cache with Cranelift's artifact, for the calls and the RSS child.
    let cache = tempfile::tempdir().expect("cache");
    // Calls, on each compiler's code.
    let rt = runtime(CompilerChoice::Cranelift, cache.path());
    let plugin = rt.load(&path).await.expect("loads");
    let cranelift_calls = calls(&plugin).await;
    drop((plugin, rt));
    let cache_w = tempfile::tempdir().expect("cache");
    let rt = runtime(CompilerChoice::Winch, cache_w.path());
    let plugin = rt.load(&path).await.expect("loads");
    let winch_calls = calls(&plugin).await;
    drop((plugin, rt));

    let rss = rss_mib(cache.path(), Some(&path));
    let rss_none = rss_mib(cache.path(), None);
    Row {
        lang,
        size,
        renames,
        cranelift_calls,
        winch_calls,
        rss,
        rss_none,
    }
}

fn languages() -> Vec<Lang> {
    let wanted = std::env::var("ASSAY_BENCH_LANGUAGES").unwrap_or_else(|_| "rust,js,python".into());
    wanted
        .split(',')
        .filter_map(|w| match w.trim() {
            "rust" => Some(Lang::Rust),
            "js" | "ts" => Some(Lang::Js),
            "python" | "py" => Some(Lang::Python),
            "" => None,
            other => panic!("ASSAY_BENCH_LANGUAGES: unknown language {other:?} (rust, js, python)"),
        })
        .collect()
}

/// `ASSAY_BENCH_ONLY`: `calls` measures the calls and RSS only; unset measures everything.
fn only_calls() -> Result<bool, String> {
    match std::env::var("ASSAY_BENCH_ONLY") {
        Err(_) => Ok(false),
        Ok(v) if v == "calls" => Ok(true),
        Ok(v) => Err(format!(
            "ASSAY_BENCH_ONLY={v} names no part of the run; the one known is `calls`"
        )),
    }
}

/// The files measuring `lang` reads: its plugin and the Rust example of the same kind.
fn needed(lang: Lang) -> [PathBuf; 2] {
    [lang.path(), lang.rust_of_same_kind().0]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        let cache = PathBuf::from(&args[i + 1]);
        let plugin = args.get(i + 2).map(PathBuf::from);
        rss_child(&cache, plugin.as_deref());
        return;
    }
    let only_calls = match only_calls() {
        Ok(only) => only,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    metrics::set_global_recorder(InstantiateRecorder).expect("the only recorder");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let mut rows = Vec::new();
    for lang in languages() {
        // The Rust examples first: every language's host starts with one of them.
        if !lang.rust_of_same_kind().0.is_file()
            && let Err(e) = Lang::Rust.build()
        {
            println!("skipped {}: {e}", lang.name());
            continue;
        }
        if !lang.path().is_file()
            && let Err(e) = lang.build()
        {
            println!("skipped {}: {e}", lang.name());
            continue;
        }
        if let Some(missing) = needed(lang).into_iter().find(|p| !p.is_file()) {
            println!(
                "skipped {}: {} is missing after the build",
                lang.name(),
                missing.display()
            );
            continue;
        }
        eprintln!("measuring {} ({})", lang.name(), lang.path().display());
        rows.push(rt.block_on(measure(lang, only_calls)));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n{} sequential calls per compiler after {WARMUP} of warm-up; load average at the end: {}",
        calls_count(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "\n| plugin | size | first answer, cold: tiered | Cranelift's code after | cold: Cranelift only | warm: tiered | warm: Cranelift only | call, Cranelift's code: median | p99 | page faults per call | call, Winch's code: median | p99 | page faults per call | RSS with it loaded (without) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let renames = r.renames.as_ref();
        println!(
            "| {} | {:.1} MB | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {:.1} | {:.1} MiB ({:.1}) |",
            r.lang.name(),
            r.size as f64 / 1e6,
            fmt_opt(renames.map(|m| m.cold_tiered)),
            fmt_opt(renames.and_then(|m| m.optimised_after)),
            fmt_opt(renames.map(|m| m.cold_cranelift)),
            fmt_opt(renames.map(|m| m.warm_tiered)),
            fmt_opt(renames.map(|m| m.warm_cranelift)),
            fmt(r.cranelift_calls.median),
            fmt(r.cranelift_calls.p99),
            r.cranelift_calls.faults_per_call,
            fmt(r.winch_calls.median),
            fmt(r.winch_calls.p99),
            r.winch_calls.faults_per_call,
            r.rss,
            r.rss_none,
        );
    }
    println!(
        "\n| plugin | of the call's median, instantiating: Cranelift's code | share | Winch's code | share |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        let share = |c: &Calls| 100.0 * c.instantiating.as_secs_f64() / c.median.as_secs_f64();
        println!(
            "| {} | {} | {:.0}% | {} | {:.0}% |",
            r.lang.name(),
            fmt(r.cranelift_calls.instantiating),
            share(&r.cranelift_calls),
            fmt(r.winch_calls.instantiating),
            share(&r.winch_calls),
        );
    }
}
