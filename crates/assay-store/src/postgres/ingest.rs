//! Recording webhook events: one collector task per host commits concurrent events together.
//!
//! [`Collector::record`] queues the event and waits for its answer. The task takes every
//! event already queued (up to the batch limit), records them in one transaction and commits
//! once: one WAL flush acknowledges the batch. Up to [`BATCHES_IN_FLIGHT`] batches are
//! committed at once, each on a pooled connection of its own: with one, a batch took the
//! whole round of statements and flush, and webhooks arriving meanwhile waited for up to two
//! batches. Two batches in flight are two transactions like two hosts' batches, and the
//! same reasoning keeps them apart: the unique keys decide duplicates (the second insert of a
//! key waits for the first transaction, then does nothing), and keys are locked in order.
//!
//! A batch costs a fixed number of statements, not a few per event: each step is one
//! multi-row statement over arrays (`INSERT … SELECT … FROM unnest($1::text[], …) ON
//! CONFLICT DO NOTHING RETURNING …`), and the last two steps are pipelined (sent together,
//! answered together). So a batch of 30 webhooks takes about six round trips to the
//! database instead of ninety, and one commit. The steps: insert the events (a known key is
//! skipped by the unique key, and reported a duplicate), insert the orders of the new events,
//! look up the orders that already existed (only if some did), then link each new event to
//! its order and `NOTIFY` the other hosts, and commit.
//!
//! Events are inserted in the order of their (product, idempotency key), orders in the order
//! of their (product, StackOne order id), events before orders: two hosts whose batches share
//! keys take the keys' locks in the same order and cannot deadlock on them. Within a batch,
//! an event whose key an earlier event of the batch has is a duplicate of it, and of events
//! naming one order the first creates it, exactly as if they had come one after the other.
//!
//! If the batch's transaction fails for a reason other than the database being unreachable
//! (one event PostgreSQL refuses, say a NUL character in a text), each event is recorded
//! again in a transaction of its own, so one bad event fails alone instead of failing every
//! webhook that shared its batch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use assay_wire::metric;
use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::notify::{self, Notifier, ORDERS_CHANNEL};
use super::sql::{self, Col};
use crate::{
    EventDisposition, IncomingEvent, IngestOutcome, NewOrder, OrderId, OrderState, StoreError,
    Timestamp, WriteStats, sqlite::WRITE_QUEUE_CAPACITY, sqlite::writer::Counters,
};

pub(super) type Reply = oneshot::Sender<Result<IngestOutcome, StoreError>>;

/// How many batches one host commits at once, each on a connection of its own: while one
/// waits for its WAL flush, the next is already being sent, as SQLite's writer prepares the
/// next batch while the last one syncs.
pub const BATCHES_IN_FLIGHT: usize = 2;

/// The handle the store keeps; the task ends when it is dropped.
pub struct Collector {
    queue: mpsc::Sender<(IncomingEvent, Reply)>,
    counters: Arc<Counters>,
}

