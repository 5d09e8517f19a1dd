//! The loop the order worker and the outbox relay share: claim due work from the store, run
//! each item on its own task with bounded concurrency, and sleep until woken, a task finishes,
//! or the store's next due time comes round.
//!
//! An idle loop does not poll: it asks the store when the next item falls due (a retry's
//! time, a lease's end) and sleeps until then, or until another part of the host commits new
//! work and wakes it. [`MAX_IDLE`] bounds the sleep as a safety net.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use assay_store::{StoreError, Timestamp};

/// The longest an idle loop sleeps without being woken or having anything due.
pub const MAX_IDLE: Duration = Duration::from_secs(30);
/// The shortest idle sleep: an item the store calls due that the claim did not find (it fell
/// due between the two queries) is picked up after this, without spinning.
pub const MIN_IDLE: Duration = Duration::from_millis(20);
/// How long to wait before asking the store again after it failed.
pub const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The longest a worker or relay keeps recording an outcome while the store is unavailable
/// (a database restarting, a dropped connection; at most half the claim's lease), so an
/// outage of seconds does not leave finished work to wait for its lease to end and be done
/// again. Past it the lease takes over, as after a crash.
pub const OUTCOME_RETRY: Duration = Duration::from_secs(30);

/// Runs `record` until it succeeds, fails for a reason other than
/// [`StoreError::Unavailable`], or trying again would pass `min(OUTCOME_RETRY, lease / 2)`;
/// [`STORE_ERROR_PAUSE`] between tries.
pub async fn record_outcome<T, F, Fut>(lease: Duration, mut record: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = std::time::Instant::now() + OUTCOME_RETRY.min(lease / 2);
    loop {
        match record().await {
            Err(e)
                if e.is_unavailable()
                    && std::time::Instant::now() + STORE_ERROR_PAUSE < deadline =>
            {
                tracing::warn!(error = %e, "the store is unavailable; recording the outcome again shortly");
                tokio::time::sleep(STORE_ERROR_PAUSE).await;
            }
            done => return done,
        }
    }
}

/// What a claim loop does, besides running its work.
pub struct ClaimLoop<C, N> {
    /// Names the loop in logs.
    pub name: &'static str,
    /// The most items in flight at once.
    pub concurrency: usize,
    /// Woken by the parts that commit new work.
    pub wake: Arc<Notify>,
    /// `claim(n)` claims up to `n` due items (as many as there are free slots).
    pub claim: C,
    /// When the next item falls due; `None` when nothing waits.
    pub next_due: N,
}

impl<C, N> ClaimLoop<C, N> {
    /// Runs until `cancel` fires, checking it on every pass; work in flight then finishes.
    /// `work(item)` handles one item.
    pub async fn run<T, CF, NF, W, WF>(self, cancel: CancellationToken, work: W)
    where
        T: Send + 'static,
        C: Fn(usize) -> CF,
        CF: Future<Output = Result<Vec<T>, StoreError>>,
        N: Fn() -> NF,
        NF: Future<Output = Result<Option<Timestamp>, StoreError>>,
        W: Fn(T) -> WF,
        WF: Future<Output = ()> + Send + 'static,
    {
        let name = self.name;
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let mut tasks = JoinSet::new();
        while !cancel.is_cancelled() {
            let free = permits.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                (self.claim)(free).await
            };
            let claimed = claimed.unwrap_or_else(|e| {
                tracing::error!(error = %e, "{name}: cannot claim work from the store");
                Vec::new()
            });
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
            if !idle {
                continue;
            }
            let pause = if free == 0 {
                // Every slot is busy: a finishing task is what frees one.
                MAX_IDLE
            } else {
                match (self.next_due)().await {
                    Ok(Some(due)) => due.since(Timestamp::now()).clamp(MIN_IDLE, MAX_IDLE),
                    Ok(None) => MAX_IDLE,
                    Err(e) => {
                        tracing::error!(error = %e, "{name}: cannot read the next due time");
                        STORE_ERROR_PAUSE
                    }
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.wake.notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A store call that is unavailable `outage` times, then answers `Ok(attempt)`.
    fn flaky(outage: u32, tries: &AtomicU32) -> impl Future<Output = Result<u32, StoreError>> {
        let attempt = tries.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if attempt <= outage {
                Err(StoreError::Unavailable("connection closed".into()))
            } else {
                Ok(attempt)
            }
        }
    }

    #[tokio::test]
    async fn an_outcome_is_recorded_again_while_the_store_is_briefly_unavailable() {
        let tries = AtomicU32::new(0);
        let recorded = record_outcome(Duration::from_secs(60), || flaky(2, &tries)).await;
        assert_eq!(recorded.expect("recorded on the third try"), 3);
    }

    #[tokio::test]
    async fn a_short_lease_gives_up_rather_than_outlive_it() {
        // Half of a 2 s lease leaves no room for a pause of STORE_ERROR_PAUSE: one try.
        let tries = AtomicU32::new(0);
        let recorded = record_outcome(Duration::from_secs(2), || flaky(5, &tries)).await;
        assert!(recorded.expect_err("still unavailable").is_unavailable());
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn other_errors_are_not_tried_again() {
        let tries = AtomicU32::new(0);
        let recorded = record_outcome(Duration::from_secs(60), || {
            tries.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>(StoreError::Conflict("the claim was taken over".into())) }
        })
        .await;
        assert!(matches!(recorded, Err(StoreError::Conflict(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
