//! Order claims, fulfilment outcomes and incoming results.
//!
//! Every write locks the order's row (`FOR UPDATE`) before deciding on it, so two hosts
//! acting on one order take turns, and the second sees what the first committed.

use std::time::Duration;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::notify::{self, ORDERS_CHANNEL, OUTBOX_CHANNEL};
use super::outbox;
use super::sql::{self, Col};
use crate::columns::Columns;
use crate::decide::{self, OrderRow};
use crate::fair;
use crate::{
    ClaimSlots, ClaimedOrder, OrderClaim, OrderId, OrderRef, OrderState, ResultBody,
    ResultRecorded, ResultRejection, StoreError, Timestamp,
};

const ORDER_ROW: &str =
    "SELECT id, product, stackone_order_id, kind, account_id, state, attempts, external_id
     FROM orders";

fn order_row(r: &Row) -> Result<OrderRow, StoreError> {
    Ok(OrderRow {
        id: r.order_id(0)?,
        product: r.col(1)?,
        order_id: r.col(2)?,
        kind: r.kind(3)?,
        account_id: r.col(4)?,
        state: r.state(5)?,
        attempts: r.count(6)?,
        external_id: r.col(7)?,
    })
}

/// Loads and locks an order by id.
pub async fn load(tx: &Transaction<'_>, id: OrderId) -> Result<OrderRow, StoreError> {
    let row = sql::opt_row(
        tx,
        &format!("{ORDER_ROW} WHERE id = $1 FOR UPDATE"),
        &[&id.0],
    )
    .await?;
    row.as_ref()
        .map(order_row)
        .transpose()?
        .ok_or(StoreError::OrderNotFound(id))
}

async fn find(
    tx: &Transaction<'_>,
    product: &str,
    r: &OrderRef,
) -> Result<Option<OrderRow>, StoreError> {
    let (condition, key) = match r {
        OrderRef::OrderId(k) => ("stackone_order_id", k),
        OrderRef::ExternalId(k) => ("external_id", k),
    };
    let sql = format!("{ORDER_ROW} WHERE product = $1 AND {condition} = $2 FOR UPDATE");
    let row = sql::opt_row(tx, &sql, &[&product, key]).await?;
    row.as_ref().map(order_row).transpose()
}

/// Moves a locked order to `to` after checking the state machine, stamping `updated_at`.
pub async fn set_state(
    tx: &Transaction<'_>,
    order: &OrderRow,
    to: OrderState,
    now: Timestamp,
) -> Result<(), StoreError> {
    order.state.check(order.id, to)?;
    sql::exec(
        tx,
        "UPDATE orders SET state = $2, updated_at = $3 WHERE id = $1",
        &[&order.id.0, &to.as_str(), &now.as_millis()],
    )
    .await?;
    Ok(())
}

/// The orders [`claim`] may take at `$1`: received and due, or fulfilling with a lease that
/// ran out. The first condition is the predicate of the partial index `orders_claimable`,
/// repeated so that the planner uses it.
const DUE: &str = "state IN ('received', 'fulfilling')
     AND ((state = 'received' AND (next_attempt_at IS NULL OR next_attempt_at <= $1))
          OR (state = 'fulfilling' AND (lease_until IS NULL OR lease_until <= $1)))";

/// When [`claim`] will next find an order of a product not in `skip`; see
/// [`Store::next_fulfilment_due_except`](crate::Store::next_fulfilment_due_except).
pub async fn next_due(
    tx: &Transaction<'_>,
    skip: Vec<String>,
) -> Result<Option<Timestamp>, StoreError> {
    sql::one_row(
        tx,
        "SELECT MIN(due) FROM (
             SELECT COALESCE(next_attempt_at, 0) AS due, product FROM orders
             WHERE state = 'received'
             UNION ALL
             SELECT COALESCE(lease_until, 0), product FROM orders WHERE state = 'fulfilling') AS d
         WHERE NOT (product = ANY($1))",
        &[&skip],
    )
    .await?
    .opt_ts(0)
}

