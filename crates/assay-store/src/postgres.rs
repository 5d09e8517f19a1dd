//! The PostgreSQL backend: several hosts behind one load balancer share one database.
//!
//! Every guarantee of the [`Store`] trait holds across hosts, not only within one:
//!
//! - **Durable before 2xx.** Every session runs with `synchronous_commit = on` (set when the
//!   connection opens, whatever the server's default), so [`Store::record_event`] returns
//!   only after PostgreSQL flushed the commit to its WAL.
//! - **Idempotent ingest by unique keys, not read-then-write.** An event is inserted with
//!   `ON CONFLICT (product, idempotency_key) DO NOTHING`, its order with
//!   `ON CONFLICT (product, stackone_order_id) DO NOTHING`: the same webhook delivered to two
//!   hosts at the same instant makes one event and one order, because the second insert waits
//!   for the first transaction and then does nothing.
//! - **Claims** are `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)` with a
//!   `lease_until`; the attempt number is the fencing token. Every outcome (retry, failure,
//!   dead letter) locks the row (`FOR UPDATE`) and is refused with [`StoreError::LeaseLost`]
//!   when the attempt is no longer the current one, exactly as on SQLite. Unlike SQLite,
//!   opening a store releases no lease: other hosts may hold them.
//! - **Group commit.** Concurrent [`Store::record_event`] calls of one host go to one
//!   collector task (`ingest`) that commits everything queued in one transaction, so one
//!   WAL flush acknowledges a batch, as the SQLite writer does. A batch is a fixed number of
//!   multi-row statements over arrays (`INSERT … SELECT … FROM unnest(…)`), not a few
//!   statements per webhook: its round trips to the database do not grow with its size. Two
//!   batches are in flight at once, on two connections, so one is sent while the other
//!   waits for its flush.
//! - **Outcomes share commits too.** The worker's and the relay's outcomes (fulfilment
//!   succeeded, retry, failed; delivered, retry, dead letter) go to a second collector
//!   (`outcomes`) that records those queued meanwhile in one transaction, their statements
//!   pipelined on one connection. Each outcome still locks its row and checks its claim's
//!   fencing token; the batch commits only if every outcome in it was accepted, and
//!   otherwise each is recorded again alone, so a host that lost its lease is refused
//!   exactly as before and nothing of its outcome is stored.
//! - **Waking other hosts.** A transaction that adds work notes [`ORDERS_CHANNEL`] or
//!   [`OUTBOX_CHANNEL`]; once it has committed, a task sends the `NOTIFY` in a small
//!   transaction of its own (`notify`). Every host `LISTEN`s on a connection of its own and
//!   bumps its [`Wakeups`], so workers sleep until their next due time or a wake-up instead
//!   of polling. Not inside the work's transaction: PostgreSQL serialises the commits of
//!   notifying transactions, flush included, which bound ingest to one fsync per commit
//!   (the `notify` module docs say what was measured).
//!
//! # Throughput: what was measured and chosen
//!
//! Measured with `ASSAY_BENCH_ONLY=ingest-postgres cargo bench -p assay --bench compare`
//! (BENCHMARKS.md, "Ingest on PostgreSQL"), sampling `pg_stat_activity` meanwhile. Most
//! active backends were in `COMMIT`, waiting for the lock PostgreSQL takes for a notifying
//! commit, and the worker's transactions (one per outcome) outnumbered the webhooks' group
//! commits more than ten to one; next came the claims, which grouped every waiting order to
//! find the products with due ones. Hence, all on the host's side, with no server setting
//! required (`commit_delay` and `commit_siblings` are the database operator's, and a vendor
//! may not control them): `NOTIFY` after the commit, outcomes committed together, two ingest
//! batches in flight, and claims over a partial index of claimable orders (schema version 2)
//! found by a skip scan over products. Statements were already prepared once per connection
//! (`prepare_cached`).
//! - **Losing the database.** A call fails with [`StoreError::Unavailable`] (the edge
//!   answers 503) while the database cannot be reached; the pool drops broken connections
//!   and opens new ones, and the listener reconnects, so the store recovers by itself.
//!
//! # Layout
//!
//! - `schema`: versioned migrations, applied by one host at a time under an advisory lock;
//!   a database newer than this build is refused.
//! - `ingest`: the collector task and the idempotent inserts.
//! - `outcomes`: the collector that commits fulfilment and delivery outcomes together.
//! - `orders`, `outbox`, `views`: the SQL of each concern, as in `sqlite/`.
//! - `notify`: `LISTEN`/`NOTIFY`, and the task that notifies after commits.
//! - `copy`: a single host's SQLite store copied in ([`copy_from_sqlite`], `assay store copy`).
//! - `sql`: small helpers over statements and columns.
//! - `testing` (tests, or the `testing` feature): a throw-away server from the machine's
//!   PostgreSQL binaries.
//!
//! # Why tokio-postgres and deadpool-postgres
//!
//! tokio-postgres is async-native (the store's callers are tokio tasks, and LISTEN needs a
//! connection driven by the runtime), needs no database at compile time (sqlx's checked
//! queries do, or a committed query cache), and is small: no ORM, no macros, no runtime
//! abstraction. deadpool-postgres adds only a pool with a statement cache per connection and
//! a cheap check that drops closed connections, which is how the store reconnects on its own.

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use tokio_postgres::IsolationLevel;

