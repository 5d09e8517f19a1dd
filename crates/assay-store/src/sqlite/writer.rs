//! The writer thread and its group commit.
//!
//! One thread owns the only write connection. Requests arrive on a bounded channel as
//! closures. The thread takes every request already queued (up to the batch limit), runs
//! each in its own `SAVEPOINT` inside one `BEGIN IMMEDIATE` transaction, commits once, and
//! only then answers each request. One fsync thus acknowledges a whole batch: while one
//! commit waits for the disk, the next batch queues up, so batches grow with load by
//! themselves and a lone request is never delayed waiting for company.
//!
//! A request that fails rolls back its own savepoint only. If the transaction itself is
//! lost (SQLite rolls back on its own after some I/O errors) or the commit fails, every
//! request of the batch gets [`StoreError::Unavailable`]: none of them is acknowledged.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use assay_wire::metric;

/// How many requests may wait for the writer before callers wait to enqueue.
pub const WRITE_QUEUE_CAPACITY: usize = 4096;

/// Counters of the writer's work, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Requests run (committed or not).
    pub requests: u64,
    /// Transactions committed (each one fsync).
    pub commits: u64,
    /// Transactions that could not be committed.
    pub failed_commits: u64,
    /// The largest batch committed so far.
    pub largest_batch: u64,
}

/// The live counters behind [`WriteStats`], shared with the PostgreSQL ingest collector.
#[derive(Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    commits: AtomicU64,
    failed_commits: AtomicU64,
    largest_batch: AtomicU64,
}

/// One queued request, type-erased so one channel carries every kind of write.
trait Job: Send {
    /// Runs the request inside its savepoint.
    fn run(&mut self, conn: &Connection);
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Call<T, F> {
    op: Option<F>,
    out: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send,
{
    fn run(&mut self, conn: &Connection) {
        let Some(op) = self.op.take() else { return };
        self.out = Some(in_savepoint(conn, op));
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.out) {
            // A request that failed was rolled back whatever happened to the batch.
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::Backend("request was not run".into())),
        };
        // The caller may have gone away (e.g. its connection dropped); the write stands.
        let _ = self.reply.send(answer);
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    // Cached statements: these run twice per request, and parsing them each time showed up
    // in the writer's profile.
    conn.prepare_cached("SAVEPOINT request")?.execute([])?;
    // A panic in a request must not take the writer (and every later request) down with it.
    let result = catch_unwind(AssertUnwindSafe(|| op(conn)))
        .unwrap_or_else(|_| Err(StoreError::Backend("store request panicked".into())));
    match result {
        Ok(v) => {
            conn.prepare_cached("RELEASE request")?.execute([])?;
            Ok(v)
        }
        Err(e) => {
            // If SQLite already dropped the transaction there is nothing to roll back; the
            // batch notices through `is_autocommit`.
            if !conn.is_autocommit() {
                conn.prepare_cached("ROLLBACK TO request")?.execute([])?;
                conn.prepare_cached("RELEASE request")?.execute([])?;
            }
            Err(e)
        }
    }
}

/// The handle to the writer thread. Dropping it lets the thread finish the queued requests
/// and waits for it to close the connection.
pub struct Writer {
    tx: Option<mpsc::Sender<Box<dyn Job>>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer thread on `conn`, committing at most `max_batch` requests at once.
    pub fn start(conn: Connection, max_batch: usize) -> Result<Writer, StoreError> {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("assay-store-writer".into())
            .spawn(move || run(conn, rx, max_batch.max(1), &thread_counters))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            counters,
        })
    }

    /// Runs `op` in the next group commit and returns its result once committed.
    pub async fn call<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let closed = || StoreError::Unavailable("the store writer has stopped".into());
        let tx = self.tx.as_ref().ok_or_else(closed)?;
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Call {
            op: Some(op),
            out: None,
            reply,
        });
        tx.send(job).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// The counters so far.
    pub fn stats(&self) -> WriteStats {
        self.counters.stats()
    }
}

impl Counters {
    /// A snapshot.
    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            requests: self.requests.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            largest_batch: self.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// A batch of `size` requests was run.
    pub(crate) fn ran(&self, size: u64) {
        self.requests.fetch_add(size, Ordering::Relaxed);
    }

