//! The plugin runtime with real compiled plugins: the well-behaved path, and every hostile
//! fixture contained while another product keeps answering.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay::convert::order_from_json;
use assay_runtime::types::{
    CallbackHandled, CallbackOutcome, CallbackRequest, OrderKind, PackageQuery, PluginError,
};
use assay_runtime::{
    AllowedHost, CallErrorKind, GROWTH_BURST, GROWTH_PACE, LoadError, LoadSource, ProductContext,
    Runtime, RuntimeOptions,
};
use assay_tests::fixtures::{contract, fixture_path, rebuilt};
use assay_wire::metric;
use assay_wire::secret::Secret;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, SharedString, Unit};

pub(crate) fn runtime() -> Runtime {
    Runtime::new(RuntimeOptions::default()).expect("runtime")
}

pub(crate) fn ctx(product: &str, settings: &[(&str, String)], allowed: &[&str]) -> ProductContext {
    let mut c = ProductContext::new(product);
    c.settings = Arc::new(
        settings
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(v.clone())))
            .collect::<BTreeMap<_, _>>(),
    );
    c.allowed_hosts = allowed
        .iter()
        .map(|a| a.parse::<AllowedHost>().expect("entry"))
        .collect::<Vec<_>>()
        .into();
    c.timeout = Duration::from_millis(500);
    c
}

/// The outcome of a callback the plugin handled; the 0.1.0 fixtures never decline.
fn handled(outcome: CallbackOutcome) -> CallbackHandled {
    match outcome {
        CallbackOutcome::Handled(h) => h,
        CallbackOutcome::Unknown(reason) => panic!("a 0.1.0 plugin declined: {reason}"),
    }
}

pub(crate) fn query() -> PackageQuery {
    PackageQuery {
        account_id: "acc-1".into(),
        provider: Some("recruitee".into()),
    }
}

/// The well-behaved fixture still answers correctly: the proof that a failure stayed contained.
pub(crate) async fn other_product_answers(rt: &Runtime) {
    let good = rt
        .load(&fixture_path("wellbehaved"))
        .await
        .expect("wellbehaved loads");
    let packages = good
        .list_packages(&ctx("good", &[], &[]), query())
        .await
        .expect("answers")
        .packages;
    let ids: Vec<_> = packages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, contract::WELLBEHAVED_PACKAGES.map(|(id, _)| id));
}

#[tokio::test]
async fn wellbehaved_loads_and_answers() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    assert_eq!(plugin.metadata().name, "wellbehaved");
    assert_eq!(plugin.metadata().version, contract::METADATA_VERSION);
    assert_eq!(
        plugin.label(),
        format!("wellbehaved@{}", contract::METADATA_VERSION)
    );
    let packages = plugin
        .list_packages(&ctx("p", &[], &[]), query())
        .await
        .expect("packages")
        .packages;
    assert_eq!(packages.len(), contract::WELLBEHAVED_PACKAGES.len());
    assert_eq!(packages[0].name, contract::WELLBEHAVED_PACKAGES[0].1);
}

#[tokio::test]
async fn a_trap_fails_that_call_only() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("trap")).await.expect("loads");
    let err = plugin
        .list_packages(&ctx("trapper", &[], &[]), query())
        .await
        .expect_err("traps");
    let CallErrorKind::Trap { source, .. } = &err.kind else {
        panic!("a trap, not {err}");
    };
    assert!(
        source.downcast_ref::<wasmtime::Trap>().is_some(),
        "wasmtime's trap is kept as the cause: {source:?}"
    );
    assert!(
        err.to_string().contains("product `trapper`") && err.to_string().contains("trap@"),
        "{err}"
    );
    // The same plugin's other export still works in a fresh instance.
    let req = CallbackRequest {
        method: "POST".into(),
        path: "x".into(),
        query: None,
        headers: vec![],
        body: b"ping".to_vec(),
    };
    let out = plugin
        .handle_callback(&ctx("trapper", &[], &[]), req)
        .await
        .expect("callback works");
    assert_eq!(handled(out).response.body, b"ping");
    other_product_answers(&rt).await;
}

#[tokio::test]
async fn an_endless_loop_hits_the_deadline_within_twice_the_limit() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("spin")).await.expect("loads");
    ends_at_its_deadline(&plugin, &ctx("spinner", &[], &[])).await;
    other_product_answers(&rt).await;
}

