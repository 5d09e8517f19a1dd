//! An operator's redrive of a failed order or a dead-lettered result; see
//! [`Store::redrive`](crate::Store::redrive).
//!
//! SQLite numbers `$n` parameters in order of first appearance, not by `n`: they are bound
//! by name.

use rusqlite::{Connection, OptionalExtension, named_params};

use super::orders;
use crate::decide;
use crate::redrive::{NEWEST_RESULT, RECORD_ORDER, RECORD_RESULT, REQUEUE_ORDER, REQUEUE_RESULT};
use crate::{OrderId, OutboxState, RedriveKind, Redriven, StoreError, Timestamp};

/// Puts order `id` back in the queue, in the writer's transaction.
pub fn redrive(conn: &Connection, id: OrderId, now: Timestamp) -> Result<Redriven, StoreError> {
    let order = orders::load(conn, id)?;
    let newest: Option<(i64, OutboxState)> = conn
        .prepare_cached(NEWEST_RESULT)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (kind, to) = decide::redrive(&order, newest.map(|(_, state)| state))?;
    let outbox_id = match (kind, newest) {
        (RedriveKind::Result, Some((dead, _))) => {
            conn.prepare_cached(RECORD_RESULT)?.execute(named_params! {
                "$1": dead, "$2": now, "$3": order.state,
            })?;
            let queued: i64 = conn
                .prepare_cached(REQUEUE_RESULT)?
                .query_row(named_params! {"$1": dead, "$2": now}, |r| r.get(0))?;
            if to != order.state {
                orders::set_state(conn, &order, to, now)?;
            }
            Some(queued)
        }
        _ => {
            conn.prepare_cached(RECORD_ORDER)?
                .execute(named_params! {"$1": id, "$2": now})?;
            conn.prepare_cached(REQUEUE_ORDER)?
                .execute(named_params! {"$1": id, "$2": now})?;
            None
        }
    };
    Ok(decide::redriven(&order, (kind, to), outbox_id))
}
