//! Recording webhook events: one collector task per host commits concurrent events together.
//!
//! [`Collector::record`] queues the event and waits for its answer. The task takes every
//! event already queued (up to the batch limit), records them in one transaction and commits
//! once: one WAL flush acknowledges the batch. Events are recorded in the order of their
//! (product, idempotency key), so two hosts whose batches share keys take the keys' locks in
//! the same order and cannot deadlock on them.
//!
//! If the batch's transaction fails for a reason other than the database being unreachable
//! (one event PostgreSQL refuses, say a NUL character in a text), each event is recorded
//! again in a transaction of its own, so one bad event fails alone instead of failing every
//! webhook that shared its batch.

use std::sync::Arc;
use std::time::Instant;

use assay_wire::metric;
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::notify::{self, ORDERS_CHANNEL};
use super::sql::{self, Col};
use crate::columns::Columns;
use crate::{
    EventDisposition, IncomingEvent, IngestOutcome, OrderState, StoreError, Timestamp, WriteStats,
    sqlite::WRITE_QUEUE_CAPACITY, sqlite::writer::Counters,
};

type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

/// The handle the store keeps; the task ends when it is dropped.
pub struct Collector {
    queue: mpsc::Sender<(IncomingEvent, Reply)>,
    counters: Arc<Counters>,
}

impl Collector {
    /// Starts the task on the current runtime.
    pub fn start(pool: Pool, max_batch: usize) -> Collector {
        let (queue, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(pool, rx, max_batch.max(1), Arc::clone(&counters)));
        Collector { queue, counters }
    }

    /// Records `event`; see [`Store::record_event`](crate::Store::record_event).
    pub async fn record(&self, event: IncomingEvent) -> Result<IngestOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the ingest task has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the ingest task dropped the event".into()))?
    }

    /// How many events took how many commits.
    pub fn stats(&self) -> WriteStats {
        self.counters.stats()
    }
}

async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<(IncomingEvent, Reply)>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        batch.sort_by(|(a, _), (b, _)| {
            (&a.product, &a.idempotency_key).cmp(&(&b.product, &b.idempotency_key))
        });
        commit_batch(&pool, &mut batch, &counters).await;
    }
}

async fn commit_batch(pool: &Pool, batch: &mut Vec<(IncomingEvent, Reply)>, counters: &Counters) {
    let started = Instant::now();
    let size = batch.len() as u64;
    counters.ran(size);
    let events: Vec<&IncomingEvent> = batch.iter().map(|(e, _)| e).collect();
    let outcome = record_all(pool, &events).await;
    metrics::histogram!(metric::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::histogram!(metric::STORE_BATCH_SIZE).record(size as f64);
    counters.finished(size, outcome.is_ok());
    let answers: Vec<Result<IngestOutcome, StoreError>> = match outcome {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::error!(error = %e, events = size, "store commit failed");
            if e.is_unavailable() || size == 1 {
                vec![Err(e); batch.len()]
            } else {
                let mut one_by_one = Vec::with_capacity(batch.len());
                for event in &events {
                    let alone = record_all(pool, std::slice::from_ref(event)).await;
                    counters.finished(1, alone.is_ok());
                    one_by_one.push(alone.map(|mut o| o.remove(0)));
                }
                one_by_one
            }
        }
    };
    for ((_, reply), answer) in batch.drain(..).zip(answers) {
        // The caller may have gone away (its connection dropped); the write stands.
        let _ = reply.send(answer);
    }
}

/// Records `events` in one transaction: all of them, or (on error) none.
async fn record_all(
    pool: &Pool,
    events: &[&IncomingEvent],
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let now = Timestamp::now();
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        outcomes.push(record_event(&tx, event, now).await?);
    }
    if outcomes
        .iter()
        .any(|o| matches!(o, IngestOutcome::Accepted { .. }))
    {
        notify::send(&tx, ORDERS_CHANNEL).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Stores `ev` and its order, or nothing if the (product, idempotency key) is known. Unique
/// keys decide, not a read before the write: see the [module docs](super).
async fn record_event(
    tx: &Transaction<'_>,
    ev: &IncomingEvent,
    now: Timestamp,
) -> Result<IngestOutcome, StoreError> {
    let disposition = match ev.order {
        Some(_) => EventDisposition::Order,
        None => EventDisposition::Ignored,
    };
    let inserted = sql::opt_row(
        tx,
        "INSERT INTO events (product, event_name, idempotency_key, received_at, envelope,
             disposition)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (product, idempotency_key) DO NOTHING
         RETURNING id",
        &[
            &ev.product,
            &ev.event_name,
            &ev.idempotency_key,
            &ev.received_at.as_millis(),
            &ev.envelope.as_ref(),
            &disposition.as_str(),
        ],
    )
    .await?;
    let Some(event_row) = inserted else {
        return Ok(IngestOutcome::Duplicate);
    };
    let event_id: i64 = event_row.col(0)?;
    let Some(o) = &ev.order else {
        return Ok(IngestOutcome::Ignored);
    };
    let new_order = sql::opt_row(
        tx,
        "INSERT INTO orders (product, stackone_order_id, kind, account_id, provider,
             package_id, candidate_label, order_json, state, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (product, stackone_order_id) DO NOTHING
         RETURNING id",
        &[
            &ev.product,
            &o.order_id,
            &o.kind.as_str(),
            &o.account_id,
            &o.provider,
            &o.package_id,
            &o.candidate_label,
            &o.order_json,
            &OrderState::Received.as_str(),
            &ev.received_at.as_millis(),
            &now.as_millis(),
        ],
    )
    .await?;
    let (order, disposition, outcome) = match new_order {
        Some(row) => {
            let id = row.order_id(0)?;
            (
                id,
                EventDisposition::Order,
                IngestOutcome::Accepted { order: id },
            )
        }
        None => {
            // The insert waited for any transaction inserting the same order, so the row
            // is committed and this statement (a new snapshot) sees it.
            let row = sql::one_row(
                tx,
                "SELECT id FROM orders WHERE product = $1 AND stackone_order_id = $2",
                &[&ev.product, &o.order_id],
            )
            .await?;
            let id = row.order_id(0)?;
            (
                id,
                EventDisposition::DuplicateOrder,
                IngestOutcome::Duplicate,
            )
        }
    };
    sql::exec(
        tx,
        "UPDATE events SET disposition = $2, order_id = $3 WHERE id = $1",
        &[&event_id, &disposition.as_str(), &order.0],
    )
    .await?;
    Ok(outcome)
}