impl Collector {
    /// Starts the task on the current runtime.
    pub fn start(pool: Pool, max_batch: usize, notifier: Notifier) -> Collector {
        let (queue, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let pool = Committer { pool, notifier };
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

/// Where batches are committed, and who wakes the other hosts after.
#[derive(Clone)]
pub(super) struct Committer {
    pub pool: Pool,
    pub notifier: Notifier,
}

async fn run(
    pool: Committer,
    mut rx: mpsc::Receiver<(IncomingEvent, Reply)>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Waiting for a free slot before gathering: what arrives meanwhile joins this batch.
        let Ok(slot) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(max_batch);
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (pool, counters) = (pool.clone(), Arc::clone(&counters));
        tokio::spawn(async move {
            commit_batch(&pool, &mut batch, &counters).await;
            drop(slot);
        });
    }
}

/// Records `batch` in one transaction (one by one if that fails for one event's sake) and
/// answers each event.
pub(super) async fn commit_batch(
    pool: &Committer,
    batch: &mut Vec<(IncomingEvent, Reply)>,
    counters: &Counters,
) {
    // Stable: of two events with one key, the first to arrive is the one recorded.
    batch.sort_by(|(a, _), (b, _)| {
        (&a.product, &a.idempotency_key).cmp(&(&b.product, &b.idempotency_key))
    });
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

/// Records `events` in one transaction: all of them, or (on error) none. See the
/// [module docs](self) for the statements.
async fn record_all(
    to: &Committer,
    events: &[&IncomingEvent],
) -> Result<Vec<IngestOutcome>, StoreError> {
    notify::after_commit(&to.notifier, async {
        let mut client = to.pool.get().await?;
        let tx = client.transaction().await?;
        let now = Timestamp::now();
        let outcomes = record_batch(&tx, events, now).await?;
        tx.commit().await?;
        Ok(outcomes)
    })
    .await
}

/// A (product, key) pair: an event's idempotency key or an order's StackOne id.
type Key<'a> = (&'a str, &'a str);

/// Stores `events` and their orders inside `tx`; nothing for an event whose (product,
/// idempotency key) is known. Unique keys decide, not a read before the write: see the
/// [module docs](super). Within the batch, a key seen earlier is a duplicate of that
/// earlier event, exactly as if the two had been recorded one after the other.
async fn record_batch(
    tx: &Transaction<'_>,
    events: &[&IncomingEvent],
    now: Timestamp,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut outcomes = vec![IngestOutcome::Duplicate; events.len()];

    // 1. The events whose key is new in this batch, in one statement; the database skips
    //    the keys it already holds (another batch's, or another host's).
    let mut seen = HashSet::with_capacity(events.len());
    let firsts: Vec<usize> = (0..events.len())
        .filter(|&i| seen.insert((&*events[i].product, &*events[i].idempotency_key)))
        .collect();
    let inserted = insert_events(tx, firsts.iter().map(|&i| events[i])).await?;
    // The new events, in batch order, with their row ids.
    let fresh: Vec<(usize, i64)> = firsts
        .iter()
        .filter_map(|&i| {
            let ev = events[i];
            let key: Key<'_> = (&ev.product, &ev.idempotency_key);
            inserted.get(&key).map(|&id| (i, id))
        })
        .collect();
    for &(i, _) in &fresh {
        if events[i].order.is_none() {
            outcomes[i] = IngestOutcome::Ignored;
        }
    }

    // 2. The orders of the new events, each StackOne order once: the first event naming it
    //    may create it, a later one is a duplicate order.
    let mut named = HashSet::new();
    let new_orders: Vec<&IncomingEvent> = fresh
        .iter()
        .map(|&(i, _)| events[i])
        .filter(|ev| match &ev.order {
            Some(o) => named.insert((&*ev.product, &*o.order_id)),
            None => false,
        })
        .collect();
    if new_orders.is_empty() {
        return Ok(outcomes);
    }
    let mut order_ids = insert_orders(tx, &new_orders, now).await?;
    let created: HashSet<Key<'_>> = order_ids.keys().copied().collect();
    // 3. Orders that existed already: the insert waited for any transaction inserting the
    //    same order, so the row is committed and this statement (a new snapshot) sees it.
    let known: Vec<&IncomingEvent> = new_orders
        .iter()
        .copied()
        .filter(|ev| !order_ids.contains_key(&order_key(ev)))
        .collect();
    if !known.is_empty() {
        order_ids.extend(existing_orders(tx, &known).await?);
    }

    // 4. Each new event carrying an order is linked to it: the event that created the order
    //    is its order event, any other a duplicate order.
    let mut links = Links::default();
    for &(i, event_id) in &fresh {
        if events[i].order.is_none() {
            continue;
        }
        let key = order_key(events[i]);
        let order = *order_ids.get(&key).ok_or_else(|| {
            StoreError::Backend(format!(
                "order {} of product {} is neither new nor stored",
                key.1, key.0
            ))
        })?;
        // The first new event naming a created order made it.
        let disposition = if created.contains(&key) && named.remove(&key) {
            outcomes[i] = IngestOutcome::Accepted {
                order: OrderId(order),
            };
            EventDisposition::Order
        } else {
            EventDisposition::DuplicateOrder
        };
        links.push(event_id, disposition, order);
    }
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&links.events, &links.dispositions, &links.orders];
    let link = sql::exec(
        tx,
        "UPDATE events SET disposition = l.disposition, order_id = l.order_id
         FROM unnest($1::int8[], $2::text[], $3::int8[]) AS l(id, disposition, order_id)
         WHERE events.id = l.id",
        &params,
    );
    if created.is_empty() {
        link.await?;
    } else {
        // Delivered at commit, so other hosts see the new orders once they wake.
        tokio::try_join!(link, notify::send(tx, ORDERS_CHANNEL))?;
    }
    Ok(outcomes)
}

/// The (product, StackOne order id) of an event that carries an order.
fn order_key(ev: &IncomingEvent) -> Key<'_> {
    let order = ev.order.as_ref().map_or("", |o| o.order_id.as_str());
    (&ev.product, order)
}

/// Inserts `events` in one statement and returns the ids of those that were new, by key.
async fn insert_events<'e>(
    tx: &Transaction<'_>,
    events: impl Iterator<Item = &'e IncomingEvent>,
) -> Result<HashMap<Key<'e>, i64>, StoreError> {
    let events: Vec<&IncomingEvent> = events.collect();
    let column = |f: fn(&'e IncomingEvent) -> &'e str| -> Vec<&'e str> {
        events.iter().map(|e| f(e)).collect()
    };
    let received: Vec<i64> = events.iter().map(|e| e.received_at.as_millis()).collect();
    let envelopes: Vec<&[u8]> = events.iter().map(|e| e.envelope.as_ref()).collect();
    let dispositions: Vec<&str> = events
        .iter()
        .map(|e| match e.order {
            Some(_) => EventDisposition::Order.as_str(),
            None => EventDisposition::Ignored.as_str(),
        })
        .collect();
    let rows = sql::rows(
        tx,
        "INSERT INTO events (product, event_name, idempotency_key, received_at, envelope,
             disposition)
         SELECT product, event_name, idempotency_key, received_at, envelope, disposition
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bytea[], $6::text[])
             WITH ORDINALITY AS e(product, event_name, idempotency_key, received_at, envelope,
                 disposition, n)
         ORDER BY n
         ON CONFLICT (product, idempotency_key) DO NOTHING
         RETURNING id, product, idempotency_key",
        &[
            &column(|e| &e.product),
            &column(|e| &e.event_name),
            &column(|e| &e.idempotency_key),
            &received,
            &envelopes,
            &dispositions,
        ],
    )
    .await?;
    by_key(&events, |e| (&e.product, &e.idempotency_key), &rows)
}

