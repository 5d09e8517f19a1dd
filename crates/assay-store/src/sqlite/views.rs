//! Read paths: polling input and operator views. Run on read-only connections.

use rusqlite::{Connection, Params, Row, ToSql, params};

use crate::columns::{self, SUMMARY};
use crate::{
    MAX_LIST_LIMIT, OrderDetail, OrderFilter, OrderId, OrderSummary, OutboxBacklog, PendingOrder,
    StoreCounts, StoreError,
};

/// Every row of `sql`, each read by `map` (the mappings both backends share).
fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Orders of `product` waiting for a result, oldest first.
pub fn pending_orders(
    conn: &Connection,
    product: &str,
    limit: usize,
) -> Result<Vec<PendingOrder>, StoreError> {
    all(
        conn,
        "SELECT id, stackone_order_id, external_id, kind, account_id FROM orders
         WHERE product = ?1 AND state = 'awaiting_result' AND external_id IS NOT NULL
         ORDER BY id LIMIT ?2",
        params![product, limit],
        |r| columns::pending_order(r),
    )
}

/// Orders matching `filter`, newest first.
pub fn list_orders(conn: &Connection, f: &OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
    let limit = match f.limit {
        0 => MAX_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    };
    let (sql, mut args) = list_query(f);
    args.push(&limit);
    all(conn, &sql, &args[..], |r| columns::summary(r))
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
    let found = all(conn, &format!("{SUMMARY} WHERE o.id = ?1"), [id], |r| {
        columns::summary(r)
    })?;
    let Some(summary) = found.into_iter().next() else {
        return Ok(None);
    };
    let order_json: String = conn
        .prepare_cached("SELECT order_json FROM orders WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let events = all(
        conn,
        "SELECT id, event_name, idempotency_key, received_at, disposition, envelope
         FROM events WHERE order_id = ?1 ORDER BY id",
        [id],
        |r| columns::event_record(r),
    )?;
    let outbox = all(
        conn,
        "SELECT id, result_value, body, state, attempts, next_attempt_at, last_error,
             http_status, created_at, finished_at
         FROM outbox WHERE order_id = ?1 ORDER BY id",
        [id],
        |r| columns::outbox_record(r),
    )?;
    let dead_letters = all(conn, columns::DEAD_LETTERS, [id], |r| {
        columns::dead_letter_record(r)
    })?;
    let redrives = all(conn, columns::REDRIVES, [id], |r| {
        columns::redrive_record(r)
    })?;
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

/// Orders by product and state, dead letters by product, and the outbox backlog. The
/// grouped count reads every order row (no index leads with `product`): a scrape every few
/// seconds costs milliseconds per hundred thousand orders, on a read connection that never
/// holds up the writer.
pub fn counts(conn: &Connection) -> Result<StoreCounts, StoreError> {
    let orders = conn
        .prepare_cached("SELECT product, state, COUNT(*) FROM orders GROUP BY product, state")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let dead_letters = conn
        .prepare_cached(
            "SELECT o.product, COUNT(*) FROM dead_letters d JOIN orders o ON o.id = d.order_id
             GROUP BY o.product",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(StoreCounts {
        outbox: outbox_backlog(conn)?,
        orders,
        dead_letters,
    })
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
