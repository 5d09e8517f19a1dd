//! `LISTEN`/`NOTIFY`: hosts wake each other when work is added.
//!
//! A transaction that adds work calls [`send`]; PostgreSQL delivers the notification when it
//! commits (and not at all if it rolls back), to every listening connection, this host's
//! included. The [`Listener`] task keeps one connection of its own in `LISTEN` and bumps the
//! counter of the channel in [`Wakeups`]. After it (re)connects it bumps both counters, since
//! notifications sent while it was away are lost: a worker woken that way looks at the store
//! and finds whatever it missed.

use std::time::Duration;

use deadpool_postgres::Transaction;
use tokio::sync::watch;
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

/// Sends a notification on `channel` when the transaction commits. PostgreSQL folds
/// identical notifications of one transaction into one.
pub async fn send(tx: &Transaction<'_>, channel: &str) -> Result<(), StoreError> {
    super::sql::exec(tx, "SELECT pg_notify($1, '')", &[&channel]).await?;
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
    let (found_tx, mut found) = tokio::sync::mpsc::unbounded_channel();
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
