//! Recording webhook events and the orders they carry.

use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    EventDisposition, IncomingEvent, IngestOutcome, OrderId, OrderState, StoreError, Timestamp,
};

/// Stores `ev` and its order, or nothing if the (product, idempotency key) is known.
pub fn record_event(
    conn: &Connection,
    ev: &IncomingEvent,
    now: Timestamp,
) -> Result<IngestOutcome, StoreError> {
    let known = conn
        .prepare_cached("SELECT 1 FROM events WHERE product = ?1 AND idempotency_key = ?2")?
        .exists(params![ev.product, ev.idempotency_key])?;
    if known {
        return Ok(IngestOutcome::Duplicate);
    }
    let (disposition, order, outcome) = match &ev.order {
        None => (EventDisposition::Ignored, None, IngestOutcome::Ignored),
        Some(o) => {
            let existing: Option<OrderId> = conn
                .prepare_cached(
                    "SELECT id FROM orders WHERE product = ?1 AND stackone_order_id = ?2",
                )?
                .query_row(params![ev.product, o.order_id], |r| r.get(0))
                .optional()?;
            match existing {
                Some(id) => (
                    EventDisposition::DuplicateOrder,
                    Some(id),
                    IngestOutcome::Duplicate,
                ),
                None => {
                    let id: OrderId = conn
                        .prepare_cached(
                            "INSERT INTO orders (product, stackone_order_id, kind, account_id,
                                 provider, package_id, candidate_label, order_json, state,
                                 created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                             RETURNING id",
                        )?
                        .query_row(
                            params![
                                ev.product,
                                o.order_id,
                                o.kind.as_str(),
                                o.account_id,
                                o.provider,
                                o.package_id,
                                o.candidate_label,
                                o.order_json,
                                OrderState::Received,
                                ev.received_at,
                                now,
                            ],
                            |r| r.get(0),
                        )?;
                    (
                        EventDisposition::Order,
                        Some(id),
                        IngestOutcome::Accepted { order: id },
                    )
                }
            }
        }
    };
    conn.prepare_cached(
        "INSERT INTO events (product, event_name, idempotency_key, received_at, envelope,
             disposition, order_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        ev.product,
        ev.event_name,
        ev.idempotency_key,
        ev.received_at,
        ev.envelope.as_ref(),
        disposition,
        order,
    ])?;
    Ok(outcome)
}