/// `plugin`'s package list under `c` fails with a timeout, no sooner than the deadline and
/// before twice the deadline.
pub(crate) async fn ends_at_its_deadline(plugin: &assay_runtime::Plugin, c: &ProductContext) {
    let started = Instant::now();
    let err = plugin
        .list_packages(c, query())
        .await
        .expect_err("deadline");
    let took = started.elapsed();
    assert!(matches!(err.kind, CallErrorKind::Timeout(_)), "{err}");
    assert!(
        took >= c.timeout && took < c.timeout * 2,
        "took {took:?} for a {:?} deadline",
        c.timeout
    );
}

#[tokio::test]
async fn memory_growth_is_refused_at_the_limit() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("hog")).await.expect("loads");
    hits_the_memory_limit(&plugin).await;
    other_product_answers(&rt).await;
}

/// The `hog` fixture's growth is refused at a 32 MiB limit, and the call says so.
pub(crate) async fn hits_the_memory_limit(plugin: &assay_runtime::Plugin) {
    let mut c = ctx("hog", &[], &[]);
    c.timeout = Duration::from_secs(10);
    c.memory_limit_bytes = 32 << 20;
    let err = plugin.list_packages(&c, query()).await.expect_err("limit");
    assert!(
        matches!(err.kind, CallErrorKind::MemoryLimit(n) if n == 32 << 20),
        "{err}"
    );
}

#[tokio::test]
async fn an_enormous_answer_is_contained() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("huge")).await.expect("loads");
    let mut c = ctx("huge", &[], &[]);
    // Far past what building the answer up to the memory limit takes, even on a machine whose
    // cores are busy with other builds (10 s was once not enough there).
    c.timeout = Duration::from_secs(30);
    let err = plugin
        .list_packages(&c, query())
        .await
        .expect_err("contained");
    assert!(matches!(err.kind, CallErrorKind::MemoryLimit(_)), "{err}");
    // A modest answer from the same plugin is fine.
    let small = ctx(
        "huge",
        &[
            (contract::HUGE_COUNT_SETTING, "3".into()),
            (contract::HUGE_NAME_LEN_SETTING, "10".into()),
        ],
        &[],
    );
    assert_eq!(
        plugin
            .list_packages(&small, query())
            .await
            .expect("small")
            .packages
            .len(),
        3
    );
    other_product_answers(&rt).await;
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused_even_when_the_plugin_had_the_memory() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("huge")).await.expect("loads");
    // 20 names of 1 MiB: 20 MiB, over the 16 MiB cap, built within a 256 MiB memory limit, so
    // it is the host's answer cap that stops it, not the plugin's memory.
    let mut c = ctx(
        "huge",
        &[
            (contract::HUGE_COUNT_SETTING, "20".into()),
            (contract::HUGE_NAME_LEN_SETTING, (1usize << 20).to_string()),
        ],
        &[],
    );
    c.memory_limit_bytes = 256 << 20;
    c.timeout = Duration::from_secs(10);
    let err = plugin
        .list_packages(&c, query())
        .await
        .expect_err("refused");
    match err.kind {
        CallErrorKind::AnswerTooLarge { size, limit } => {
            assert_eq!(limit, assay_runtime::MAX_ANSWER_BYTES);
            assert!(size > limit, "{size} > {limit}");
        }
        other => panic!("expected AnswerTooLarge, got {other:?}"),
    }
    other_product_answers(&rt).await;
}

#[tokio::test]
async fn a_plugin_printing_megabytes_still_answers() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("huge")).await.expect("loads");
    // 4 MiB of stdout: the host keeps the first 64 KiB, counts the rest, and never fails the
    // plugin's writes.
    let mut c = ctx(
        "huge",
        &[
            (contract::HUGE_PRINT_SETTING, (4usize << 20).to_string()),
            (contract::HUGE_COUNT_SETTING, "2".into()),
            (contract::HUGE_NAME_LEN_SETTING, "10".into()),
        ],
        &[],
    );
    c.timeout = Duration::from_secs(10);
    let list = plugin.list_packages(&c, query()).await.expect("answers");
    assert_eq!(list.packages.len(), 2);
    other_product_answers(&rt).await;
}

pub(crate) fn denied_message(err: &assay_runtime::CallError) -> &str {
    match err.plugin_error() {
        Some(PluginError::Permanent(m)) => m,
        _ => panic!("expected the plugin's permanent error, got {err}"),
    }
}

