//! Orders as text for operators: `assay orders list` ([`order_table`]) and
//! `assay orders show` ([`order_detail`]). Pure functions, so the exact output is tested.
//!
//! Candidate names, errors and StackOne's messages come from outside; control characters in
//! them are shown escaped (`\n`, `\u{1b}`), so a value can neither break a table's alignment
//! nor send escape sequences to the operator's terminal.

use std::fmt::Display;

use super::{
    DeadLetterRecord, EventRecord, OrderDetail, OrderSummary, OutboxRecord, RedriveRecord,
};

/// What an empty cell shows.
pub const NONE: &str = "-";

/// What [`order_table`] shows under the header when there are no orders.
pub const NO_ORDERS: &str = "(no orders)";

/// The columns of [`order_table`].
pub const ORDER_COLUMNS: [&str; 11] = [
    "ID",
    "PRODUCT",
    "STACKONE ORDER",
    "KIND",
    "STATE",
    "CANDIDATE",
    "ATTEMPTS",
    "DEAD LETTERS",
    "EXTERNAL ID",
    "UPDATED",
    "CREATED",
];

/// `orders` as an aligned table, one line per order under a header line; every line ends
/// with `\n`. An empty list is the header and [`NO_ORDERS`].
pub fn order_table(orders: &[OrderSummary]) -> String {
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|o| {
            vec![
                o.id.to_string(),
                clean(&o.product),
                clean(&o.order_id),
                o.kind.as_str().to_owned(),
                o.state.as_str().to_owned(),
                opt(o.candidate_label.as_ref()),
                o.attempts.to_string(),
                o.dead_letters.to_string(),
                opt(o.external_id.as_ref()),
                o.updated_at.to_string(),
                o.created_at.to_string(),
            ]
        })
        .collect();
    let mut out = table("", &ORDER_COLUMNS, &rows);
    if orders.is_empty() {
        out.push_str(NO_ORDERS);
        out.push('\n');
    }
    out
}

/// One order as sections: the order, its events, its outbox rows (with each body), its
/// dead letters, its redrives (if any) and the order object as StackOne sent it. Event envelopes are left out (the
/// JSON view has them).
pub fn order_detail(d: &OrderDetail) -> String {
    let s = &d.summary;
    let mut out = format!(
        "Order {} ({}, StackOne order {})\n",
        s.id,
        clean(&s.product),
        clean(&s.order_id)
    );
    let fields: [(&str, String); 17] = [
        ("kind", s.kind.as_str().to_owned()),
        ("state", s.state.as_str().to_owned()),
        ("account", clean(&s.account_id)),
        ("provider", opt(s.provider.as_ref())),
        ("package", opt(s.package_id.as_ref())),
        ("candidate", opt(s.candidate_label.as_ref())),
        ("attempts", s.attempts.to_string()),
        ("next attempt", opt(s.next_attempt_at.as_ref())),
        ("last error", opt(s.last_error.as_ref())),
        ("failure reason", opt(s.failure_reason.as_ref())),
        ("external id", opt(s.external_id.as_ref())),
        ("test url", opt(s.test_url.as_ref())),
        ("last result", opt(s.last_result.as_ref())),
        ("undelivered", s.undelivered_results.to_string()),
        ("dead letters", s.dead_letters.to_string()),
        ("created", s.created_at.to_string()),
        ("updated", s.updated_at.to_string()),
    ];
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in &fields {
        out.push_str(&format!("  {key:<width$}  {value}\n"));
    }
    section(&mut out, "Events", &events(&d.events), d.events.is_empty());
    section(&mut out, "Outbox", &outbox(&d.outbox), d.outbox.is_empty());
    section(
        &mut out,
        "Dead letters",
        &dead_letters(&d.dead_letters),
        d.dead_letters.is_empty(),
    );
    // Most orders were never redriven: the section shows only for those that were.
    if !d.redrives.is_empty() {
        section(&mut out, "Redrives", &redrives(&d.redrives), false);
    }
    out.push_str("\nStackOne order\n");
    for line in pretty_json(&d.order_json).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn section(out: &mut String, title: &str, body: &str, empty: bool) {
    out.push_str(&format!("\n{title}\n"));
    if empty {
        out.push_str("  (none)\n");
    } else {
        out.push_str(body);
    }
}

fn events(events: &[EventRecord]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.received_at.to_string(),
                clean(&e.event_name),
                e.disposition.as_str().to_owned(),
                clean(&e.idempotency_key),
            ]
        })
        .collect();
    table(
        "  ",
        &["ID", "RECEIVED", "EVENT", "DISPOSITION", "IDEMPOTENCY KEY"],
        &rows,
    )
}

fn outbox(rows: &[OutboxRecord]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                opt(r.result_value.as_ref()),
                r.state.as_str().to_owned(),
                r.attempts.to_string(),
                opt(r.http_status.as_ref()),
                r.created_at.to_string(),
                opt(r.next_attempt_at.as_ref()),
                opt(r.finished_at.as_ref()),
                opt(r.last_error.as_ref()),
            ]
        })
        .collect();
    let mut out = table(
        "  ",
        &[
            "ID", "RESULT", "STATE", "ATTEMPTS", "HTTP", "CREATED", "NEXT", "FINISHED", "ERROR",
        ],
        &cells,
    );
    // Bodies are long JSON: below the table, one line each, rather than in a column.
    for r in rows {
        out.push_str(&format!("  body {}: {}\n", r.id, clean(&r.body_json)));
    }
    out
}

fn dead_letters(rows: &[DeadLetterRecord]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.outbox_id.to_string(),
                opt(d.http_status.as_ref()),
                d.created_at.to_string(),
                opt(d.redriven_at.as_ref()),
                clean(&d.message),
            ]
        })
        .collect();
    table(
        "  ",
        &["ID", "OUTBOX", "HTTP", "CREATED", "REDRIVEN", "MESSAGE"],
        &cells,
    )
}

fn redrives(rows: &[RedriveRecord]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.created_at.to_string(),
                r.kind.as_str().to_owned(),
                r.from_state.as_str().to_owned(),
                opt(r.outbox_id.as_ref()),
                r.attempts.to_string(),
                opt(r.reason.as_ref()),
            ]
        })
        .collect();
    table(
        "  ",
        &["ID", "AT", "WHAT", "FROM", "OUTBOX", "ATTEMPTS", "REASON"],
        &cells,
    )
}

/// Left-aligned columns two spaces apart, each line prefixed by `indent`, trailing spaces
/// trimmed.
fn table(indent: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(indent);
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A value or [`NONE`], cleaned.
fn opt<T: Display>(value: Option<&T>) -> String {
    value.map_or_else(|| NONE.to_owned(), |v| clean(&v.to_string()))
}

/// `s` with control characters escaped; an empty string shows as [`NONE`].
fn clean(s: &str) -> String {
    if s.is_empty() {
        return NONE.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Indented JSON if `text` is JSON (whose strings cannot hold raw control characters), else
/// the text cleaned.
fn pretty_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| clean(text))
}

#[cfg(test)]
mod tests;
