//! The SQLite backend: one file, WAL, `synchronous=FULL`, group commit.
//!
//! - `writer`: one thread owns the write connection and commits queued requests in
//!   batches, one fsync per batch.
//! - `read_pool`: `ReadPool`, read-only connections for views and polling, so they never wait on the writer.
//! - `store_reader`: [`StoreReader`], the lock-free read-only view for operator tools.
//! - `schema`: pragmas and versioned migrations.
//! - `ingest`, `orders`, `outbox`, `views`: the SQL of each concern.
//!
//! One process owns a database: [`SqliteStore::open`] takes an exclusive lock on
//! `<file>.lock` (held until the store is dropped) and refuses a database another process
//! holds. Because no one else can hold leases, opening also releases every lease left by a
//! previous run, so orders and results that were in flight at a crash are claimable at once
//! instead of after their lease would have expired.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;

mod ingest;
mod orders;
mod outbox;
mod read_pool;
mod redrive;
mod schema;
mod sql_types;
mod store_reader;
mod views;
pub(crate) mod writer;

pub use schema::{BUSY_TIMEOUT, SCHEMA_VERSION, version_of};
pub use store_reader::StoreReader;
pub use writer::{WRITE_QUEUE_CAPACITY, WriteStats};

use super::{
    ClaimSlots, ClaimedOrder, IncomingEvent, IngestOutcome, OrderClaim, OrderDetail, OrderFilter,
    OrderId, OrderRef, OrderSummary, OutboxBacklog, OutboxClaim, OutboxDelivery, PendingOrder,
    Redriven, ResultBody, ResultRecorded, ResultRejection, Store, StoreCounts, StoreError,
    StoreFuture, Timestamp,
};
use read_pool::ReadPool;
use writer::Writer;

/// The default most requests committed in one transaction, defined with the configuration
/// that reads `store.max_batch`.
pub use assay_config::limits::DEFAULT_MAX_BATCH;

/// The default number of idle read connections kept open.
pub const DEFAULT_READ_CONNECTIONS: usize = 4;

/// The default time [`SqliteStore::open`] waits for another holder of the database to let go.
///
/// A previous process may still be exiting during a restart, and a child process forked by
/// this one holds a copy of the lock until it calls `exec`; both let go within moments.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(2);

/// How often a waiting [`SqliteStore::open`] tries the lock again.
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Tuning of a [`SqliteStore`].
#[derive(Clone, Copy, Debug)]
pub struct SqliteOptions {
    /// The most requests committed in one transaction. 1 commits each request on its own
    /// (the baseline the benchmark compares group commit with).
    pub max_batch: usize,
    /// Idle read-only connections kept for reuse.
    pub read_connections: usize,
    /// How long opening waits for another holder of the database before failing.
    pub lock_wait: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            max_batch: DEFAULT_MAX_BATCH,
            read_connections: DEFAULT_READ_CONNECTIONS,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// The SQLite [`Store`].
pub struct SqliteStore {
    // Field order is drop order: the writer thread finishes and closes its connection
    // before the process lock is released.
    writer: Writer,
    read_pool: ReadPool,
    path: PathBuf,
    _lock: File,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with default options; see
    /// [`SqliteStore::open_with`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// Opens (creating if needed) the database at `path`: takes the process lock (waiting up
    /// to `options.lock_wait` for a previous holder), migrates the schema, releases leases
    /// left by a previous run and starts the writer thread.
    ///
    /// This blocks (file I/O, the lock wait): call it at startup before serving, or from
    /// `spawn_blocking`.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let lock = lock_database(&path, options.lock_wait)?;
        let conn = schema::open_writer(&path)?;
        release_leases(&conn)?;
        Ok(SqliteStore {
            writer: Writer::start(conn, options.max_batch)?,
            read_pool: ReadPool::new(path.clone(), options.read_connections),
            path,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writer's counters: how many requests took how many commits.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Opens the database at `path` for reading only, taking no lock: see [`StoreReader`].
    /// This is how operator tools read a database a serving host owns.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<StoreReader, StoreError> {
        StoreReader::open(path)
    }
}

fn lock_database(path: &Path, wait: Duration) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot open {}: {e}", lock_path.display()))
        })?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                // Opening happens once at startup, off the request path: a short blocking
                // wait is simpler than an async open.
                std::thread::sleep(LOCK_RETRY);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Unavailable(format!(
                    "{} is in use by another process",
                    path.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot lock {}: {e}",
                    lock_path.display()
                )));
            }
        }
    }
}