mod copy;
mod ingest;
mod notify;
mod orders;
mod outbox;
mod outcomes;
mod redrive;
mod schema;
mod sql;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod views;

pub use copy::{CopyReport, TableCopy, copy_from_sqlite};
pub use notify::{ORDERS_CHANNEL, OUTBOX_CHANNEL};
pub use schema::SCHEMA_VERSION;

use super::{
    ClaimSlots, ClaimedOrder, IncomingEvent, IngestOutcome, OrderClaim, OrderDetail, OrderFilter,
    OrderId, OrderRef, OrderSummary, OutboxBacklog, OutboxClaim, OutboxDelivery, PendingOrder,
    Redriven, ResultBody, ResultRecorded, ResultRejection, Store, StoreCounts, StoreError,
    StoreFuture, Timestamp, Wakeups, WriteStats,
};

/// The default number of pooled connections per host. Up to two carry ingest batches, one
/// the worker's and relay's outcomes and one a notification at a time; the rest serve claims
/// and reads. The listener's connection is its own, on top.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How long a call waits for a pooled connection, or for a new one to open, before it fails
/// with [`StoreError::Unavailable`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Tuning of a [`PostgresStore`].
#[derive(Clone, Copy, Debug)]
pub struct PostgresOptions {
    /// Connections kept by the pool.
    pub pool_size: usize,
    /// The most webhook events committed in one transaction.
    pub max_batch: usize,
    /// How long to wait for a connection before answering [`StoreError::Unavailable`].
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: DEFAULT_POOL_SIZE,
            max_batch: super::DEFAULT_MAX_BATCH,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The PostgreSQL [`Store`]. See the [module docs](self).
pub struct PostgresStore {
    pool: Pool,
    ingest: ingest::Collector,
    outcomes: outcomes::Collector,
    notifier: notify::Notifier,
    listener: notify::Listener,
    target: String,
}

impl PostgresStore {
    /// Connects with default options; see [`PostgresStore::connect_with`].
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url` (a `postgres://` URL or `key=value` pairs), migrates
    /// its schema (one host at a time), and starts the ingest collector and the listener.
    /// Errors name the host, port and database, never the password.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let config = parse(url)?;
        let target = describe(&config);
        let pool = pool(config.clone(), &options)?;
        let naming = |e: StoreError| naming_target(e, &target);
        let mut client = pool.get().await.map_err(|e| naming(e.into()))?;
        schema::migrate(&mut client).await.map_err(naming)?;
        drop(client);
        let notifier = notify::Notifier::start(pool.clone());
        Ok(PostgresStore {
            ingest: ingest::Collector::start(pool.clone(), options.max_batch, notifier.clone()),
            outcomes: outcomes::Collector::start(pool.clone(), notifier.clone()),
            notifier,
            listener: notify::Listener::start(config),
            pool,
            target,
        })
    }

