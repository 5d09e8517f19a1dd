//! The worker's and the relay's outcomes, committed together: one collector task per host
//! records the outcomes queued meanwhile in one transaction, as `ingest` does for webhooks.
//!
//! Each outcome ([`Store::fulfilment_succeeded`](crate::Store::fulfilment_succeeded),
//! `fulfilment_retry`, `fulfilment_failed`, `outbox_delivered`, `outbox_retry`,
//! `outbox_dead_letter`) runs the very statements it runs alone (`orders`, `outbox`): it locks
//! its row, checks the claim (the attempt is the fencing token) and writes. What changes is
//! how many share a transaction: without this, each outcome was a transaction and a WAL flush
//! of its own, and at a few hundred orders a second those commits outnumbered the webhooks'
//! group commits more than ten to one.
//!
//! A batch's outcomes run side by side on one connection: tokio-postgres pipelines the
//! statements of concurrent queries, so a batch of 20 outcomes takes about as many round
//! trips as one, not twenty times as many. That is only sound when they cannot see each
//! other's writes, so a batch holds at most one outcome per order (fulfilment outcomes,
//! first) and one per outbox row (delivery outcomes, after the fulfilment outcomes have all
//! finished); a second outcome for a row already in the batch waits for the next batch. Two
//! delivery outcomes of different rows of one order cannot both be live: an order's next row
//! is claimed only once the one before it is delivered or dead-lettered, and an outcome of a
//! stale claim finds its row settled and changes nothing. Rows are locked in id order, so
//! two hosts' batches take their locks in the same order.
//!
//! A batch commits only if every outcome in it succeeded. If one is refused (a lost lease,
//! a conflict) or the database refuses a statement, the transaction is rolled back and each
//! outcome is recorded again in a transaction of its own, so every caller gets the answer it
//! would have got alone, and nothing of a refused outcome is stored. The database being
//! unreachable answers every outcome of the batch with [`StoreError::Unavailable`], as it
//! would have alone.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::ingest::Committer;
use super::notify::{self, Notifier};
use super::{orders, outbox};
use crate::{
    OrderClaim, OutboxClaim, ResultBody, StoreError, Timestamp, sqlite::WRITE_QUEUE_CAPACITY,
};

/// The most outcomes committed in one transaction.
pub const MAX_OUTCOMES_PER_COMMIT: usize = 64;

/// One outcome of a claimed order or outbox row.
#[derive(Clone)]
pub enum Outcome {
    Succeeded {
        claim: OrderClaim,
        external_id: String,
        test_url: Option<String>,
        first_result: Option<ResultBody>,
    },
    Retry {
        claim: OrderClaim,
        not_before: Timestamp,
        error: String,
    },
    Failed {
        claim: OrderClaim,
        reason: String,
        result: Option<ResultBody>,
    },
    Delivered {
        claim: OutboxClaim,
        http_status: u16,
    },
    OutboxRetry {
        claim: OutboxClaim,
        not_before: Timestamp,
        error: String,
    },
    DeadLetter {
        claim: OutboxClaim,
        http_status: Option<u16>,
        message: String,
    },
}

/// Which rows an outcome is about: fulfilment outcomes run before delivery outcomes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Row {
    Order(i64),
    Outbox(i64),
}

impl Outcome {
    fn row(&self) -> Row {
        match self {
            Outcome::Succeeded { claim, .. }
            | Outcome::Retry { claim, .. }
            | Outcome::Failed { claim, .. } => Row::Order(claim.order.0),
            Outcome::Delivered { claim, .. }
            | Outcome::OutboxRetry { claim, .. }
            | Outcome::DeadLetter { claim, .. } => Row::Outbox(claim.id),
        }
    }