/// `(id, product, key)` rows, by the key of the event of `events` each row is about;
/// `key` says which key of an event the rows carry.
fn by_key<'e>(
    events: &[&'e IncomingEvent],
    key: impl Fn(&'e IncomingEvent) -> Key<'e>,
    rows: &[tokio_postgres::Row],
) -> Result<HashMap<Key<'e>, i64>, StoreError> {
    let returned = rows
        .iter()
        .map(|r| Ok(((r.col(1)?, r.col(2)?), r.col(0)?)))
        .collect::<Result<HashMap<Key<'_>, i64>, StoreError>>()?;
    let found: HashMap<Key<'e>, i64> = events
        .iter()
        .filter_map(|&e| {
            let k = key(e);
            returned.get(&k).map(|&id| (k, id))
        })
        .collect();
    if found.len() != returned.len() {
        return Err(StoreError::Backend(format!(
            "{} rows came back for {} of the keys sent",
            returned.len(),
            found.len()
        )));
    }
    Ok(found)
}

/// Inserts the orders of `events` (each names a distinct order) in one statement and returns
/// the ids of those that were new, by key.
async fn insert_orders<'e>(
    tx: &Transaction<'_>,
    events: &[&'e IncomingEvent],
    now: Timestamp,
) -> Result<HashMap<Key<'e>, i64>, StoreError> {
    let orders: Vec<(&str, &NewOrder, i64)> = events
        .iter()
        .filter_map(|e| {
            Some((
                e.product.as_str(),
                e.order.as_ref()?,
                e.received_at.as_millis(),
            ))
        })
        .collect();
    let text = |f: fn(&NewOrder) -> &str| -> Vec<&str> { orders.iter().map(|o| f(o.1)).collect() };
    let opt = |f: fn(&NewOrder) -> Option<&str>| -> Vec<Option<&str>> {
        orders.iter().map(|o| f(o.1)).collect()
    };
    let products: Vec<&str> = orders.iter().map(|o| o.0).collect();
    let created: Vec<i64> = orders.iter().map(|o| o.2).collect();
    let rows = sql::rows(
        tx,
        "INSERT INTO orders (product, stackone_order_id, kind, account_id, provider,
             package_id, candidate_label, order_json, state, created_at, updated_at)
         SELECT product, stackone_order_id, kind, account_id, provider, package_id,
             candidate_label, order_json, $9::text, created_at, $10::int8
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $11::int8[])
             AS o(product, stackone_order_id, kind, account_id, provider, package_id,
                 candidate_label, order_json, created_at)
         ORDER BY product, stackone_order_id
         ON CONFLICT (product, stackone_order_id) DO NOTHING
         RETURNING id, product, stackone_order_id",
        &[
            &products,
            &text(|o| &o.order_id),
            &text(|o| o.kind.as_str()),
            &text(|o| &o.account_id),
            &opt(|o| o.provider.as_deref()),
            &opt(|o| o.package_id.as_deref()),
            &opt(|o| o.candidate_label.as_deref()),
            &text(|o| &o.order_json),
            &OrderState::Received.as_str(),
            &now.as_millis(),
            &created,
        ],
    )
    .await?;
    order_ids(events, &rows)
}

