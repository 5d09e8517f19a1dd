//! Operator routes: liveness, readiness, Prometheus metrics, the status page with its login,
//! and the JSON views behind the admin token.
//!
//! Who may see what: `/healthz` and `/readyz` answer anyone (`/readyz` at the [`Detail`] its
//! listener allows, [`readiness`](fn@readiness)); everything under `/admin` needs the admin token, sent as
//! `Authorization: Bearer` (scripts) or proven once at the login form and carried in the
//! session cookie ([`session`]). No answer ever carries a `Basic` challenge, so a browser
//! never shows its own password dialog: `/admin` sends it to the login form instead.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::error::{EdgeError, json_response};
use super::html;
use super::readiness::{self, Detail, Readiness};
use super::session::{self, SessionError, SessionKey};
use super::status_page::{self, StatusPage};
use crate::app::TaskFailure;
use crate::config::ServerConfig;
use crate::products::Products;
use crate::telemetry;
use assay_store::{OrderFilter, OrderId, OrderState, Store, Timestamp};
use assay_wire::http_server::Body;

/// How many recent orders the status views list.
pub const STATUS_RECENT_ORDERS: usize = 50;

/// How many dead letters the status page lists.
pub const STATUS_DEAD_LETTERS: usize = 20;

/// `GET /healthz`: the process is alive.
pub fn healthz() -> Response<Body> {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

/// The host's readiness now: one snapshot of the products, one question to the store.
pub async fn readiness(
    products: &Products,
    store: &dyn Store,
    failure: Option<&TaskFailure>,
) -> Readiness {
    let store = store
        .outbox_backlog()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    readiness::assess(&products.snapshot(), store, failure)
}

/// `GET /readyz`: 200 when the store answers, every background task runs and at least one
/// product serves; 503 otherwise. The body says what each product's state is, at `detail`.
pub async fn readyz(
    products: &Products,
    store: &dyn Store,
    failure: Option<&TaskFailure>,
    detail: Detail,
) -> Result<Response<Body>, EdgeError> {
    let readiness = readiness(products, store, failure).await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(status, &readiness.to_json(detail)))
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
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

/// Checks the admin token, sent as `Authorization: Bearer <token>` or proven by a session
/// cookie. Without a configured token the operator views are off (404), so they are never
/// open by accident.
pub fn authorize(server: &ServerConfig, headers: &HeaderMap) -> Result<(), EdgeError> {
    let token = server.admin_token.as_ref().ok_or(EdgeError::NotFound)?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return if token_matches(given, token) {
            Ok(())
        } else {
            Err(EdgeError::AdminUnauthorized(
                "admin token does not match".into(),
            ))
        };
    }
    let cookie = session::cookie_value(headers).ok_or(SessionError::Missing);
    cookie
        .and_then(|value| SessionKey::derive(token).verify(value, session::now_unix()))
        .map_err(|e| EdgeError::AdminUnauthorized(e.to_string()))
}

/// Whether `given` (surrounding white space ignored) is the admin token. The SHA-256 digests
/// are compared, in constant time, so neither the content nor the length of the token shows
/// in how long the answer takes.
fn token_matches(given: &str, token: &assay_wire::secret::Secret) -> bool {
    use sha2::Digest as _;
    let given = sha2::Sha256::digest(given.trim().as_bytes());
    let token = sha2::Sha256::digest(token.expose().as_bytes());
    bool::from(given.as_slice().ct_eq(token.as_slice()))
}

fn page_response(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(Body::from(page));
    *response.status_mut() = status;
    html::set_page_headers(response.headers_mut());
    response
}

