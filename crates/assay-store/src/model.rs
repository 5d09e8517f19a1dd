//! What goes into the store and what comes out of it for the edge and the workers.

use std::fmt;

use bytes::Bytes;

use super::time::Timestamp;

/// The values of StackOne's `result.value` that end an order; anything else (`initiated`,
/// `in_progress`, `unmapped_value`) is progress.
pub const FINAL_RESULT_VALUES: [&str; 5] =
    ["cancelled", "completed", "expired", "failed", "passed"];

/// Assay's own id of an order (a database key, short enough for `assay orders show 42`).
/// StackOne's order id is [`NewOrder::order_id`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct OrderId(pub i64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub use assay_wire::order_kind::OrderKind;

/// A verified webhook event, as the edge hands it to the store before answering StackOne.
#[derive(Clone, Debug)]
pub struct IncomingEvent {
    /// The product (route) the webhook arrived on.
    pub product: String,
    /// The event name, e.g. `ats_assessments.created`.
    pub event_name: String,
    /// Unique per product and event: a second event with the same key is a duplicate.
    pub idempotency_key: String,
    /// When the edge received it.
    pub received_at: Timestamp,
    /// The request body exactly as received (already verified against its signature).
    pub envelope: Bytes,
    /// The order this event creates, or `None` for an event the product does not handle
    /// (stored for the record, answered 2xx, not turned into an order).
    pub order: Option<NewOrder>,
}

/// An order extracted from a webhook.
#[derive(Clone, Debug)]
pub struct NewOrder {
    /// StackOne's order id: where results are delivered. Unique per product.
    pub order_id: String,
    /// Assessment or background check.
    pub kind: OrderKind,
    /// The StackOne linked account (`x-account-id` of the result PATCH).
    pub account_id: String,
    /// The ATS provider key, e.g. `recruitee`.
    pub provider: Option<String>,
    /// The vendor's package id the recruiter picked.
    pub package_id: Option<String>,
    /// Who the order is for, as operators should see it (name, e-mail).
    pub candidate_label: Option<String>,
    /// The order object as StackOne sent it (JSON text), handed to the plugin.
    pub order_json: String,
}

/// What [`Store::record_event`](super::Store::record_event) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The event and its new order are committed.
    Accepted {
        /// The new order.
        order: OrderId,
    },
    /// Nothing new: the same (product, idempotency key) was recorded before, and nothing was
    /// changed; or the key is new but the product already has an order with this StackOne
    /// order id (the event is kept for the record, linked to that order, and no second order
    /// is made).
    Duplicate,
    /// The event carries no order for this product; it is stored as ignored.
    Ignored,
}

/// How a plugin names the order a result belongs to (within one product).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// StackOne's order id.
    OrderId(String),
    /// The vendor's id recorded by [`Store::fulfilment_succeeded`](super::Store::fulfilment_succeeded).
    ExternalId(String),
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderRef::OrderId(id) => write!(f, "order id {id}"),
            OrderRef::ExternalId(id) => write!(f, "external id {id}"),
        }
    }
}

/// The body of one result PATCH to StackOne.
///
/// The store fills in where it goes (product, kind, account, StackOne order id) from the
/// order row when it queues it, so a caller that only knows the vendor's external id cannot
/// address a result wrongly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultBody {
    /// The JSON body, in StackOne's results-update shape.
    pub json: String,
    /// `result.value` of the body, if it has one.
    pub result_value: Option<String>,
}

impl ResultBody {
    /// Serialises `body` and reads its `result.value`.
    pub fn new(body: &serde_json::Value) -> Self {
        let result_value = body
            .pointer("/result/value")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        Self {
            json: body.to_string(),
            result_value,
        }
    }

    /// Whether this result ends the order (see [`FINAL_RESULT_VALUES`]).
    pub fn is_final(&self) -> bool {
        self.result_value
            .as_deref()
            .is_some_and(|v| FINAL_RESULT_VALUES.contains(&v))
    }
}

/// A worker's claim on an order. The attempt number fences it: once the lease expired and
/// someone else claimed the order, retry and failure reports with this claim are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderClaim {
    /// The order.
    pub order: OrderId,
    /// Which attempt this claim is (1 for the first).
    pub attempt: u32,
}

