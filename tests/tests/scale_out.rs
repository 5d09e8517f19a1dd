//! Several hosts on one PostgreSQL store (README, "More than one host"): hosts killed with
//! SIGKILL mid-fulfilment and mid-delivery, and the database restarted under webhook load.
//!
//! The hosts are the real binary in processes of their own ([`Cluster`]), the database a
//! throw-away server from the machine's PostgreSQL binaries (skipped with one line where
//! PostgreSQL is not installed, a failure under `ASSAY_REQUIRE_ALL=1`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assay_emulator::OrderWebhook;
use assay_store::postgres::testing::{self, PgServer, PgServerOptions};
use assay_store::{OrderFilter, OutboxState, PostgresStore, Store};
use assay_tests::cluster::Cluster;
use assay_tests::harness::WAIT;

use crate::ASSAY;

/// Short leases, so work a killed host held is taken over within seconds: the time a real
/// deployment waits (minutes, by default) is what the test would otherwise spend waiting.
const SHORT_LEASES: &str = "fulfil_lease_ms = 3000\ndelivery_lease_ms = 8000\n";

/// (webhook, host, status) of a webhook sent; `None`: no answer at all.
type Answer = (usize, usize, Option<u16>);

/// How long a takeover may take: a lease's end, then a claim.
const TAKEOVER: Duration = Duration::from_secs(60);