#[tokio::test]
async fn a_host_not_on_the_list_is_denied_not_trapped() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("offlist")).await.expect("loads");
    let c = ctx("offlist", &[], &["https://api.vendor.example"]);
    let err = plugin.list_packages(&c, query()).await.expect_err("denied");
    let m = denied_message(&err);
    assert!(
        m.starts_with(contract::DENIED_PREFIX) && m.contains("HttpRequestDenied"),
        "{m}"
    );
    other_product_answers(&rt).await;
}

#[tokio::test]
async fn loopback_is_denied_unless_listed_explicitly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(assay_wire::http_server::serve(
        listener,
        |_req, _peer| async { http::Response::new(assay_wire::http_server::Body::from("ok")) },
        std::future::pending(),
    ));
    let rt = runtime();
    let plugin = rt.load(&fixture_path("loopback")).await.expect("loads");
    let settings = [(contract::LOOPBACK_PORT_SETTING, port.to_string())];
    // An open port on 127.0.0.1, not on the list: denied.
    let err = plugin
        .list_packages(
            &ctx("lb", &settings, &["https://api.vendor.example"]),
            query(),
        )
        .await
        .expect_err("denied");
    assert!(denied_message(&err).contains("HttpRequestDenied"), "{err}");
    // Listed explicitly: the request goes out and the server answers.
    let allowed = format!("http://127.0.0.1:{port}");
    let err = plugin
        .list_packages(&ctx("lb", &settings, &[&allowed]), query())
        .await
        .expect_err("fixture reports");
    let m = denied_message(&err);
    assert!(
        m.starts_with(contract::ALLOWED_PREFIX) && m.contains("200"),
        "{m}"
    );
    server.abort();
}

#[tokio::test]
async fn bad_files_are_refused_with_the_reason() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").expect("write");
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    match rt.load(&garbage).await {
        Err(e @ LoadError::NotAComponent { .. }) => {
            assert!(e.to_string().contains("garbage.wasm"), "{e}")
        }
        other => panic!("garbage: {other:?}"),
    }
    match rt.load(&core).await {
        Err(e @ LoadError::NotAComponent { .. }) => {
            assert!(e.to_string().contains("core WebAssembly module"), "{e}")
        }
        other => panic!("core: {other:?}"),
    }
    match rt.load(&fixture_path("noexport")).await {
        Err(e @ LoadError::Exports { .. }) => {
            // A component naming no contract version is judged against the newest.
            assert!(e.to_string().contains(assay_runtime::PRODUCT_EXPORT), "{e}")
        }
        other => panic!("noexport: {other:?}"),
    }
    match rt.load(&fixture_path("future")).await {
        Err(e @ LoadError::ContractVersion { .. }) => {
            let message = e.to_string();
            assert!(message.contains("0.9.0"), "{message}");
            for supported in assay_runtime::contract::SUPPORTED_VERSIONS {
                assert!(
                    message.contains(&format!("assay:plugin@{supported}")),
                    "names {supported}: {message}"
                );
            }
        }
        other => panic!("future: {other:?}"),
    }
    match rt.load(&fixture_path("partial")).await {
        Err(e @ LoadError::Exports { .. }) => {
            assert!(e.to_string().contains("fulfil-order"), "{e}")
        }
        other => panic!("partial: {other:?}"),
    }
    let invalid = dir.path().join("invalid.wasm");
    std::fs::write(&invalid, b"\0asm\x0d\0\x01\0not a component body").expect("write");
    match rt.load(&invalid).await {
        Err(e @ LoadError::Compile { .. }) => {
            assert!(e.source().is_some(), "the compiler's error is kept: {e}")
        }
        other => panic!("invalid: {other:?}"),
    }
    match rt.load(&dir.path().join("absent.wasm")).await {
        Err(e @ LoadError::Read { .. }) => {
            let io = e
                .source()
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .unwrap_or_else(|| panic!("the OS error is the cause: {e:?}"));
            assert_eq!(io.kind(), std::io::ErrorKind::NotFound, "{io}");
        }
        other => panic!("absent: {other:?}"),
    }
}