/// Makes everything a previous run had claimed claimable now. Safe because the process lock
/// proves that run is gone.
fn release_leases(conn: &Connection) -> Result<(), StoreError> {
    let orders = conn.execute(
        "UPDATE orders SET lease_until = 0 WHERE state = 'fulfilling'",
        [],
    )?;
    let results = conn.execute(
        "UPDATE outbox SET lease_until = NULL WHERE state = 'pending' AND lease_until IS NOT NULL",
        [],
    )?;
    if orders + results > 0 {
        tracing::info!(
            orders,
            results,
            "store resumed work left in flight by the previous run"
        );
    }
    Ok(())
}

impl Store for SqliteStore {
    fn record_event(&self, event: IncomingEvent) -> StoreFuture<'_, IngestOutcome> {
        Box::pin(
            self.writer
                .call(move |c| ingest::record_event(c, &event, Timestamp::now())),
        )
    }

    fn claim_due_orders(
        &self,
        slots: ClaimSlots,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<ClaimedOrder>> {
        Box::pin(
            self.writer
                .call(move |c| orders::claim(c, &slots, now, lease)),
        )
    }

    fn fulfilment_succeeded(
        &self,
        claim: OrderClaim,
        external_id: String,
        test_url: Option<String>,
        first_result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(self.writer.call(move |c| {
            orders::succeeded(
                c,
                claim,
                &external_id,
                test_url.as_deref(),
                first_result.as_ref(),
                Timestamp::now(),
            )
        }))
    }

    fn fulfilment_retry(
        &self,
        claim: OrderClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer
                .call(move |c| orders::retry(c, claim, not_before, &error, Timestamp::now())),
        )
    }

    fn fulfilment_failed(
        &self,
        claim: OrderClaim,
        reason: String,
        result: Option<ResultBody>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer.call(move |c| {
                orders::failed(c, claim, &reason, result.as_ref(), Timestamp::now())
            }),
        )
    }

    fn record_results<'a>(
        &'a self,
        product: &'a str,
        results: Vec<(OrderRef, ResultBody)>,
    ) -> StoreFuture<'a, Vec<Result<ResultRecorded, ResultRejection>>> {
        let product = product.to_owned();
        Box::pin(
            self.writer
                .call(move |c| orders::record_results(c, &product, &results, Timestamp::now())),
        )
    }

    fn claim_outbox(
        &self,
        limit: usize,
        now: Timestamp,
        lease: Duration,
    ) -> StoreFuture<'_, Vec<OutboxDelivery>> {
        Box::pin(
            self.writer
                .call(move |c| outbox::claim(c, limit, now, lease)),
        )
    }

    fn next_fulfilment_due_except(
        &self,
        products: Vec<String>,
    ) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.read_pool.read(move |c| orders::next_due(c, &products)))
    }

    fn next_delivery_due(&self) -> StoreFuture<'_, Option<Timestamp>> {
        Box::pin(self.read_pool.read(outbox::next_due))
    }

    fn outbox_delivered(&self, claim: OutboxClaim, http_status: u16) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer
                .call(move |c| outbox::delivered(c, claim, http_status, Timestamp::now())),
        )
    }

    fn outbox_retry(
        &self,
        claim: OutboxClaim,
        not_before: Timestamp,
        error: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer
                .call(move |c| outbox::retry(c, claim, not_before, &error)),
        )
    }

    fn outbox_dead_letter(
        &self,
        claim: OutboxClaim,
        http_status: Option<u16>,
        message: String,
    ) -> StoreFuture<'_, ()> {
        Box::pin(
            self.writer.call(move |c| {
                outbox::dead_letter(c, claim, http_status, &message, Timestamp::now())
            }),
        )
    }

    fn redrive(&self, id: OrderId, now: Timestamp) -> StoreFuture<'_, Redriven> {
        Box::pin(self.writer.call(move |c| redrive::redrive(c, id, now)))
    }

    fn pending_orders<'a>(
        &'a self,
        product: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<PendingOrder>> {
        let product = product.to_owned();
        Box::pin(
            self.read_pool
                .read(move |c| views::pending_orders(c, &product, limit)),
        )
    }

    fn list_orders(&self, filter: OrderFilter) -> StoreFuture<'_, Vec<OrderSummary>> {
        Box::pin(self.read_pool.read(move |c| views::list_orders(c, &filter)))
    }

    fn get_order(&self, id: OrderId) -> StoreFuture<'_, Option<OrderDetail>> {
        Box::pin(self.read_pool.read(move |c| views::get_order(c, id)))
    }

    fn outbox_backlog(&self) -> StoreFuture<'_, OutboxBacklog> {
        Box::pin(self.read_pool.read(views::outbox_backlog))
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        Box::pin(self.read_pool.read(views::counts))
    }
}

#[cfg(test)]
mod tests;
