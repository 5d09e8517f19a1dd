//! Plugin runtime benchmark: instantiate-and-call latency of `list-packages`, pooling vs
//! on-demand allocation, and loading a plugin from the artifact cache vs compiling it.
//!
//! ```sh
//! cargo bench -p assay --bench runtime
//! ```
//!
//! The plugin is `ASSAY_BENCH_PLUGIN`, or the example `codetest` plugin from the drop folder
//! (`plugins/codetest.wasm`) or as the tests and the demo build it
//! (`plugins/target/wasm32-wasip2/release/codetest.wasm`), else the `wellbehaved` test
//! fixture (`tests/fixtures/target/wasm32-wasip2/release/fixture_wellbehaved.wasm`). Its
//! settings are `ASSAY_BENCH_SETTINGS`, a JSON object of strings, by default a two-package
//! catalogue in codetest's `packages` setting: the plugin answers from it, so the figures are
//! the sandbox's cost, not a vendor's.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay_runtime::types::PackageQuery;
use assay_runtime::{ProductContext, Runtime, RuntimeOptions};
use assay_wire::secret::Secret;

/// Calls measured per allocator; `ASSAY_BENCH_CALLS` overrides it (e.g. for profiling).
fn calls_count() -> usize {
    common::calls_count(3000)
}
const WARMUP: usize = 300;
const LOADS: usize = 5;

fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os("ASSAY_BENCH_PLUGIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dropped = root.join("plugins/codetest.wasm");
    if dropped.is_file() {
        return dropped;
    }
    let built = root.join("plugins/target/wasm32-wasip2/release/codetest.wasm");
    if built.is_file() {
        return built;
    }
    // The minimal test plugin, as the integration tests build it; it ignores the settings.
    root.join("tests/fixtures/target/wasm32-wasip2/release/fixture_wellbehaved.wasm")
}

/// The catalogue codetest answers `list-packages` from.
const DEFAULT_CATALOGUE: &str = r#"[{"id":"ct-rust","name":"Rust backend engineer","description":"90 minutes"},{"id":"ct-sql","name":"SQL fundamentals"}]"#;

fn settings() -> BTreeMap<String, Secret> {
    match std::env::var("ASSAY_BENCH_SETTINGS") {
        Ok(json) => {
            let map: BTreeMap<String, String> = serde_json::from_str(&json)
                .expect("ASSAY_BENCH_SETTINGS: a JSON object of strings");
            map.into_iter().map(|(k, v)| (k, Secret::new(v))).collect()
        }
        Err(_) => BTreeMap::from([("packages".to_owned(), Secret::new(DEFAULT_CATALOGUE))]),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn calls(pooling: bool, path: &Path) -> Vec<Duration> {
    let runtime = Runtime::new(RuntimeOptions {
        pooling,
        cache_dir: None,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let plugin = runtime.load(path).await.expect("plugin loads");
    let mut ctx = ProductContext::new("bench");
    ctx.settings = Arc::new(settings());
    let query = || PackageQuery {
        account_id: "456551489512493414".into(),
        provider: Some("recruitee".into()),
    };
    let expected = plugin
        .list_packages(&ctx, query())
        .await
        .expect("call")
        .packages
        .len();
    for _ in 0..WARMUP {
        plugin.list_packages(&ctx, query()).await.expect("call");
    }
    let mut times = Vec::with_capacity(calls_count());
    for _ in 0..calls_count() {
        let t = Instant::now();
        let list = plugin.list_packages(&ctx, query()).await.expect("call");
        times.push(t.elapsed());
        assert_eq!(list.packages.len(), expected);
    }
    times.sort();
    times
}

async fn loads(path: &Path) -> (Vec<Duration>, Vec<Duration>) {
    let mut compiled = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..LOADS {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = RuntimeOptions {
            pooling: true,
            cache_dir: Some(dir.path().to_owned()),
            ..RuntimeOptions::default()
        };
        let runtime = Runtime::new(options.clone()).expect("runtime");
        let t = Instant::now();
        runtime.load(path).await.expect("compile");
        compiled.push(t.elapsed());
        // A new runtime, as after a restart: the artifact comes from the cache.
        let runtime = Runtime::new(options).expect("runtime");
        let t = Instant::now();
        let plugin = runtime.load(path).await.expect("cached");
        cached.push(t.elapsed());
        assert_eq!(plugin.source(), assay_runtime::LoadSource::Cache);
    }
    compiled.sort();
    cached.sort();
    (compiled, cached)
}

fn main() {
    let path = plugin_path();
    if !path.is_file() {
        eprintln!(
            "{} not found: run `cargo test` or `cargo run -- demo` first, or set ASSAY_BENCH_PLUGIN",
            path.display()
        );
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        println!("plugin: {}", path.display());
        println!(
            "\ninstantiate + list-packages, {} sequential calls after {WARMUP} warm-up",
            calls_count()
        );
        println!(
            "{:<12} {:>10} {:>10} {:>10} {:>10}",
            "allocator", "p50", "p90", "p99", "mean"
        );
        for (label, pooling) in [("pooling", true), ("on-demand", false)] {
            let t = calls(pooling, &path).await;
            let mean = t.iter().sum::<Duration>() / t.len() as u32;
            println!(
                "{label:<12} {:>10} {:>10} {:>10} {:>10}",
                us(percentile(&t, 0.5)),
                us(percentile(&t, 0.9)),
                us(percentile(&t, 0.99)),
                us(mean)
            );
        }
        let (compiled, cached) = loads(&path).await;
        println!("\nloading the plugin ({LOADS} runs, median)");
        println!(
            "{:<24} {:>10}",
            "fresh compile",
            ms(percentile(&compiled, 0.5))
        );
        println!(
            "{:<24} {:>10}",
            "cached artifact",
            ms(percentile(&cached, 0.5))
        );
    });
}
