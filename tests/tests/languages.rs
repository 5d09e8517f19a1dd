//! Plugins written in TypeScript and Python go through the same gates as Rust ones: the main
//! job end to end (the examples `plugins/examples-js/codetest` and
//! `plugins/examples-python/backcheck` in place of the Rust builds), and the hostile-plugin
//! checks (deadline, memory limit and budget, hosts not allowed) with `tests/fixtures-js/hostile`
//! and `tests/fixtures-python/hostile`.
//!
//! Each test needs its language's toolchain: without it, it prints one line saying what to
//! install and passes, unless `ASSAY_REQUIRE_ALL=1` (CI), where it fails. The plugins are
//! built once per run (`assay_tests::langs`) and compiled once into a shared artifact cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assay_runtime::{CallErrorKind, Compiler, CompilerChoice, Runtime, RuntimeOptions};
use assay_tests::harness::Deployment;
use assay_tests::langs::{self, Lang};
use tokio::net::TcpListener;

use crate::runtime::{
    ctx, denied_message, ends_at_its_deadline, other_product_answers, query, wait_until,
};

/// The artifact cache these tests share: a 13–19 MB component is compiled once per run.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("lang-plugin-cache")
}

/// `lang`'s example plugin, built off the async threads (a build takes 45–55 s).
async fn example(lang: Lang) -> PathBuf {
    tokio::task::spawn_blocking(move || langs::example(lang))
        .await
        .expect("the build thread")
}

#[tokio::test]
async fn a_typescript_codetest_goes_from_order_to_recruiter_view() {
    if !langs::require(Lang::Js) {
        return;
    }
    let plugin = example(Lang::Js).await;
    let d = Deployment::start_with_plugins(&[("codetest", &plugin)], &cache_dir()).await;
    crate::pipeline::assessment_story(&d).await;
}

#[tokio::test]
async fn a_python_backcheck_is_polled_to_its_result() {
    if !langs::require(Lang::Python) {
        return;
    }
    let plugin = example(Lang::Python).await;
    let d = Deployment::start_with_plugins(&[("backcheck", &plugin)], &cache_dir()).await;
    crate::pipeline::background_check_story(&d).await;
}

#[tokio::test]
async fn a_typescript_plugin_is_held_to_its_deadline_memory_and_hosts() {
    hostile_plugin_is_contained(Lang::Js, CompilerChoice::Cranelift).await;
}

#[tokio::test]
async fn a_python_plugin_is_held_to_its_deadline_memory_and_hosts() {
    hostile_plugin_is_contained(Lang::Python, CompilerChoice::Cranelift).await;
}

/// Before its optimised code is ready, a tiered plugin runs Winch's: the same gates hold.
#[tokio::test]
async fn a_typescript_plugin_on_winch_is_held_to_its_deadline_memory_and_hosts() {
    hostile_plugin_is_contained(Lang::Js, CompilerChoice::Winch).await;
}

#[tokio::test]
async fn a_python_plugin_on_winch_is_held_to_its_deadline_memory_and_hosts() {
    hostile_plugin_is_contained(Lang::Python, CompilerChoice::Winch).await;
}

/// The Rust fixtures' `spin`, `hog` and `offlist` checks (`runtime.rs`), against the hostile
/// plugin of `lang`, whose engine (SpiderMonkey or CPython) runs inside the component, as
/// `compiler` compiled it.
async fn hostile_plugin_is_contained(lang: Lang, compiler: CompilerChoice) {
    if !langs::require(lang) {
        return;
    }
    let path = tokio::task::spawn_blocking(move || langs::hostile(lang))
        .await
        .expect("the build thread");
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache_dir()),
        compiler,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let plugin = rt
        .load(&path)
        .await
        .unwrap_or_else(|e| panic!("{} loads: {e:#}", path.display()));
    let expected = match compiler {
        CompilerChoice::Winch => Compiler::Winch,
        _ => Compiler::Cranelift,
    };
    assert_eq!(plugin.compiler(), expected, "{lang:?}");
    let behaving = |behaviour: &str| ctx("hostile", &[("behaviour", behaviour.into())], &[]);

    // Well behaved, it answers: the failures below are the behaviours', not the build's.
    let ok = plugin
        .list_packages(&behaving("ok"), query())
        .await
        .expect("answers");
    assert_eq!(ok.packages[0].id, "ok");

    // An endless loop in the engine's own code ends at the deadline.
    ends_at_its_deadline(&plugin, &behaving("spin")).await;

    // Growth past the call's memory limit is refused, and the memory goes back. CPython aborts
    // (a trap); SpiderMonkey throws, and the SDK returns its "out of memory" as an error: both
    // are the memory limit to the host.
    let mut c = behaving("hog");
    c.timeout = Duration::from_secs(20);
    c.memory_limit_bytes = 96 << 20;
    let err = plugin.list_packages(&c, query()).await.expect_err("limit");
    assert!(
        matches!(err.kind, CallErrorKind::MemoryLimit(n) if n == 96 << 20),
        "{lang:?}: {err}"
    );
    // Given back on the reclaim thread, after the call answered.
    wait_until("the call gave its memory back", || {
        rt.memory_budget().used() == 0
    })
    .await;

    // A host not on the product's list is never reached.
    let bystander = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = format!("http://{}", bystander.local_addr().expect("addr"));
    let c = ctx(
        "hostile",
        &[("behaviour", "offlist".into()), ("target", target.clone())],
        &["https://api.vendor.example"],
    );
    let err = plugin.list_packages(&c, query()).await.expect_err("denied");
    let message = match err.plugin_error() {
        // The SDKs report a request that got no answer as retryable, with the host's reason.
        Some(assay_runtime::types::PluginError::UpstreamRetryable(r)) => r.message.clone(),
        _ => denied_message(&err).to_owned(),
    };
    // Whatever the SDK made of the refusal (JavaScript's `fetch` only says "NetworkError"),
    // the error names it: the host adds its reason.
    assert!(
        message.contains(&format!(
            "(the host denied a request: {target} is not in allowed_hosts)"
        )),
        "{lang:?}: {message}"
    );
    let reached = tokio::time::timeout(Duration::from_millis(100), bystander.accept()).await;
    assert!(reached.is_err(), "{lang:?}: {target} was connected to");

    // Each call had an instance of its own: the plugin answers again, and so do others.
    assert!(plugin.list_packages(&behaving("ok"), query()).await.is_ok());
    other_product_answers(&rt).await;
}
