//! Hot reload and start-up benchmark.
//!
//! ```sh
//! cargo bench -p assay --bench reload
//! ```
//!
//! Prints (1) the time from renaming a new `.wasm` into the plugins folder to the first
//! package-list response served by the new generation (compile included: each swap brings
//! bytes the artifact cache has not seen), and (2) the time for a host with 10 products to
//! start and be ready, with the artifact cache cold and warm. Needs the example plugins built
//! (`cargo test` or `cargo run -- demo` builds them).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assay::app::{App, AppOptions};
use assay::config::{Config, Overrides};
use common::{first_package_id, median, unique};
use tokio::net::TcpListener;

const SWAPS: usize = 10;
const STARTS: usize = 3;
const PRODUCTS: usize = 10;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../../plugins/target/wasm32-wasip2/release/{name}.wasm"
    ))
}

fn config_text(dir: &Path, products: usize, cache: &Path) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"{}\"\n[stackone]\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"env:K\"\n[plugins]\ndir = \"{}\"\ncache_dir = \"{}\"\n",
        dir.join("assay.db").display(),
        dir.join("plugins").display(),
        cache.display()
    );
    for i in 0..products {
        text.push_str(&format!(
            "[products.p{i}]\nplugin = \"p{i}.wasm\"\nkind = \"assessment\"\nwebhook_secrets = [\"env:K\"]\npackage_list_keys = [\"env:K\"]\n[products.p{i}.settings]\npackages = '[{{\"id\":\"x\",\"name\":\"X\"}}]'\n\
             base_url = \"http://127.0.0.1:9\"\napi_token = \"env:K\"\nwebhook_secret = \"env:K\"\n\
             callback_url = \"http://127.0.0.1:9/v1/products/p{i}/callbacks/attempts\"\n"
        ));
    }
    text
}

fn env(name: &str) -> Option<String> {
    (name == "K").then(|| "bench-key".to_owned())
}

async fn start(dir: &Path, products: usize, cache: &Path) -> App {
    let config = Config::from_str_with(
        &config_text(dir, products, cache),
        &dir.join("config.toml"),
        &Overrides::default(),
        env,
    )
    .expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    App::start(config, listener, AppOptions::default())
        .await
        .expect("host")
}

fn main() {
    for name in ["codetest", "backcheck"] {
        if !example(name).is_file() {
            eprintln!(
                "{} not found: run `cargo test` or `cargo run -- demo` first",
                example(name).display()
            );
            std::process::exit(2);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        // (1) rename to first response from the new generation.
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("mkdir");
        std::fs::copy(example("codetest"), plugins.join("p0.wasm")).expect("copy");
        let host = start(dir.path(), 1, &cache).await;
        let client = reqwest::Client::new();
        let codetest = std::fs::read(example("codetest")).expect("read");
        let backcheck = std::fs::read(example("backcheck")).expect("read");
        let mut latencies = Vec::new();
        for swap in 0..SWAPS {
            let base = if swap % 2 == 0 { &backcheck } else { &codetest };
            let temp = plugins.join(format!(".p0.{swap}.part"));
            std::fs::write(&temp, unique(base, b"assay-bench", swap as u64)).expect("write");
            let before = host.products.get("p0").expect("p0").generation;
            let t = Instant::now();
            std::fs::rename(&temp, plugins.join("p0.wasm")).expect("rename");
            loop {
                let generation = host.products.get("p0").expect("p0").generation;
                if generation > before && first_package_id(&client, &host).await.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies.push(t.elapsed());
        }
        host.shutdown().await.expect("no background task died");
        println!("rename of a new .wasm -> first response from the new generation ({SWAPS} swaps)");
        println!(
            "  median {:.0} ms, max {:.0} ms (includes the {:?} settle time)",
            median(latencies.clone()).as_secs_f64() * 1e3,
            latencies.iter().max().expect("some").as_secs_f64() * 1e3,
            assay::reload::SETTLE
        );

        // (2) start to ready with 10 products, cache cold and warm.
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..STARTS {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = dir.path().join("cache");
            let plugins = dir.path().join("plugins");
            std::fs::create_dir_all(&plugins).expect("mkdir");
            for i in 0..PRODUCTS {
                std::fs::copy(example("codetest"), plugins.join(format!("p{i}.wasm")))
                    .expect("copy");
            }
            let t = Instant::now();
            let host = start(dir.path(), PRODUCTS, &cache).await;
            cold.push(t.elapsed());
            host.shutdown().await.expect("no background task died");
            let t = Instant::now();
            let host = start(dir.path(), PRODUCTS, &cache).await;
            warm.push(t.elapsed());
            host.shutdown().await.expect("no background task died");
        }
        println!("\nstart to ready, {PRODUCTS} products ({STARTS} runs, median)");
        println!(
            "  artifact cache cold  {:.0} ms",
            median(cold).as_secs_f64() * 1e3
        );
        println!(
            "  artifact cache warm  {:.0} ms",
            median(warm).as_secs_f64() * 1e3
        );
    });
}
