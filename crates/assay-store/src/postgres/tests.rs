//! Tests only PostgreSQL has: several hosts on one database, migrations, wake-ups, a lost
//! connection. Two [`PostgresStore`]s on one database are two hosts.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::tests::{LEASE, PRODUCT, accept, claim_one, event, fulfilled, ingest_at_once, result};
use crate::{OrderState, OutboxState};

/// How long a test waits for something another task or host does.
const DEADLINE: Duration = Duration::from_secs(20);

/// A new database on the shared server, or `None` (skipped) without PostgreSQL.
async fn database() -> Option<String> {
    Some(testing::shared()?.create_database().await.unwrap())
}

async fn host(url: &str) -> PostgresStore {
    PostgresStore::connect(url).await.unwrap()
}

/// A superuser connection to the server, for what a test does behind the store's back.
async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test]
async fn a_claim_is_fenced_across_hosts() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    let id = accept(&a, "o1").await;
    let t0 = Timestamp::now();
    let first = claim_one(&a, t0).await;
    assert_eq!(first.claim.order, id);
    let before_expiry = t0.plus(LEASE).minus(Duration::from_millis(1));
    assert!(
        b.claim_orders_for_fulfilment(10, before_expiry, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "another host must not take a leased order"
    );
    let second = claim_one(&b, t0.plus(LEASE)).await;
    assert_eq!((second.claim.order, second.claim.attempt), (id, 2));
    for stale in [
        a.fulfilment_retry(first.claim, t0, "late".into()).await,
        a.fulfilment_failed(first.claim, "late".into(), Some(result("failed")))
            .await,
    ] {
        let err = stale.expect_err("the first host's claim is stale");
        assert!(
            matches!(err, StoreError::LeaseLost { attempt: 1, .. }),
            "{err}"
        );
    }
    let initiated = Some(result("initiated"));
    b.fulfilment_succeeded(second.claim, "ext-1".into(), None, initiated)
        .await
        .unwrap();

    // The same across hosts for an outbox row.
    let rows = a.claim_outbox(10, t0, LEASE).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(b.claim_outbox(10, t0, LEASE).await.unwrap().is_empty());
    let taken = b.claim_outbox(10, t0.plus(LEASE), LEASE).await.unwrap();
    assert_eq!(taken[0].claim.attempt, 2);
    let err = a
        .outbox_dead_letter(rows[0].claim, Some(400), "stale".into())
        .await
        .expect_err("the first host's outbox claim is stale");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    b.outbox_delivered(taken[0].claim, 200).await.unwrap();
    let detail = a.get_order(id).await.unwrap().unwrap();
    assert_eq!(detail.outbox.len(), 1);
    assert!(detail.dead_letters.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_two_hosts_never_overlap() {
    let Some(url) = database().await else { return };
    let hosts = [Arc::new(host(&url).await), Arc::new(host(&url).await)];
    for i in 0..40 {
        accept(&*hosts[i % 2], &format!("o{i}")).await;
    }
    let now = Timestamp::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&hosts[i % 2]);
            tokio::spawn(async move {
                store
                    .claim_orders_for_fulfilment(7, now, LEASE)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for t in tasks {
        claimed.extend(t.await.unwrap().into_iter().map(|c| c.claim.order));
    }
    let all = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(claimed.len(), all, "an order was handed to two claims");
    assert_eq!(all, 40, "every due order is claimed by someone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_webhook_to_each_host_makes_one_order() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    for round in 0..20 {
        let key = format!("k{round}");
        let order = format!("o{round}");
        let (x, y) = tokio::join!(
            a.record_event(event(&key, Some(&order))),
            b.record_event(event(&key, Some(&order)))
        );
        let mut outcomes = [x.unwrap(), y.unwrap()];
        outcomes.sort_by_key(|o| matches!(o, IngestOutcome::Duplicate));
        assert!(
            matches!(
                outcomes,
                [IngestOutcome::Accepted { .. }, IngestOutcome::Duplicate]
            ),
            "round {round}: {outcomes:?}"
        );
    }
    let orders = a.list_orders(OrderFilter::default()).await.unwrap();
    assert_eq!(orders.len(), 20);
    for o in orders {
        let detail = b.get_order(o.id).await.unwrap().unwrap();
        assert_eq!(detail.events.len(), 1, "the duplicate event is not stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_share_commits() {
    const TASKS: usize = 64;
    let Some(url) = database().await else { return };
    let store = Arc::new(host(&url).await);
    ingest_at_once(&(Arc::clone(&store) as Arc<dyn Store>), TASKS).await;
    let stats = store.write_stats();
    assert_eq!(stats.requests, TASKS as u64);
    assert!(stats.commits < TASKS as u64, "{stats:?}");
    assert!(stats.largest_batch > 1, "{stats:?}");
}

#[tokio::test]
async fn one_bad_event_fails_alone_in_its_batch() {
    let Some(url) = database().await else { return };
    let store = host(&url).await;
    let mut bad = event("k-bad", Some("o-bad"));
    // PostgreSQL refuses NUL in text; SQLite stores it.
    bad.order.as_mut().unwrap().candidate_label = Some("nul\0here".into());
    let (good1, bad, good2) = tokio::join!(
        store.record_event(event("k1", Some("o1"))),
        store.record_event(bad),
        store.record_event(event("k2", Some("o2")))
    );
    assert!(matches!(good1.unwrap(), IngestOutcome::Accepted { .. }));
    assert!(matches!(good2.unwrap(), IngestOutcome::Accepted { .. }));
    let err = bad.expect_err("a NUL in text is refused");
    assert!(!err.is_unavailable(), "{err}");
}

/// Commits `events` as one batch of the ingest collector, as concurrent webhooks are, and
/// returns each event's answer in the order given, with the collector's counters.
async fn one_batch(
    store: &PostgresStore,
    events: Vec<IncomingEvent>,
) -> (Vec<Result<IngestOutcome, StoreError>>, WriteStats) {
    let counters = crate::sqlite::writer::Counters::default();
    let (mut batch, answers): (Vec<_>, Vec<_>) = events
        .into_iter()
        .map(|e| {
            let (reply, answer) = tokio::sync::oneshot::channel();
            ((e, reply), answer)
        })
        .unzip();
    let to = ingest::Committer {
        pool: store.pool.clone(),
        notifier: store.notifier.clone(),
    };
    ingest::commit_batch(&to, &mut batch, &counters).await;
    let mut out = Vec::new();
    for answer in answers {
        out.push(answer.await.expect("every event is answered"));
    }
    (out, counters.stats())
}

/// How many orders and events the database at `url` holds.
async fn rows(url: &str) -> (i64, i64) {
    let row = admin(url)
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM events)",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Event dispositions of order `id`, in the order they were stored.
async fn dispositions(store: &PostgresStore, id: OrderId) -> Vec<crate::EventDisposition> {
    let detail = store.get_order(id).await.unwrap().unwrap();
    detail.events.iter().map(|e| e.disposition).collect()
}

#[tokio::test]
async fn one_batch_deduplicates_within_itself_and_against_the_database() {
    use crate::EventDisposition::{DuplicateOrder, Order};
    let Some(url) = database().await else { return };
    let store = host(&url).await;
    let old = accept(&store, "o-old").await;
    let batch = || {
        vec![
            event("k5", Some("o5")),
            event("k1", Some("o1")),
            event("k1", Some("o1")), // the same key earlier in the batch
            event("k2", Some("o1")), // a new key, the order earlier in the batch
            event("k3", None),       // no order
            event("key-o-old", Some("o-old")), // a key the database has
            event("k4", Some("o-old")), // a new key naming a stored order
        ]
    };
    let (answers, stats) = one_batch(&store, batch()).await;
    let answers: Vec<IngestOutcome> = answers.into_iter().map(Result::unwrap).collect();
    let IngestOutcome::Accepted { order: o5 } = answers[0] else {
        panic!("o5 is new: {answers:?}")
    };
    let IngestOutcome::Accepted { order: o1 } = answers[1] else {
        panic!("o1 is new: {answers:?}")
    };
    use IngestOutcome::{Duplicate, Ignored};
    assert_eq!(
        answers[2..],
        [Duplicate, Duplicate, Ignored, Duplicate, Duplicate],
        "{answers:?}"
    );
    assert_eq!((stats.requests, stats.commits), (7, 1), "{stats:?}");
    assert_eq!(dispositions(&store, o1).await, [Order, DuplicateOrder]);
    assert_eq!(dispositions(&store, o5).await, [Order]);
    assert_eq!(dispositions(&store, old).await, [Order, DuplicateOrder]);
    // o-old's event, then k5, k1, k2, k3 and k4.
    assert_eq!(rows(&url).await, (3, 6));

    // The same batch again: every key is known now, nothing changes.
    let (again, _) = one_batch(&store, batch()).await;
    let again: Vec<IngestOutcome> = again.into_iter().map(Result::unwrap).collect();
    assert_eq!(again, vec![Duplicate; 7]);
    assert_eq!(dispositions(&store, o1).await, [Order, DuplicateOrder]);
    assert_eq!(rows(&url).await, (3, 6));
}

#[tokio::test]
async fn a_bad_event_does_not_change_the_answers_of_its_batch() {
    use crate::EventDisposition::{DuplicateOrder, Order};
    let Some(url) = database().await else { return };
    let store = host(&url).await;
    let mut bad = event("k-bad", Some("o-bad"));
    // PostgreSQL refuses NUL in text; SQLite stores it.
    bad.order.as_mut().unwrap().candidate_label = Some("nul\0here".into());
    let (answers, stats) = one_batch(
        &store,
        vec![
            event("k1", Some("o1")),
            bad,
            event("k1", Some("o1")),
            event("k2", Some("o1")),
            event("k3", None),
        ],
    )
    .await;
    // The batch, then the bad event alone, failed; the other four were committed one by one.
    assert_eq!((stats.failed_commits, stats.commits), (2, 4), "{stats:?}");
    let mut answers = answers.into_iter();
    let Ok(IngestOutcome::Accepted { order: o1 }) = answers.next().unwrap() else {
        panic!("k1 is acknowledged once it is committed on its own")
    };
    let err = answers
        .next()
        .unwrap()
        .expect_err("a NUL in text is refused");
    assert!(!err.is_unavailable(), "{err}");
    let rest: Vec<IngestOutcome> = answers.map(Result::unwrap).collect();
    use IngestOutcome::{Duplicate, Ignored};
    assert_eq!(rest, [Duplicate, Duplicate, Ignored]);
    assert_eq!(dispositions(&store, o1).await, [Order, DuplicateOrder]);
    // o1 alone; the events of k1, k2 and k3: the refused one left nothing.
    assert_eq!(rows(&url).await, (1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_of_two_hosts_neither_deadlock_nor_double_accept() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    for round in 0..10 {
        // Both hosts get the same 20 webhooks, and each a redelivery under a new key of the
        // other's orders, in the opposite order.
        let shared = |i: usize| event(&format!("r{round}-k{i}"), Some(&format!("r{round}-o{i}")));
        let mut to_a: Vec<_> = (0..20).map(shared).collect();
        let mut to_b: Vec<_> = (0..20).rev().map(shared).collect();
        for i in 0..20 {
            let again = |host: &str| {
                event(
                    &format!("r{round}-{host}{i}"),
                    Some(&format!("r{round}-o{}", 19 - i)),
                )
            };
            to_a.push(again("a"));
            to_b.push(again("b"));
        }
        let ((from_a, stats_a), (from_b, stats_b)) =
            tokio::join!(one_batch(&a, to_a), one_batch(&b, to_b));
        assert_eq!(
            (stats_a.failed_commits, stats_b.failed_commits),
            (0, 0),
            "round {round}: a batch failed (a deadlock?): {from_a:?} {from_b:?}"
        );
        let accepted = from_a
            .iter()
            .chain(&from_b)
            .filter(|o| matches!(o, Ok(IngestOutcome::Accepted { .. })))
            .count();
        assert_eq!(accepted, 20, "round {round}: each order accepted once");
    }
    assert_eq!(rows(&url).await, (200, 600));
}

#[tokio::test]
async fn hosts_wake_each_other_when_work_is_added() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    let mut wake = b.wakeups().expect("PostgreSQL wakes hosts");
    // The listener connects in the background; its first wake-up says it listens.
    wait_changed(&mut wake.orders).await;
    wait_changed(&mut wake.outbox).await;
    accept(&a, "o1").await;
    wait_changed(&mut wake.orders).await;
    let c = claim_one(&a, Timestamp::now()).await;
    a.fulfilment_succeeded(c.claim, "ext-1".into(), None, Some(result("initiated")))
        .await
        .unwrap();
    wait_changed(&mut wake.outbox).await;
}

/// A setting of the sessions of `store`'s pool.
async fn setting(store: &PostgresStore, name: &str) -> String {
    let client = store.pool.get().await.unwrap();
    let row = client
        .query_one("SELECT current_setting($1)", &[&name])
        .await
        .unwrap();
    row.get(0)
}

async fn wait_changed(rx: &mut tokio::sync::watch::Receiver<u64>) {
    tokio::time::timeout(DEADLINE, rx.changed())
        .await
        .expect("no wake-up within the deadline")
        .unwrap();
}

#[tokio::test]
async fn a_lost_connection_answers_unavailable_and_recovers() {
    let Some(url) = database().await else { return };
    let store = host(&url).await;
    fulfilled(&store, "a").await;
    let admin = admin(&url).await;
    let killed = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(killed > 0, "the store's connections are gone");
    // A call may meet a dead pooled connection once; it must say so as Unavailable, and the
    // store must serve again without being reopened.
    let deadline = Instant::now() + DEADLINE;
    loop {
        match store.list_orders(OrderFilter::default()).await {
            Ok(orders) => {
                assert_eq!(orders.len(), 1);
                break;
            }
            Err(e) => assert!(e.is_unavailable(), "{e}"),
        }
        assert!(Instant::now() < deadline, "the store did not recover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    accept(&store, "b").await;
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_and_names_no_password() {
    // Only so that the test is skipped (or fails) like the others without PostgreSQL.
    if testing::shared().is_none() {
        return;
    }
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://assay:s3cret@127.0.0.1:{port}/nowhere");
    let options = PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let err = PostgresStore::connect_with(&url, options)
        .await
        .err()
        .expect("nothing listens there");
    assert!(err.is_unavailable(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}/nowhere")),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let Some(url) = database().await else { return };
    // Hosts starting together on a new database queue on the advisory lock; all start.
    let starting: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starting {
        stores.push(s.await.unwrap().unwrap());
    }
    assert_eq!(PostgresStore::migrate(&url).await.unwrap(), SCHEMA_VERSION);
    let admin = admin(&url).await;
    let row = admin
        .query_one(
            "SELECT COUNT(*), MAX(version) FROM assay_schema_version",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i32>(1)),
        (1, SCHEMA_VERSION as i32)
    );
    assert_eq!(setting(&stores[0], "synchronous_commit").await, "on");
    // Options given in the URL are kept beside it.
    let with_options = format!("{url} options='-c statement_timeout=12345'");
    let store = PostgresStore::connect(&with_options).await.unwrap();
    assert_eq!(setting(&store, "statement_timeout").await, "12345ms");
    assert_eq!(setting(&store, "synchronous_commit").await, "on");
    admin
        .execute(
            "UPDATE assay_schema_version SET version = $1",
            &[&(SCHEMA_VERSION as i32 + 1)],
        )
        .await
        .unwrap();
    let err = PostgresStore::connect(&url)
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(matches!(err, StoreError::Schema(_)), "{err}");
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

#[tokio::test]
async fn an_identical_result_is_not_queued_again_by_another_host() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    fulfilled(&a, "a").await;
    let r = || vec![(OrderRef::OrderId("a".into()), result("in_progress"))];
    let first = a.record_results(PRODUCT, r()).await.unwrap();
    let again = b.record_results(PRODUCT, r()).await.unwrap();
    assert!(matches!(first[..], [Ok(ResultRecorded::Queued { .. })]));
    assert!(matches!(
        again[..],
        [Ok(ResultRecorded::AlreadyQueued { .. })]
    ));
}

/// Outcomes recorded at the same time share transactions (`outcomes`): each caller still gets
/// the answer it would get alone. A stale claim among them is refused and nothing of it is
/// stored, the others are committed; two outcomes of one outbox row go in turn.
#[tokio::test]
async fn outcomes_committed_together_answer_each_as_if_alone() {
    let Some(url) = database().await else { return };
    let (a, b) = (host(&url).await, host(&url).await);
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(accept(&a, &format!("o{i}")).await);
    }
    let t0 = Timestamp::now();
    let claimed = a.claim_orders_for_fulfilment(20, t0, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 20);
    // Another host takes the oldest order over once the leases ran out: the first host's
    // claim on it is stale.
    let taken = b
        .claim_orders_for_fulfilment(1, t0.plus(LEASE), LEASE)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let stale = taken[0].claim.order;

    let retried = futures::future::join_all(
        claimed
            .iter()
            .map(|c| a.fulfilment_retry(c.claim, t0, format!("busy {}", c.order_id))),
    )
    .await;
    for (c, answer) in claimed.iter().zip(&retried) {
        let detail = a.get_order(c.claim.order).await.unwrap().unwrap();
        if c.claim.order == stale {
            let err = answer.as_ref().expect_err("a stale claim is refused");
            assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
            assert_eq!(detail.summary.state, OrderState::Fulfilling);
            assert_eq!(detail.summary.attempts, 2);
            assert_eq!(detail.summary.last_error, None, "nothing of it is stored");
        } else {
            answer.as_ref().unwrap();
            assert_eq!(detail.summary.state, OrderState::Received);
            let error = format!("busy {}", c.order_id);
            assert_eq!(detail.summary.last_error.as_deref(), Some(error.as_str()));
        }
    }

    // The other 19 again, fulfilled at once, each with a first result: fewer commits than
    // outcomes (this runtime has one thread, so all 19 are queued before the collector runs).
    let again = a.claim_orders_for_fulfilment(20, t0, LEASE).await.unwrap();
    assert_eq!(again.len(), 19);
    let commits = a.outcome_commits();
    let fulfilled = futures::future::join_all(again.iter().map(|c| {
        a.fulfilment_succeeded(
            c.claim,
            format!("ext-{}", c.order_id),
            None,
            Some(result("initiated")),
        )
    }))
    .await;
    assert!(fulfilled.iter().all(Result::is_ok), "{fulfilled:?}");
    let took = a.outcome_commits() - commits;
    assert!(took < 19, "19 outcomes took {took} commits");
    let rows = a.claim_outbox(50, t0, LEASE).await.unwrap();
    assert_eq!(rows.len(), 19);
    // Every row delivered, the first one reported twice at the same time.
    let delivered = futures::future::join_all(
        rows.iter()
            .chain(&rows[..1])
            .map(|r| a.outbox_delivered(r.claim, 200)),
    )
    .await;
    assert!(delivered.iter().all(Result::is_ok), "{delivered:?}");
    for r in &rows {
        let detail = a.get_order(r.order).await.unwrap().unwrap();
        assert_eq!(detail.summary.state, OrderState::AwaitingResult);
        let states: Vec<OutboxState> = detail.outbox.iter().map(|o| o.state).collect();
        assert_eq!(states, [OutboxState::Delivered]);
        assert_eq!(detail.outbox[0].http_status, Some(200));
    }
}
