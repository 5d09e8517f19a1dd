//! Routing and answering one request to the emulated StackOne API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use super::State;
use crate::connector_meta::connector_meta;
use crate::delivery::{Delivery, REDACTED};
use crate::order::OrderKind;
use crate::timestamp;
use assay_wire::secret::Secret;

/// The largest result body the emulator reads; StackOne's own limit is not published.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What a request asks for, from its method and path alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `PATCH /unified/ats/{assessments|background_checks}/orders/{id}/result`.
    Result { kind: OrderKind, order_id: String },
    /// `GET /connectors/meta/{provider}`.
    ConnectorMeta { provider: String },
    /// A known path with another method.
    MethodNotAllowed,
    /// Anything else.
    NotFound,
}

/// Routes a request. Pure, so it is tested without a socket.
pub(crate) fn route(method: &Method, path: &str) -> Route {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (wanted, found) = match segments.as_slice() {
        ["unified", "ats", family, "orders", id, "result"] if !id.is_empty() => {
            let kind = match *family {
                "assessments" => OrderKind::Assessment,
                "background_checks" => OrderKind::BackgroundCheck,
                _ => return Route::NotFound,
            };
            (
                Method::PATCH,
                Route::Result {
                    kind,
                    order_id: (*id).to_owned(),
                },
            )
        }
        ["connectors", "meta", provider] if !provider.is_empty() => (
            Method::GET,
            Route::ConnectorMeta {
                provider: (*provider).to_owned(),
            },
        ),
        _ => return Route::NotFound,
    };
    if *method == wanted {
        found
    } else {
        Route::MethodNotAllowed
    }
}

/// Answers one request; result PATCHes are recorded.
pub(super) async fn handle<B>(state: &State, request: Request<B>) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    match route(&parts.method, parts.uri.path()) {
        Route::Result { kind, order_id } => {
            let body = Limited::new(body, MAX_BODY_BYTES)
                .collect()
                .await
                .map(|c| c.to_bytes());
            result_update(
                state,
                parts.uri.path(),
                &parts.headers,
                kind,
                order_id,
                body.ok(),
            )
            .await
        }
        Route::ConnectorMeta { provider } => {
            if !authorized(parts.headers.get(AUTHORIZATION), &state.api_keys) {
                return answer(StatusCode::UNAUTHORIZED, "Unauthorized", None);
            }
            json_response(StatusCode::OK, &connector_meta(&provider))
        }
        Route::MethodNotAllowed => {
            answer(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
        }
        Route::NotFound => {
            tracing::warn!(method = %parts.method, path = parts.uri.path(), "emulated StackOne: no such route");
            answer(
                StatusCode::NOT_FOUND,
                &format!("Cannot {} {}", parts.method, parts.uri.path()),
                None,
            )
        }
    }
}