fn see_other(location: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /admin`: the status page. Without a valid session (or Bearer token) a browser is sent
/// to the login form.
pub async fn page(
    server: &ServerConfig,
    headers: &HeaderMap,
    query: Option<&str>,
    products: &Products,
    store: &dyn Store,
    failure: Option<&TaskFailure>,
) -> Result<Response<Body>, EdgeError> {
    match authorize(server, headers) {
        Ok(()) => {}
        Err(EdgeError::AdminUnauthorized(reason)) => {
            tracing::info!(reason, "the status page needs a login");
            return Ok(see_other("/admin/login"));
        }
        Err(e) => return Err(e),
    }
    let internal = |e: assay_store::StoreError| EdgeError::Internal(e.to_string());
    let readiness = readiness(products, store, failure).await;
    let kinds = products
        .snapshot()
        .products
        .iter()
        .map(|(name, p)| (name.clone(), p.config.kind.as_str()))
        .collect();
    let counts = store.counts().await.map_err(internal)?;
    let recent = store
        .list_orders(OrderFilter {
            limit: STATUS_RECENT_ORDERS,
            ..Default::default()
        })
        .await
        .map_err(internal)?;
    // Dead-lettered orders, then recent orders with a dead-lettered progress result.
    let mut with_letters = store
        .list_orders(OrderFilter {
            state: Some(OrderState::DeadLettered),
            limit: STATUS_DEAD_LETTERS,
            ..Default::default()
        })
        .await
        .map_err(internal)?;
    for order in recent.iter().filter(|o| o.dead_letters > 0) {
        if !with_letters.iter().any(|o| o.id == order.id) {
            with_letters.push(order.clone());
        }
    }
    let mut dead_letters = Vec::new();
    for order in with_letters.into_iter().take(STATUS_DEAD_LETTERS) {
        if let Some(detail) = store.get_order(order.id).await.map_err(internal)? {
            for letter in detail.dead_letters {
                dead_letters.push((order.clone(), letter));
            }
        }
    }
    let page = StatusPage {
        readiness: &readiness,
        kinds: &kinds,
        counts: &counts,
        now: Timestamp::now(),
        dead_letters: &dead_letters,
        recent: &recent,
        reveal: status_page::wants_reveal(query),
    };
    Ok(page_response(StatusCode::OK, page.render()))
}

/// `GET /admin/login`: the form. Off (404) without an admin token.
pub fn login_form(server: &ServerConfig, query: Option<&str>) -> Result<Response<Body>, EdgeError> {
    server.admin_token.as_ref().ok_or(EdgeError::NotFound)?;
    let message = query
        .is_some_and(|q| q.split('&').any(|p| p == "logged_out=1"))
        .then_some("You are logged out.");
    Ok(page_response(
        StatusCode::OK,
        status_page::login_page(message, false),
    ))
}

/// The authority a request was sent to, for the same-origin check.
fn host_of(parts: &http::request::Parts) -> Option<&str> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(http::uri::Authority::as_str))
}

/// `POST /admin/login` with `token=…` from the form: a session cookie and the status page, or
/// the form again saying the token is wrong.
pub fn login(
    server: &ServerConfig,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Response<Body>, EdgeError> {
    let token = server.admin_token.as_ref().ok_or(EdgeError::NotFound)?;
    session::check_same_origin(&parts.headers, host_of(parts)).map_err(EdgeError::Forbidden)?;
    let given = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| EdgeError::BadRequest("the form has no `token` field".into()))?;
    if !token_matches(&given, token) {
        tracing::warn!("a login with a wrong admin token");
        let mut response = page_response(
            StatusCode::UNAUTHORIZED,
            status_page::login_page(Some("That is not the admin token."), true),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"assay admin\""),
        );
        return Ok(response);
    }
    let cookie = session::set_cookie(&SessionKey::derive(token).issue(session::now_unix()));
    let mut response = see_other("/admin");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| EdgeError::Internal(e.to_string()))?,
    );
    tracing::info!("an operator logged in");
    Ok(response)
}

/// `POST /admin/logout`: removes the session cookie and shows the login form.
pub fn logout(
    server: &ServerConfig,
    parts: &http::request::Parts,
) -> Result<Response<Body>, EdgeError> {
    server.admin_token.as_ref().ok_or(EdgeError::NotFound)?;
    session::check_same_origin(&parts.headers, host_of(parts)).map_err(EdgeError::Forbidden)?;
    let mut response = see_other("/admin/login?logged_out=1");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::clear_cookie())
            .map_err(|e| EdgeError::Internal(e.to_string()))?,
    );
    Ok(response)
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
                "state": readiness::ProductState::of(p).as_str(),
                "kind": p.config.kind,
                "plugin_file": p.config.plugin.display().to_string(),
                "plugin": p.plugin_label(),
                "contract": p.plugin.as_ref().ok().map(|p| p.contract_version()),
                // `winch` while a large plugin's optimised code is compiled (`tiering`).
                "compiler": p.plugin.as_ref().ok().map(|p| p.compiler().as_str()),
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

/// `POST /admin/orders/{id}/retry`: an operator's redrive of order `id` (Assay's number):
/// a failed order back to `received`, or its dead-lettered newest result queued again
/// ([`Store::redrive`]); the worker or the relay (`wake`) is woken to take it at once.
///
/// Two callers: a script with `Authorization: Bearer <admin token>` gets JSON (what was
/// redriven, or the error: 404 unknown order, 409 nothing to retry); the status page's
/// button posts with the session cookie, and is refused unless the post comes from this
/// host's own page ([`session::check_same_origin`]: a cookie is sent along by the browser
/// whichever site made it post, so the cookie alone would let another site retry orders);
/// it is answered with the status page again, or an HTML page saying why not.
pub async fn retry(
    server: &ServerConfig,
    parts: &http::request::Parts,
    store: &dyn Store,
    id: &str,
    wake: (&tokio::sync::Notify, &tokio::sync::Notify),
) -> Result<Response<Body>, EdgeError> {
    authorize(server, &parts.headers)?;
    let scripted = parts.headers.contains_key(header::AUTHORIZATION);
    if !scripted {
        session::check_same_origin(&parts.headers, host_of(parts)).map_err(EdgeError::Forbidden)?;
    }
    let answer = redrive(store, id, wake).await;
    if scripted {
        let redriven = answer?;
        let value =
            serde_json::to_value(redriven).map_err(|e| EdgeError::Internal(e.to_string()))?;
        return Ok(json_response(StatusCode::OK, &value));
    }
    match answer {
        Ok(_) => Ok(see_other("/admin")),
        Err(e) => {
            e.log(None, "admin");
            Ok(e.into_html_response())
        }
    }
}

async fn redrive(
    store: &dyn Store,
    id: &str,
    (worker, relay): (&tokio::sync::Notify, &tokio::sync::Notify),
) -> Result<assay_store::Redriven, EdgeError> {
    let order = id
        .parse::<i64>()
        .map(OrderId)
        .map_err(|_| EdgeError::BadRequest(format!("`{id}` is not an order number")))?;
    let redriven = store
        .redrive(order, Timestamp::now())
        .await
        .map_err(|e| match e {
            assay_store::StoreError::OrderNotFound(_) => EdgeError::NotFound,
            e @ assay_store::StoreError::NotRedrivable { .. } => EdgeError::Conflict(e.to_string()),
            e if e.is_unavailable() => EdgeError::Unavailable {
                message: "the store is unavailable".into(),
                cause: e.to_string(),
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
            e => EdgeError::Internal(e.to_string()),
        })?;
    match redriven.kind {
        assay_store::RedriveKind::Order => worker.notify_one(),
        assay_store::RedriveKind::Result => relay.notify_one(),
    }
    tracing::info!(
        order = redriven.order.0,
        what = redriven.kind.as_str(),
        from = redriven.from.as_str(),
        to = redriven.to.as_str(),
        "an operator retried an order"
    );
    Ok(redriven)
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
