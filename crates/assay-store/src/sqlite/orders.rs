//! Order claims, fulfilment outcomes and incoming results.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::outbox;
use crate::decide::{self, OrderRow};
use crate::fair;
use crate::{
    ClaimSlots, ClaimedOrder, OrderClaim, OrderId, OrderRef, OrderState, ResultBody,
    ResultRecorded, ResultRejection, StoreError, Timestamp,
};

const ORDER_ROW: &str =
    "SELECT id, product, stackone_order_id, kind, account_id, state, attempts, external_id
     FROM orders";

fn order_row(r: &Row<'_>) -> rusqlite::Result<OrderRow> {
    Ok(OrderRow {
        id: r.get(0)?,
        product: r.get(1)?,
        order_id: r.get(2)?,
        kind: super::sql_types::order_kind(r, 3)?,
        account_id: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        external_id: r.get(7)?,
    })
}

/// Loads an order by id.
pub fn load(conn: &Connection, id: OrderId) -> Result<OrderRow, StoreError> {
    conn.prepare_cached(&format!("{ORDER_ROW} WHERE id = ?1"))?
        .query_row([id], order_row)
        .optional()?
        .ok_or(StoreError::OrderNotFound(id))
}

fn find(conn: &Connection, product: &str, r: &OrderRef) -> Result<Option<OrderRow>, StoreError> {
    let (sql, key) = match r {
        OrderRef::OrderId(k) => ("WHERE product = ?1 AND stackone_order_id = ?2", k),
        OrderRef::ExternalId(k) => ("WHERE product = ?1 AND external_id = ?2", k),
    };
    Ok(conn
        .prepare_cached(&format!("{ORDER_ROW} {sql}"))?
        .query_row(params![product, key], order_row)
        .optional()?)
}

/// Moves an order to `to` after checking the state machine, stamping `updated_at`.
pub fn set_state(
    conn: &Connection,
    order: &OrderRow,
    to: OrderState,
    now: Timestamp,
) -> Result<(), StoreError> {
    order.state.check(order.id, to)?;
    conn.prepare_cached("UPDATE orders SET state = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![order.id, to, now])?;
    Ok(())
}

/// The orders [`claim`] may take at `?1`: received and due, or fulfilling with a lease
/// that ran out.
const DUE: &str = "((state = 'received' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1))
     OR (state = 'fulfilling' AND (lease_until IS NULL OR lease_until <= ?1)))";

/// When [`claim`] will next find an order of a product not in `skip`; see
/// [`Store::next_fulfilment_due_except`](crate::Store::next_fulfilment_due_except).
pub fn next_due(conn: &Connection, skip: &[String]) -> Result<Option<Timestamp>, StoreError> {
    // The same two conditions as `claim`, as times: a received order is due at its
    // `next_attempt_at` (at once when there is none), a fulfilling one when its lease ends.
    let skip = serde_json::json!(skip).to_string();
    Ok(conn
        .prepare_cached(
            "SELECT MIN(due) FROM (
                 SELECT COALESCE(next_attempt_at, 0) AS due, product FROM orders
                 WHERE state = 'received'
                 UNION ALL
                 SELECT COALESCE(lease_until, 0), product FROM orders WHERE state = 'fulfilling')
             WHERE product NOT IN (SELECT value FROM json_each(?1))",
        )?
        .query_row([skip], |r| r.get::<_, Option<Timestamp>>(0))?)
}

