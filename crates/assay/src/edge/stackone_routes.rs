//! StackOne's two routes: the Package's List Endpoint and the order webhooks.
//!
//! Both authenticate the raw bytes before any parsing. A webhook is answered 2xx only after
//! its event and order are committed to the store.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header, request::Parts};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{EdgeError, json_response};
use super::plugin_errors::call_error;
use crate::convert::{order_from_json, package_json};
use crate::package_cache::{CACHE_HEADER, CacheKey, Lookup, PackageCache};
use crate::products::Product;
use assay_runtime::types::PackageQuery;
use assay_runtime::{Plugin, ProductContext};
use assay_store::{IncomingEvent, IngestOutcome, NewOrder, Store, Timestamp};
use assay_wire::basic_auth;
use assay_wire::http_server::Body;
use assay_wire::metric;
use assay_wire::signature;
use assay_wire::stackone::{Envelope, PackagesPage, PackagesRequest, locate_order};

/// How long browsers may cache a CORS preflight answer.
pub const CORS_MAX_AGE_SECS: u32 = 600;

/// `POST /v1/products/{product}/packages`.
pub async fn packages(
    product: &Product,
    parts: &Parts,
    body: &Bytes,
) -> Result<Response<Body>, EdgeError> {
    basic_auth::verify(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        &product.config.package_list_keys,
    )
    .map_err(|e| EdgeError::Unauthorized(e.to_string()))?;
    verify_signature(product, &parts.headers, body)?;
    let request: PackagesRequest = serde_json::from_slice(body)
        .map_err(|e| EdgeError::BadRequest(format!("invalid package list request: {e}")))?;
    let plugin = loaded(product)?;
    let key = CacheKey {
        account_id: request.account_id,
        provider: request.provider,
    };
    let now = Instant::now();
    let (body, served) = match product.packages.lookup(&key, now) {
        Lookup::Fresh { body, refresh } => {
            if refresh {
                refresh_in_background(product, plugin, key);
            }
            (body, "hit")
        }
        Lookup::Stale { body } => {
            match fetch_packages(&product.packages, &product.context, &plugin, key, now).await {
                Ok(fetched) => (fetched, "miss"),
                Err(e) => {
                    tracing::warn!(
                        product = product.config.name,
                        error = %e,
                        "list-packages failed; answering with the stale package list"
                    );
                    (body, "stale")
                }
            }
        }
        Lookup::Miss => (
            fetch_packages(&product.packages, &product.context, &plugin, key, now).await?,
            "miss",
        ),
    };
    metrics::counter!(metric::PACKAGE_LIST_CACHE_TOTAL, "product" => product.config.name.clone(), "outcome" => served).increment(1);
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static(served));
    if let Some(origin) = allowed_origin(product, &parts.headers) {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response)
}

/// Calls `list-packages` for `key`, renders StackOne's page, and caches it if the plugin
/// allows. `started` is when the list was asked for: its freshness counts from then.
async fn fetch_packages(
    cache: &PackageCache,
    context: &ProductContext,
    plugin: &Plugin,
    key: CacheKey,
    started: Instant,
) -> Result<Bytes, EdgeError> {
    let query = PackageQuery {
        account_id: key.account_id.clone(),
        provider: key.provider.clone(),
    };
    let list = plugin
        .list_packages(context, query)
        .await
        .map_err(call_error)?;
    let page = PackagesPage {
        data: list.packages.into_iter().map(package_json).collect(),
        next: None,
    };
    let body =
        Bytes::from(serde_json::to_vec(&page).map_err(|e| EdgeError::Internal(e.to_string()))?);
    cache.store(key, body.clone(), list.freshness.as_ref(), started);
    Ok(body)
}

/// Refreshes a fresh entry that is getting old, off the request: the request was answered
/// from the cache already.
fn refresh_in_background(product: &Product, plugin: Arc<Plugin>, key: CacheKey) {
    let cache = Arc::clone(&product.packages);
    let context = product.context.clone();
    tokio::spawn(async move {
        let fetched = fetch_packages(&cache, &context, &plugin, key.clone(), Instant::now()).await;
        if let Err(e) = fetched {
            tracing::warn!(
                product = %context.product,
                // The cause (the plugin's error), not only the public message.
                error = e.reason(),
                "background refresh of a package list failed; the cached list keeps serving"
            );
            cache.refresh_failed(&key);
        }
    });
}

/// `OPTIONS /v1/products/{product}/packages`: a CORS preflight.
pub fn preflight(product: &Product, headers: &HeaderMap) -> Result<Response<Body>, EdgeError> {
    let origin = allowed_origin(product, headers).ok_or(EdgeError::OriginNotAllowed)?;
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, x-stackone-signature"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(CORS_MAX_AGE_SECS),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    Ok(response)
}