/// An order handed to an order worker by [`Store::claim_orders_for_fulfilment`](super::Store::claim_orders_for_fulfilment).
#[derive(Clone, Debug)]
pub struct ClaimedOrder {
    /// The claim to report back with.
    pub claim: OrderClaim,
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
    /// The order object as StackOne sent it.
    pub order_json: String,
    /// The error of the previous attempt, if any.
    pub last_error: Option<String>,
    /// When the webhook was received.
    pub received_at: Timestamp,
    /// Until when this claim is exclusive.
    pub lease_until: Timestamp,
}

/// The relay's claim on an outbox row, fenced by its attempt number like [`OrderClaim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxClaim {
    /// The outbox row.
    pub id: i64,
    /// Which delivery attempt this is (1 for the first).
    pub attempt: u32,
}

/// A result to PATCH, with everything the relay needs to send it.
#[derive(Clone, Debug)]
pub struct OutboxDelivery {
    /// The claim to report back with.
    pub claim: OutboxClaim,
    /// The order.
    pub order: OrderId,
    /// The product (whose API key signs the PATCH).
    pub product: String,
    /// Decides the endpoint: assessments or background checks.
    pub kind: OrderKind,
    /// `x-account-id` of the PATCH.
    pub account_id: String,
    /// The `{id}` of `…/orders/{id}/result`.
    pub order_id: String,
    /// The JSON body.
    pub body_json: String,
    /// `result.value` of the body.
    pub result_value: Option<String>,
    /// When the result was stored.
    pub created_at: Timestamp,
    /// Until when this claim is exclusive.
    pub lease_until: Timestamp,
}

/// An order waiting for its result, as `poll-results` needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOrder {
    /// Assay's id.
    pub order: OrderId,
    /// StackOne's order id.
    pub order_id: String,
    /// The vendor's id.
    pub external_id: String,
    /// Assessment or background check.
    pub kind: OrderKind,
    /// The StackOne linked account.
    pub account_id: String,
}

/// What happened to one result of [`Store::record_results`](super::Store::record_results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultRecorded {
    /// Queued in the outbox as this row.
    Queued {
        /// The order.
        order: OrderId,
        /// The outbox row.
        outbox_id: i64,
    },
    /// A progress result for an order that already has a final result: not queued, because
    /// delivering it would overwrite the final result at StackOne (vendors' callbacks arrive
    /// out of order).
    Superseded {
        /// The order.
        order: OrderId,
    },
    /// The same body, byte for byte, as the order's newest outbox row, which is queued or
    /// delivered: StackOne has (or will get) this result already, so it is not queued again.
    /// Vendors repeat callbacks and polls report the same state until it changes.
    AlreadyQueued {
        /// The order.
        order: OrderId,
        /// The outbox row that carries it.
        outbox_id: i64,
    },
}

/// Why one result of [`Store::record_results`](super::Store::record_results) was not
/// stored. The other results of the call are not affected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResultRejection {
    /// No order of the product has this id.
    #[error("no order with {0}")]
    UnknownOrder(OrderRef),
    /// The order exists but the vendor has not accepted it yet (or it failed), so a result
    /// for it cannot be right yet. A vendor callback answered with an error is retried by the
    /// vendor, by which time fulfilment has usually been recorded.
    #[error("order {order} is {state}, not waiting for results")]
    NotAwaitingResult {
        /// The order.
        order: OrderId,
        /// Its state.
        state: super::state::OrderState,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_body_reads_the_status() {
        let b = ResultBody::new(
            &serde_json::json!({"result": {"value": "completed"}, "score": {"value": "80"}}),
        );
        assert_eq!(b.result_value.as_deref(), Some("completed"));
        assert!(b.is_final());
        let b = ResultBody::new(&serde_json::json!({"result": {"value": "in_progress"}}));
        assert!(!b.is_final());
        let b = ResultBody::new(&serde_json::json!({"score": {"value": "80"}}));
        assert_eq!(b.result_value, None);
        assert!(!b.is_final());
    }
}
