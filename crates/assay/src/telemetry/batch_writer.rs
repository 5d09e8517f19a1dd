//! The log's writer thread: lines are gathered and written to standard error in batches.
//!
//! With an access line per request, handing each line to a writer thread on its own woke that
//! thread once per request, and the write woke every `inotify` watcher of the log's folder
//! once more (a host whose log sits beside its configuration file: the reload watcher). On the
//! 2-core probe machine that was 3.4 of the host's 12.8 context switches per package list
//! (`scripts/probe-context-switches.py`). Here a line is appended to a buffer under a lock;
//! the thread is woken only when the buffer stops being empty, then waits up to
//! [`BATCH_WINDOW`] for more and writes them all with one `write`. A busy host wakes it at
//! most 1/`BATCH_WINDOW` times a second, an idle one never.
//!
//! Nothing is dropped: past [`MAX_PENDING`] bytes a logging thread waits for the writer,
//! as it did with a full queue before. [`BatchGuard`] writes what is pending when it is
//! dropped, so the caller keeps it until the process ends; a process killed outright loses at
//! most the lines of the last window.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer gathers lines after the first of a batch before writing them.
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

/// Pending bytes at which the writer writes at once instead of waiting out the window.
pub const FLUSH_AT: usize = 64 << 10;

/// Pending bytes past which a logging thread waits for the writer rather than grow the buffer.
pub const MAX_PENDING: usize = 4 << 20;

/// Where `tracing` writes lines: a handle on the pending buffer (see the module docs).
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written everything pending.
#[must_use = "dropping the guard stops the log writer"]
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// The writer waits here for a first line, then for the window to pass.
    ready: Condvar,
    /// Logging threads wait here while the buffer is past [`MAX_PENDING`].
    room: Condvar,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a buffer of whole lines: keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts the writer thread, writing batches to `out`, and returns the handle `tracing`
/// writes through and the guard that stops the thread.
pub fn start<W: Write + Send + 'static>(
    out: W,
    thread_name: &str,
) -> std::io::Result<(BatchWriter, BatchGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        ready: Condvar::new(),
        room: Condvar::new(),
    });
    let state = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || write_batches(&state, out))?;
    Ok((
        BatchWriter {
            shared: Arc::clone(&shared),
        },
        BatchGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

/// The writer thread's loop: wait for a first line, gather for the window (or until
/// [`FLUSH_AT`]), write the batch outside the lock; until closed and empty.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closed {
            state = shared
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.pending.is_empty() {
            // Closed, and everything written.
            return;
        }
        state = shared
            .ready
            .wait_timeout_while(state, BATCH_WINDOW, |s| {
                !s.closed && s.pending.len() < FLUSH_AT
            })
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        std::mem::swap(&mut batch, &mut state.pending);
        drop(state);
        shared.room.notify_all();
        // Standard error gone (a closed pipe): the lines have nowhere to go, as before.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        // A burst's buffer is not kept for the rest of the process.
        batch.shrink_to(FLUSH_AT);
    }
}

/// One line on its way into the buffer.
pub struct BatchLine<'a> {
    shared: &'a Shared,
}

impl Write for BatchLine<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut state = self.shared.lock();
        while state.pending.len() >= MAX_PENDING && !state.closed {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let before = state.pending.len();
        state.pending.extend_from_slice(bytes);
        let after = state.pending.len();
        drop(state);
        // Wake the writer for a batch's first line, and when a batch is big enough to write
        // at once; not for every line.
        if before == 0 || (before < FLUSH_AT && after >= FLUSH_AT) {
            self.shared.ready.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        BatchLine {
            shared: &self.shared,
        }
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::time::Instant;

    /// A sink that hands each write to the test, one `write_all` at a time.
    struct Sink(SyncSender<Vec<u8>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.send(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(writer: &BatchWriter, text: &str) {
        writer
            .make_writer()
            .write_all(text.as_bytes())
            .expect("a write into the buffer never fails");
    }

    fn received(rx: &Receiver<Vec<u8>>) -> String {
        let mut all = Vec::new();
        while let Ok(bytes) = rx.try_recv() {
            all.extend(bytes);
        }
        String::from_utf8(all).expect("the test writes UTF-8")
    }

    #[test]
    fn lines_are_written_in_batches_after_the_window() {
        let (tx, rx) = sync_channel(1024);
        let (writer, guard) = start(Sink(tx), "test-log").expect("thread");
        let sent = Instant::now();
        for i in 0..100 {
            line(&writer, &format!("line {i}\n"));
        }
        let first = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the batch is written");
        let waited = sent.elapsed();
        assert!(
            waited >= BATCH_WINDOW.mul_f64(0.9),
            "the writer gathered for its window, not {waited:?}"
        );
        drop(guard);
        let mut writes = vec![first];
        while let Ok(bytes) = rx.try_recv() {
            writes.push(bytes);
        }
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(
            String::from_utf8(writes.concat()).expect("UTF-8"),
            expected,
            "every line, in order"
        );
        // A line-at-a-time writer makes 100 writes; a batch holds what came in one window.
        assert!(writes.len() < 100, "{} writes for 100 lines", writes.len());
    }

    #[test]
    fn the_guard_writes_what_is_pending_and_nothing_is_lost_under_contention() {
        let (tx, rx) = sync_channel(1 << 16);
        let (writer, guard) = start(Sink(tx), "test-log").expect("thread");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        line(&writer, &format!("t{t} {i}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("logging thread");
        }
        drop(guard);
        let all = received(&rx);
        for t in 0..4 {
            let mine: Vec<usize> = all
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} ")))
                .map(|n| n.parse().expect("a number"))
                .collect();
            assert_eq!(
                mine,
                (0..5_000).collect::<Vec<_>>(),
                "thread {t}'s lines, all and in order"
            );
        }
    }

    /// A sink whose writes wait until the test opens its gate.
    struct Gated {
        gate: Arc<(Mutex<bool>, Condvar)>,
        out: SyncSender<Vec<u8>>,
    }

    impl Write for Gated {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (open, changed) = &*self.gate;
            let mut open = open.lock().expect("gate");
            while !*open {
                open = changed.wait(open).expect("gate");
            }
            let _ = self.out.send(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_buffer_makes_logging_wait_instead_of_dropping_lines() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (tx, rx) = sync_channel(1 << 16);
        let (writer, guard) = start(
            Gated {
                gate: Arc::clone(&gate),
                out: tx,
            },
            "test-log",
        )
        .expect("thread");
        // The writer takes a first batch (at most the bound) and blocks in the sink; the
        // buffer then fills to the bound with more than a bound still to write.
        let chunk = "x".repeat(1023) + "\n";
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let logger = {
            let writer = writer.clone();
            let chunk = chunk.clone();
            std::thread::spawn(move || {
                for _ in 0..(3 * MAX_PENDING / chunk.len()) {
                    line(&writer, &chunk);
                }
                let _ = done_tx.send(());
            })
        };
        assert!(
            done_rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "the logger waits while the writer is stuck and the buffer is full"
        );
        let pending = writer.shared.lock().pending.len();
        assert!(
            pending >= MAX_PENDING && pending < MAX_PENDING + chunk.len(),
            "the buffer stops at its bound, not {pending}"
        );
        {
            let (open, changed) = &*gate;
            *open.lock().expect("gate") = true;
            changed.notify_all();
        }
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the logger finishes once the writer moves");
        logger.join().expect("logger");
        drop(guard);
        let all = received(&rx);
        assert_eq!(
            all.len(),
            3 * MAX_PENDING / chunk.len() * chunk.len(),
            "every line reached the sink"
        );
    }
}
