//! Tests of the SQLite store on real files in a temp dir. Helpers here, one file per concern.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::{SqliteOptions, SqliteStore};
use crate::{
    ClaimedOrder, EventDisposition, IncomingEvent, IngestOutcome, NewOrder, OrderFilter, OrderId,
    OrderKind, OrderRef, OrderState, ResultBody, Store, StoreError, Timestamp,
};

mod crash;
mod fulfilment;
mod outbox;
mod read_only;

pub const PRODUCT: &str = "codetest";
pub const LEASE: Duration = Duration::from_secs(30);

pub fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("assay.db")).expect("open store")
}

pub fn event(key: &str, order_id: Option<&str>) -> IncomingEvent {
    IncomingEvent {
        product: PRODUCT.into(),
        event_name: "ats_assessments.created".into(),
        idempotency_key: key.into(),
        received_at: Timestamp::now(),
        envelope: Bytes::from(format!(
            r#"{{"event":"ats_assessments.created","key":"{key}"}}"#
        )),
        order: order_id.map(|id| NewOrder {
            order_id: id.into(),
            kind: OrderKind::Assessment,
            account_id: "acct-1".into(),
            provider: Some("recruitee".into()),
            package_id: Some("pkg-1".into()),
            candidate_label: Some("Ada <ada@example.com>".into()),
            order_json: format!(r#"{{"id":"{id}"}}"#),
        }),
    }
}

pub fn result(value: &str) -> ResultBody {
    ResultBody::new(&json!({"result": {"value": value}, "score": {"value": "90"}}))
}

/// Records a new order and returns its id.
pub async fn accept(store: &dyn Store, order_id: &str) -> OrderId {
    match store
        .record_event(event(&format!("key-{order_id}"), Some(order_id)))
        .await
        .expect("record")
    {
        IngestOutcome::Accepted { order } => order,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

/// Claims exactly one order at `now`.
pub async fn claim_one(store: &dyn Store, now: Timestamp) -> ClaimedOrder {
    let mut claimed = store
        .claim_orders_for_fulfilment(10, now, LEASE)
        .await
        .expect("claim");
    assert_eq!(
        claimed.len(),
        1,
        "expected one claimable order: {claimed:?}"
    );
    claimed.remove(0)
}

/// Records a new order and takes it to `awaiting_result` with external id `ext-<order_id>`
/// and an `initiated` first result.
pub async fn fulfilled(store: &dyn Store, order_id: &str) -> OrderId {
    let id = accept(store, order_id).await;
    let c = claim_one(store, Timestamp::now()).await;
    assert_eq!(c.claim.order, id);
    store
        .fulfilment_succeeded(
            c.claim,
            format!("ext-{order_id}"),
            Some(format!("https://vendor.example/t/{order_id}")),
            Some(result("initiated")),
        )
        .await
        .expect("succeeded");
    id
}

pub async fn state_of(store: &dyn Store, id: OrderId) -> OrderState {
    store
        .get_order(id)
        .await
        .unwrap()
        .expect("order exists")
        .summary
        .state
}

#[tokio::test]
async fn a_duplicate_event_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = store.record_event(event("k1", Some("o1"))).await.unwrap();
    let IngestOutcome::Accepted { order } = first else {
        panic!("first delivery must be accepted: {first:?}");
    };
    let again = store.record_event(event("k1", Some("o1"))).await.unwrap();
    assert_eq!(again, IngestOutcome::Duplicate);
    let orders = store.list_orders(OrderFilter::default()).await.unwrap();
    assert_eq!(orders.len(), 1);
    let detail = store.get_order(order).await.unwrap().unwrap();
    assert_eq!(detail.events.len(), 1, "the duplicate must not be stored");
    assert_eq!(detail.summary.state, OrderState::Received);
    assert_eq!(detail.order_json, r#"{"id":"o1"}"#);
    assert!(detail.events[0].envelope.contains(r#""key":"k1""#));

    // A new key naming the same StackOne order is kept for the record but makes no order.
    let other_key = store.record_event(event("k2", Some("o1"))).await.unwrap();
    assert_eq!(other_key, IngestOutcome::Duplicate);
    let detail = store.get_order(order).await.unwrap().unwrap();
    let dispositions: Vec<_> = detail.events.iter().map(|e| e.disposition).collect();
    assert_eq!(
        dispositions,
        vec![EventDisposition::Order, EventDisposition::DuplicateOrder]
    );
    assert_eq!(
        store
            .list_orders(OrderFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );

    // The same key on another product is another event.
    let mut elsewhere = event("k1", Some("o1"));
    elsewhere.product = "otherproduct".into();
    assert!(matches!(
        store.record_event(elsewhere).await.unwrap(),
        IngestOutcome::Accepted { .. }
    ));
}

#[tokio::test]
async fn an_event_without_an_order_is_stored_as_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert_eq!(
        store.record_event(event("k-ignored", None)).await.unwrap(),
        IngestOutcome::Ignored
    );
    assert_eq!(
        store.record_event(event("k-ignored", None)).await.unwrap(),
        IngestOutcome::Duplicate
    );
    assert!(
        store
            .list_orders(OrderFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let (n, disposition): (i64, String) = conn
        .query_row("SELECT COUNT(*), MAX(disposition) FROM events", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, disposition.as_str()), (1, "ignored"));
}

#[tokio::test]
async fn acknowledged_events_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    {
        let store = open(&dir);
        for i in 0..20 {
            ids.push(accept(&store, &format!("o{i}")).await);
        }
    }
    let store = open(&dir);
    let listed = store.list_orders(OrderFilter::default()).await.unwrap();
    let mut listed_ids: Vec<_> = listed.iter().map(|o| o.id).collect();
    listed_ids.reverse();
    assert_eq!(listed_ids, ids, "newest first, all of them");
    assert_eq!(listed[0].order_id, "o19");
    assert_eq!(
        listed[0].candidate_label.as_deref(),
        Some("Ada <ada@example.com>")
    );
    assert_eq!(
        store
            .record_event(event("key-o3", Some("o3")))
            .await
            .unwrap(),
        IngestOutcome::Duplicate,
        "idempotency survives the reopen"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingests_are_all_committed_in_fewer_commits() {
    const TASKS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(open(&dir));
    let store: Arc<dyn Store> = sqlite.clone();
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .record_event(event(&format!("k{i}"), Some(&format!("o{i}"))))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            IngestOutcome::Accepted { order } => ids.push(order),
            other => panic!("expected Accepted, got {other:?}"),
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), TASKS);
    let stats = sqlite.write_stats();
    assert_eq!(stats.requests, TASKS as u64);
    assert!(
        stats.commits < TASKS as u64,
        "group commit should batch concurrent ingests: {stats:?}"
    );
    assert!(stats.largest_batch > 1, "{stats:?}");
    let filter = OrderFilter {
        limit: 1000,
        ..OrderFilter::default()
    };
    assert_eq!(store.list_orders(filter).await.unwrap().len(), TASKS);
}

#[tokio::test]
async fn a_baseline_store_commits_each_request_alone() {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteOptions {
        max_batch: 1,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open_with(dir.path().join("b.db"), options).unwrap());
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_event(event(&format!("k{i}"), Some(&format!("o{i}"))))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = store.write_stats();
    assert_eq!(
        (stats.requests, stats.commits, stats.largest_batch),
        (16, 16, 1)
    );
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let no_wait = SqliteOptions {
        lock_wait: Duration::ZERO,
        ..SqliteOptions::default()
    };
    let err = SqliteStore::open_with(dir.path().join("assay.db"), no_wait)
        .err()
        .expect("second open must fail while the first is open");
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    drop(store);
    drop(open(&dir));
}

#[test]
fn opening_waits_for_the_previous_holder_to_let_go() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let first = open(&dir);
    let dropping = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropping);
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // Set before the drop: the lock cannot be free before the flag is.
        flag.store(true, Ordering::SeqCst);
        drop(first);
    });
    // Opening blocks until the first store is gone, well within the wait.
    let second = open(&dir);
    assert!(
        dropping.load(Ordering::SeqCst),
        "the second open succeeded while the first store was open"
    );
    drop(second);
    releaser.join().unwrap();
}

#[tokio::test]
async fn list_orders_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // `fulfilled` claims whatever is due, so the fulfilled order comes first.
    let b = fulfilled(&store, "b").await;
    let a = accept(&store, "a").await;
    let c = accept(&store, "c").await;
    let received = OrderFilter {
        state: Some(OrderState::Received),
        ..OrderFilter::default()
    };
    let ids: Vec<_> = store
        .list_orders(received)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![c, a]);
    let page = |before| OrderFilter {
        before: Some(before),
        limit: 1,
        ..OrderFilter::default()
    };
    let ids: Vec<_> = store
        .list_orders(page(c))
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![a]);
    let ids: Vec<_> = store
        .list_orders(page(a))
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![b]);
    let other = OrderFilter {
        product: Some("nope".into()),
        ..OrderFilter::default()
    };
    assert!(store.list_orders(other).await.unwrap().is_empty());
    assert!(store.get_order(OrderId(999)).await.unwrap().is_none());
    let b_summary = &store.get_order(b).await.unwrap().unwrap().summary;
    assert_eq!(b_summary.external_id.as_deref(), Some("ext-b"));
    assert_eq!(b_summary.last_result.as_deref(), Some("initiated"));
    assert_eq!(b_summary.undelivered_results, 1);
}

#[tokio::test]
async fn store_errors_say_whether_to_answer_503() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let err = store
        .fulfilment_failed(
            crate::OrderClaim {
                order: OrderId(42),
                attempt: 1,
            },
            "x".into(),
            None,
        )
        .await
        .expect_err("no such order");
    assert!(
        matches!(err, StoreError::OrderNotFound(OrderId(42))),
        "{err}"
    );
    assert!(!err.is_unavailable());
    let unknown = OrderRef::OrderId("nope".into());
    let answers = store
        .record_results(PRODUCT, vec![(unknown, result("completed"))])
        .await
        .unwrap();
    assert!(answers[0].is_err());
}
