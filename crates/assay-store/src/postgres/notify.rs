//! `LISTEN`/`NOTIFY`: hosts wake each other when work is added.
//!
//! A transaction that adds work calls [`send`]. Inside [`after_commit`] (every write of the
//! store runs inside it) that only notes the channel; once the transaction has committed, the
//! [`Notifier`] task sends the notification in a transaction of its own, and not at all if the
//! work rolled back. PostgreSQL delivers it to every listening connection, this host's
//! included. The [`Listener`] task keeps one connection of its own in `LISTEN` and bumps the
//! counter of the channel in [`Wakeups`]. After it (re)connects it bumps both counters, since
//! notifications sent while it was away are lost: a worker woken that way looks at the store
//! and finds whatever it missed.
//!
//! # Why not `NOTIFY` inside the transaction that adds the work
//!
//! PostgreSQL serialises the commits of every transaction that notified: each takes one
//! database-wide lock before its commit record is written and keeps it until the commit is
//! flushed, so those commits cannot share a WAL flush, and each waits for the flush of the one
//! before it. With every ingest batch and nearly every fulfilment and delivery outcome
//! notifying, sampling `pg_stat_activity` during the benchmark found most active backends in
//! `COMMIT` waiting for that lock (wait event `object`), and throughput bound by one fsync
//! per commit. Sent after the commit instead, the work's commits run side by side and share
//! flushes; the notification's own transaction changes no table and commits with
//! `synchronous_commit = off` (a lost wake-up costs a delay, never an order), so it holds the
//! lock for a moment, not for a flush. Notifications raised while one is being sent are
//! folded into the next.
//!
//! The price: a host that dies between its commit and the notification leaves the other
//! hosts to find the work on their own schedule (the next due time, at most
//! `claim_loop::MAX_IDLE`), as after a listener's reconnect. The host's own worker and relay
//! are woken in process by the edge and the worker, not by the notification.

use std::cell::Cell;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio_postgres::AsyncMessage;

use crate::{StoreError, Wakeups};

/// Notified when an order becomes due (a new order, a retry scheduled).
pub const ORDERS_CHANNEL: &str = "assay_orders";

/// Notified when an outbox row becomes due (a new result, a retry, the next result of an
/// order after the one before it was delivered or dead-lettered).
pub const OUTBOX_CHANNEL: &str = "assay_outbox";

/// The longest pause between two attempts to reconnect the listener.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(5);

/// The channels a transaction asked to notify.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Wake {
    pub orders: bool,
    pub outbox: bool,
}

impl Wake {
    fn add(&mut self, channel: &str) {
        match channel {
            ORDERS_CHANNEL => self.orders = true,
            _ => self.outbox = true,
        }
    }

    fn merge(&mut self, other: Wake) {
        self.orders |= other.orders;
        self.outbox |= other.outbox;
    }

    fn any(self) -> bool {
        self.orders || self.outbox
    }
}

tokio::task_local! {
    /// The channels noted by [`send`] inside [`after_commit`].
    static PENDING: Cell<Wake>;
}

/// Notifies `channel` once the transaction commits: noted for [`after_commit`] to send, or
/// (outside it) sent inside the transaction, which PostgreSQL delivers at commit.
pub async fn send(tx: &Transaction<'_>, channel: &str) -> Result<(), StoreError> {
    let noted = PENDING.try_with(|pending| {
        let mut wake = pending.get();
        wake.add(channel);
        pending.set(wake);
    });
    if noted.is_err() {
        super::sql::exec(tx, "SELECT pg_notify($1, '')", &[&channel]).await?;
    }
    Ok(())
}

/// Runs `work` (which commits a transaction, or fails and stores nothing) and, if it
/// succeeded, has `notifier` send what its [`send`] calls noted.
pub async fn after_commit<T>(
    notifier: &Notifier,
    work: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let (out, wake) = PENDING
        .scope(Cell::new(Wake::default()), async {
            let out = work.await;
            (out, PENDING.with(Cell::get))
        })
        .await;
    if out.is_ok() && wake.any() {
        notifier.wake(wake);
    }
    out
}

