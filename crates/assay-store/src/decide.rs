//! The decisions both backends take on the rows they read, so SQLite and PostgreSQL cannot
//! drift apart: the SQL differs, what it means does not.

use crate::{
    OrderClaim, OrderId, OrderKind, OrderState, OutboxClaim, OutboxState, RedriveKind, ResultBody,
    ResultRecorded, ResultRejection, StoreError,
};

/// The parts of an order row the write paths decide on.
pub(crate) struct OrderRow {
    pub id: OrderId,
    pub product: String,
    pub order_id: String,
    pub kind: OrderKind,
    pub account_id: String,
    pub state: OrderState,
    pub attempts: u32,
    pub external_id: Option<String>,
}

/// `Ok` if `claim` is the order's current claim (its attempt is the order's last), else
/// [`StoreError::LeaseLost`]: the fencing of retry and failure reports.
pub(crate) fn check_order_claim(order: &OrderRow, claim: OrderClaim) -> Result<(), StoreError> {
    if order.attempts == claim.attempt {
        return Ok(());
    }
    Err(StoreError::LeaseLost {
        what: "order",
        id: claim.order.0,
        attempt: claim.attempt,
    })
}

/// `Ok` if the outbox row (in `state`, after `attempts` claims) is pending and `claim` is its
/// current claim, else [`StoreError::LeaseLost`].
pub(crate) fn check_outbox_claim(
    state: OutboxState,
    attempts: u32,
    claim: OutboxClaim,
) -> Result<(), StoreError> {
    if state == OutboxState::Pending && attempts == claim.attempt {
        return Ok(());
    }
    Err(StoreError::LeaseLost {
        what: "outbox row",
        id: claim.id,
        attempt: claim.attempt,
    })
}

/// Where a successful fulfilment takes `order`: `Ok(Some(state))` to record it there,
/// `Ok(None)` when the same success was recorded already (nothing to do), or why not.
pub(crate) fn success(
    order: &OrderRow,
    external_id: &str,
    first_result: Option<&ResultBody>,
) -> Result<Option<OrderState>, StoreError> {
    let to = if first_result.is_some_and(ResultBody::is_final) {
        OrderState::ResultReceived
    } else {
        OrderState::AwaitingResult
    };
    if order.state != OrderState::Fulfilling {
        // A second report of the same success (e.g. from a worker whose lease expired and
        // whose successor got the same id from the idempotent vendor) changes nothing.
        if order.external_id.as_deref() == Some(external_id) {
            return Ok(None);
        }
        return Err(StoreError::InvalidTransition {
            order: order.id,
            from: order.state,
            to,
        });
    }
    order.state.check(order.id, to)?;
    Ok(Some(to))
}

/// The refusal of an external id another order of the product already has.
pub(crate) fn external_id_taken(order: &OrderRow, external_id: &str, other: OrderId) -> StoreError {
    StoreError::Conflict(format!(
        "external id {external_id:?} of product {} is already used by order {other}",
        order.product
    ))
}

/// What to do with a result for `order`: `Ok(state)` to queue it and move the order to
/// `state`, or the answer to give without queueing it (refused, or superseded by the final
/// result). A repeat of the newest result is checked apart, since it needs the outbox.
pub(crate) fn result(
    order: &OrderRow,
    body: &ResultBody,
) -> Result<OrderState, Result<ResultRecorded, ResultRejection>> {
    if !order.state.accepts_results() {
        return Err(Err(ResultRejection::NotAwaitingResult {
            order: order.id,
            state: order.state,
        }));
    }
    if !body.is_final() && order.state.has_final_result() {
        return Err(Ok(ResultRecorded::Superseded { order: order.id }));
    }
    Ok(if body.is_final() {
        OrderState::ResultReceived
    } else {
        order.state
    })
}

/// Whether a newest outbox row (in `state`, carrying `last`) makes `body` a repeat that is
/// not queued again: same bytes, and queued or delivered (a dead letter may be sent again).
pub(crate) fn is_repeat(state: OutboxState, last: &str, body: &ResultBody) -> bool {
    state != OutboxState::DeadLettered && last == body.json
}

/// `Ok(true)` when a delivery report must be applied to a row in `state`, `Ok(false)` when
/// it is already delivered (a no-op), or the refusal for a dead letter.
pub(crate) fn delivery(state: OutboxState, id: i64) -> Result<bool, StoreError> {
    match state {
        OutboxState::Pending => Ok(true),
        OutboxState::Delivered => Ok(false),
        OutboxState::DeadLettered => Err(StoreError::Conflict(format!(
            "outbox row {id} is dead-lettered and cannot be marked delivered"
        ))),
    }
}

/// The state of an order with a final result once nothing of it waits in the outbox: how
/// its newest result fared.
pub(crate) fn settled(newest: OutboxState) -> OrderState {
    if newest == OutboxState::Delivered {
        OrderState::ResultDelivered
    } else {
        OrderState::DeadLettered
    }
}

/// What a redrive of `order` does, given the state of its newest outbox row (if any): put
/// a failed order back to `received`, or queue a dead-lettered newest result again (a
/// `dead_lettered` order then waits for it in `result_received`); anything else is refused.
/// Returns the kind and the order's state afterwards.
pub(crate) fn redrive(
    order: &OrderRow,
    newest: Option<OutboxState>,
) -> Result<(RedriveKind, OrderState), StoreError> {
    if order.state == OrderState::Failed {
        return Ok((RedriveKind::Order, OrderState::Received));
    }
    if newest == Some(OutboxState::DeadLettered) {
        let to = if order.state == OrderState::DeadLettered {
            OrderState::ResultReceived
        } else {
            order.state
        };
        return Ok((RedriveKind::Result, to));
    }
    Err(StoreError::NotRedrivable {
        order: order.id,
        state: order.state,
    })
}

/// What a redrive of `order` (decided by [`redrive`]) did, for the caller.
pub(crate) fn redriven(
    order: &OrderRow,
    (kind, to): (RedriveKind, OrderState),
    outbox_id: Option<i64>,
) -> crate::Redriven {
    crate::Redriven {
        order: order.id,
        kind,
        from: order.state,
        to,
        outbox_id,
    }
}
