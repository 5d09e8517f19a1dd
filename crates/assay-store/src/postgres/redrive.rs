//! An operator's redrive of a failed order or a dead-lettered result; see
//! [`Store::redrive`](crate::Store::redrive).

use deadpool_postgres::Transaction;

use super::notify::{self, ORDERS_CHANNEL, OUTBOX_CHANNEL};
use super::orders;
use super::sql::{self, Col};
use crate::columns::Columns;
use crate::decide;
use crate::redrive::{NEWEST_RESULT, RECORD_ORDER, RECORD_RESULT, REQUEUE_ORDER, REQUEUE_RESULT};
use crate::{OrderId, RedriveKind, Redriven, StoreError, Timestamp};

/// Puts order `id` back in the queue, its row locked first (as every order write does), and
/// wakes the workers of every host.
pub async fn redrive(
    tx: &Transaction<'_>,
    id: OrderId,
    now: Timestamp,
) -> Result<Redriven, StoreError> {
    let order = orders::load(tx, id).await?;
    let newest = match sql::opt_row(tx, NEWEST_RESULT, &[&id.0]).await? {
        Some(row) => Some((row.col::<i64>(0)?, row.outbox_state(1)?)),
        None => None,
    };
    let (kind, to) = decide::redrive(&order, newest.map(|(_, state)| state))?;
    let millis = now.as_millis();
    let outbox_id = match (kind, newest) {
        (RedriveKind::Result, Some((dead, _))) => {
            sql::exec(tx, RECORD_RESULT, &[&dead, &millis, &order.state.as_str()]).await?;
            let queued: i64 = sql::one_row(tx, REQUEUE_RESULT, &[&dead, &millis])
                .await?
                .col(0)?;
            if to != order.state {
                orders::set_state(tx, &order, to, now).await?;
            }
            notify::send(tx, OUTBOX_CHANNEL).await?;
            Some(queued)
        }
        _ => {
            sql::exec(tx, RECORD_ORDER, &[&id.0, &millis]).await?;
            sql::exec(tx, REQUEUE_ORDER, &[&id.0, &millis]).await?;
            notify::send(tx, ORDERS_CHANNEL).await?;
            None
        }
    };
    Ok(decide::redriven(&order, (kind, to), outbox_id))
}