    /// Migrates the database at `url` to this build's schema and returns the version it is
    /// at, for `assay store migrate`. A database with a newer schema is refused.
    pub async fn migrate(url: &str) -> Result<u32, StoreError> {
        let config = parse(url)?;
        let target = describe(&config);
        let pool = pool(config, &PostgresOptions::default())?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| naming_target(e.into(), &target))?;
        schema::migrate(&mut client)
            .await
            .map_err(|e| naming_target(e, &target))
    }

    /// Where the database at `url` is (`host:port/database`, no credentials) and its schema
    /// version, read without migrating anything: `None` for a database no host has migrated
    /// yet. For `assay check`.
    pub async fn schema_version(url: &str) -> Result<(String, Option<u32>), StoreError> {
        let config = parse(url)?;
        let target = describe(&config);
        let naming = |e: StoreError| naming_target(e, &target);
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| naming(e.into()))?;
        let driver = tokio::spawn(connection);
        let version = async {
            let exists: bool = client
                .query_one(
                    "SELECT to_regclass('assay_schema_version') IS NOT NULL",
                    &[],
                )
                .await?
                .get(0);
            if !exists {
                return Ok(None);
            }
            let row = client
                .query_opt("SELECT version FROM assay_schema_version", &[])
                .await?;
            Ok::<_, StoreError>(row.map(|r| u32::try_from(r.get::<_, i32>(0)).unwrap_or(0)))
        }
        .await
        .map_err(naming)?;
        drop(client);
        let _ = driver.await;
        Ok((target.clone(), version))
    }

    /// Where this store connects, as `host:port/database` (no credentials).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The ingest collector's counters: how many events took how many commits.
    pub fn write_stats(&self) -> WriteStats {
        self.ingest.stats()
    }

    /// How many transactions have committed fulfilment and delivery outcomes (several
    /// outcomes share one when they arrive together).
    pub fn outcome_commits(&self) -> u64 {
        self.outcomes.commits()
    }

    /// Runs `op` in one transaction on a pooled connection and commits. An error rolls the
    /// transaction back (the transaction is dropped) and nothing of `op` is stored.
    async fn in_tx<T: Send>(
        &self,
        op: impl for<'a> FnOnce(&'a Transaction<'a>) -> StoreFuture<'a, T> + Send,
    ) -> Result<T, StoreError> {
        self.run(IsolationLevel::ReadCommitted, false, op).await
    }

    /// Runs `op` in a read-only transaction that sees one snapshot throughout (an order and
    /// its results as of one instant), as SQLite's read transactions do.
    async fn read<T: Send>(
        &self,
        op: impl for<'a> FnOnce(&'a Transaction<'a>) -> StoreFuture<'a, T> + Send,
    ) -> Result<T, StoreError> {
        self.run(IsolationLevel::RepeatableRead, true, op).await
    }

    async fn run<T: Send>(
        &self,
        isolation: IsolationLevel,
        read_only: bool,
        op: impl for<'a> FnOnce(&'a Transaction<'a>) -> StoreFuture<'a, T> + Send,
    ) -> Result<T, StoreError> {
        notify::after_commit(&self.notifier, async {
            let mut client = self.pool.get().await?;
            let tx = client
                .build_transaction()
                .isolation_level(isolation)
                .read_only(read_only)
                .start()
                .await?;
            let out = op(&tx).await?;
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}

fn parse(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config = tokio_postgres::Config::from_str(url).map_err(|e| {
        // The parser's message names a position, never the text, so no secret leaks.
        StoreError::Unavailable(format!("the PostgreSQL URL is not valid: {e}"))
    })?;
    // Durability is not left to the server's default: a commit returns once it is flushed.
    // Appended, so options given in the URL (a search_path, say) still apply.
    let options = match config.get_options() {
        Some(given) => format!("{given} -c synchronous_commit=on"),
        None => "-c synchronous_commit=on".to_owned(),
    };
    config.options(&options);
    config.application_name("assay");
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
    }
    Ok(config)
}

fn pool(config: tokio_postgres::Config, options: &PostgresOptions) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            // `Fast` checks only that the connection is open: enough to drop the ones a
            // restart of the database closed, without a round trip on every checkout.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(options.pool_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| StoreError::Backend(format!("cannot build the PostgreSQL pool: {e}")))
}

/// `host:port/database` of `config`, for errors and logs: never the user's password.
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