/// Polls `check` until it holds, failing after `within` with `what` and the hosts' logs.
async fn until(cluster: &Cluster, what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The order of StackOne's `order_id` in the store, with its outbox states.
async fn stored(store: &PostgresStore, order_id: &str) -> Vec<(i64, Vec<OutboxState>)> {
    let found = store
        .list_orders(OrderFilter {
            order_id: Some(order_id.to_owned()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("list orders");
    let mut out = Vec::new();
    for summary in found {
        let detail = store
            .get_order(summary.id)
            .await
            .expect("get order")
            .expect("listed order exists");
        out.push((
            summary.id.0,
            detail.outbox.iter().map(|r| r.state).collect(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_share_one_postgres_and_survive_sigkill_mid_fulfilment_and_mid_delivery() {
    let Some(server) = testing::shared() else {
        return;
    };
    let url = server.create_database().await.expect("database");
    let mut c = Cluster::start(ASSAY.as_ref(), &url, 3, SHORT_LEASES).await;
    let webhooks = c.codetest_orders(0, 1..=20).await;
    let mut acked: Vec<&OrderWebhook> = Vec::new();

    // Mid-fulfilment: hosts 0 and 1 frozen, host 2 takes orders and calls the vendor, whose
    // gate holds the calls; host 2 is killed while they are on the wire.
    c.signal(0, "STOP");
    c.signal(1, "STOP");
    c.vendor_gate.hold();
    for w in &webhooks[0..4] {
        assert_eq!(c.send(2, "codetest", w).await, Some(200), "{}", c.logs());
        acked.push(w);
    }
    until(&c, "host 2's vendor calls at the gate", WAIT, || {
        c.vendor_gate.waiting() >= 4
    })
    .await;
    c.kill(2);
    c.signal(0, "CONT");
    c.signal(1, "CONT");
    // The dead host's calls reach the vendor now, as calls on the wire do; hosts 0 and 1 take
    // the orders over when the dead host's leases end and call again.
    c.vendor_gate.release();

    // Mid-delivery: hosts 0 and 2 frozen, host 1 fulfils and PATCHes StackOne through a
    // held gate, and is killed with its PATCHes on the way; they never arrive.
    c.restart(2).await;
    for w in &webhooks[0..4] {
        c.stackone
            .wait_for_accepted(&w.order_id, TAKEOVER)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", w.order_id, c.logs()));
    }
    c.signal(0, "STOP");
    c.signal(2, "STOP");
    c.stackone_gate.hold();
    for w in &webhooks[4..8] {
        assert_eq!(c.send(1, "codetest", w).await, Some(200), "{}", c.logs());
        acked.push(w);
    }
    until(&c, "host 1's PATCHes at the gate", WAIT, || {
        c.stackone_gate.waiting() >= 1
    })
    .await;
    c.kill(1);
    c.signal(0, "CONT");
    c.signal(2, "CONT");
    c.stackone_gate.release();
    c.restart(1).await;

    // Spread: each webhook to one host and its duplicate to another, at the same time.
    for (i, w) in webhooks[8..].iter().enumerate() {
        let (a, b) = tokio::join!(
            c.send(i % 3, "codetest", w),
            c.send((i + 1) % 3, "codetest", w)
        );
        assert_eq!((a, b), (Some(200), Some(200)), "{}", c.logs());
        acked.push(w);
    }
    // The earliest webhooks once more, each to a host that did not take it: nothing changes.
    for (i, w) in webhooks[..8].iter().enumerate() {
        assert_eq!(c.send(i % 3, "codetest", w).await, Some(200));
    }

    // Every acknowledged order is stored once, fulfilled, and its result delivered.
    let store = PostgresStore::connect(&url).await.expect("connect");
    for w in &acked {
        c.stackone
            .wait_for_accepted(&w.order_id, TAKEOVER)
            .await
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", w.order_id, c.logs()));
    }
    let deadline = Instant::now() + TAKEOVER;
    let mut rows = BTreeMap::new();
    for w in &acked {
        loop {
            let found = stored(&store, &w.order_id).await;
            assert_eq!(found.len(), 1, "order {} stored once", w.order_id);
            let (_, outbox) = &found[0];
            if !outbox.is_empty() && outbox.iter().all(|s| *s == OutboxState::Delivered) {
                rows.insert(w.order_id.clone(), outbox.len());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "order {}'s results never all delivered: {outbox:?}\n{}",
                w.order_id,
                c.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Nothing is pending any more, so nothing more can reach StackOne: count now.
    let invitations = c.vendor.invitations();
    let creates = c
        .vendor
        .calls()
        .into_iter()
        .filter(|call| call.method == "POST" && call.path == "/api/invitations")
        .fold(BTreeMap::<String, usize>::new(), |mut n, call| {
            *n.entry(call.idempotency_key.unwrap_or_default())
                .or_default() += 1;
            n
        });
    for w in &acked {
        let id = &w.order_id;
        assert_eq!(
            invitations.iter().filter(|i| &i.reference == id).count(),
            1,
            "order {id} fulfilled once at the vendor"
        );
        let accepted = c
            .stackone
            .deliveries_for(id)
            .into_iter()
            .filter(|d| d.accepted())
            .count();
        assert_eq!(
            accepted, rows[id],
            "order {id}'s results reached StackOne once each"
        );
    }
    // The killed host's vendor calls were answered by the vendor's idempotency: each of
    // those orders was created twice and exists once.
    for w in &webhooks[0..4] {
        assert!(
            creates.get(&w.order_id).copied().unwrap_or(0) >= 2,
            "order {} was not taken over after the kill: {creates:?}",
            w.order_id
        );
    }
    assert_eq!(
        invitations.len(),
        acked.len(),
        "no invitation beyond the orders"
    );

    // The operator's views read the shared store from any host.
    let client = reqwest::Client::new();
    let admin = c.secrets.admin.expose().to_owned();
    let status: serde_json::Value = client
        .get(format!("{}/admin/status", c.hosts[0].url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("status JSON");
    assert_eq!(
        status["recent_orders"].as_array().map(Vec::len),
        Some(acked.len()),
        "{status}"
    );
    let page = client
        .get(format!("{}/admin", c.hosts[1].url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("status page");
    assert_eq!(page.status(), 200);
    let page = page.text().await.expect("page");
    assert!(
        page.contains(&acked[0].order_id),
        "the page lists the orders"
    );
    let metrics = client
        .get(format!("{}/metrics", c.hosts[2].url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let awaiting = metrics
        .lines()
        .find(|l| {
            l.starts_with("assay_orders{")
                && l.contains("product=\"codetest\"")
                && l.contains("state=\"awaiting_result\"")
        })
        .unwrap_or_else(|| panic!("no awaiting_result gauge:\n{metrics}"));
    assert!(
        awaiting.ends_with(&format!(" {}", acked.len())),
        "every order counted once: {awaiting}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarting_under_load_answers_503_meanwhile_and_the_hosts_recover() {
    if testing::shared().is_none() {
        return;
    }
    // A server of its own: this test stops and starts it.
    let server = PgServer::start(PgServerOptions::default()).expect("PostgreSQL");
    let url = server.create_database().await.expect("database");
    // Default leases: work finished while the database was away is recorded once it is
    // back, without waiting minutes for a lease to end.
    let c = Arc::new(Cluster::start(ASSAY.as_ref(), &url, 2, "").await);
    let webhooks = Arc::new(c.codetest_orders(0, 1..=6000).await);
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut load = Vec::new();
    for _ in 0..4 {
        let (c, webhooks, answers, next, stop) = (
            Arc::clone(&c),
            Arc::clone(&webhooks),
            Arc::clone(&answers),
            Arc::clone(&next),
            stopping.clone(),
        );
        load.push(tokio::spawn(async move {
            while !*stop.borrow() {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(w) = webhooks.get(k) else { return };
                let host = k % 2;
                let status = c.send(host, "codetest", w).await;
                answers.lock().expect("answers").push((k, host, status));
            }
        }));
    }
    let count = |answers: &Mutex<Vec<Answer>>, status: u16, host: usize| {
        answers
            .lock()
            .expect("answers")
            .iter()
            .filter(|(_, h, s)| *h == host && *s == Some(status))
            .count()
    };
    until(&c, "webhooks accepted before the restart", WAIT, || {
        count(&answers, 200, 0) >= 20 && count(&answers, 200, 1) >= 20
    })
    .await;

    let stopped = Instant::now();
    tokio::task::block_in_place(|| server.pause()).expect("stop PostgreSQL");
    until(
        &c,
        "503s from both hosts while PostgreSQL is down",
        WAIT,
        || count(&answers, 503, 0) >= 5 && count(&answers, 503, 1) >= 5,
    )
    .await;
    let client = reqwest::Client::new();
    for host in &c.hosts {
        let r = client
            .get(format!("{}/readyz", host.url))
            .send()
            .await
            .expect("readyz");
        assert_eq!(r.status(), 503, "readyz red while the store is gone");
        let body = r.text().await.expect("body");
        assert!(body.contains("store"), "readyz names the store: {body}");
    }
    tokio::task::block_in_place(|| server.resume()).expect("start PostgreSQL");
    let down = stopped.elapsed();
    let accepted_before = (count(&answers, 200, 0), count(&answers, 200, 1));
    until(
        &c,
        "both hosts accepting again, without a restart",
        WAIT,
        || {
            count(&answers, 200, 0) >= accepted_before.0 + 20
                && count(&answers, 200, 1) >= accepted_before.1 + 20
        },
    )
    .await;
    stop.send_replace(true);
    for task in load {
        task.await.expect("load task");
    }
    for (i, host) in c.hosts.iter().enumerate() {
        assert!(host.pid().is_some(), "host {i} still the same process");
        let r = client
            .get(format!("{}/readyz", host.url))
            .send()
            .await
            .expect("readyz");
        assert_eq!(r.status(), 200, "host {i} ready again");
    }

    let answers = answers.lock().expect("answers").clone();
    let odd: Vec<_> = answers
        .iter()
        .filter(|(_, _, s)| !matches!(s, Some(200 | 503)))
        .collect();
    assert!(odd.is_empty(), "every webhook answered 200 or 503: {odd:?}");
    let store = PostgresStore::connect(&url).await.expect("connect");
    let acked: Vec<usize> = answers
        .iter()
        .filter(|(_, _, s)| *s == Some(200))
        .map(|(k, _, _)| *k)
        .collect();
    for k in &acked {
        let id = &webhooks[*k].order_id;
        assert_eq!(
            stored(&store, id).await.len(),
            1,
            "order {id}, answered 200, is in the store"
        );
    }
    // The workers and relays recovered too: every acknowledged order's result arrives.
    for k in &acked {
        let id = &webhooks[*k].order_id;
        c.stackone
            .wait_for_accepted(id, TAKEOVER)
            .await
            .unwrap_or_else(|e| panic!("{e}: {id}\n{}", c.logs()));
    }
    let refused = answers.iter().filter(|(_, _, s)| *s == Some(503)).count();
    eprintln!(
        "PostgreSQL down {down:?}: {} webhooks accepted, {refused} answered 503",
        acked.len()
    );
}

/// Runs the `assay` binary with `args` and `T_DB` set to `url`; (success, stdout, stderr).
fn assay(args: &[&str], url: &str) -> (bool, String, String) {
    let out = std::process::Command::new(ASSAY)
        .args(args)
        .env("T_DB", url)
        .env_remove("ASSAY_STORE_PATH")
        .output()
        .expect("run assay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_migrate_copy_and_orders_work_on_postgres_from_the_command_line() {
    let Some(server) = testing::shared() else {
        return;
    };
    let url = server.create_database().await.expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[store]\nurl = \"env:T_DB\"\n").expect("config");
    let config = config.display().to_string();

    let version = format!(
        "PostgreSQL store at schema version {}\n",
        assay_store::postgres::SCHEMA_VERSION
    );
    let migrate = assay(&["store", "migrate", "--config", &config], &url);
    assert_eq!(
        (migrate.0, migrate.1.as_str()),
        (true, version.as_str()),
        "{}",
        migrate.2
    );
    // Again: nothing to do, the same version.
    assert_eq!(
        assay(&["store", "migrate", "--config", &config], &url).1,
        migrate.1
    );
    let empty = assay(&["orders", "list", "--json", "--config", &config], &url);
    assert_eq!((empty.0, empty.1.trim()), (true, "[]"), "{}", empty.2);

    // A single host's store, moved up.
    let sqlite = dir.path().join("single.db");
    {
        let store = assay_store::SqliteStore::open(&sqlite).expect("sqlite");
        for n in 1..=2 {
            store
                .record_event(assay_store::IncomingEvent {
                    product: "codetest".into(),
                    event_name: "ats_assessments.created".into(),
                    idempotency_key: format!("created:cli-{n}"),
                    received_at: assay_store::Timestamp::now(),
                    envelope: b"{}".to_vec().into(),
                    order: Some(assay_store::NewOrder {
                        order_id: format!("cli-{n}"),
                        kind: assay_store::OrderKind::Assessment,
                        account_id: "acct".into(),
                        provider: None,
                        package_id: None,
                        candidate_label: None,
                        order_json: "{}".into(),
                    }),
                })
                .await
                .expect("ingest");
        }
    }
    let from = format!("sqlite:{}", sqlite.display());
    let copy = assay(
        &[
            "store", "copy", "--from", &from, "--to", "postgres", "--config", &config,
        ],
        &url,
    );
    assert!(copy.0, "{}", copy.2);
    assert!(
        copy.1
            .contains("orders                 2           2           2"),
        "{}",
        copy.1
    );
    let again = assay(
        &[
            "store", "copy", "--from", &from, "--to", "postgres", "--config", &config,
        ],
        &url,
    );
    assert!(
        again
            .1
            .contains("orders                 2           0           2"),
        "{}",
        again.1
    );
    let listed = assay(&["orders", "list", "--json", "--config", &config], &url);
    let listed: serde_json::Value = serde_json::from_str(&listed.1).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let shown = assay(&["orders", "show", "cli-2", "--config", &config], &url);
    assert!(
        shown.0 && shown.1.contains("cli-2"),
        "{}{}",
        shown.1,
        shown.2
    );

    // Mistakes are named, and the URL's password never shows.
    let bad_from = assay(
        &[
            "store",
            "copy",
            "--from",
            "single.db",
            "--to",
            "postgres",
            "--config",
            &config,
        ],
        &url,
    );
    assert!(
        !bad_from.0 && bad_from.2.contains("--from must be sqlite:PATH"),
        "{}",
        bad_from.2
    );
    let secret_url = format!("postgres://assay:hunter2@127.0.0.1:{}/nope", server.port());
    let unreachable = assay(&["orders", "list", "--config", &config], &secret_url);
    assert!(!unreachable.0, "{}", unreachable.1);
    assert!(
        !unreachable.2.contains("hunter2") && unreachable.2.contains("nope"),
        "{}",
        unreachable.2
    );
}
