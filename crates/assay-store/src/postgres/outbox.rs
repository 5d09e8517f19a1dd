//! The outbox: results waiting for delivery to StackOne, and their fate.
//!
//! A row's outcome locks the row (`FOR UPDATE`) and then its order, always in that order.

use std::time::Duration;

use deadpool_postgres::Transaction;

use super::notify::{self, OUTBOX_CHANNEL};
use super::orders;
use super::sql::{self, Col};
use crate::columns::Columns;
use crate::decide::{self, OrderRow};
use crate::{
    OrderId, OrderState, OutboxClaim, OutboxDelivery, OutboxState, ResultBody, StoreError,
    Timestamp,
};

/// Queues `body` for `order`, due at once. Returns the row id.
pub async fn insert(
    tx: &Transaction<'_>,
    order: &OrderRow,
    body: &ResultBody,
    now: Timestamp,
) -> Result<i64, StoreError> {
    sql::one_row(
        tx,
        "INSERT INTO outbox (order_id, product, kind, account_id, stackone_order_id,
             result_value, is_final, body, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)
         RETURNING id",
        &[
            &order.id.0,
            &order.product,
            &order.kind.as_str(),
            &order.account_id,
            &order.order_id,
            &body.result_value,
            &body.is_final(),
            &body.json,
            &now.as_millis(),
        ],
    )
    .await?
    .col(0)
}

/// The newest outbox row of `order` if it is pending or delivered and its body is `body`
/// byte for byte; see the SQLite twin `sqlite::outbox::repeat_of`. The caller holds the
/// order's lock, so no row of the order is being added meanwhile.
pub async fn repeat_of(
    tx: &Transaction<'_>,
    order: OrderId,
    body: &ResultBody,
) -> Result<Option<i64>, StoreError> {
    let newest = sql::opt_row(
        tx,
        "SELECT id, state, body FROM outbox WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
        &[&order.0],
    )
    .await?;
    let Some(row) = newest else { return Ok(None) };
    let repeat = decide::is_repeat(row.outbox_state(1)?, row.col(2)?, body);
    Ok(if repeat { Some(row.col(0)?) } else { None })
}

/// When [`claim`] will next find a row; see
/// [`Store::next_delivery_due`](crate::Store::next_delivery_due).
pub async fn next_due(tx: &Transaction<'_>) -> Result<Option<Timestamp>, StoreError> {
    sql::one_row(
        tx,
        "SELECT MIN(GREATEST(COALESCE(o.next_attempt_at, 0), COALESCE(o.lease_until, 0)))
         FROM outbox o
         WHERE o.state = 'pending'
           AND NOT EXISTS (SELECT 1 FROM outbox p
                           WHERE p.order_id = o.order_id AND p.state = 'pending'
                             AND p.id < o.id)",
        &[],
    )
    .await?
    .opt_ts(0)
}

