//! [`StoreReader`]: reads alongside a serving store, takes no lock, cannot write.

use super::*;
use crate::StoreReader;
use crate::sqlite::SCHEMA_VERSION;

fn no_wait() -> SqliteOptions {
    SqliteOptions {
        lock_wait: Duration::ZERO,
        ..SqliteOptions::default()
    }
}

#[tokio::test]
async fn a_reader_sees_what_a_serving_store_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = fulfilled(&store, "a").await;
    let reader = SqliteStore::open_read_only(store.path()).expect("read-only open beside a store");
    assert_eq!(reader.path(), store.path());

    let listed = reader.list_orders(OrderFilter::default()).await.unwrap();
    assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![a]);
    let detail = reader.get_order(a).await.unwrap().expect("order a");
    assert_eq!(detail.summary.external_id.as_deref(), Some("ext-a"));
    assert_eq!(detail.outbox.len(), 1);
    let backlog = reader.outbox_backlog().await.unwrap();
    assert_eq!(backlog, store.outbox_backlog().await.unwrap());
    assert_eq!(backlog.pending, 1);

    // Commits made after the reader opened are visible to its next read.
    let b = accept(&store, "b").await;
    let by_stackone_id = reader
        .list_orders(OrderFilter {
            order_id: Some("b".into()),
            ..OrderFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(by_stackone_id.iter().map(|o| o.id).collect::<Vec<_>>(), [b]);
    assert!(reader.get_order(b).await.unwrap().is_some());
}

#[tokio::test]
async fn a_reader_takes_no_lock_and_works_without_a_host() {
    let dir = tempfile::tempdir().unwrap();
    let id = accept(&open(&dir), "o1").await;
    // The store is closed: a reader opens the database on its own...
    let reader = StoreReader::open(dir.path().join("assay.db")).unwrap();
    assert_eq!(reader.get_order(id).await.unwrap().unwrap().summary.id, id);
    // ...and does not keep a host from opening it, without waiting.
    let store = SqliteStore::open_with(dir.path().join("assay.db"), no_wait())
        .expect("a reader must not hold the process lock");
    let later = accept(&store, "o2").await;
    let ids: Vec<_> = reader
        .list_orders(OrderFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![later, id]);
}

#[tokio::test]
async fn a_reader_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let id = accept(&store, "o1").await;
    let reader = StoreReader::open(store.path()).unwrap();
    let err = reader
        .read_pool
        .read(move |c| {
            c.execute(
                "UPDATE orders SET state = 'failed' WHERE id = ?1",
                rusqlite::params![id],
            )?;
            Ok(())
        })
        .await
        .expect_err("a write through the reader must be refused");
    assert!(
        err.to_string().contains("readonly"),
        "expected SQLite's read-only refusal: {err}"
    );
    assert_eq!(state_of(&store, id).await, OrderState::Received);
}

#[test]
fn opening_a_missing_database_names_it_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.db");
    let err = StoreReader::open(&path)
        .err()
        .expect("a missing file must be refused");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "a read-only open must not create the file");
    assert!(
        !dir.path().join("nowhere.db.lock").exists(),
        "nor a lock file"
    );
}

#[test]
fn opening_a_database_of_another_schema_version_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("assay.db");
    drop(SqliteStore::open(&path).unwrap());
    let set_version = |v: u32| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", v).unwrap();
    };
    for (version, says) in [
        (SCHEMA_VERSION + 1, "newer"),
        (SCHEMA_VERSION - 1, "older"),
        (0, "not an Assay store"),
    ] {
        set_version(version);
        let err = StoreReader::open(&path)
            .err()
            .expect("another schema version must be refused");
        assert!(matches!(err, StoreError::Schema(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(says), "version {version}: {text}");
    }
    set_version(SCHEMA_VERSION);
    StoreReader::open(&path).expect("this build's version opens");
}