/// `POST /v1/products/{product}/webhooks`.
pub async fn webhook(
    product: &Product,
    store: &dyn Store,
    parts: &Parts,
    body: Bytes,
) -> Result<Response<Body>, EdgeError> {
    verify_token(product, parts.uri.query())?;
    verify_signature(product, &parts.headers, &body)?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| EdgeError::BadRequest(format!("the body is not JSON: {e}")))?;
    let envelope = Envelope::from_json(&value)
        .map_err(|e| EdgeError::BadRequest(format!("invalid webhook envelope: {e}")))?;
    let event = envelope
        .event
        .clone()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| EdgeError::BadRequest("`event` is missing".into()))?;
    let name = &product.config.name;
    let received_at = Timestamp::now();

    let Some(kind) = product.config.events.get(&event).copied() else {
        // Answered 2xx so StackOne does not retry it forever; kept for the record.
        let key = format!(
            "{event}:{}",
            envelope
                .record_id
                .clone()
                .unwrap_or_else(|| body_digest(&body))
        );
        let incoming = IncomingEvent {
            product: name.clone(),
            event_name: event.clone(),
            idempotency_key: key,
            received_at,
            envelope: body,
            order: None,
        };
        store.record_event(incoming).await.map_err(store_error)?;
        tracing::info!(
            product = name,
            event,
            "webhook event not handled by this product; stored as ignored"
        );
        return Ok(accepted("ignored"));
    };

    let (at, object) = locate_order(&value).ok_or_else(|| {
        EdgeError::BadRequest("no order object in `data`, `event_data` or the top level".into())
    })?;
    let order = order_from_json(
        kind.into(),
        object,
        at,
        envelope.account_id.as_deref(),
        envelope.provider.as_deref(),
    )
    .map_err(|e| EdgeError::BadRequest(e.to_string()))?;
    let candidate_label = {
        let c = &order.candidate;
        let name = [c.first_name.as_deref(), c.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let email = c.emails.first().map(|e| e.value.clone());
        match (name.is_empty(), email) {
            (false, Some(e)) => Some(format!("{name} <{e}>")),
            (false, None) => Some(name),
            (true, e) => e,
        }
    };
    let incoming = IncomingEvent {
        product: name.clone(),
        event_name: event.clone(),
        idempotency_key: format!("{event}:{}", order.id),
        received_at,
        envelope: body,
        order: Some(NewOrder {
            order_id: order.id.clone(),
            kind,
            account_id: order.account_id.clone(),
            provider: order.provider.clone(),
            package_id: order.package.remote_id.clone().or(order.package.id.clone()),
            candidate_label,
            order_json: order.raw_json.clone(),
        }),
    };
    let outcome = store.record_event(incoming).await.map_err(store_error)?;
    metrics::counter!(metric::WEBHOOKS_TOTAL, "product" => name.clone(), "outcome" => match outcome {
        IngestOutcome::Accepted { .. } => "accepted",
        IngestOutcome::Duplicate => "duplicate",
        IngestOutcome::Ignored => "ignored",
    })
    .increment(1);
    Ok(match outcome {
        IngestOutcome::Accepted { order: id } => {
            tracing::info!(product = name, event, order_id = order.id, order = %id, "order accepted");
            accepted("accepted")
        }
        IngestOutcome::Duplicate => {
            tracing::info!(
                product = name,
                event,
                order_id = order.id,
                "duplicate delivery; nothing changed"
            );
            accepted("duplicate")
        }
        IngestOutcome::Ignored => accepted("ignored"),
    })
}

fn accepted(status: &str) -> Response<Body> {
    json_response(StatusCode::OK, &json!({ "status": status }))
}

/// The product's plugin, or 503 with `Retry-After` naming the product when it is not loaded.
pub(super) fn loaded(product: &Product) -> Result<Arc<Plugin>, EdgeError> {
    product
        .plugin
        .clone()
        .map_err(|cause| EdgeError::Unavailable {
            message: format!(
                "the plugin of product `{}` is not loaded",
                product.config.name
            ),
            cause,
            retry_after: Some(std::time::Duration::from_secs(5)),
        })
}

fn verify_signature(product: &Product, headers: &HeaderMap, body: &[u8]) -> Result<(), EdgeError> {
    signature::verify_headers(body, headers, &product.config.webhook_secrets)
        .map_err(|e| EdgeError::Unauthorized(e.to_string()))
}

/// The optional `?token=` check of the webhook URL, in constant time.
fn verify_token(product: &Product, query: Option<&str>) -> Result<(), EdgeError> {
    let Some(expected) = &product.config.webhook_token else {
        return Ok(());
    };
    let given = query
        .into_iter()
        .flat_map(|q| url::form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    match given {
        Some(t) if bool::from(t.as_bytes().ct_eq(expected.expose().as_bytes())) => Ok(()),
        Some(_) => Err(EdgeError::Unauthorized(
            "webhook token does not match".into(),
        )),
        None => Err(EdgeError::Unauthorized("webhook token missing".into())),
    }
}

fn allowed_origin(product: &Product, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin
        .to_str()
        .ok()?
        .trim_end_matches('/')
        .to_ascii_lowercase();
    product
        .config
        .cors_origins
        .contains(&text)
        .then(|| origin.clone())
}

fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// A store failure while accepting: 503, so StackOne retries and nothing is lost.
pub fn store_error(e: assay_store::StoreError) -> EdgeError {
    EdgeError::Unavailable {
        message: "the order store cannot accept data right now".into(),
        cause: e.to_string(),
        retry_after: Some(std::time::Duration::from_secs(5)),
    }
}
