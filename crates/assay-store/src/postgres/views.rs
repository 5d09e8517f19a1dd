//! Read paths: polling input and operator views.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::sql::{self, Columns};
use crate::sqlite::views::SUMMARY;
use crate::{
    DeadLetterRecord, EventDisposition, EventRecord, MAX_LIST_LIMIT, OrderDetail, OrderFilter,
    OrderId, OrderSummary, OutboxBacklog, OutboxRecord, PendingOrder, StoreError,
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
    .map(|r| {
        Ok(PendingOrder {
            order: r.order_id(0)?,
            order_id: r.col(1)?,
            external_id: r.col(2)?,
            kind: r.kind(3)?,
            account_id: r.col(4)?,
        })
    })
    .collect()
}

fn summary(r: &Row) -> Result<OrderSummary, StoreError> {
    Ok(OrderSummary {
        id: r.order_id(0)?,
        product: r.col(1)?,
        order_id: r.col(2)?,
        kind: r.kind(3)?,
        account_id: r.col(4)?,
        provider: r.col(5)?,
        package_id: r.col(6)?,
        candidate_label: r.col(7)?,
        state: r.state(8)?,
        attempts: r.count(9)?,
        next_attempt_at: r.opt_ts(10)?,
        last_error: r.col(11)?,
        failure_reason: r.col(12)?,
        external_id: r.col(13)?,
        test_url: r.col(14)?,
        created_at: r.ts(15)?,
        updated_at: r.ts(16)?,
        last_result: r.col(17)?,
        undelivered_results: r.count(18)?,
        dead_letters: r.count(19)?,
    })
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
        .map(summary)
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
    let summary = summary(&row)?;
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
    .map(|r| {
        let disposition: &str = r.col(4)?;
        Ok(EventRecord {
            id: r.col(0)?,
            event_name: r.col(1)?,
            idempotency_key: r.col(2)?,
            received_at: r.ts(3)?,
            disposition: EventDisposition::parse(disposition).ok_or_else(|| {
                StoreError::Schema(format!("unknown event disposition {disposition:?}"))
            })?,
            envelope: String::from_utf8_lossy(r.col::<&[u8]>(5)?).into_owned(),
        })
    })
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
    .map(|r| {
        Ok(OutboxRecord {
            id: r.col(0)?,
            result_value: r.col(1)?,
            body_json: r.col(2)?,
            state: r.outbox_state(3)?,
            attempts: r.count(4)?,
            next_attempt_at: r.opt_ts(5)?,
            last_error: r.col(6)?,
            http_status: http_status(r, 7)?,
            created_at: r.ts(8)?,
            finished_at: r.opt_ts(9)?,
        })
    })
    .collect::<Result<_, StoreError>>()?;
    let dead_letters = sql::rows(
        tx,
        "SELECT id, outbox_id, http_status, message, created_at
         FROM dead_letters WHERE order_id = $1 ORDER BY id",
        &[&id.0],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(DeadLetterRecord {
            id: r.col(0)?,
            outbox_id: r.col(1)?,
            http_status: http_status(r, 2)?,
            message: r.col(3)?,
            created_at: r.ts(4)?,
        })
    })
    .collect::<Result<_, StoreError>>()?;
    Ok(Some(OrderDetail {
        summary,
        order_json,
        events,
        outbox,
        dead_letters,
    }))
}

fn http_status(r: &Row, idx: usize) -> Result<Option<u16>, StoreError> {
    r.col::<Option<i32>>(idx)?
        .map(|s| {
            u16::try_from(s).map_err(|_| StoreError::Schema(format!("{s} is not an HTTP status")))
        })
        .transpose()
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
