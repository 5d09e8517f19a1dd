//! The threads plugin code runs on, apart from the host's own.
//!
//! A plugin call is CPU-bound while the plugin computes: eight calls of a looping plugin on the
//! host's runtime took its worker threads in 5 ms slices between epoch yields, and a
//! well-behaved product's package list went from p99 5.8 ms to 289 ms. Calls now run on a
//! runtime of their own ([`CallPool`]): the edge, the store and the relay keep the host's
//! threads, and the kernel shares the cores between the two sets of threads. The pool's
//! threads run at a lower scheduling priority ([`CALL_THREAD_NICE`]), so when the cores are
//! short, a request waiting on the host's threads goes first and a plugin computing waits;
//! within the pool, each call still yields at every epoch tick, so plugins share it fairly.
//!
//! A call that grew a big linear memory ends with the kernel taking that memory back
//! (`madvise(MADV_DONTNEED)` on everything past what the pooling allocator keeps resident),
//! which is one system call that cannot yield: 25 to 60 MiB took 20 to 55 ms each on a busy
//! 2-core machine. Dropped at the end of the call, on one of the pool's threads, it held that
//! thread while a well-behaved product's call waited for it (`scripts/probe-fairness.py`: p99
//! 8x alone beside eight memory-hungry calls). Such stores are handed to the [`Reclaimer`]
//! instead: one thread of its own, at the pool's priority, drops them one after another, so
//! the pool's threads go straight back to the calls and at most one core is busy giving
//! memory back. What the memory budget and the product's call bound count is only given back
//! once the memory is (the store's limiter and the call's slot are dropped with it), so
//! neither resident memory nor instance slots can run past their bounds while stores wait.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};

/// The nice value of the pool's threads (0 is the host's; higher runs later when cores are
/// contended). Setting it needs no privilege.
pub const CALL_THREAD_NICE: i32 = 10;

/// A multi-threaded runtime for plugin calls, shut down in the background when the last
/// plugin holding it is dropped.
#[derive(Debug)]
pub struct CallPool {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    reclaimer: Reclaimer,
}

impl CallPool {
    /// One worker thread per core.
    pub fn new() -> std::io::Result<Arc<Self>> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("assay-plugin")
            .enable_all()
            .on_thread_start(lower_priority)
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Arc::new(CallPool {
            runtime: Some(runtime),
            handle,
            reclaimer: Reclaimer::start()?,
        }))
    }

    /// Drops `what` on the reclaim thread rather than the caller's (see [`Reclaimer`]).
    pub fn reclaim<T: Send + 'static>(&self, what: T) {
        self.reclaimer.drop_later(what);
    }

    /// Runs `job` on the pool and waits for it; a panic in `job` is resumed here.
    pub async fn run<F>(&self, job: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.handle.spawn(job).await {
            Ok(output) => Some(output),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The pool is shutting down with the host.
            Err(_) => None,
        }
    }
}

impl Drop for CallPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async context forbids; this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A thread that drops what it is given, one after another, at the pool's priority: where the
/// stores of calls that grew big memories are released, off the pool's threads.
#[derive(Debug)]
pub struct Reclaimer {
    queue: Sender<Box<dyn Send>>,
}

impl Reclaimer {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Self> {
        let (sender, receiver) = channel::<Box<dyn Send>>();
        std::thread::Builder::new()
            .name("assay-reclaim".into())
            .spawn(move || {
                lower_priority();
                // Each item is dropped as it is received; the loop ends when the sender is.
                for item in receiver {
                    drop(item);
                }
            })?;
        Ok(Reclaimer { queue: sender })
    }

    /// Drops `what` on the reclaim thread, or here if that thread is gone (it only ends when
    /// this is dropped, or if a drop panicked there).
    pub fn drop_later<T: Send + 'static>(&self, what: T) {
        if let Err(refused) = self.queue.send(Box::new(what)) {
            drop(refused.0);
        }
    }
}

/// Lowers the calling thread's priority (on Linux the nice value is per thread).
fn lower_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, CALL_THREAD_NICE) {
        tracing::debug!(error = %e, "plugin threads keep the host's priority");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::time::Duration;

    /// Blocks its drop until released, then reports the thread it was dropped on.
    struct Held {
        release: Receiver<()>,
        dropped: SyncSender<Option<String>>,
    }

    impl Drop for Held {
        fn drop(&mut self) {
            let _ = self.release.recv();
            let name = std::thread::current().name().map(str::to_owned);
            let _ = self.dropped.send(name);
        }
    }

    #[test]
    fn the_reclaimer_drops_on_its_own_thread_without_holding_the_caller() {
        let reclaimer = Arc::new(Reclaimer::start().expect("reclaimer"));
        let (release, release_rx) = sync_channel(1);
        let (dropped_tx, dropped) = sync_channel(1);
        let (returned_tx, returned) = sync_channel(1);
        // A drop that blocks until released: `drop_later` returns before it ends only if the
        // drop runs elsewhere.
        let caller = Arc::clone(&reclaimer);
        std::thread::spawn(move || {
            caller.drop_later(Held {
                release: release_rx,
                dropped: dropped_tx,
            });
            let _ = returned_tx.send(());
        });
        let returned = returned.recv_timeout(Duration::from_secs(10));
        release.send(()).expect("the item is alive until released");
        assert!(returned.is_ok(), "drop_later waited for the drop");
        let thread = dropped
            .recv_timeout(Duration::from_secs(10))
            .expect("dropped once released");
        assert_eq!(thread.as_deref(), Some("assay-reclaim"));
    }
}