/// Claims due rows, the oldest pending row of each order only; see
/// [`Store::claim_outbox`](crate::Store::claim_outbox).
///
/// The `NOT EXISTS` reads the older rows of the order from the statement's snapshot, not
/// through locks: a head row another host holds (or is claiming) is still pending there, so
/// the row behind it is not claimable anywhere until the head is delivered or dead-lettered.
pub async fn claim(
    tx: &Transaction<'_>,
    limit: usize,
    now: Timestamp,
    lease: Duration,
) -> Result<Vec<OutboxDelivery>, StoreError> {
    let lease_until = now.plus(lease);
    let rows = sql::rows(
        tx,
        "UPDATE outbox x SET attempts = x.attempts + 1, lease_until = $2
         FROM (SELECT o.id FROM outbox o
               WHERE o.state = 'pending'
                 AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= $1)
                 AND (o.lease_until IS NULL OR o.lease_until <= $1)
                 AND NOT EXISTS (SELECT 1 FROM outbox p
                                 WHERE p.order_id = o.order_id AND p.state = 'pending'
                                   AND p.id < o.id)
               ORDER BY o.id LIMIT $3
               FOR UPDATE SKIP LOCKED) AS due
         WHERE x.id = due.id
         RETURNING x.id, x.attempts, x.order_id, x.product, x.kind, x.account_id,
             x.stackone_order_id, x.body, x.result_value, x.created_at",
        &[
            &now.as_millis(),
            &lease_until.as_millis(),
            &sql::limit(limit),
        ],
    )
    .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(OutboxDelivery {
                claim: OutboxClaim {
                    id: r.col(0)?,
                    attempt: r.count(1)?,
                },
                order: r.order_id(2)?,
                product: r.col(3)?,
                kind: r.kind(4)?,
                account_id: r.col(5)?,
                order_id: r.col(6)?,
                body_json: r.col(7)?,
                result_value: r.col(8)?,
                created_at: r.ts(9)?,
                lease_until,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    claimed.sort_by_key(|d| d.claim.id);
    Ok(claimed)
}

struct OutboxRow {
    order: OrderId,
    state: OutboxState,
    attempts: u32,
}

async fn load(tx: &Transaction<'_>, id: i64) -> Result<OutboxRow, StoreError> {
    let row = sql::opt_row(
        tx,
        "SELECT order_id, state, attempts FROM outbox WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .ok_or(StoreError::OutboxNotFound(id))?;
    Ok(OutboxRow {
        order: row.order_id(0)?,
        state: row.outbox_state(1)?,
        attempts: row.count(2)?,
    })
}

/// Loads and locks the row of `claim`, checking that it is pending and the claim current.
async fn load_claimed(tx: &Transaction<'_>, claim: OutboxClaim) -> Result<OutboxRow, StoreError> {
    let row = load(tx, claim.id).await?;
    decide::check_outbox_claim(row.state, row.attempts, claim)?;
    Ok(row)
}

/// Marks a row delivered; see [`Store::outbox_delivered`](crate::Store::outbox_delivered).
pub async fn delivered(
    tx: &Transaction<'_>,
    claim: OutboxClaim,
    http_status: u16,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row = load(tx, claim.id).await?;
    if !decide::delivery(row.state, claim.id)? {
        return Ok(());
    }
    sql::exec(
        tx,
        "UPDATE outbox SET state = 'delivered', http_status = $2, finished_at = $3,
             lease_until = NULL
         WHERE id = $1",
        &[&claim.id, &i32::from(http_status), &now.as_millis()],
    )
    .await?;
    settle_order(tx, row.order, now).await
}

/// Schedules another attempt; see [`Store::outbox_retry`](crate::Store::outbox_retry).
pub async fn retry(
    tx: &Transaction<'_>,
    claim: OutboxClaim,
    not_before: Timestamp,
    error: String,
) -> Result<(), StoreError> {
    load_claimed(tx, claim).await?;
    sql::exec(
        tx,
        "UPDATE outbox SET next_attempt_at = $2, last_error = $3, lease_until = NULL
         WHERE id = $1",
        &[&claim.id, &not_before.as_millis(), &error],
    )
    .await?;
    notify::send(tx, OUTBOX_CHANNEL).await
}

/// Dead-letters a row; see [`Store::outbox_dead_letter`](crate::Store::outbox_dead_letter).
pub async fn dead_letter(
    tx: &Transaction<'_>,
    claim: OutboxClaim,
    http_status: Option<u16>,
    message: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let row = load_claimed(tx, claim).await?;
    let status = http_status.map(i32::from);
    sql::exec(
        tx,
        "UPDATE outbox SET state = 'dead_lettered', http_status = $2, last_error = $3,
             finished_at = $4, lease_until = NULL
         WHERE id = $1",
        &[&claim.id, &status, &message, &now.as_millis()],
    )
    .await?;
    sql::exec(
        tx,
        "INSERT INTO dead_letters (outbox_id, order_id, http_status, message, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&claim.id, &row.order.0, &status, &message, &now.as_millis()],
    )
    .await?;
    settle_order(tx, row.order, now).await
}

/// Once an order with a final result has nothing left to deliver, its state says how the
/// newest result fared. Otherwise the order's next row is due now: wake the relays.
async fn settle_order(tx: &Transaction<'_>, id: OrderId, now: Timestamp) -> Result<(), StoreError> {
    let order = orders::load(tx, id).await?;
    let pending = sql::opt_row(
        tx,
        "SELECT 1 FROM outbox WHERE order_id = $1 AND state = 'pending' LIMIT 1",
        &[&id.0],
    )
    .await?
    .is_some();
    if pending {
        return notify::send(tx, OUTBOX_CHANNEL).await;
    }
    if order.state != OrderState::ResultReceived {
        return Ok(());
    }
    let newest = sql::one_row(
        tx,
        "SELECT state FROM outbox WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
        &[&id.0],
    )
    .await?
    .outbox_state(0)?;
    orders::set_state(tx, &order, decide::settled(newest), now).await
}
