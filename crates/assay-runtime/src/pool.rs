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

use std::future::Future;
use std::sync::Arc;

/// The nice value of the pool's threads (0 is the host's; higher runs later when cores are
/// contended). Setting it needs no privilege.
pub const CALL_THREAD_NICE: i32 = 10;

/// A multi-threaded runtime for plugin calls, shut down in the background when the last
/// plugin holding it is dropped.
#[derive(Debug)]
pub struct CallPool {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
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
        }))
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

/// Lowers the calling thread's priority (on Linux the nice value is per thread).
fn lower_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, CALL_THREAD_NICE) {
        tracing::debug!(error = %e, "plugin threads keep the host's priority");
    }
}
