//! Tiered compilation (`assay_runtime::tiering`): a large plugin serves from Winch's code at
//! once and switches to Cranelift's when the background compile is done; the artifact cache
//! then starts it optimised; and Winch's code is held to the same deadline and memory limit.
//!
//! The Rust fixtures stand in for large plugins here (`tiered_min_bytes: 0`), so these tests
//! need no Node.js or Python; `languages.rs` runs the JavaScript and Python plugins under each
//! compiler.

use std::time::{Duration, Instant};

use assay_runtime::{
    Compiler, CompilerChoice, LoadSource, Runtime, RuntimeOptions, TIERED_MIN_BYTES,
};
use assay_tests::fixtures::{contract, fixture_path};

use crate::runtime::{
    ctx, ends_at_its_deadline, hits_the_memory_limit, other_product_answers, query,
};

fn runtime(compiler: CompilerChoice, cache: &std::path::Path, min_bytes: usize) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.to_owned()),
        compiler,
        tiered_min_bytes: min_bytes,
        ..RuntimeOptions::default()
    })
    .expect("runtime")
}

async fn answers(plugin: &assay_runtime::Plugin) {
    let ids: Vec<String> = plugin
        .list_packages(&ctx("tiered", &[], &[]), query())
        .await
        .expect("answers")
        .packages
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, contract::WELLBEHAVED_PACKAGES.map(|(id, _)| id));
}

#[tokio::test]
async fn a_large_plugin_serves_from_winch_then_from_cranelift_and_starts_optimised_next_time() {
    let cache = tempfile::tempdir().expect("cache dir");
    let rt = runtime(CompilerChoice::Tiered, cache.path(), 0);
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(
        plugin.compiler(),
        Compiler::Winch,
        "served before optimising"
    );
    answers(&plugin).await;

    // Calls keep being answered while the optimiser works; the switch is seen by the plugin
    // every holder shares.
    let deadline = Instant::now() + Duration::from_secs(120);
    while plugin.compiler() != Compiler::Cranelift {
        assert!(Instant::now() < deadline, "not optimised within 120 s");
        answers(&plugin).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(plugin.source(), LoadSource::Compiled);
    answers(&plugin).await;

    // A restart with the cache warm loads Cranelift's artifact directly.
    drop(rt);
    let rt = runtime(CompilerChoice::Tiered, cache.path(), 0);
    let again = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(again.compiler(), Compiler::Cranelift);
    assert_eq!(again.source(), LoadSource::Cache);
    answers(&again).await;
}

#[tokio::test]
async fn a_small_plugin_goes_straight_to_cranelift() {
    let cache = tempfile::tempdir().expect("cache dir");
    let rt = runtime(CompilerChoice::Tiered, cache.path(), TIERED_MIN_BYTES);
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert!(
        std::fs::metadata(fixture_path("wellbehaved"))
            .expect("size")
            .len()
            < TIERED_MIN_BYTES as u64
    );
    assert_eq!(plugin.compiler(), Compiler::Cranelift);
    answers(&plugin).await;
}

#[tokio::test]
async fn cranelift_only_never_uses_winch_and_winch_only_never_optimises() {
    let cache = tempfile::tempdir().expect("cache dir");
    let rt = runtime(CompilerChoice::Cranelift, cache.path(), 0);
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(plugin.compiler(), Compiler::Cranelift);

    let cache = tempfile::tempdir().expect("cache dir");
    let rt = runtime(CompilerChoice::Winch, cache.path(), 0);
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(plugin.compiler(), Compiler::Winch);
    answers(&plugin).await;
    // Loaded again (as after a restart), it is Winch's artifact from the cache.
    let again = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(
        (again.compiler(), again.source()),
        (Compiler::Winch, LoadSource::Cache)
    );
    // Nothing compiled Cranelift's meanwhile: a tiered runtime on the same cache finds no
    // optimised artifact, so it starts the plugin on Winch.
    let tiered = runtime(CompilerChoice::Tiered, cache.path(), 0);
    let plugin = tiered
        .load(&fixture_path("wellbehaved"))
        .await
        .expect("loads");
    assert_eq!(plugin.compiler(), Compiler::Winch);
}

#[tokio::test]
async fn winch_code_is_held_to_the_deadline_and_the_memory_limit() {
    let cache = tempfile::tempdir().expect("cache dir");
    let rt = runtime(CompilerChoice::Winch, cache.path(), 0);

    let spin = rt.load(&fixture_path("spin")).await.expect("loads");
    assert_eq!(spin.compiler(), Compiler::Winch);
    ends_at_its_deadline(&spin, &ctx("spinner", &[], &[])).await;

    let hog = rt.load(&fixture_path("hog")).await.expect("loads");
    hits_the_memory_limit(&hog).await;

    other_product_answers(&rt).await;
}
