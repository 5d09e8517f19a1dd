//! The durable store: webhook events, orders, the outbox of results, dead letters.
//!
//! Nothing Assay acknowledges is only in memory. The edge answers StackOne 2xx only after
//! [`Store::record_event`] returned, i.e. after the event and its order are committed and
//! fsynced; every later step (fulfilment, results, delivery) is a committed state change too,
//! so after a `kill -9` a restart resumes each unfinished order and undelivered result.
//!
//! # Shape
//!
//! - [`Store`] is the trait the edge and the workers hold as `Arc<dyn Store>`, with two
//!   backends (see [Backends](#backends)). Work is handed out as *claims with a lease*
//!   ([`Store::claim_due_orders`], [`Store::claim_outbox`]), and each claim
//!   carries its attempt number as a fencing token ([`OrderClaim`], [`OutboxClaim`]): once
//!   another worker took the row over, a stale claim's retry or failure is refused with
//!   [`StoreError::LeaseLost`]. Orders are claimed fairly across products, each within its
//!   own free slots ([`fair`]), so one product's backlog never holds every worker.
//! - Callers pass "now" to everything that decides what is due, so time is controlled in
//!   tests; the store stamps its own bookkeeping (`created_at`, `updated_at`) with the clock.
//! - The order state machine is in [`state`]: every change is checked there, and a call that
//!   would apply a change not in the machine gets [`StoreError::InvalidTransition`].
//! - Results: [`Store::fulfilment_succeeded`] and [`Store::record_results`] write each result
//!   to the outbox in the same transaction that updates its order. The relay claims outbox
//!   rows one order at a time in creation order (never `completed` before `initiated`), and a
//!   delivered row is never claimed again. A relay that crashes after StackOne accepted a
//!   PATCH but before [`Store::outbox_delivered`] sends it once more on restart: the PATCH is
//!   idempotent, so "exactly once" holds from the store's point of view.
//! - Operator tools read a database a host is serving from through [`StoreReader`]
//!   ([`SqliteStore::open_read_only`]: no lock, no writes); [`render`] turns what it reads
//!   into text for `assay orders`.
//!
//! # Backends
//!
//! - [`SqliteStore`] ([`sqlite`]), the embedded default: one host owns one file (a process
//!   lock says so), one writer thread commits concurrent requests together (group commit),
//!   and opening releases every lease the previous run left, since no one else can hold one.
//! - [`PostgresStore`] ([`postgres`]), for several hosts behind one load balancer sharing one
//!   database: the same guarantees across hosts. Idempotency by unique keys
//!   (`INSERT … ON CONFLICT DO NOTHING`), claims with `FOR UPDATE SKIP LOCKED`, outcomes that
//!   lock their row and check the fencing token, `synchronous_commit = on`, a collector task
//!   per host that commits concurrent webhooks together, and `LISTEN`/`NOTIFY` so a host
//!   learns at once that another added work ([`Store::wakeups`]). Leases are not released at
//!   start (other hosts hold them): work a dead host held is taken over when its lease ends.
//!   A database it cannot reach makes calls fail with [`StoreError::Unavailable`] (503 at
//!   the edge) until it is back; the store reconnects by itself.
//!
//! Both apply versioned migrations when opened and refuse a database whose schema is newer
//! than the build. The behaviour tests (`src/tests/`) run against both; PostgreSQL's run on a
//! throw-away server from the machine's binaries (`postgres::testing`, behind the `testing`
//! feature outside this crate's tests).
//!
//! # Layout
//!
//! - [`sqlite`], [`postgres`]: the backends, each split by concern (schema, ingest, orders,
//!   outbox, views).
//! - `decide`: what both backends conclude from the rows they read (fencing, state changes),
//!   so the two cannot drift apart.
//! - `model`, `view`, [`state`], `time`, `error`: the types the trait speaks in.
//! - [`render`]: text for `assay orders`.
//!
//! # Why boxed futures
//!
//! The trait's methods return [`StoreFuture`], a pinned boxed `Send` future, rather than
//! being `async fn`s: an `async fn` in a trait is not dyn-compatible, and the edge and the
//! workers want one `Arc<dyn Store>` chosen at startup. The box costs one allocation per
//! call, which is noise next to the fsync every write waits for; it avoids a macro crate
//! (`async-trait`) and keeps the signatures readable in docs.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

mod columns;
mod decide;
mod error;
pub mod fair;
mod model;
pub mod postgres;
mod redrive;
pub mod render;
pub mod sqlite;
pub mod state;
mod time;
mod view;

