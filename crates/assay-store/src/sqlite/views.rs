//! Read paths: polling input and operator views. Run on read-only connections.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use crate::{
    DeadLetterRecord, EventRecord, MAX_LIST_LIMIT, OrderDetail, OrderFilter, OrderId, OrderSummary,
    OutboxBacklog, OutboxRecord, PendingOrder, StoreError,
};

/// Orders of `product` waiting for a result, oldest first.
pub fn pending_orders(
    conn: &Connection,
    product: &str,
    limit: usize,
) -> Result<Vec<PendingOrder>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, stackone_order_id, external_id, kind, account_id FROM orders
             WHERE product = ?1 AND state = 'awaiting_result' AND external_id IS NOT NULL
             ORDER BY id LIMIT ?2",
        )?
        .query_map(params![product, limit], |r| {
            Ok(PendingOrder {
                order: r.get(0)?,
                order_id: r.get(1)?,
                external_id: r.get(2)?,
                kind: super::sql_types::order_kind(r, 3)?,
                account_id: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// The columns of an [`OrderSummary`], in plain SQL both backends run.
pub(crate) const SUMMARY: &str =
    "SELECT o.id, o.product, o.stackone_order_id, o.kind, o.account_id,
        o.provider, o.package_id, o.candidate_label, o.state, o.attempts, o.next_attempt_at,
        o.last_error, o.failure_reason, o.external_id, o.test_url, o.created_at, o.updated_at,
        (SELECT x.result_value FROM outbox x WHERE x.order_id = o.id ORDER BY x.id DESC LIMIT 1),
        (SELECT COUNT(*) FROM outbox x WHERE x.order_id = o.id AND x.state = 'pending'),
        (SELECT COUNT(*) FROM dead_letters d WHERE d.order_id = o.id)
    FROM orders o";

fn summary(r: &Row<'_>) -> rusqlite::Result<OrderSummary> {
    Ok(OrderSummary {
        id: r.get(0)?,
        product: r.get(1)?,
        order_id: r.get(2)?,
        kind: super::sql_types::order_kind(r, 3)?,
        account_id: r.get(4)?,
        provider: r.get(5)?,
        package_id: r.get(6)?,
        candidate_label: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        failure_reason: r.get(12)?,
        external_id: r.get(13)?,
        test_url: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
        last_result: r.get(17)?,
        undelivered_results: r.get(18)?,
        dead_letters: r.get(19)?,
    })
}

/// Orders matching `filter`, newest first.
pub fn list_orders(conn: &Connection, f: &OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
    let limit = match f.limit {
        0 => MAX_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    };
    let (sql, mut args) = list_query(f);
    args.push(&limit);
    Ok(conn
        .prepare_cached(&sql)?
        .query_map(&args[..], summary)?
        .collect::<Result<_, _>>()?)
}

/// The SQL and arguments of [`list_orders`], all but the limit (its last parameter).
///
/// Only the filters given become conditions: `?1 IS NULL OR col = ?1` would be correct, but
/// SQLite cannot use an index for it, and the lookup by StackOne order id must not scan every
/// order. That makes at most 16 shapes of statement, each cached after first use.
pub(super) fn list_query(f: &OrderFilter) -> (String, Vec<&dyn ToSql>) {
    let mut conditions = Vec::new();
    let mut args: Vec<&dyn ToSql> = Vec::new();
    if let Some(product) = &f.product {
        conditions.push("o.product = ?");
        args.push(product);
    }
    if let Some(state) = &f.state {
        conditions.push("o.state = ?");
        args.push(state);
    }
    if let Some(before) = &f.before {
        conditions.push("o.id < ?");
        args.push(before);
    }
    if let Some(order_id) = &f.order_id {
        conditions.push("o.stackone_order_id = ?");
        args.push(order_id);
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (
        format!("{SUMMARY}{filter} ORDER BY o.id DESC LIMIT ?"),
        args,
    )
}

/// One order with its events, results and dead letters.
pub fn get_order(conn: &Connection, id: OrderId) -> Result<Option<OrderDetail>, StoreError> {
    let Some(summary) = conn
        .prepare_cached(&format!("{SUMMARY} WHERE o.id = ?1"))?
        .query_row([id], summary)
        .optional()?
    else {
        return Ok(None);
    };
    let order_json: String = conn
        .prepare_cached("SELECT order_json FROM orders WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let events = conn
        .prepare_cached(
            "SELECT id, event_name, idempotency_key, received_at, disposition, envelope
             FROM events WHERE order_id = ?1 ORDER BY id",
        )?
        .query_map([id], |r| {
            Ok(EventRecord {
                id: r.get(0)?,
                event_name: r.get(1)?,
                idempotency_key: r.get(2)?,
                received_at: r.get(3)?,
                disposition: r.get(4)?,
                envelope: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(5)?).into_owned(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let outbox = conn
        .prepare_cached(
            "SELECT id, result_value, body, state, attempts, next_attempt_at, last_error,
                 http_status, created_at, finished_at
             FROM outbox WHERE order_id = ?1 ORDER BY id",
        )?
        .query_map([id], |r| {
            Ok(OutboxRecord {
                id: r.get(0)?,
                result_value: r.get(1)?,
                body_json: r.get(2)?,
                state: r.get(3)?,
                attempts: r.get(4)?,
                next_attempt_at: r.get(5)?,
                last_error: r.get(6)?,
                http_status: r.get(7)?,
                created_at: r.get(8)?,
                finished_at: r.get(9)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let dead_letters = conn
        .prepare_cached(
            "SELECT id, outbox_id, http_status, message, created_at
             FROM dead_letters WHERE order_id = ?1 ORDER BY id",
        )?
        .query_map([id], |r| {
            Ok(DeadLetterRecord {
                id: r.get(0)?,
                outbox_id: r.get(1)?,
                http_status: r.get(2)?,
                message: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(OrderDetail {
        summary,
        order_json,
        events,
        outbox,
        dead_letters,
    }))
}

/// How much waits in the outbox.
pub fn outbox_backlog(conn: &Connection) -> Result<OutboxBacklog, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'pending'")?
        .query_row([], |r| {
            Ok(OutboxBacklog {
                pending: r.get(0)?,
                oldest_created_at: r.get(1)?,
            })
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{OrderState, sqlite::schema};

    /// SQLite's plan for listing with `f`, one line per step.
    fn plan(conn: &Connection, f: &OrderFilter) -> String {
        let (sql, mut args) = list_query(f);
        let limit = 10;
        args.push(&limit);
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("prepare");
        let lines: Vec<String> = stmt
            .query_map(&args[..], |r| r.get::<_, String>(3))
            .expect("explain")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        lines.join("\n")
    }

    #[test]
    fn filters_use_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = schema::open_writer(&dir.path().join("assay.db")).expect("open");
        let by_order_id = OrderFilter {
            order_id: Some("o1".into()),
            ..OrderFilter::default()
        };
        let p = plan(&conn, &by_order_id);
        assert!(p.contains("orders_by_stackone_order_id"), "{p}");
        let with_product = OrderFilter {
            product: Some("codetest".into()),
            ..by_order_id
        };
        let p = plan(&conn, &with_product);
        assert!(p.contains("SEARCH o USING INDEX"), "{p}");
        let by_state = OrderFilter {
            state: Some(OrderState::Failed),
            ..OrderFilter::default()
        };
        let p = plan(&conn, &by_state);
        assert!(p.contains("orders_by_state"), "{p}");
    }
}
