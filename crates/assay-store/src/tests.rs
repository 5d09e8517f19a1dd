//! The store's behaviour, on every backend: each test below runs once on SQLite (a file in a
//! temporary folder) and once on PostgreSQL (a new database on the throw-away server shared by
//! this test binary, see [`postgres::testing`](crate::postgres::testing)). Helpers here, one
//! file per concern. Tests of what only one backend does live beside it (`sqlite/tests`,
//! `postgres/tests`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::postgres::testing;
use crate::{
    ClaimedOrder, EventDisposition, IncomingEvent, IngestOutcome, NewOrder, OrderFilter, OrderId,
    OrderKind, OrderRef, OrderState, PostgresStore, ResultBody, SqliteStore, Store, StoreError,
    Timestamp,
};

mod fairness;
mod fulfilment;
mod ingest;
mod outbox;
mod redrive;

/// Where a test's store lives. [`Backend::open`] may be called again (after dropping the
/// previous store, for SQLite) to reopen the same data, like a restarted host; on PostgreSQL
/// two open stores are two hosts on one database.
pub enum Backend {
    /// A database file in this folder.
    Sqlite(tempfile::TempDir),
    /// A database of its own on the shared throw-away server.
    Postgres(String),
}

impl Backend {
    /// A new SQLite database.
    pub fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    /// A new PostgreSQL database, or `None` where PostgreSQL is not installed (the test
    /// then returns early; [`testing::shared`] printed why, or panicked under
    /// `ASSAY_REQUIRE_ALL=1`).
    pub async fn postgres() -> Option<Backend> {
        let server = testing::shared()?;
        Some(Backend::Postgres(server.create_database().await.unwrap()))
    }

    /// Opens a store on this backend's data.
    pub async fn open(&self) -> Box<dyn Store> {
        match self {
            Backend::Sqlite(dir) => {
                Box::new(SqliteStore::open(dir.path().join("assay.db")).expect("open SQLite"))
            }
            Backend::Postgres(url) => {
                Box::new(PostgresStore::connect(url).await.expect("open PostgreSQL"))
            }
        }
    }
}

/// Declares each `async fn name(b: Backend)` of the module as two tests, `sqlite::name` and
/// `postgres::name`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(b) = super::Backend::postgres().await else { return };
                    super::$name(b).await
                }
            )*
        }
    };
}
use on_every_backend;

pub const PRODUCT: &str = "codetest";
pub const LEASE: Duration = Duration::from_secs(30);

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

/// Records `n` new orders from `n` tasks released at once, and checks each was accepted
/// as an order of its own.
pub async fn ingest_at_once(store: &std::sync::Arc<dyn Store>, n: usize) {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = std::sync::Arc::clone(store);
            let barrier = std::sync::Arc::clone(&barrier);
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
    assert_eq!(ids.len(), n);
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