    /// Records the outcome inside `tx`: the statements it runs alone.
    async fn record(self, tx: &Transaction<'_>, now: Timestamp) -> Result<(), StoreError> {
        match self {
            Outcome::Succeeded {
                claim,
                external_id,
                test_url,
                first_result,
            } => orders::succeeded(tx, claim, external_id, test_url, first_result, now).await,
            Outcome::Retry {
                claim,
                not_before,
                error,
            } => orders::retry(tx, claim, not_before, error, now).await,
            Outcome::Failed {
                claim,
                reason,
                result,
            } => orders::failed(tx, claim, reason, result, now).await,
            Outcome::Delivered { claim, http_status } => {
                outbox::delivered(tx, claim, http_status, now).await
            }
            Outcome::OutboxRetry {
                claim,
                not_before,
                error,
            } => outbox::retry(tx, claim, not_before, error).await,
            Outcome::DeadLetter {
                claim,
                http_status,
                message,
            } => outbox::dead_letter(tx, claim, http_status, message, now).await,
        }
    }
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// The handle the store keeps; the task ends when it is dropped.
pub struct Collector {
    queue: mpsc::Sender<(Outcome, Reply)>,
    /// Transactions committed so far.
    commits: Arc<AtomicU64>,
}

impl Collector {
    /// Starts the task on the current runtime.
    pub fn start(pool: Pool, notifier: Notifier) -> Collector {
        let (queue, rx) = mpsc::channel(WRITE_QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let to = Committer { pool, notifier };
        tokio::spawn(run(to, rx, Arc::clone(&commits)));
        Collector { queue, commits }
    }

    /// How many transactions have committed outcomes so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Records `outcome`; returns once it is committed (or refused).
    pub async fn record(&self, outcome: Outcome) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((outcome, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the outcome task has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the outcome task dropped the outcome".into()))?
    }
}

async fn run(pool: Committer, mut rx: mpsc::Receiver<(Outcome, Reply)>, commits: Arc<AtomicU64>) {
    // Outcomes whose row was already in the batch being formed: they go in the next one.
    let mut waiting: VecDeque<(Outcome, Reply)> = VecDeque::new();
    loop {
        let mut batch = Vec::new();
        let mut rows = HashSet::new();
        for item in std::mem::take(&mut waiting) {
            if batch.len() < MAX_OUTCOMES_PER_COMMIT && rows.insert(item.0.row()) {
                batch.push(item);
            } else {
                waiting.push_back(item);
            }
        }
        if batch.is_empty() {
            let Some(first) = rx.recv().await else { return };
            rows.insert(first.0.row());
            batch.push(first);
        }
        while batch.len() < MAX_OUTCOMES_PER_COMMIT {
            let Ok(next) = rx.try_recv() else { break };
            if rows.insert(next.0.row()) {
                batch.push(next);
            } else {
                waiting.push_back(next);
            }
        }
        commit_batch(&pool, batch, &commits).await;
    }
}

/// Records `batch` (one outcome per row) in one transaction, or each outcome alone if that
/// fails for one outcome's sake, and answers each.
async fn commit_batch(pool: &Committer, mut batch: Vec<(Outcome, Reply)>, commits: &AtomicU64) {
    batch.sort_by_key(|(o, _)| o.row());
    let outcomes: Vec<Outcome> = batch.iter().map(|(o, _)| o.clone()).collect();
    let answers = match record_all(pool, outcomes).await {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            vec![Ok(()); batch.len()]
        }
        Err(e) if e.is_unavailable() || batch.len() == 1 => vec![Err(e); batch.len()],
        Err(e) => {
            tracing::debug!(error = %e, outcomes = batch.len(), "outcome batch refused; recording each alone");
            let mut alone = Vec::with_capacity(batch.len());
            for (outcome, _) in &batch {
                let answer = record_all(pool, vec![outcome.clone()]).await;
                if answer.is_ok() {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                alone.push(answer);
            }
            alone
        }
    };
    for ((_, reply), answer) in batch.into_iter().zip(answers) {
        // The caller may have gone away; the outcome stands.
        let _ = reply.send(answer);
    }
}

/// Records `outcomes` (sorted, one per row) in one transaction: all, or (on any error) none.
/// Fulfilment outcomes first, side by side, then delivery outcomes, side by side.
async fn record_all(to: &Committer, outcomes: Vec<Outcome>) -> Result<(), StoreError> {
    notify::after_commit(&to.notifier, async {
        let mut client = to.pool.get().await?;
        let tx = client.transaction().await?;
        let now = Timestamp::now();
        let (of_orders, of_outbox): (Vec<Outcome>, Vec<Outcome>) = outcomes
            .into_iter()
            .partition(|o| matches!(o.row(), Row::Order(_)));
        for phase in [of_orders, of_outbox] {
            let recorded =
                futures::future::join_all(phase.into_iter().map(|o| o.record(&tx, now))).await;
            // The first refusal is the batch's; with one outcome, that outcome's own answer.
            recorded.into_iter().collect::<Result<Vec<()>, _>>()?;
        }
        tx.commit().await?;
        Ok(())
    })
    .await
}
