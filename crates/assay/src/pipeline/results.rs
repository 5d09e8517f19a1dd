//! Results from plugins (callbacks, polls, first results) into the outbox.
//!
//! A plugin names the order of a result by StackOne's order id or by the vendor's external
//! id; the store resolves either, writes each result to the outbox in the same transaction
//! that updates its order, and reports unknown orders one by one. The body is built here, once,
//! in StackOne's exact shape, so the relay only sends what is stored.

use crate::convert::result_body;
use assay_runtime::types::{AssessmentResult, OrderRef as PluginOrderRef, OrderResult};
use assay_store::{
    self as store, OrderFilter, OrderState, ResultRecorded, ResultRejection, Store, StoreError,
};

/// The stored form of a plugin's result.
pub fn to_store(result: AssessmentResult) -> store::ResultBody {
    let body = result_body(result, None);
    // Serialising plain structs of strings cannot fail.
    let json = serde_json::to_value(&body).unwrap_or(serde_json::Value::Null);
    store::ResultBody::new(&json)
}

/// How many of a batch of results were queued, and which were refused.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Results written to the outbox.
    pub queued: usize,
    /// Results for orders that already had their final result; not sent.
    pub superseded: usize,
    /// Results identical to the order's newest queued or delivered one; not queued again.
    pub already_queued: usize,
    /// Results the store refused (unknown order, order not waiting), with the reason.
    pub rejected: Vec<String>,
    /// Of `rejected`, those that can be right later: the order is still being fulfilled (or
    /// waits to be retried), or it is named by an external id that fulfilment may not have
    /// recorded yet because an order of the product is still being fulfilled. A vendor's
    /// callback carrying one is answered 503 so that it is sent again.
    pub retry_later: Vec<String>,
    /// Of `rejected`, those naming an order the host cannot place now or later.
    pub unknown: usize,
}

/// Records `results` of `product` in one transaction. An `Err` means none was stored.
pub async fn record(
    store: &dyn Store,
    product: &str,
    results: Vec<OrderResult>,
) -> Result<Recorded, StoreError> {
    if results.is_empty() {
        return Ok(Recorded::default());
    }
    let items = results
        .into_iter()
        .map(|r| {
            let order = match r.order {
                PluginOrderRef::OrderId(id) => store::OrderRef::OrderId(id),
                PluginOrderRef::ExternalId(id) => store::OrderRef::ExternalId(id),
            };
            (order, to_store(r.result))
        })
        .collect();
    let mut recorded = Recorded::default();
    // Asked once, and only if a result names an unknown external id.
    let mut fulfilling: Option<bool> = None;
    for outcome in store.record_results(product, items).await? {
        match outcome {
            Ok(ResultRecorded::Queued { .. }) => recorded.queued += 1,
            Ok(ResultRecorded::Superseded { .. }) => recorded.superseded += 1,
            Ok(ResultRecorded::AlreadyQueued { .. }) => recorded.already_queued += 1,
            Err(rejection) => {
                let reason = describe(&rejection);
                let later = match &rejection {
                    ResultRejection::UnknownOrder(store::OrderRef::ExternalId(_)) => {
                        match fulfilling {
                            Some(known) => known,
                            None => {
                                let known = awaits_fulfilment(store, product).await?;
                                fulfilling = Some(known);
                                known
                            }
                        }
                    }
                    other => may_be_accepted_later(other),
                };
                if later {
                    tracing::warn!(
                        product,
                        reason,
                        "plugin result refused for now; the callback will be asked again"
                    );
                    recorded.retry_later.push(reason.clone());
                } else if matches!(rejection, ResultRejection::UnknownOrder(_)) {
                    recorded.unknown += 1;
                } else {
                    tracing::warn!(product, reason, "plugin result refused");
                }
                recorded.rejected.push(reason);
            }
        }
    }
    Ok(recorded)
}

/// Whether an order of `product` was received and its fulfilment is not recorded yet
/// (running, or waiting for a retry): a result naming an unknown external id may be for it.
async fn awaits_fulfilment(store: &dyn Store, product: &str) -> Result<bool, StoreError> {
    for state in [OrderState::Fulfilling, OrderState::Received] {
        let filter = OrderFilter {
            product: Some(product.to_owned()),
            state: Some(state),
            limit: 1,
            ..OrderFilter::default()
        };
        if !store.list_orders(filter).await?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a refused result may be accepted when sent again: a vendor can call back before
/// the host has recorded the vendor's acceptance of the order (the `fulfil-order` call is still
/// running, or is waiting for its retry). A StackOne order id the host never received, or an
/// order that failed, stays refused. An unknown external id may be one fulfilment has not
/// recorded yet; [`record`] asks the store whether any order is being fulfilled.
pub fn may_be_accepted_later(rejection: &ResultRejection) -> bool {
    match rejection {
        ResultRejection::NotAwaitingResult { state, .. } => {
            matches!(state, OrderState::Received | OrderState::Fulfilling)
        }
        ResultRejection::UnknownOrder(store::OrderRef::ExternalId(_)) => true,
        ResultRejection::UnknownOrder(store::OrderRef::OrderId(_)) => false,
    }
}

fn describe(rejection: &ResultRejection) -> String {
    match rejection {
        ResultRejection::UnknownOrder(r) => format!("no order matches {r:?}"),
        ResultRejection::NotAwaitingResult { order, state } => {
            format!("order {order} is {state:?}, not waiting for a result")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_be_accepted_later;
    use assay_store::{OrderId, OrderRef, OrderState, ResultRejection};

    #[test]
    fn only_refusals_that_time_can_fix_are_retried() {
        let not_waiting = |state| ResultRejection::NotAwaitingResult {
            order: OrderId(7),
            state,
        };
        assert!(may_be_accepted_later(&not_waiting(OrderState::Received)));
        assert!(may_be_accepted_later(&not_waiting(OrderState::Fulfilling)));
        assert!(!may_be_accepted_later(&not_waiting(OrderState::Failed)));
        assert!(may_be_accepted_later(&ResultRejection::UnknownOrder(
            OrderRef::ExternalId("inv-1".into())
        )));
        assert!(!may_be_accepted_later(&ResultRejection::UnknownOrder(
            OrderRef::OrderId("never-received".into())
        )));
    }
}