#[tokio::test]
async fn the_artifact_cache_is_used_and_a_corrupt_entry_recompiled() {
    let cache = tempfile::tempdir().expect("tempdir");
    let options = RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        ..RuntimeOptions::default()
    };
    let rt = Runtime::new(options.clone()).expect("runtime");
    let path = fixture_path("wellbehaved");
    assert_eq!(
        rt.load(&path).await.expect("first").source(),
        LoadSource::Compiled
    );
    assert_eq!(
        rt.load(&path).await.expect("second").source(),
        LoadSource::Cache
    );
    // A new runtime (a restart) uses the cache too.
    let rt2 = Runtime::new(options).expect("runtime");
    assert_eq!(
        rt2.load(&path).await.expect("restart").source(),
        LoadSource::Cache
    );
    // Corrupt every artifact: it is ignored and the plugin compiled again.
    for entry in std::fs::read_dir(cache.path()).expect("ls") {
        std::fs::write(entry.expect("entry").path(), b"garbage").expect("corrupt");
    }
    let plugin = rt2.load(&path).await.expect("recompiled");
    assert_eq!(plugin.source(), LoadSource::Compiled);
    assert!(
        plugin
            .list_packages(&ctx("p", &[], &[]), query())
            .await
            .is_ok()
    );
}

/// Every rebuild under `assay dev` is a new artifact: the cache keeps the most recently used
/// within its bound, so a build still being loaded stays a hit while old ones go.
#[tokio::test]
async fn the_artifact_cache_keeps_the_most_recently_used_within_its_bound() {
    const BOUND: usize = 4;
    const BUILDS: u64 = 52;
    let cache = tempfile::tempdir().expect("tempdir");
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: Some(cache.path().to_owned()),
        cache_max_artifacts: BOUND,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let artifacts = || {
        std::fs::read_dir(cache.path())
            .expect("ls")
            .filter(|e| {
                e.as_ref()
                    .expect("entry")
                    .path()
                    .extension()
                    .is_some_and(|x| x == "cwasm")
            })
            .count()
    };
    let path = fixture_path("wellbehaved");
    let original = std::fs::read(&path).expect("fixture");
    let load = |bytes: Vec<u8>| {
        let (rt, path) = (&rt, &path);
        async move { rt.load_bytes(path, bytes).await.expect("loads").source() }
    };
    let kept = rebuilt(&original, 0);
    assert_eq!(load(kept.clone()).await, LoadSource::Compiled);
    for n in 1..=BUILDS {
        assert_eq!(
            load(rebuilt(&original, n)).await,
            LoadSource::Compiled,
            "build {n}"
        );
        let count = artifacts();
        assert!(count <= BOUND, "{count} artifacts after build {n}");
        // Used again before BOUND newer builds push it out.
        if n % (BOUND as u64 - 1) == 0 {
            assert_eq!(
                load(kept.clone()).await,
                LoadSource::Cache,
                "after build {n}"
            );
        }
    }
    assert_eq!(artifacts(), BOUND);
    assert_eq!(
        load(kept).await,
        LoadSource::Cache,
        "the build in use stays"
    );
    assert_eq!(
        load(rebuilt(&original, 1)).await,
        LoadSource::Compiled,
        "an old build unused since was evicted"
    );
}

/// The histograms registered on this thread: each `histogram!` registers its key.
#[derive(Default)]
struct Histograms(Mutex<Vec<Key>>);

impl Histograms {
    /// `product` of every instantiation timed.
    fn instantiations(&self) -> Vec<String> {
        let keys = self.0.lock().expect("not poisoned");
        keys.iter()
            .filter(|k| k.name() == metric::PLUGIN_INSTANTIATE_SECONDS)
            .map(|k| {
                let labels: Vec<_> = k.labels().map(|l| (l.key(), l.value())).collect();
                match labels.as_slice() {
                    [("product", product)] => (*product).to_owned(),
                    other => panic!("labels {other:?} on {k:?}"),
                }
            })
            .collect()
    }

    /// `(product, call, outcome)` of every plugin call timed.
    fn plugin_calls(&self) -> Vec<(String, String, String)> {
        let keys = self.0.lock().expect("not poisoned");
        keys.iter()
            .filter(|k| k.name() == metric::PLUGIN_CALL_SECONDS)
            .map(|k| {
                let label = |name: &str| {
                    k.labels()
                        .find(|l| l.key() == name)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_else(|| panic!("no label {name} on {k:?}"))
                };
                (label("product"), label("call"), label("outcome"))
            })
            .collect()
    }
}

impl metrics::Recorder for Histograms {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0.lock().expect("not poisoned").push(key.clone());
        Histogram::noop()
    }
}