pub use error::StoreError;
pub use fair::ClaimSlots;
pub use model::{
    ClaimedOrder, FINAL_RESULT_VALUES, IncomingEvent, IngestOutcome, NewOrder, OrderClaim, OrderId,
    OrderKind, OrderRef, OutboxClaim, OutboxDelivery, PendingOrder, ResultBody, ResultRecorded,
    ResultRejection,
};
pub use postgres::{PostgresOptions, PostgresStore};
pub use sqlite::{DEFAULT_MAX_BATCH, SqliteOptions, SqliteStore, StoreReader, WriteStats};
pub use state::{OrderState, OutboxState};
pub use time::Timestamp;
#[cfg(test)]
mod tests;

pub use view::{
    DeadLetterRecord, EventDisposition, EventRecord, MAX_LIST_LIMIT, OrderDetail, OrderFilter,
    OrderSummary, OutboxBacklog, OutboxRecord, RedriveKind, RedriveRecord, Redriven, StoreCounts,
};

/// What wakes a host's workers when another host added work: a counter per kind of work,
/// bumped on every notification (see [`Store::wakeups`]). A worker waits on
/// [`watch::Receiver::changed`](tokio::sync::watch::Receiver::changed) beside its timer for
/// the next due time; a wake-up only says "look again", never what changed, and several
/// may arrive as one.
#[derive(Clone, Debug)]
pub struct Wakeups {
    /// An order became due for fulfilment (a new order, a retry scheduled).
    pub orders: tokio::sync::watch::Receiver<u64>,
    /// An outbox row became due for delivery.
    pub outbox: tokio::sync::watch::Receiver<u64>,
}

/// The future every [`Store`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Durable storage of events, orders and results. See the [module docs](self).
///
/// Every method that returns `Ok` has committed durably before it returns.
pub trait Store: Send + Sync {
    /// Records a verified webhook event, and the order it carries, in one transaction. The
    /// edge answers 2xx only once this returned `Ok`; an error means nothing was stored.
    fn record_event(&self, event: IncomingEvent) -> StoreFuture<'_, IngestOutcome>;

