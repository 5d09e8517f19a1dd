//! The edge's request handler: dispatch, body limits, metrics, and the one error mapping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Body as HttpBody;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use tracing::Instrument as _;

use super::error::EdgeError;
use super::readiness::Detail;
use super::route::{Listener, Route, hidden, route};
use super::{callbacks, operator, stackone_routes};
use crate::app::Supervisor;
use crate::products::{Product, Products};
use assay_store::Store;
use assay_wire::http_server::Body;
use assay_wire::metric;

/// The request's deadline, in its extensions, so the body read can tell a slow client.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: tokio::time::Instant,
    timeout: Duration,
}

/// How much later than the body read the whole request is cut off.
const BODY_DEADLINE_MARGIN: Duration = Duration::from_millis(50);

/// What the edge needs to answer requests. Shared by every connection.
pub struct Edge {
    /// The generation in force: server settings (body limit, request timeout, admin token)
    /// and products, swapped together on reload.
    pub products: Products,
    /// The durable store.
    pub store: Arc<dyn Store>,
    /// Wakes the order worker after an order is committed.
    pub wake_worker: Arc<Notify>,
    /// Wakes the outbox relay after results are committed.
    pub wake_relay: Arc<Notify>,
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The background tasks, whose death `/readyz` reports.
    pub supervisor: Supervisor,
    /// Whether an admin listener runs: then the public listener hides the operator's routes
    /// ([`hidden`]) and its `/readyz` says only states.
    pub admin_split: bool,
}

impl Edge {
    /// Handles one request; never fails (errors become responses). Every log line the
    /// request causes carries its request id (a `request` span), and so does the response's
    /// `x-request-id` header: the caller's own id when it sent a well-formed one
    /// ([`request_id`]), a fresh one otherwise.
    pub async fn handle<B>(
        self: Arc<Self>,
        request: Request<B>,
        listener: Listener,
    ) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let id = request_id(request.headers());
        let span = tracing::info_span!("request", request_id = %id);
        let mut response = self.answer(request, listener).instrument(span).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        response
    }

    async fn answer<B>(&self, request: Request<B>, listener: Listener) -> Response<Body>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let mut request = request;
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let routed = if hidden(&path, listener, self.admin_split) {
            Route::NotFound
        } else {
            route(&method, &path)
        };
        let template = routed.template();
        let (label, product) = describe(&routed);
        // Labels and log fields never carry a name a client made up: a product the
        // configuration does not have is `unknown`.
        let product = match product {
            None => "-",
            Some(name) if self.products.get(name).is_some() => name,
            Some(_) => metric::UNKNOWN_PRODUCT,
        };
        let timeout = self.products.config().server.request_timeout;
        let page = routed.is_page();
        let deadline = tokio::time::Instant::now() + timeout;
        request.extensions_mut().insert(Deadline {
            at: deadline,
            timeout,
        });
        // The body read stops at the deadline itself (408); this outer bound, a moment later,
        // catches whatever else ran long (503).
        let answer = tokio::time::timeout_at(
            deadline + BODY_DEADLINE_MARGIN,
            self.dispatch(routed.clone(), request, listener),
        )
        .await;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                error.log(Some(product), label);
                if page {
                    error.into_html_response()
                } else {
                    error.into_response()
                }
            }
            Err(_) => {
                let error = EdgeError::Unavailable {
                    message: "the request took too long".into(),
                    cause: format!("request timeout of {timeout:?} reached"),
                    retry_after: Some(Duration::from_secs(1)),
                };
                error.log(Some(product), label);
                error.into_response()
            }
        };
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        metrics::counter!(metric::HTTP_REQUESTS_TOTAL, "product" => product.to_owned(), "route" => label, "status" => status.to_string())
            .increment(1);
        metrics::histogram!(metric::HTTP_REQUEST_SECONDS, "route" => label)
            .record(elapsed.as_secs_f64());
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            method = method.as_str(),
            route = template,
            product,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request answered"
        );
        response
    }

    async fn dispatch<B>(
        &self,
        routed: Route<'_>,
        request: Request<B>,
        listener: Listener,
    ) -> Result<Response<Body>, EdgeError>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        match routed {
            Route::Packages { product } => {
                let product = self.product(product)?;
                let (parts, body) = self.read(request).await?;
                stackone_routes::packages(&product, &parts, &body).await
            }
            Route::PackagesPreflight { product } => {
                let product = self.product(product)?;
                stackone_routes::preflight(&product, request.headers())
            }
            Route::Webhooks { product } => {
                let product = self.product(product)?;
                let (parts, body) = self.read(request).await?;
                let response =
                    stackone_routes::webhook(&product, self.store.as_ref(), &parts, body).await?;
                self.wake_worker.notify_one();
                Ok(response)
            }
            Route::Callback { product, rest } => {
                let product = self.product(product)?;
                let rest = rest.to_owned();
                let (parts, body) = self.read(request).await?;
                callbacks::handle(
                    &product,
                    self.store.as_ref(),
                    &self.wake_relay,
                    &parts,
                    &rest,
                    body,
                )
                .await
            }
            Route::Healthz => Ok(operator::healthz()),
            Route::Readyz => {
                let detail = match (listener, self.admin_split) {
                    (Listener::Admin, _) => Detail::Full,
                    (Listener::Public, false) => Detail::Public,
                    (Listener::Public, true) => Detail::Brief,
                };
                operator::readyz(
                    &self.products,
                    self.store.as_ref(),
                    self.supervisor.failure(),
                    detail,
                )
                .await
            }
            Route::Metrics => {
                operator::metrics(self.metrics.as_ref(), &self.products, self.store.as_ref()).await
            }
            Route::AdminPage => {
                operator::page(
                    &self.products.config().server,
                    request.headers(),
                    request.uri().query(),
                    &self.products,
                    self.store.as_ref(),
                    self.supervisor.failure(),
                )
                .await
            }
            Route::AdminLoginForm => {
                operator::login_form(&self.products.config().server, request.uri().query())
            }
            Route::AdminLogin => {
                let (parts, body) = self.read(request).await?;
                operator::login(&self.products.config().server, &parts, &body)
            }
            Route::AdminLogout => {
                let (parts, _) = self.read(request).await?;
                operator::logout(&self.products.config().server, &parts)
            }
            Route::AdminStatus => {
                operator::authorize(&self.products.config().server, request.headers())?;
                operator::status(&self.products, self.store.as_ref()).await
            }
            Route::AdminOrder { id } => {
                operator::authorize(&self.products.config().server, request.headers())?;
                operator::order(self.store.as_ref(), id).await
            }
            Route::AdminRetry { id } => {
                let (parts, _) = self.read(request).await?;
                operator::retry(
                    &self.products.config().server,
                    &parts,
                    self.store.as_ref(),
                    id,
                    (&self.wake_worker, &self.wake_relay),
                )
                .await
            }
            Route::MethodNotAllowed { allow } => Err(EdgeError::MethodNotAllowed { allow }),
            Route::NotFound => Err(EdgeError::NotFound),
        }
    }

    fn product(&self, name: &str) -> Result<Arc<Product>, EdgeError> {
        self.products
            .get(name)
            .ok_or_else(|| EdgeError::UnknownProduct(name.to_owned()))
    }

    /// Reads the whole body, refusing more than `server.max_body_bytes` (413) before it is
    /// all in memory.
    async fn read<B>(&self, request: Request<B>) -> Result<(http::request::Parts, Bytes), EdgeError>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let limit = self.products.config().server.max_body_bytes;
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(EdgeError::PayloadTooLarge { limit });
        }
        // The body has until the request's deadline; a body still arriving then is the
        // client's delay (408), not the host's (503).
        let deadline = parts.extensions.get::<Deadline>().copied();
        let collect = Limited::new(body, limit).collect();
        let collected = match deadline {
            Some(Deadline { at, timeout }) => tokio::time::timeout_at(at, collect)
                .await
                .map_err(|_| EdgeError::RequestTimeout(timeout))?,
            None => collect.await,
        };
        match collected {
            Ok(collected) => Ok((parts, collected.to_bytes())),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(EdgeError::PayloadTooLarge { limit })
            }
            Err(e) => Err(EdgeError::BadRequest(format!(
                "could not read the request body: {e}"
            ))),
        }
    }
}