/// The ids of the stored orders of `events`, by key.
async fn existing_orders<'e>(
    tx: &Transaction<'_>,
    events: &[&'e IncomingEvent],
) -> Result<HashMap<Key<'e>, i64>, StoreError> {
    let (products, ids): (Vec<&str>, Vec<&str>) = events.iter().map(|e| order_key(e)).unzip();
    let rows = sql::rows(
        tx,
        "SELECT orders.id, orders.product, orders.stackone_order_id
         FROM orders JOIN unnest($1::text[], $2::text[]) AS k(product, stackone_order_id)
             ON orders.product = k.product AND orders.stackone_order_id = k.stackone_order_id",
        &[&products, &ids],
    )
    .await?;
    order_ids(events, &rows)
}

/// `(id, product, stackone_order_id)` rows, by the order key of the event they are about.
fn order_ids<'e>(
    events: &[&'e IncomingEvent],
    rows: &[tokio_postgres::Row],
) -> Result<HashMap<Key<'e>, i64>, StoreError> {
    by_key(events, order_key, rows)
}

/// The links of step 4 of [`record_batch`], as the statement's arrays.
#[derive(Default)]
struct Links {
    events: Vec<i64>,
    dispositions: Vec<&'static str>,
    orders: Vec<i64>,
}

impl Links {
    fn push(&mut self, event: i64, disposition: EventDisposition, order: i64) {
        self.events.push(event);
        self.dispositions.push(disposition.as_str());
        self.orders.push(order);
    }
}