/// Sends notifications after the commits that asked for them; see the [module docs](self).
#[derive(Clone)]
pub struct Notifier {
    queue: mpsc::UnboundedSender<Wake>,
}

impl Notifier {
    /// Starts the sending task on the current runtime; it ends when every handle is dropped.
    pub fn start(pool: Pool) -> Notifier {
        let (queue, mut rx) = mpsc::unbounded_channel::<Wake>();
        tokio::spawn(async move {
            while let Some(mut wake) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    wake.merge(more);
                }
                if let Err(e) = notify(&pool, wake).await {
                    // The listeners find the work on their next due time instead.
                    tracing::warn!(error = %e, "could not wake the other hosts");
                }
            }
        });
        Notifier { queue }
    }

    /// Queues `wake` for sending.
    pub fn wake(&self, wake: Wake) {
        // The task outlives every store handle that could call this.
        let _ = self.queue.send(wake);
    }
}

/// One transaction that notifies the channels of `wake`, committed without waiting for a
/// flush: it changes no table, and one round trip.
async fn notify(pool: &Pool, wake: Wake) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let mut sql = String::from("BEGIN; SET LOCAL synchronous_commit = off;");
    for (on, channel) in [(wake.orders, ORDERS_CHANNEL), (wake.outbox, OUTBOX_CHANNEL)] {
        if on {
            sql.push_str(&format!(" NOTIFY {channel};"));
        }
    }
    sql.push_str(" COMMIT");
    if let Err(e) = client.batch_execute(&sql).await {
        // Possibly left inside the failed transaction: not returned to the pool.
        drop(deadpool_postgres::Object::take(client));
        return Err(e.into());
    }
    Ok(())
}

/// The listening task and the receivers it feeds.
pub struct Listener {
    orders: watch::Receiver<u64>,
    outbox: watch::Receiver<u64>,
    task: AbortHandle,
}

impl Listener {
    /// Starts listening on the current runtime.
    pub fn start(config: tokio_postgres::Config) -> Listener {
        let (orders_tx, orders) = watch::channel(0);
        let (outbox_tx, outbox) = watch::channel(0);
        let task = tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                match listen(&config, &orders_tx, &outbox_tx).await {
                    Ok(()) => delay = Duration::from_millis(100),
                    Err(e) => {
                        tracing::warn!(error = %e, "store listener lost its connection");
                        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                    }
                }
                tokio::time::sleep(delay).await;
            }
        })
        .abort_handle();
        Listener {
            orders,
            outbox,
            task,
        }
    }

    /// Receivers for a worker; see [`Store::wakeups`](crate::Store::wakeups).
    pub fn wakeups(&self) -> Wakeups {
        Wakeups {
            orders: self.orders.clone(),
            outbox: self.outbox.clone(),
        }
    }

    /// Ends the task (the store is going away).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Listens until the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    orders: &watch::Sender<u64>,
    outbox: &watch::Sender<u64>,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let (found_tx, mut found) = mpsc::unbounded_channel();
    // The connection must be polled for the client's queries to make progress, and its
    // notifications come out of the same poll.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let _ = found_tx.send(n.channel().to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(StoreError::from(e)),
                None => return Ok(()),
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {ORDERS_CHANNEL}; LISTEN {OUTBOX_CHANNEL}"))
        .await?;
    orders.send_modify(|n| *n += 1);
    outbox.send_modify(|n| *n += 1);
    while let Some(channel) = found.recv().await {
        match channel.as_str() {
            ORDERS_CHANNEL => orders.send_modify(|n| *n += 1),
            OUTBOX_CHANNEL => outbox.send_modify(|n| *n += 1),
            _ => {}
        }
    }
    // The driver ended (the sender is gone): say why.
    drop(client);
    driver
        .await
        .map_err(|e| StoreError::Backend(format!("store listener task failed: {e}")))?
}