    /// A batch of `size` requests was committed, or not.
    pub(crate) fn finished(&self, size: u64, committed: bool) {
        if committed {
            self.commits.fetch_add(1, Ordering::Relaxed);
            self.largest_batch.fetch_max(size, Ordering::Relaxed);
        } else {
            self.failed_commits.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            // The thread ends once the queue is empty: it never waits on anything else, so
            // this join is short. Joining matters: the database lock is released after it.
            let _ = thread.join();
        }
    }
}

fn run(
    conn: Connection,
    mut rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    counters: &Counters,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, &mut batch, counters);
    }
    if let Err(e) = conn.close() {
        tracing::warn!(error = %e.1, "closing the store's write connection");
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, counters: &Counters) {
    let started = Instant::now();
    let size = batch.len() as u64;
    counters.ran(size);
    let outcome = run_batch(conn, batch);
    counters.finished(size, outcome.is_ok());
    if let Err(e) = &outcome {
        tracing::error!(error = %e, requests = size, "store commit failed");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    metrics::histogram!(metric::STORE_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::histogram!(metric::STORE_BATCH_SIZE).record(size as f64);
    for job in batch.drain(..) {
        job.finish(outcome.clone());
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock up front, so a request never fails half-way with BUSY
    // because another connection upgraded first.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for job in batch.iter_mut() {
        job.run(conn);
        if conn.is_autocommit() {
            return Err(StoreError::Unavailable(
                "the transaction was rolled back by the database".into(),
            ));
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir, max_batch: usize) -> Writer {
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .expect("create");
        Writer::start(conn, max_batch).expect("start")
    }

    #[tokio::test]
    async fn a_failing_request_rolls_back_only_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = writer(&dir, 16);
        // Queue three requests before the writer can drain them, so they share a batch more
        // often than not; correctness must not depend on it either way.
        let ok1 = w.call(|c| Ok(c.execute("INSERT INTO t VALUES (1)", [])?));
        let bad = w.call(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])?;
            // Violates UNIQUE: the whole request, including its first insert, rolls back.
            Ok(c.execute("INSERT INTO t VALUES (1)", [])?)
        });
        let ok3 = w.call(|c| Ok(c.execute("INSERT INTO t VALUES (3)", [])?));
        let (a, b, c) = tokio::join!(ok1, bad, ok3);
        assert_eq!(a.expect("first"), 1);
        assert!(matches!(b, Err(StoreError::Conflict(_))), "{b:?}");
        assert_eq!(c.expect("third"), 1);
        let values: Vec<i64> = w
            .call(|c| {
                let mut st = c.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = st.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .expect("select");
        assert_eq!(values, vec![1, 3]);
    }

    #[tokio::test]
    async fn a_full_disk_answers_unavailable_and_never_acknowledges_a_lost_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        conn.execute_batch("CREATE TABLE t (v BLOB NOT NULL)")
            .expect("create");
        // A database that may not grow past a few pages behaves like a full disk.
        let pages: i64 = conn
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .expect("page_count");
        conn.pragma_update(None, "max_page_count", pages + 4)
            .expect("max_page_count");
        let w = Writer::start(conn, 16).expect("start");
        let insert = |len: usize| {
            w.call(move |c| Ok(c.execute("INSERT INTO t VALUES (zeroblob(?1))", [len])?))
        };
        let (small, big) = tokio::join!(insert(10), insert(1 << 20));
        let err = big.expect_err("a megabyte cannot fit");
        assert!(err.is_unavailable(), "{err}");
        let stored: i64 = w
            .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .expect("count");
        // Whatever SQLite rolled back, an acknowledged write is there and a refused one not.
        assert_eq!(stored, i64::from(small.is_ok()), "{small:?}");
        insert(10)
            .await
            .expect("a small write still fits afterwards");
    }

    #[tokio::test]
    async fn a_panicking_request_does_not_stop_the_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let w = writer(&dir, 16);
        let r: Result<(), _> = w.call(|_| panic!("boom")).await;
        assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
        let n = w
            .call(|c| Ok(c.execute("INSERT INTO t VALUES (9)", [])?))
            .await
            .expect("writer still serves");
        assert_eq!(n, 1);
    }
}
