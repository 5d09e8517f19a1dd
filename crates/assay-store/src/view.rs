//! Read-only views for operators: `assay orders list|show` and the status page.

use serde::{Deserialize, Serialize};

use super::model::{OrderId, OrderKind};
use super::state::{OrderState, OutboxState};
use super::time::Timestamp;

/// The most orders one [`Store::list_orders`](super::Store::list_orders) call returns.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Which orders to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    /// Only this product's orders.
    pub product: Option<String>,
    /// Only orders in this state.
    pub state: Option<OrderState>,
    /// Only orders with an id below this one (the next page after the last id seen).
    pub before: Option<OrderId>,
    /// Only the order with this StackOne order id.
    pub order_id: Option<String>,
    /// At most this many (capped at [`MAX_LIST_LIMIT`]; 0 means the cap).
    pub limit: usize,
}

/// One order in a list.
#[derive(Clone, Debug, Serialize)]
pub struct OrderSummary {
    /// Assay's id.
    pub id: OrderId,
    /// The product.
    pub product: String,
    /// StackOne's order id.
    pub order_id: String,
    /// Assessment or background check.
    pub kind: OrderKind,
    /// The StackOne linked account.
    pub account_id: String,
    /// The ATS provider key.
    pub provider: Option<String>,
    /// The vendor's package id.
    pub package_id: Option<String>,
    /// Who the order is for.
    pub candidate_label: Option<String>,
    /// Where it is.
    pub state: OrderState,
    /// Fulfilment attempts so far.
    pub attempts: u32,
    /// When the next fulfilment attempt is due, while backing off.
    pub next_attempt_at: Option<Timestamp>,
    /// The last retryable fulfilment error.
    pub last_error: Option<String>,
    /// Why fulfilment failed for good.
    pub failure_reason: Option<String>,
    /// The vendor's id, once fulfilled.
    pub external_id: Option<String>,
    /// The candidate's test link, once fulfilled.
    pub test_url: Option<String>,
    /// `result.value` of the newest stored result.
    pub last_result: Option<String>,
    /// Results not delivered yet.
    pub undelivered_results: u32,
    /// Results StackOne refused for good.
    pub dead_letters: u32,
    /// When the order was received.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// One order with everything recorded about it.
#[derive(Clone, Debug, Serialize)]
pub struct OrderDetail {
    /// The order.
    pub summary: OrderSummary,
    /// The order object as StackOne sent it.
    pub order_json: String,
    /// The webhook events that named this order, oldest first.
    pub events: Vec<EventRecord>,
    /// Its results, oldest first.
    pub outbox: Vec<OutboxRecord>,
    /// Its refused results, oldest first.
    pub dead_letters: Vec<DeadLetterRecord>,
    /// The times an operator put it back in the queue, oldest first.
    pub redrives: Vec<RedriveRecord>,
}

/// What the store made of a webhook event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventDisposition {
    /// It created an order.
    Order,
    /// It named an order the product already had.
    DuplicateOrder,
    /// The product does not handle it.
    Ignored,
}

impl EventDisposition {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventDisposition::Order => "order",
            EventDisposition::DuplicateOrder => "duplicate_order",
            EventDisposition::Ignored => "ignored",
        }
    }

    /// Parses [`EventDisposition::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "order" => Some(EventDisposition::Order),
            "duplicate_order" => Some(EventDisposition::DuplicateOrder),
            "ignored" => Some(EventDisposition::Ignored),
            _ => None,
        }
    }
}

/// A stored webhook event.
#[derive(Clone, Debug, Serialize)]
pub struct EventRecord {
    /// The row id.
    pub id: i64,
    /// The event name.
    pub event_name: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// When it was received.
    pub received_at: Timestamp,
    /// What the store made of it.
    pub disposition: EventDisposition,
    /// The body as received (lossily decoded as UTF-8 for display).
    pub envelope: String,
}

/// A stored result and its delivery.
#[derive(Clone, Debug, Serialize)]
pub struct OutboxRecord {
    /// The row id.
    pub id: i64,
    /// `result.value` of the body.
    pub result_value: Option<String>,
    /// The JSON body.
    pub body_json: String,
    /// Its delivery state.
    pub state: OutboxState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, while backing off.
    pub next_attempt_at: Option<Timestamp>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// StackOne's HTTP status of the final answer.
    pub http_status: Option<u16>,
    /// When it was stored.
    pub created_at: Timestamp,
    /// When it was delivered or dead-lettered.
    pub finished_at: Option<Timestamp>,
}

/// A result StackOne refused for good.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetterRecord {
    /// The row id.
    pub id: i64,
    /// The outbox row refused.
    pub outbox_id: i64,
    /// StackOne's HTTP status, if it answered.
    pub http_status: Option<u16>,
    /// StackOne's message, or the relay's reason.
    pub message: String,
    /// When it was dead-lettered.
    pub created_at: Timestamp,
    /// When an operator queued the result again ([`Store::redrive`](super::Store::redrive)).
    pub redriven_at: Option<Timestamp>,
}

/// What a redrive put back in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedriveKind {
    /// A failed order, back to `received` for another fulfilment attempt.
    Order,
    /// A dead-lettered result, queued again as a new outbox row.
    Result,
}

impl RedriveKind {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RedriveKind::Order => "order",
            RedriveKind::Result => "result",
        }
    }

    /// Parses [`RedriveKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "order" => Some(RedriveKind::Order),
            "result" => Some(RedriveKind::Result),
            _ => None,
        }
    }
}

/// What [`Store::redrive`](super::Store::redrive) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redriven {
    /// The order.
    pub order: OrderId,
    /// A failed order or a dead-lettered result.
    pub kind: RedriveKind,
    /// The order's state before.
    pub from: OrderState,
    /// The order's state now.
    pub to: OrderState,
    /// For a result: the new outbox row carrying it.
    pub outbox_id: Option<i64>,
}

/// One redrive of an order, kept with it for good: what the order had been through before.
#[derive(Clone, Debug, Serialize)]
pub struct RedriveRecord {
    /// The row id.
    pub id: i64,
    /// What was put back.
    pub kind: RedriveKind,
    /// The order's state before.
    pub from_state: OrderState,
    /// Why it had stopped: the failure reason, or the dead letter's message.
    pub reason: Option<String>,
    /// For a result: the dead-lettered outbox row that was queued again.
    pub outbox_id: Option<i64>,
    /// Attempts so far: the order's fulfilment attempts, or the dead row's delivery attempts.
    pub attempts: u32,
    /// When.
    pub created_at: Timestamp,
}

/// How much waits in the outbox: the metrics' outbox depth and age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxBacklog {
    /// Results not delivered yet.
    pub pending: u64,
    /// When the oldest of them was stored.
    pub oldest_created_at: Option<Timestamp>,
}

/// What the metrics' gauges show of the store, read in one pass per scrape.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Results waiting for delivery.
    pub outbox: OutboxBacklog,
    /// Orders per product and state; a pair with no orders is absent.
    pub orders: Vec<(String, OrderState, u64)>,
    /// Dead letters per product; a product with none is absent.
    pub dead_letters: Vec<(String, u64)>,
}