/// The checks StackOne makes on a result update, in its order: credentials, account,
/// media type, JSON, the order itself, the schema. `body` is `None` when it could not be read.
async fn result_update(
    state: &State,
    path: &str,
    headers: &HeaderMap,
    kind: OrderKind,
    order_id: String,
    body: Option<Bytes>,
) -> Response<Full<Bytes>> {
    let account_id = headers
        .get("x-account-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let json_media = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let json: Option<Value> = body.as_ref().and_then(|b| serde_json::from_slice(b).ok());
    let violations = json
        .as_ref()
        .map(|v| crate::schema::validate(kind.result_request_component(), v))
        .unwrap_or_default();

    let (status, message) = if !authorized(headers.get(AUTHORIZATION), &state.api_keys) {
        (StatusCode::UNAUTHORIZED, "Unauthorized".to_owned())
    } else if account_id.is_none() {
        (
            StatusCode::BAD_REQUEST,
            "Missing required header: x-account-id".to_owned(),
        )
    } else if !json_media {
        (
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json".to_owned(),
        )
    } else if body.is_none() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Body larger than {MAX_BODY_BYTES} bytes"),
        )
    } else if json.is_none() {
        (
            StatusCode::BAD_REQUEST,
            "Request body is not valid JSON".to_owned(),
        )
    } else if !state.order_matches(&order_id, kind, account_id.as_deref()) {
        (StatusCode::NOT_FOUND, format!("Order {order_id} not found"))
    } else if !violations.is_empty() {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Validation failed: {}", violations.join("; ")),
        )
    } else {
        (StatusCode::OK, "Record updated successfully.".to_owned())
    };
    let scripted = state.next_scripted(&order_id);
    let (status, message, retry_after) = match &scripted {
        Some(s) => (s.status, s.message.clone(), s.retry_after.clone()),
        None => (status, message, None),
    };
    state.record(Delivery {
        sequence: 0, // assigned by `record`
        received_at: std::time::SystemTime::now(),
        path: path.to_owned(),
        order_id,
        kind,
        account_id,
        headers: recorded_headers(headers),
        body: body.unwrap_or_default(),
        json,
        violations,
        status,
        scripted: scripted.is_some(),
    });
    if let Some(hold) = scripted.and_then(|s| s.hold) {
        tokio::time::sleep(hold).await;
    }
    answer(status, &message, retry_after.as_deref())
}

/// StackOne's check: `Basic base64("<api_key>:")`, the key as user and an empty password, as
/// RFC 7617 writes a credential. A bare `base64(key)` is refused here, unlike on the host's
/// own package route, so a host that sends it is caught before it meets the real API.
fn authorized(header: Option<&HeaderValue>, keys: &[Secret]) -> bool {
    let Some(value) = header else { return false };
    let user_password_form = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| STANDARD.decode(encoded.trim()).ok())
        .is_some_and(|decoded| decoded.ends_with(b":"));
    user_password_form && assay_wire::basic_auth::verify(Some(value.as_bytes()), keys).is_ok()
}

fn recorded_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if name == AUTHORIZATION {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// StackOne's answer body: `{statusCode, message, timestamp}`.
pub(crate) fn answer(
    status: StatusCode,
    message: &str,
    retry_after: Option<&str>,
) -> Response<Full<Bytes>> {
    let body =
        json!({ "statusCode": status.as_u16(), "message": message, "timestamp": timestamp::now() });
    let mut response = json_response(status, &body);
    // A scripted value that is not a valid header is dropped rather than failing the answer.
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let order = |kind, id: &str| Route::Result {
            kind,
            order_id: id.to_owned(),
        };
        assert_eq!(
            route(&Method::PATCH, "/unified/ats/assessments/orders/o-1/result"),
            order(OrderKind::Assessment, "o-1")
        );
        assert_eq!(
            route(
                &Method::PATCH,
                "/unified/ats/background_checks/orders/x/result"
            ),
            order(OrderKind::BackgroundCheck, "x")
        );
        assert_eq!(
            route(&Method::POST, "/unified/ats/assessments/orders/o/result"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::PATCH, "/unified/ats/quizzes/orders/o/result"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::PATCH, "/unified/ats/assessments/orders//result"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::PATCH, "/unified/ats/assessments/orders/o/result/x"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/connectors/meta/recruitee"),
            Route::ConnectorMeta {
                provider: "recruitee".into()
            }
        );
        assert_eq!(route(&Method::GET, "/"), Route::NotFound);
    }

    #[test]
    fn basic_credential_must_be_key_colon() {
        let keys = [Secret::new("so_key")];
        let header =
            |raw: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw))).ok();
        assert!(authorized(header("so_key:").as_ref(), &keys));
        assert!(!authorized(header("so_key").as_ref(), &keys));
        assert!(!authorized(header("other:").as_ref(), &keys));
        assert!(!authorized(None, &keys));
        assert!(!authorized(header("so_key:").as_ref(), &[]));
    }
}