/// The runtime times every export itself, `metadata` while loading included, under the
/// export's WIT name, and the instantiation within it: callers record nothing.
#[tokio::test(flavor = "current_thread")]
async fn every_export_is_timed_under_its_wit_name() {
    let recorder = Histograms::default();
    // Thread-local, and the test's runtime has one thread: other tests do not record here.
    let _recording = metrics::set_default_local_recorder(&recorder);
    let rt = runtime();
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    let c = ctx("timed", &[], &[]);
    plugin.list_packages(&c, query()).await.expect("packages");
    let order = serde_json::json!({
        "id": "o-1",
        "account_id": "acc-1",
        "package": {"id": "p-1"},
        "candidate": {"first_name": "Ada", "last_name": "Lovelace"}
    });
    let order = order_from_json(OrderKind::Assessment, &order, "", None, None).expect("order");
    plugin.fulfil_order(&c, order).await.expect("fulfils");
    let request = CallbackRequest {
        method: "POST".into(),
        path: "".into(),
        query: None,
        headers: vec![],
        body: vec![],
    };
    plugin.handle_callback(&c, request).await.expect("answers");
    plugin.poll_results(&c, vec![]).await.expect("polls");
    let trap = rt.load(&fixture_path("trap")).await.expect("loads");
    trap.list_packages(&ctx("trapper", &[], &[]), query())
        .await
        .expect_err("traps");
    let expected: Vec<_> = [
        ("(loading)", "metadata", "ok"),
        ("timed", "list-packages", "ok"),
        ("timed", "fulfil-order", "ok"),
        ("timed", "handle-callback", "ok"),
        ("timed", "poll-results", "ok"),
        ("(loading)", "metadata", "ok"),
        ("trapper", "list-packages", "error"),
    ]
    .map(|(p, c, o)| (p.to_owned(), c.to_owned(), o.to_owned()))
    .into();
    assert_eq!(recorder.plugin_calls(), expected);
    // Every call above got its instance (the trap comes in the call), and each instantiation
    // is timed once, under the call's product.
    let products: Vec<_> = expected.iter().map(|(p, _, _)| p.clone()).collect();
    assert_eq!(recorder.instantiations(), products);
}

#[tokio::test]
async fn inspect_describes_a_plugin() {
    let rt = runtime();
    let i = rt
        .inspect(&fixture_path("wellbehaved"))
        .await
        .expect("inspect");
    assert_eq!(i.metadata.name, "wellbehaved");
    assert_eq!(i.contract_version, "0.1.0", "the fixtures stay on 0.1.0");
    assert!(i.metadata.settings.is_empty(), "0.1.0 declares no settings");
    assert!(
        i.exports.iter().any(|e| e == "assay:plugin/product@0.1.0"),
        "{:?}",
        i.exports
    );
    assert!(
        i.imports
            .iter()
            .any(|e| e.starts_with("assay:plugin/types@")),
        "{:?}",
        i.imports
    );
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    let rt = runtime();
    let plugin = rt.load(&fixture_path("wellbehaved")).await.expect("loads");
    for _ in 0..5 {
        let req = CallbackRequest {
            method: "POST".into(),
            path: "".into(),
            query: None,
            headers: vec![],
            body: vec![],
        };
        let out = plugin
            .handle_callback(&ctx("fresh", &[], &[]), req)
            .await
            .expect("answers");
        let out = handled(out);
        let calls = out
            .response
            .headers
            .iter()
            .find(|h| h.name == contract::WELLBEHAVED_CALLS_HEADER)
            .expect("header");
        assert_eq!(
            calls.value, b"1",
            "no state survives from one call to the next"
        );
    }
}

#[tokio::test]
async fn inspect_shows_a_0_2_0_plugins_declared_settings() {
    let i = runtime()
        .inspect(&fixture_path("tokencache"))
        .await
        .expect("inspect");
    assert_eq!(i.contract_version, assay_runtime::CONTRACT_VERSION);
    let settings: Vec<(&str, bool, bool)> = i
        .metadata
        .settings
        .iter()
        .map(|s| (s.name.as_str(), s.required, s.secret))
        .collect();
    assert!(
        settings.contains(&("client_secret", true, true)),
        "{settings:?}"
    );
    assert!(
        settings.contains(&("token_url", true, false)),
        "{settings:?}"
    );
}