fn naming_target(e: StoreError, target: &str) -> StoreError {
    match e {
        StoreError::Unavailable(m) => StoreError::Unavailable(format!("{target}: {m}")),
        StoreError::Schema(m) => StoreError::Schema(format!("{target}: {m}")),
        StoreError::Backend(m) => StoreError::Backend(format!("{target}: {m}")),
        other => other,
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.stop();
    }
}

impl Store for PostgresStore {
    fn record_event(&self, event: IncomingEvent) -> StoreFuture<'_, IngestOutcome> {
        Box::pin(self.ingest.record(event))
    }

    fn claim_due_orders(
        &self,
        slots: ClaimSlots,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<ClaimedOrder>> {
        Box::pin(self.in_tx(move |tx| Box::pin(orders::claim(tx, slots, now, lease))))
    }

    fn fulfilment_succeeded(
        &self,
        claim: OrderClaim,
        external_id: String,
        test_url: Option<String>,
        first_result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.outcomes.record(outcomes::Outcome::Succeeded {
            claim,
            external_id,
            test_url,
            first_result,
        }))
    }

    fn fulfilment_retry(
        &self,
        claim: OrderClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.outcomes.record(outcomes::Outcome::Retry {
            claim,
            not_before,
            error,
        }))
    }

    fn fulfilment_failed(
        &self,
        claim: OrderClaim,
        reason: String,
        result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.outcomes.record(outcomes::Outcome::Failed {
            claim,
            reason,
            result,
        }))
    }

    fn record_results<'a>(
        &'a self,
        product: &'a str,
        results: Vec<(OrderRef, ResultBody)>,
    ) -> StoreFuture<'a, Vec<Result<ResultRecorded, ResultRejection>>> {
        let product = product.to_owned();
        Box::pin(self.in_tx(move |tx| {
            Box::pin(orders::record_results(
                tx,
                product,
                results,
                Timestamp::now(),
            ))
        }))
    }

    fn claim_outbox(
        &self,
        limit: usize,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<OutboxDelivery>> {
        Box::pin(self.in_tx(move |tx| Box::pin(outbox::claim(tx, limit, now, lease))))
    }

    fn next_fulfilment_due_except(
        &self,
        products: Vec<String>,
    ) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.read(move |tx| Box::pin(orders::next_due(tx, products))))
    }

    fn next_delivery_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.read(|tx| Box::pin(outbox::next_due(tx))))
    }

    fn outbox_delivered(&self, claim: OutboxClaim, http_status: u16) -> StoreFuture<'_, ()> {
        Box::pin(
            self.outcomes
                .record(outcomes::Outcome::Delivered { claim, http_status }),
        )
    }

    fn outbox_retry(
        &self,
        claim: OutboxClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.outcomes.record(outcomes::Outcome::OutboxRetry {
            claim,
            not_before,
            error,
        }))
    }

    fn outbox_dead_letter(
        &self,
        claim: OutboxClaim,
        http_status: Option<u16>,
        message: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.outcomes.record(outcomes::Outcome::DeadLetter {
            claim,
            http_status,
            message,
        }))
    }

    fn redrive(&self, id: OrderId, now: Timestamp) -> StoreFuture<'_, Redriven> {
        Box::pin(self.in_tx(move |tx| Box::pin(redrive::redrive(tx, id, now))))
    }

    fn pending_orders<'a>(
        &'a self,
        product: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<PendingOrder>> {
        let product = product.to_owned();
        Box::pin(self.read(move |tx| Box::pin(views::pending_orders(tx, product, limit))))
    }

    fn list_orders(&self, filter: OrderFilter) -> StoreFuture<'_, Vec<OrderSummary>> {
        Box::pin(self.read(move |tx| Box::pin(views::list_orders(tx, filter))))
    }

    fn get_order(&self, id: OrderId) -> StoreFuture<'_, Option<OrderDetail>> {
        Box::pin(self.read(move |tx| Box::pin(views::get_order(tx, id))))
    }

    fn outbox_backlog(&self) -> StoreFuture<'_, OutboxBacklog> {
        Box::pin(self.read(|tx| Box::pin(views::outbox_backlog(tx))))
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(self.read(|tx| Box::pin(views::counts(tx))))
    }

    fn wakeups(&self) -> Option<Wakeups> {
        Some(self.listener.wakeups())
    }
}

#[cfg(test)]
mod tests;