/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The `tracing` target of the one access line per request, so an operator can filter it
/// (`RUST_LOG=info,assay::access=warn` silences health-check noise).
pub const ACCESS_LOG_TARGET: &str = "assay::access";

/// The longest incoming `x-request-id` kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The caller's `x-request-id` when it is well-formed (1 to [`MAX_REQUEST_ID_LEN`] ASCII
/// letters, digits, `-`, `_`, `.`, `:`), so a proxy's id follows the request; otherwise 16
/// random bytes in hex. A malformed id is replaced rather than echoed, so logs and headers
/// never carry arbitrary client bytes.
pub fn request_id(headers: &http::HeaderMap) -> String {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=MAX_REQUEST_ID_LEN).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    match given {
        Some(id) => id.to_owned(),
        None => format!("{:032x}", rand::random::<u128>()),
    }
}

/// The metric/log label of a route and the product it names.
fn describe<'a>(routed: &Route<'a>) -> (&'static str, Option<&'a str>) {
    match routed {
        Route::Packages { product } => ("packages", Some(product)),
        Route::PackagesPreflight { product } => ("packages_preflight", Some(product)),
        Route::Webhooks { product } => ("webhooks", Some(product)),
        Route::Callback { product, .. } => ("callbacks", Some(product)),
        Route::Healthz => ("healthz", None),
        Route::Readyz => ("readyz", None),
        Route::Metrics => ("metrics", None),
        Route::AdminPage
        | Route::AdminLoginForm
        | Route::AdminLogin
        | Route::AdminLogout
        | Route::AdminStatus
        | Route::AdminOrder { .. }
        | Route::AdminRetry { .. } => ("admin", None),
        Route::MethodNotAllowed { .. } | Route::NotFound => ("unmatched", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn request_ids_are_kept_when_well_formed_and_made_otherwise() {
        assert_eq!(request_id(&with("abc-123_x.y:z")), "abc-123_x.y:z");
        let made = request_id(&http::HeaderMap::new());
        assert_eq!(made.len(), 32);
        assert!(made.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(made, request_id(&http::HeaderMap::new()));
        for bad in [
            "has space",
            "quote\"",
            "{json}",
            &"x".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            let id = request_id(&with(bad));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32, "{bad}");
        }
    }
}