/// Polls `check` every 10 ms until it holds, for at most 10 s.
pub(crate) async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_product_past_its_call_bound_is_refused_and_the_others_keep_the_pool() {
    // The probe: 300 concurrent calls of a looping plugin took all 256 instance slots and
    // another product's package list failed with the pool's error. Now the looping product
    // gets its bound (the default, a quarter of the pool) and the rest are refused at once.
    let rt = Arc::new(runtime());
    let plugin = Arc::new(rt.load(&fixture_path("spin")).await.expect("loads"));
    let mut c = ctx("spinner", &[], &[]);
    c.timeout = Duration::from_secs(3);
    let c = Arc::new(c);
    let calls = (0..300)
        .map(|_| {
            let (plugin, c) = (Arc::clone(&plugin), Arc::clone(&c));
            tokio::spawn(async move { plugin.list_packages(&c, query()).await })
        })
        .collect::<Vec<_>>();
    let bound = assay_runtime::DEFAULT_MAX_CONCURRENT_CALLS;
    wait_until("the bound is in use", || c.calls.in_use() == bound).await;
    // While the looping product holds its bound, another product answers.
    other_product_answers(&rt).await;
    let mut busy = 0;
    let mut timed_out = 0;
    for call in calls {
        match call.await.expect("join").expect_err("no answer").kind {
            CallErrorKind::Busy(n) => {
                assert_eq!(n, bound);
                busy += 1;
            }
            CallErrorKind::Timeout(_) => timed_out += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((timed_out, busy), (bound, 300 - bound));
    // A call answered at its deadline by the caller's own timeout may still be ending on the
    // pool's long lane: its slot is given back when it has.
    wait_until("every slot was given back", || c.calls.in_use() == 0).await;
}

#[tokio::test]
async fn a_product_that_runs_long_grows_its_memories_at_a_pace() {
    // The probe: eight calls of a memory-hungry plugin made about 3,100 growths a second, each
    // an `mprotect` under the process's memory-map lock, and a well-behaved product's call
    // waited behind them (p99 4× alone). A product on the long lane now grows at a pace.
    let rt = runtime();
    let plugin = rt.load(&fixture_path("hog")).await.expect("loads");
    let mut c = ctx("hog", &[], &[]);
    c.timeout = Duration::from_secs(60);
    c.memory_limit_bytes = 256 << 20;
    // The first call computes past the quick lane's budget, so the product runs long.
    let first = plugin.list_packages(&c, query()).await.expect_err("limit");
    assert!(
        matches!(first.kind, CallErrorKind::MemoryLimit(_)),
        "{first}"
    );
    assert!(c.calls.lane().runs_long());
    // The next one grows from about 1 MiB to the limit in blocks of 1 MiB: one growth of at
    // most 1 MiB and 64 KiB each (the allocator's granule), so at least 240 growths, of which
    // all but a burst wait their turn (the first call left the bucket spent). Waits only make
    // it slower, so this bound cannot fail on a slow machine; unpaced, this call took 0.12 s.
    let started = Instant::now();
    let second = plugin.list_packages(&c, query()).await.expect_err("limit");
    let took = started.elapsed();
    assert!(
        matches!(second.kind, CallErrorKind::MemoryLimit(_)),
        "{second}"
    );
    let paced = 240 - GROWTH_BURST;
    assert!(
        took >= GROWTH_PACE * paced,
        "{took:?} for 240 growths, {paced} of them paced at {GROWTH_PACE:?}"
    );
    other_product_answers(&rt).await;
}

#[tokio::test]
async fn the_shared_memory_budget_bounds_every_call_together() {
    // The probe: eight calls of a memory-hungry plugin took 2.9 GB, each within its own limit.
    // With a budget below one call's limit, growth stops at the budget, whichever call asks.
    let rt = Runtime::new(RuntimeOptions {
        memory_budget_bytes: 24 << 20,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let plugin = rt.load(&fixture_path("hog")).await.expect("loads");
    let mut c = ctx("hog", &[], &[]);
    c.timeout = Duration::from_secs(10);
    c.memory_limit_bytes = 64 << 20;
    let err = plugin.list_packages(&c, query()).await.expect_err("budget");
    assert!(
        matches!(err.kind, CallErrorKind::MemoryBudget(n) if n == 24 << 20),
        "{err}"
    );
    assert!(err.is_retryable() && err.is_overloaded());
    // A call that grew a big memory gives it back on the reclaim thread, after its answer;
    // the budget and the product's call slot are whole again once it has.
    wait_until("the call gave its memory back", || {
        rt.memory_budget().used() == 0
    })
    .await;
    wait_until("the call gave its slot back", || c.calls.in_use() == 0).await;
    other_product_answers(&rt).await;
    assert_eq!(rt.memory_budget().used(), 0);
}
