//! Read paths: polling input and operator views.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::sql::{self, Col};
use crate::columns::{self, Columns, SUMMARY};
use crate::{
    MAX_LIST_LIMIT, OrderDetail, OrderFilter, OrderId, OrderSummary, OutboxBacklog, PendingOrder,
    StoreCounts, StoreError,
};

/// Orders of `product` waiting for a result, oldest first.
pub async fn pending_orders(
    tx: &Transaction<'_>,
    product: String,
    limit: usize,
) -> Result<Vec<PendingOrder>, StoreError> {
    sql::rows(
        tx,
        "SELECT id, stackone_order_id, external_id, kind, account_id FROM orders
         WHERE product = $1 AND state = 'awaiting_result' AND external_id IS NOT NULL
         ORDER BY id LIMIT $2",
        &[&product, &sql::limit(limit)],
    )
    .await?
    .iter()
    .map(columns::pending_order)
    .collect()
}

/// Orders matching `f`, newest first. Only the filters given become conditions, as on
/// SQLite, so each shape of statement is planned (and cached) on its own.
pub async fn list_orders(
    tx: &Transaction<'_>,
    f: OrderFilter,
) -> Result<Vec<OrderSummary>, StoreError> {
    let limit = sql::limit(match f.limit {
        0 => MAX_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    });
    let state = f.state.map(|s| s.as_str());
    let before = f.before.map(|b| b.0);
    let mut conditions = Vec::new();
    let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let filters: [(&str, Option<&(dyn ToSql + Sync)>); 4] = [
        ("o.product = ", f.product.as_ref().map(|p| p as _)),
        ("o.state = ", state.as_ref().map(|s| s as _)),
        ("o.id < ", before.as_ref().map(|b| b as _)),
        (
            "o.stackone_order_id = ",
            f.order_id.as_ref().map(|o| o as _),
        ),
    ];
    for (condition, value) in filters {
        if let Some(value) = value {
            args.push(value);
            conditions.push(format!("{condition}${}", args.len()));
        }
    }
    args.push(&limit);
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let query = format!("{SUMMARY}{filter} ORDER BY o.id DESC LIMIT ${}", args.len());
    sql::rows(tx, &query, &args)
        .await?
        .iter()
        .map(columns::summary)
        .collect()
}

/// One order with its events, results and dead letters.
pub async fn get_order(
    tx: &Transaction<'_>,
    id: OrderId,
) -> Result<Option<OrderDetail>, StoreError> {
    let Some(row) = sql::opt_row(tx, &format!("{SUMMARY} WHERE o.id = $1"), &[&id.0]).await? else {
        return Ok(None);
    };
    let summary = columns::summary(&row)?;
    let order_json = sql::one_row(tx, "SELECT order_json FROM orders WHERE id = $1", &[&id.0])
        .await?
        .col(0)?;
    let events = sql::rows(
        tx,
        "SELECT id, event_name, idempotency_key, received_at, disposition, envelope
         FROM events WHERE order_id = $1 ORDER BY id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(columns::event_record)
    .collect::<Result<_, StoreError>>()?;
    let outbox = sql::rows(
        tx,
        "SELECT id, result_value, body, state, attempts, next_attempt_at, last_error,
             http_status, created_at, finished_at
         FROM outbox WHERE order_id = $1 ORDER BY id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(columns::outbox_record)
    .collect::<Result<_, StoreError>>()?;
    let dead_letters = sql::rows(tx, columns::DEAD_LETTERS, &[&id.0])
        .await?
        .iter()
        .map(columns::dead_letter_record)
        .collect::<Result<_, StoreError>>()?;
    let redrives = sql::rows(tx, columns::REDRIVES, &[&id.0])
        .await?
        .iter()
        .map(columns::redrive_record)
        .collect::<Result<_, StoreError>>()?;
    Ok(Some(OrderDetail {
        summary,
        order_json,
        events,
        outbox,
        dead_letters,
        redrives,
    }))
}

/// How much waits in the outbox.
pub async fn outbox_backlog(tx: &Transaction<'_>) -> Result<OutboxBacklog, StoreError> {
    let row = sql::one_row(
        tx,
        "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'",
        &[],
    )
    .await?;
    Ok(OutboxBacklog {
        pending: u64::from(row.count(0)?),
        oldest_created_at: row.opt_ts(1)?,
    })
}

/// Orders by product and state, dead letters by product, and the outbox backlog, for the
/// metrics' gauges (the same grouped reads as on SQLite).
pub async fn counts(tx: &Transaction<'_>) -> Result<StoreCounts, StoreError> {
    let orders = sql::rows(
        tx,
        "SELECT product, state, COUNT(*) FROM orders GROUP BY product, state",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        let count = u64::try_from(r.int(2)?).unwrap_or(0);
        Ok((r.text(0)?, r.state(1)?, count))
    })
    .collect::<Result<_, StoreError>>()?;
    let dead_letters = sql::rows(
        tx,
        "SELECT o.product, COUNT(*) FROM dead_letters d JOIN orders o ON o.id = d.order_id
         GROUP BY o.product",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text(0)?, u64::try_from(r.int(1)?).unwrap_or(0))))
    .collect::<Result<_, StoreError>>()?;
    Ok(StoreCounts {
        outbox: outbox_backlog(tx).await?,
        orders,
        dead_letters,
    })
}
