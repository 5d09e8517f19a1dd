//! Results from plugins (callbacks, polls, first results) into the outbox.
//!
//! A plugin names the order of a result by StackOne's order id or by the vendor's external
//! id; the store resolves either, writes each result to the outbox in the same transaction
//! that updates its order, and reports unknown orders one by one. The body is built here, once,
//! in StackOne's exact shape, so the relay only sends what is stored.

use crate::runtime::types::{AssessmentResult, OrderRef as PluginOrderRef, OrderResult};
use crate::stackone::convert::result_body;
use crate::store::{self, ResultRecorded, ResultRejection, Store, StoreError};

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
    /// Results the store refused (unknown order, order not waiting), with the reason.
    pub rejected: Vec<String>,
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
    for outcome in store.record_results(product, items).await? {
        match outcome {
            Ok(ResultRecorded::Queued { .. }) => recorded.queued += 1,
            Ok(ResultRecorded::Superseded { .. }) => recorded.superseded += 1,
            Err(rejection) => {
                let reason = describe(&rejection);
                tracing::warn!(product, reason, "plugin result refused");
                recorded.rejected.push(reason);
            }
        }
    }
    Ok(recorded)
}

fn describe(rejection: &ResultRejection) -> String {
    match rejection {
        ResultRejection::UnknownOrder(r) => format!("no order matches {r:?}"),
        ResultRejection::NotAwaitingResult { order, state } => {
            format!("order {order} is {state:?}, not waiting for a result")
        }
    }
}
