//! The outbox: results waiting for delivery to StackOne, and their fate.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::orders;
use crate::decide::{self, OrderRow};
use crate::{
    OrderId, OrderState, OutboxClaim, OutboxDelivery, OutboxState, ResultBody, StoreError,
    Timestamp,
};

/// Queues `body` for `order`, due at once. Returns the row id.
pub fn insert(
    conn: &Connection,
    order: &OrderRow,
    body: &ResultBody,
    now: Timestamp,
) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO outbox (order_id, product, kind, account_id, stackone_order_id,
                 result_value, is_final, body, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9)
             RETURNING id",
        )?
        .query_row(
            params![
                order.id,
                order.product,
                order.kind.as_str(),
                order.account_id,
                order.order_id,
                body.result_value,
                body.is_final(),
                body.json,
                now,
            ],
            |r| r.get(0),
        )?)
}

/// The newest outbox row of `order` if it is pending or delivered and its body is `body`
/// byte for byte: such a result is not queued again. A dead-lettered newest row does not
/// count, so a result StackOne refused can be sent again.
pub fn repeat_of(
    conn: &Connection,
    order: OrderId,
    body: &ResultBody,
) -> Result<Option<i64>, StoreError> {
    let newest: Option<(i64, OutboxState, String)> = conn
        .prepare_cached(
            "SELECT id, state, body FROM outbox WHERE order_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([order], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(newest.and_then(|(id, state, last)| decide::is_repeat(state, &last, body).then_some(id)))
}

/// When [`claim`] will next find a row; see
/// [`Store::next_delivery_due`](crate::Store::next_delivery_due).
pub fn next_due(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    // Only the head row of each order counts, as in `claim`: a later row of an order cannot go
    // before the head, however early its own time.
    Ok(conn
        .prepare_cached(
            "SELECT MIN(MAX(COALESCE(o.next_attempt_at, 0), COALESCE(o.lease_until, 0)))
             FROM outbox o
             WHERE o.state = 'pending'
               AND NOT EXISTS (SELECT 1 FROM outbox p
                               WHERE p.order_id = o.order_id AND p.state = 'pending'
                                 AND p.id < o.id)",
        )?
        .query_row([], |r| r.get::<_, Option<Timestamp>>(0))?)
}

/// Claims due rows, the oldest pending row of each order only; see
/// [`Store::claim_outbox`](crate::Store::claim_outbox).
pub fn claim(
    conn: &Connection,
    limit: usize,
    now: Timestamp,
    lease: Duration,
) -> Result<Vec<OutboxDelivery>, StoreError> {
    let lease_until = now.plus(lease);
    // The NOT EXISTS keeps results of one order in creation order and one at a time: a row
    // is claimable only when no older row of its order is still pending (even one that is
    // backing off or leased).
    let due: Vec<i64> = conn
        .prepare_cached(
            "SELECT o.id FROM outbox o
             WHERE o.state = 'pending'
               AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?1)
               AND (o.lease_until IS NULL OR o.lease_until <= ?1)
               AND NOT EXISTS (SELECT 1 FROM outbox p
                               WHERE p.order_id = o.order_id AND p.state = 'pending'
                                 AND p.id < o.id)
             ORDER BY o.id LIMIT ?2",
        )?
        .query_map(params![now, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut claimed = Vec::with_capacity(due.len());
    for id in due {
        let row = conn
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, lease_until = ?2
                 WHERE id = ?1
                 RETURNING attempts, order_id, product, kind, account_id, stackone_order_id,
                     body, result_value, created_at",
            )?
            .query_row(params![id, lease_until], |r| {
                Ok(OutboxDelivery {
                    claim: OutboxClaim {
                        id,
                        attempt: r.get(0)?,
                    },
                    order: r.get(1)?,
                    product: r.get(2)?,
                    kind: super::sql_types::order_kind(r, 3)?,
                    account_id: r.get(4)?,
                    order_id: r.get(5)?,
                    body_json: r.get(6)?,
                    result_value: r.get(7)?,
                    created_at: r.get(8)?,
                    lease_until,
                })
            })?;
        claimed.push(row);
    }
    Ok(claimed)
}

struct OutboxRow {
    order: OrderId,
    state: OutboxState,
    attempts: u32,
}

fn load(conn: &Connection, id: i64) -> Result<OutboxRow, StoreError> {
    conn.prepare_cached("SELECT order_id, state, attempts FROM outbox WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(OutboxRow {
                order: r.get(0)?,
                state: r.get(1)?,
                attempts: r.get(2)?,
            })
        })
        .optional()?
        .ok_or(StoreError::OutboxNotFound(id))
}

/// Loads the row of `claim`, checking that it is pending and the claim is the current one.
fn load_claimed(conn: &Connection, claim: OutboxClaim) -> Result<OutboxRow, StoreError> {
    let row = load(conn, claim.id)?;
    decide::check_outbox_claim(row.state, row.attempts, claim)?;
    Ok(row)
}

/// Marks a row delivered; see [`Store::outbox_delivered`](crate::Store::outbox_delivered).
pub fn delivered(
    conn: &Connection,
    claim: OutboxClaim,
    http_status: u16,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row = load(conn, claim.id)?;
    if !decide::delivery(row.state, claim.id)? {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE outbox SET state = 'delivered', http_status = ?2, finished_at = ?3,
             lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![claim.id, http_status, now])?;
    settle_order(conn, row.order, now)
}

/// Schedules another attempt; see [`Store::outbox_retry`](crate::Store::outbox_retry).
pub fn retry(
    conn: &Connection,
    claim: OutboxClaim,
    not_before: Timestamp,
    error: &str,
) -> Result<(), StoreError> {
    load_claimed(conn, claim)?;
    conn.prepare_cached(
        "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3, lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![claim.id, not_before, error])?;
    Ok(())
}

/// Dead-letters a row; see [`Store::outbox_dead_letter`](crate::Store::outbox_dead_letter).
pub fn dead_letter(
    conn: &Connection,
    claim: OutboxClaim,
    http_status: Option<u16>,
    message: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row = load_claimed(conn, claim)?;
    conn.prepare_cached(
        "UPDATE outbox SET state = 'dead_lettered', http_status = ?2, last_error = ?3,
             finished_at = ?4, lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![claim.id, http_status, message, now])?;
    conn.prepare_cached(
        "INSERT INTO dead_letters (outbox_id, order_id, http_status, message, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![claim.id, row.order, http_status, message, now])?;
    settle_order(conn, row.order, now)
}

/// Once an order with a final result has nothing left to deliver, its state says how the
/// newest result fared: delivered, or dead-lettered.
fn settle_order(conn: &Connection, id: OrderId, now: Timestamp) -> Result<(), StoreError> {
    let order = orders::load(conn, id)?;
    if order.state != OrderState::ResultReceived {
        return Ok(());
    }
    let pending = conn
        .prepare_cached("SELECT 1 FROM outbox WHERE order_id = ?1 AND state = 'pending'")?
        .exists([id])?;
    if pending {
        return Ok(());
    }
    let newest: OutboxState = conn
        .prepare_cached("SELECT state FROM outbox WHERE order_id = ?1 ORDER BY id DESC LIMIT 1")?
        .query_row([id], |r| r.get(0))?;
    orders::set_state(conn, &order, decide::settled(newest), now)
}