/// Claims due orders fairly across products (see [`crate::fair`]); see
/// [`Store::claim_due_orders`](crate::Store::claim_due_orders).
///
/// `SKIP LOCKED` lets hosts claim side by side: a row another host is claiming right now is
/// passed over rather than waited for. Rows read for a product but left out by the round
/// robin are only locked until the transaction ends. Received and fulfilling orders may both
/// become fulfilling, so the state machine allows every row the queries can pick.
pub async fn claim(
    tx: &Transaction<'_>,
    slots: ClaimSlots,
    now: Timestamp,
    lease: Duration,
) -> Result<Vec<ClaimedOrder>, StoreError> {
    let now_ms = now.as_millis();
    // Products with due orders, the one whose oldest due order is oldest first: a skip scan
    // of `orders_claimable` (the next product after the last one found, then its oldest due
    // order), so its cost follows the number of products, not of orders waiting.
    let products = sql::rows(
        tx,
        &format!(
            "WITH RECURSIVE p(product) AS (
                 (SELECT product FROM orders WHERE {DUE} ORDER BY product LIMIT 1)
                 UNION ALL
                 SELECT (SELECT product FROM orders
                         WHERE product > p.product AND {DUE}
                         ORDER BY product LIMIT 1)
                 FROM p WHERE p.product IS NOT NULL)
             SELECT p.product FROM p,
                 LATERAL (SELECT id FROM orders WHERE product = p.product AND {DUE}
                          ORDER BY id LIMIT 1) AS oldest
             ORDER BY oldest.id"
        ),
        &[&now_ms],
    )
    .await?;
    let mut per_product = Vec::with_capacity(products.len());
    for row in &products {
        let product: String = row.col(0)?;
        let free = slots.free(&product);
        if free == 0 {
            continue;
        }
        let due = sql::rows(
            tx,
            &format!(
                "SELECT id FROM orders WHERE product = $2 AND {DUE}
                 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED"
            ),
            &[&now_ms, &product, &sql::limit(free)],
        )
        .await?;
        per_product.push(
            due.iter()
                .map(|r| r.col::<i64>(0))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    let ids = fair::interleave(per_product, slots.total);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = now.plus(lease);
    let rows = sql::rows(
        tx,
        "UPDATE orders o SET state = 'fulfilling', attempts = o.attempts + 1,
             lease_until = $2, updated_at = $3
         WHERE o.id = ANY($1)
         RETURNING o.id, o.attempts, o.product, o.stackone_order_id, o.kind, o.account_id,
             o.provider, o.package_id, o.order_json, o.last_error, o.created_at",
        &[
            &ids,
            &lease_until.as_millis(),
            &Timestamp::now().as_millis(),
        ],
    )
    .await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(ClaimedOrder {
                claim: OrderClaim {
                    order: r.order_id(0)?,
                    attempt: r.count(1)?,
                },
                product: r.col(2)?,
                order_id: r.col(3)?,
                kind: r.kind(4)?,
                account_id: r.col(5)?,
                provider: r.col(6)?,
                package_id: r.col(7)?,
                order_json: r.col(8)?,
                last_error: r.col(9)?,
                received_at: r.ts(10)?,
                lease_until,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING follows no order; callers get the orders in the round robin's order, as on
    // SQLite.
    claimed.sort_by_key(|c| ids.iter().position(|id| *id == c.claim.order.0));
    Ok(claimed)
}

/// Records a successful fulfilment; see [`Store::fulfilment_succeeded`](crate::Store::fulfilment_succeeded).
pub async fn succeeded(
    tx: &Transaction<'_>,
    claim: OrderClaim,
    external_id: String,
    test_url: Option<String>,
    first_result: Option<ResultBody>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load(tx, claim.order).await?;
    let Some(to) = decide::success(&order, &external_id, first_result.as_ref())? else {
        return Ok(());
    };
    // For the message only: the unique index decides, even between hosts.
    let taken = sql::opt_row(
        tx,
        "SELECT id FROM orders WHERE product = $1 AND external_id = $2",
        &[&order.product, &external_id],
    )
    .await?;
    if let Some(other) = taken {
        return Err(decide::external_id_taken(
            &order,
            &external_id,
            other.order_id(0)?,
        ));
    }
    sql::exec(
        tx,
        "UPDATE orders SET state = $2, external_id = $3, test_url = $4, lease_until = NULL,
             next_attempt_at = NULL, last_error = NULL, updated_at = $5
         WHERE id = $1",
        &[
            &order.id.0,
            &to.as_str(),
            &external_id,
            &test_url,
            &now.as_millis(),
        ],
    )
    .await?;
    if let Some(body) = &first_result
        && outbox::repeat_of(tx, order.id, body).await?.is_none()
    {
        outbox::insert(tx, &order, body, now).await?;
        notify::send(tx, OUTBOX_CHANNEL).await?;
    }
    Ok(())
}

/// Loads and locks the order of `claim`, checking that the claim is still the current one.
async fn load_claimed(tx: &Transaction<'_>, claim: OrderClaim) -> Result<OrderRow, StoreError> {
    let order = load(tx, claim.order).await?;
    decide::check_order_claim(&order, claim)?;
    Ok(order)
}

/// Records a retryable failure; see [`Store::fulfilment_retry`](crate::Store::fulfilment_retry).
pub async fn retry(
    tx: &Transaction<'_>,
    claim: OrderClaim,
    not_before: Timestamp,
    error: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load_claimed(tx, claim).await?;
    order.state.check(order.id, OrderState::Received)?;
    sql::exec(
        tx,
        "UPDATE orders SET state = 'received', lease_until = NULL, next_attempt_at = $2,
             last_error = $3, updated_at = $4
         WHERE id = $1",
        &[
            &order.id.0,
            &not_before.as_millis(),
            &error,
            &now.as_millis(),
        ],
    )
    .await?;
    notify::send(tx, ORDERS_CHANNEL).await
}

/// Records a permanent failure; see [`Store::fulfilment_failed`](crate::Store::fulfilment_failed).
pub async fn failed(
    tx: &Transaction<'_>,
    claim: OrderClaim,
    reason: String,
    result: Option<ResultBody>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let order = load_claimed(tx, claim).await?;
    order.state.check(order.id, OrderState::Failed)?;
    sql::exec(
        tx,
        "UPDATE orders SET state = 'failed', lease_until = NULL, next_attempt_at = NULL,
             failure_reason = $2, updated_at = $3
         WHERE id = $1",
        &[&order.id.0, &reason, &now.as_millis()],
    )
    .await?;
    if let Some(body) = &result {
        outbox::insert(tx, &order, body, now).await?;
        notify::send(tx, OUTBOX_CHANNEL).await?;
    }
    Ok(())
}

/// Stores results; see [`Store::record_results`](crate::Store::record_results).
pub async fn record_results(
    tx: &Transaction<'_>,
    product: String,
    results: Vec<(OrderRef, ResultBody)>,
    now: Timestamp,
) -> Result<Vec<Result<ResultRecorded, ResultRejection>>, StoreError> {
    let mut answers = Vec::with_capacity(results.len());
    for (r, body) in results {
        let Some(order) = find(tx, &product, &r).await? else {
            answers.push(Err(ResultRejection::UnknownOrder(r)));
            continue;
        };
        let to = match decide::result(&order, &body) {
            Ok(to) => to,
            Err(answer) => {
                answers.push(answer);
                continue;
            }
        };
        if let Some(outbox_id) = outbox::repeat_of(tx, order.id, &body).await? {
            answers.push(Ok(ResultRecorded::AlreadyQueued {
                order: order.id,
                outbox_id,
            }));
            continue;
        }
        set_state(tx, &order, to, now).await?;
        let outbox_id = outbox::insert(tx, &order, &body, now).await?;
        answers.push(Ok(ResultRecorded::Queued {
            order: order.id,
            outbox_id,
        }));
    }
    if answers
        .iter()
        .any(|a| matches!(a, Ok(ResultRecorded::Queued { .. })))
    {
        notify::send(tx, OUTBOX_CHANNEL).await?;
    }
    Ok(answers)
}
