//! Tests of what only the SQLite store does (the process lock, group commit's counters, a
//! restart releasing leases, `kill -9`, the read-only reader), on real files in a temp dir.
//! The behaviour every backend shares is tested in `crate::tests`, whose helpers these use.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use super::{SqliteOptions, SqliteStore};
pub use crate::tests::{LEASE, accept, claim_one, event, fulfilled, ingest_at_once, state_of};
pub use crate::{IngestOutcome, OrderFilter, OrderState, Store, StoreError, Timestamp};

mod crash;
mod read_only;
mod restart;

pub fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("assay.db")).expect("open store")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingests_are_all_committed_in_fewer_commits() {
    const TASKS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(open(&dir));
    let store: Arc<dyn Store> = sqlite.clone();
    ingest_at_once(&store, TASKS).await;
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