    /// Claims orders due for fulfilment at `now` (received and due, or fulfilling with an
    /// expired lease, e.g. left by a crash) within `slots`, moving them to `fulfilling` with a
    /// lease until `now + lease` and one more attempt counted. Each product's oldest due
    /// first, the products taken round robin (see [`fair`]).
    fn claim_due_orders(
        &self,
        slots: ClaimSlots,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<ClaimedOrder>>;

    /// Claims up to `limit` due orders of any products: [`Store::claim_due_orders`] with
    /// no product bounded on its own.
    fn claim_orders_for_fulfilment(
        &self,
        limit: usize,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<ClaimedOrder>> {
        self.claim_due_orders(ClaimSlots::uniform(limit), now, lease)
    }

    /// The vendor accepted the order: records its external id and test link, queues
    /// `first_result` in the outbox, and moves the order to `awaiting_result` (or
    /// `result_received` if that result is final), all in one transaction.
    ///
    /// A success is a fact whoever reports it, so it is accepted from a stale claim while the
    /// order is still `fulfilling`; reporting the same external id again once recorded is a
    /// no-op (the `first_result` is then not queued twice). Nor is a `first_result` queued
    /// that is byte for byte the order's newest queued or delivered result.
    fn fulfilment_succeeded(
        &self,
        claim: OrderClaim,
        external_id: String,
        test_url: Option<String>,
        first_result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()>;

    /// A retryable failure: the order goes back to `received`, due again at `not_before`.
    /// Refused with [`StoreError::LeaseLost`] if the claim is no longer the current one.
    fn fulfilment_retry(
        &self,
        claim: OrderClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()>;

    /// A permanent failure: the order is parked as `failed` with `reason`, and `result` (the
    /// `failed` or `cancelled` result that tells the recruiter) is queued in the outbox in the
    /// same transaction. Refused with [`StoreError::LeaseLost`] if the claim is no longer the
    /// current one.
    fn fulfilment_failed(
        &self,
        claim: OrderClaim,
        reason: String,
        result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()>;

    /// Stores results for orders of `product`: each one becomes an outbox row in the same
    /// transaction that updates its order. One answer per result, in order; a result for an
    /// unknown order is refused on its own without affecting the others. A result whose body
    /// is byte for byte the order's newest queued or delivered one is not queued again
    /// ([`ResultRecorded::AlreadyQueued`]).
    fn record_results<'a>(
        &'a self,
        product: &'a str,
        results: Vec<(OrderRef, ResultBody)>,
    ) -> StoreFuture<'a, Vec<Result<ResultRecorded, ResultRejection>>>;

    /// Claims up to `limit` outbox rows due at `now`, leased until `now + lease`: only the
    /// oldest undelivered row of each order, so results of one order go out one at a time in
    /// the order they were stored.
    fn claim_outbox(
        &self,
        limit: usize,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<OutboxDelivery>>;

    /// When the next order falls due for fulfilment (a retry's `not_before`, an expiring
    /// lease, or now for a fresh order); `None` when no order waits. The worker sleeps until
    /// then instead of polling.
    fn next_fulfilment_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        self.next_fulfilment_due_except(Vec::new())
    }

    /// [`Store::next_fulfilment_due`] leaving out the orders of `products` (those at their
    /// bound, [`ClaimSlots::full_products`]): their orders are due but cannot be claimed now.
    fn next_fulfilment_due_except(
        &self,
        products: Vec<String>,
    ) -> StoreFuture<'_, Option<Timestamp>>;

    /// When the next outbox row falls due for delivery (only rows [`Store::claim_outbox`]
    /// could claim: the oldest pending row of each order); `None` when nothing waits.
    fn next_delivery_due(&self) -> StoreFuture<'_, Option<Timestamp>>;

    /// StackOne accepted the row. Accepted from a stale claim while the row is pending, and
    /// a no-op if it is already delivered.
    fn outbox_delivered(&self, claim: OutboxClaim, http_status: u16) -> StoreFuture<'_, ()>;

    /// A retryable delivery failure: the row is due again at `not_before`.
    fn outbox_retry(
        &self,
        claim: OutboxClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()>;

    /// StackOne refused the row for good: it is dead-lettered with StackOne's status and
    /// message, visible in [`Store::get_order`]. If it was the order's last result and the
    /// order had its final result, the order becomes `dead_lettered`.
    fn outbox_dead_letter(
        &self,
        claim: OutboxClaim,
        http_status: Option<u16>,
        message: String,
    ) -> StoreFuture<'_, ()>;

    /// An operator's retry ("redrive") of order `id`, in one transaction, keeping its history:
    ///
    /// - a `failed` order goes back to `received`, due at once, its failure reason moved to
    ///   the redrive's record; its attempt count keeps growing (it is the claims' fencing
    ///   token), so a redrive is one more attempt, and a retryable failure past the
    ///   worker's budget parks it again with the new reason;
    /// - an order whose newest result is dead-lettered gets that result queued again as a
    ///   new outbox row (the dead row and its dead letter stay, marked as redriven), and a
    ///   `dead_lettered` order goes back to `result_received`.
    ///
    /// Each redrive is recorded ([`OrderDetail::redrives`]). Refused with
    /// [`StoreError::NotRedrivable`] for any other order, [`StoreError::OrderNotFound`]
    /// for an unknown one.
    fn redrive(&self, id: OrderId, now: Timestamp) -> StoreFuture<'_, Redriven>;

    /// Up to `limit` orders of `product` in `awaiting_result`, oldest first, for polling.
    fn pending_orders<'a>(
        &'a self,
        product: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<PendingOrder>>;

    /// Orders matching `filter`, newest first.
    fn list_orders(&self, filter: OrderFilter) -> StoreFuture<'_, Vec<OrderSummary>>;

    /// One order with its events, results and dead letters; `None` if there is no such order.
    fn get_order(&self, id: OrderId) -> StoreFuture<'_, Option<OrderDetail>>;

    /// How much waits in the outbox.
    fn outbox_backlog(&self) -> StoreFuture<'_, OutboxBacklog>;

    /// Orders by product and state, dead letters by product, and the outbox backlog, for the
    /// metrics' gauges.
    fn counts(&self) -> StoreFuture<'_, StoreCounts>;

    /// Wake-ups for this host's workers when any host adds work, for a backend shared by
    /// several hosts ([`PostgresStore`]: `LISTEN`/`NOTIFY`). `None` (the default, and
    /// [`SqliteStore`]) means only this process writes, so it knows when it added work and
    /// the workers' own timers ([`Store::next_fulfilment_due`],
    /// [`Store::next_delivery_due`]) are enough.
    fn wakeups(&self) -> Option<Wakeups> {
        None
    }
}
