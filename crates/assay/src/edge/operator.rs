//! Operator routes: liveness, readiness, Prometheus metrics, and the status views behind the
//! admin token.

use http::{HeaderMap, Response, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::{EdgeError, json_response};
use crate::app::TaskFailure;
use crate::config::ServerConfig;
use crate::products::Products;
use crate::telemetry;
use assay_store::{OrderFilter, OrderId, Store, Timestamp};
use assay_wire::http_server::Body;

/// How many recent orders the status view lists.
pub const STATUS_RECENT_ORDERS: usize = 50;

/// `GET /healthz`: the process is alive.
pub fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// `GET /readyz`: every background task runs, the store answers and every product has a
/// loaded plugin. Lists problems.
pub async fn readyz(
    products: &Products,
    store: &dyn Store,
    failure: Option<&TaskFailure>,
) -> Result<Response<Body>, EdgeError> {
    let mut problems = Vec::new();
    if let Some(failure) = failure {
        problems.push(failure.to_string());
    }
    if let Err(e) = store.outbox_backlog().await {
        problems.push(format!("store: {e}"));
    }
    let table = products.snapshot();
    let mut list = Vec::new();
    for (name, product) in &table.products {
        match &product.plugin {
            Ok(plugin) => list.push(json!({
                "product": name,
                "plugin": product.plugin_label(),
                "contract": plugin.contract_version(),
                "generation": product.generation,
                "ready": true,
                "last_reload_error": product.last_error,
            })),
            Err(e) => {
                problems.push(format!("product `{name}`: {e}"));
                list.push(json!({"product": name, "ready": false, "error": e, "generation": product.generation}));
            }
        }
    }
    let ready = problems.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(
        status,
        &json!({"ready": ready, "problems": problems, "products": list}),
    ))
}

/// `GET /metrics`: Prometheus text format. The gauges are brought up to date first
/// ([`telemetry::record_scrape`]); a store that does not answer leaves its gauges as they were
/// (and `/readyz` says why) rather than failing the scrape.
pub async fn metrics(
    handle: Option<&PrometheusHandle>,
    products: &Products,
    store: &dyn Store,
) -> Result<Response<Body>, EdgeError> {
    let handle = handle.ok_or(EdgeError::NotFound)?;
    let counts = match store.counts().await {
        Ok(counts) => Some(counts),
        Err(e) => {
            tracing::warn!(error = %e, "the store's gauges are not updated");
            None
        }
    };
    telemetry::record_scrape(&products.snapshot(), counts.as_ref(), Timestamp::now());
    let mut response = Response::new(Body::from(handle.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

/// Checks `Authorization: Bearer <admin token>`. Without a configured token the operator
/// views are off (404), so they are never open by accident.
pub fn authorize(server: &ServerConfig, headers: &HeaderMap) -> Result<(), EdgeError> {
    let token = server.admin_token.as_ref().ok_or(EdgeError::NotFound)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| EdgeError::Unauthorized("admin token missing".into()))?;
    if bool::from(given.trim().as_bytes().ct_eq(token.expose().as_bytes())) {
        Ok(())
    } else {
        Err(EdgeError::Unauthorized("admin token does not match".into()))
    }
}

/// `GET /admin/status`: products and their plugins, the outbox, recent orders.
pub async fn status(products: &Products, store: &dyn Store) -> Result<Response<Body>, EdgeError> {
    let table = products.snapshot();
    let products: Vec<_> = table
        .products
        .iter()
        .map(|(name, p)| {
            json!({
                "product": name,
                "kind": p.config.kind,
                "plugin_file": p.config.plugin.display().to_string(),
                "plugin": p.plugin_label(),
                "contract": p.plugin.as_ref().ok().map(|p| p.contract_version()),
                "generation": p.generation,
                "state_bytes": p.context.state.used(),
                "cached_package_lists": p.packages.len(),
                "load_error": p.plugin.as_ref().err(),
                "last_reload_error": p.last_error,
            })
        })
        .collect();
    let backlog = store
        .outbox_backlog()
        .await
        .map_err(|e| EdgeError::Internal(e.to_string()))?;
    let recent = store
        .list_orders(OrderFilter {
            limit: STATUS_RECENT_ORDERS,
            ..Default::default()
        })
        .await
        .map_err(|e| EdgeError::Internal(e.to_string()))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"products": products, "outbox": backlog, "recent_orders": recent}),
    ))
}

/// `GET /admin/orders/{id}`: one order with its events, results and dead letters. `id` is
/// Assay's number or StackOne's order id.
pub async fn order(store: &dyn Store, id: &str) -> Result<Response<Body>, EdgeError> {
    let internal = |e: assay_store::StoreError| EdgeError::Internal(e.to_string());
    let found = match id.parse::<i64>() {
        Ok(n) => store.get_order(OrderId(n)).await.map_err(internal)?,
        Err(_) => None,
    };
    let found = match found {
        Some(f) => Some(f),
        None => {
            let filter = OrderFilter {
                order_id: Some(id.to_owned()),
                limit: 1,
                ..Default::default()
            };
            match store.list_orders(filter).await.map_err(internal)?.first() {
                Some(o) => store.get_order(o.id).await.map_err(internal)?,
                None => None,
            }
        }
    };
    let detail = found.ok_or(EdgeError::NotFound)?;
    let value = serde_json::to_value(&detail).map_err(|e| EdgeError::Internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &value))
}