/// Claims due orders fairly across products (see [`crate::fair`]); see
/// [`Store::claim_due_orders`](crate::Store::claim_due_orders).
pub fn claim(
    conn: &Connection,
    slots: &ClaimSlots,
    now: Timestamp,
    lease: Duration,
) -> Result<Vec<ClaimedOrder>, StoreError> {
    // Products with due orders, the one whose oldest due order is oldest first.
    let products: Vec<String> = conn
        .prepare_cached(&format!(
            "SELECT product FROM orders WHERE {DUE} GROUP BY product ORDER BY MIN(id)"
        ))?
        .query_map(params![now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut per_product = Vec::with_capacity(products.len());
    for product in products {
        let free = slots.free(&product);
        if free == 0 {
            continue;
        }
        let due: Vec<(OrderId, OrderState)> = conn
            .prepare_cached(&format!(
                "SELECT id, state FROM orders WHERE product = ?2 AND {DUE} ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![now, product, free], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        per_product.push(due);
    }
    let due = fair::interleave(per_product, slots.total);
    let lease_until = now.plus(lease);
    let mut claimed = Vec::with_capacity(due.len());
    for (id, state) in due {
        state.check(id, OrderState::Fulfilling)?;
        let order = conn
            .prepare_cached(
                "UPDATE orders SET state = 'fulfilling', attempts = attempts + 1,
                     lease_until = ?2, updated_at = ?3
                 WHERE id = ?1
                 RETURNING attempts, product, stackone_order_id, kind, account_id, provider,
                     package_id, order_json, last_error, created_at",
            )?
            .query_row(params![id, lease_until, Timestamp::now()], |r| {
                Ok(ClaimedOrder {
                    claim: OrderClaim {
                        order: id,
                        attempt: r.get(0)?,
                    },
                    product: r.get(1)?,
                    order_id: r.get(2)?,
                    kind: super::sql_types::order_kind(r, 3)?,
                    account_id: r.get(4)?,
                    provider: r.get(5)?,
                    package_id: r.get(6)?,
                    order_json: r.get(7)?,
                    last_error: r.get(8)?,
                    received_at: r.get(9)?,
                    lease_until,
                })
            })?;
        claimed.push(order);
    }
    Ok(claimed)
}

/// Records a successful fulfilment; see [`Store::fulfilment_succeeded`](crate::Store::fulfilment_succeeded).
pub fn succeeded(
    conn: &Connection,
    claim: OrderClaim,
    external_id: &str,
    test_url: Option<&str>,
    first_result: Option<&ResultBody>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load(conn, claim.order)?;
    let Some(to) = decide::success(&order, external_id, first_result)? else {
        return Ok(());
    };
    let taken: Option<OrderId> = conn
        .prepare_cached("SELECT id FROM orders WHERE product = ?1 AND external_id = ?2")?
        .query_row(params![order.product, external_id], |r| r.get(0))
        .optional()?;
    if let Some(other) = taken {
        return Err(decide::external_id_taken(&order, external_id, other));
    }
    conn.prepare_cached(
        "UPDATE orders SET state = ?2, external_id = ?3, test_url = ?4, lease_until = NULL,
             next_attempt_at = NULL, last_error = NULL, updated_at = ?5
         WHERE id = ?1",
    )?
    .execute(params![order.id, to, external_id, test_url, now])?;
    if let Some(body) = first_result
        && outbox::repeat_of(conn, order.id, body)?.is_none()
    {
        outbox::insert(conn, &order, body, now)?;
    }
    Ok(())
}

/// Loads the order of `claim` and checks that the claim is still the current one.
fn load_claimed(conn: &Connection, claim: OrderClaim) -> Result<OrderRow, StoreError> {
    let order = load(conn, claim.order)?;
    decide::check_order_claim(&order, claim)?;
    Ok(order)
}

/// Records a retryable failure; see [`Store::fulfilment_retry`](crate::Store::fulfilment_retry).
pub fn retry(
    conn: &Connection,
    claim: OrderClaim,
    not_before: Timestamp,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load_claimed(conn, claim)?;
    order.state.check(order.id, OrderState::Received)?;
    conn.prepare_cached(
        "UPDATE orders SET state = 'received', lease_until = NULL, next_attempt_at = ?2,
             last_error = ?3, updated_at = ?4
         WHERE id = ?1",
    )?
    .execute(params![order.id, not_before, error, now])?;
    Ok(())
}

/// Records a permanent failure; see [`Store::fulfilment_failed`](crate::Store::fulfilment_failed).
pub fn failed(
    conn: &Connection,
    claim: OrderClaim,
    reason: &str,
    result: Option<&ResultBody>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load_claimed(conn, claim)?;
    order.state.check(order.id, OrderState::Failed)?;
    conn.prepare_cached(
        "UPDATE orders SET state = 'failed', lease_until = NULL, next_attempt_at = NULL,
             failure_reason = ?2, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute(params![order.id, reason, now])?;
    if let Some(body) = result {
        outbox::insert(conn, &order, body, now)?;
    }
    Ok(())
}

/// Stores results; see [`Store::record_results`](crate::Store::record_results).
pub fn record_results(
    conn: &Connection,
    product: &str,
    results: &[(OrderRef, ResultBody)],
    now: Timestamp,
) -> Result<Vec<Result<ResultRecorded, ResultRejection>>, StoreError> {
    let mut answers = Vec::with_capacity(results.len());
    for (r, body) in results {
        let Some(order) = find(conn, product, r)? else {
            answers.push(Err(ResultRejection::UnknownOrder(r.clone())));
            continue;
        };
        let to = match decide::result(&order, body) {
            Ok(to) => to,
            Err(answer) => {
                answers.push(answer);
                continue;
            }
        };
        if let Some(outbox_id) = outbox::repeat_of(conn, order.id, body)? {
            answers.push(Ok(ResultRecorded::AlreadyQueued {
                order: order.id,
                outbox_id,
            }));
            continue;
        }
        set_state(conn, &order, to, now)?;
        let outbox_id = outbox::insert(conn, &order, body, now)?;
        answers.push(Ok(ResultRecorded::Queued {
            order: order.id,
            outbox_id,
        }));
    }
    Ok(answers)
}
