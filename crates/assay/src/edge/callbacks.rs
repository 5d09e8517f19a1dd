//! `/v1/products/{product}/callbacks/{rest…}`: the vendor's system calling the plugin.
//!
//! The plugin checks the vendor's signature itself (its secrets are in its settings) and turns
//! the request into results. The results are committed to the outbox before the plugin's
//! response is returned, so a vendor that got its 2xx never has to send again; if the store
//! cannot commit, the vendor gets a 503 and retries.
//!
//! A vendor may call back before the host has recorded that it accepted the order (the
//! `fulfil-order` call is still running, or waits for a retry). A result the store refuses for
//! that reason ([`results::may_be_accepted_later`]) must not be lost behind the plugin's 200:
//! the vendor gets a 503 with `Retry-After` instead, and sends the callback again. Results of
//! the same callback that were stored are stored again then; StackOne receives the same
//! update twice, which changes nothing there.
//!
//! What the plugin is handed and which of its response headers the vendor gets is decided in
//! [`assay_wire::callback`].
//!
//! A callback that names nothing known is answered 404 and never retried, counted in
//! [`metric::CALLBACKS_DECLINED_TOTAL`] and logged once: when the plugin declines it
//! (`callback-outcome.unknown`, contract 0.2.0), or when every result it returned names an
//! order the host cannot place and no order of the product is waiting for its fulfilment to
//! be recorded (so no later retry could place it either).

use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};
use tokio::sync::Notify;

use super::error::EdgeError;
use super::error::json_response;
use super::plugin_errors::call_error;
use super::stackone_routes::store_error;
use crate::pipeline::results;
use crate::products::Product;
use assay_runtime::types::{CallbackOutcome, CallbackRequest};
use assay_store::Store;
use assay_wire::callback;
use assay_wire::http_server::Body;
use assay_wire::metric;

/// What a vendor is asked to wait before sending again a callback that came too early: about
/// one fulfilment retry (the first is 2 s after a failure).
const CALLBACK_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the product's `handle-callback`, stores its results, returns its response.
pub async fn handle(
    product: &Product,
    store: &dyn Store,
    relay: &Notify,
    parts: &Parts,
    rest: &str,
    body: Bytes,
) -> Result<Response<Body>, EdgeError> {
    let plugin = super::stackone_routes::loaded(product)?;
    let request = CallbackRequest::from(callback::CallbackRequest::new(parts, rest, &body));
    let outcome = match plugin
        .handle_callback(&product.context, request)
        .await
        .map_err(call_error)?
    {
        CallbackOutcome::Handled(handled) => handled,
        CallbackOutcome::Unknown(reason) => return Ok(declined(product, rest, "plugin", &reason)),
    };
    let offered = outcome.results.len();
    let recorded = results::record(store, &product.config.name, outcome.results)
        .await
        .map_err(store_error)?;
    if recorded.queued > 0 {
        relay.notify_one();
    }
    if offered > 0 && recorded.unknown == offered {
        return Ok(declined(
            product,
            rest,
            "host",
            &format!(
                "no order of product `{}` matches: {}",
                product.config.name,
                recorded.rejected.join("; ")
            ),
        ));
    }
    if !recorded.retry_later.is_empty() {
        return Err(EdgeError::Unavailable {
            message: format!(
                "{} result(s) name an order whose fulfilment is not recorded yet; send the \
                 callback again",
                recorded.retry_later.len()
            ),
            cause: recorded.retry_later.join("; "),
            retry_after: Some(CALLBACK_RETRY_AFTER),
        });
    }
    let mut response = Response::new(Body::from(outcome.response.body));
    *response.status_mut() = StatusCode::from_u16(outcome.response.status).map_err(|_| {
        EdgeError::Internal(format!(
            "plugin answered an invalid status {}",
            outcome.response.status
        ))
    })?;
    let (headers, invalid) = callback::response_headers(
        outcome
            .response
            .headers
            .into_iter()
            .map(|h| (h.name, h.value)),
    );
    *response.headers_mut() = headers;
    for header in invalid {
        tracing::warn!(
            product = product.config.name,
            header,
            "plugin response header is invalid; dropped"
        );
    }
    Ok(response)
}

/// The 404 for a callback that names nothing known; logged here, once, since the vendor is
/// told not to send it again.
fn declined(product: &Product, path: &str, by: &'static str, reason: &str) -> Response<Body> {
    tracing::warn!(
        product = product.config.name,
        path,
        by,
        reason,
        "callback declined: it names nothing known; answered 404"
    );
    metrics::counter!(metric::CALLBACKS_DECLINED_TOTAL, "product" => product.config.name.clone(), "by" => by).increment(1);
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": {"code": "unknown", "message": reason}}),
    )
}
