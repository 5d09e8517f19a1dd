//! The loop the order worker and the outbox relay share: claim due work from the store, run
//! each item on its own task with bounded concurrency, and sleep until woken, a task finishes,
//! or the idle poll comes round.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use assay_store::StoreError;

/// Runs until `shutdown` completes; work in flight then finishes.
///
/// `claim(n)` claims up to `n` items (as many as there are free slots); `work(item)` handles
/// one. `wake` lets other parts say that new work was committed.
pub async fn run<T, C, CF, W, WF>(
    name: &'static str,
    concurrency: usize,
    idle_poll: Duration,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
    claim: C,
    work: W,
) where
    T: Send + 'static,
    C: Fn(usize) -> CF,
    CF: Future<Output = Result<Vec<T>, StoreError>>,
    W: Fn(T) -> WF,
    WF: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let free = permits.available_permits();
        let claimed = if free == 0 {
            Vec::new()
        } else {
            claim(free).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "{name}: cannot claim work from the store");
                Vec::new()
            })
        };
        let idle = claimed.is_empty();
        for item in claimed {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let job = work(item);
            tasks.spawn(async move {
                job.await;
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
        if idle {
            tokio::select! {
                () = &mut shutdown => break,
                () = wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(idle_poll) => {}
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}
