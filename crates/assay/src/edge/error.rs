//! The one place where an error becomes an HTTP status and body.
//!
//! Clients get a status, a stable machine-readable `code` and a message that names what was
//! wrong with *their* request. They never see internals (plugin traps, SQL errors, file paths):
//! those go to the log line that [`EdgeError::log`] writes, next to the product and route.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No such route.
    #[error("not found")]
    NotFound,
    /// The path names a product the configuration does not have.
    #[error("unknown product `{0}`")]
    UnknownProduct(String),
    /// A known path with a method it does not take.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The value for the `Allow` header.
        allow: &'static str,
    },
    /// Authentication failed: Basic auth, signature, token or admin token. The reason is for
    /// the log only; the client gets a generic message so it learns nothing about the secrets.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The admin token or session is missing or wrong. Answered with a `Bearer` challenge,
    /// never `Basic`: a browser shows a password dialog for `Basic`, and the admin pages have a
    /// login form instead. The reason is for the log only.
    #[error("admin unauthorized: {0}")]
    AdminUnauthorized(String),
    /// Refused whoever asks; the message says why (a cross-site form post).
    #[error("{0}")]
    Forbidden(String),
    /// The request cannot be done in the current state of what it names (an order with
    /// nothing to retry); the message says why.
    #[error("{0}")]
    Conflict(String),
    /// The request is malformed; the message names the field or problem.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than `server.max_body_bytes`.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The body did not arrive within the request's deadline (`server.request_timeout_ms`).
    #[error("the request body did not arrive within {0:?}")]
    RequestTimeout(Duration),
    /// The CORS preflight names an origin that is not configured.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The product cannot serve right now (its plugin is not loaded, or the store cannot
    /// commit); the message says which, without internals.
    #[error("{message}")]
    Unavailable {
        /// What is unavailable, for the client.
        message: String,
        /// The cause, for the log.
        cause: String,
        /// A hint for the client's retry.
        retry_after: Option<Duration>,
    },
    /// The plugin or the vendor behind it failed; the cause is for the log.
    #[error("{message}")]
    Upstream {
        /// The status to answer (502, 503 or 504).
        status: StatusCode,
        /// What failed, for the client.
        message: String,
        /// The cause, for the log.
        cause: String,
        /// A hint for the client's retry.
        retry_after: Option<Duration>,
    },
    /// A bug or an unexpected failure; the cause is for the log.
    #[error("internal error")]
    Internal(String),
}

impl EdgeError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::UnknownProduct(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) | Self::AdminUnauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable code for the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::UnknownProduct(_) => "unknown_product",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Unauthorized(_) | Self::AdminUnauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RequestTimeout(_) => "request_timeout",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::Unavailable { .. } => "unavailable",
            Self::Upstream { .. } => "upstream_failed",
            Self::Internal(_) => "internal",
        }
    }

    /// The message the client sees.
    fn public_message(&self) -> String {
        match self {
            Self::Unauthorized(_) => "authentication failed".to_owned(),
            Self::AdminUnauthorized(_) => {
                "the admin token is missing or wrong: send `Authorization: Bearer <admin token>`, \
                 or log in at /admin/login"
                    .to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Writes the log line for this rejection: product, route and the full reason.
    pub fn log(&self, product: Option<&str>, route: &str) {
        let status = self.status().as_u16();
        let product = product.unwrap_or("-");
        let reason = self.reason();
        if status >= 500 {
            tracing::error!(product, route, status, reason, "request failed");
        } else {
            tracing::warn!(product, route, status, reason, "request rejected");
        }
    }

    /// What went wrong, causes included, for the logs (never for the client).
    pub fn reason(&self) -> String {
        match self {
            Self::Unavailable { message, cause, .. } | Self::Upstream { message, cause, .. } => {
                format!("{message}: {cause}")
            }
            Self::Internal(cause) => cause.clone(),
            other => other.to_string(),
        }
    }

    /// The response for the client.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.public_message() }
        });
        let response = json_response(self.status(), &body);
        self.with_headers(response)
    }

    /// The response for a person at the admin pages: the same status, headers and message as
    /// [`EdgeError::into_response`], as an HTML page.
    pub fn into_html_response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::from(super::html::error_page(
            self.status(),
            &self.public_message(),
        )));
        *response.status_mut() = self.status();
        super::html::set_page_headers(response.headers_mut());
        self.with_headers(response)
    }

    fn with_headers(&self, mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
        let headers = response.headers_mut();
        match &self {
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"assay\""),
                );
            }
            Self::RequestTimeout(_) => {
                // The rest of a late body may still arrive; it must not be read as a request.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            Self::AdminUnauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"assay admin\""),
                );
            }
            Self::Unavailable {
                retry_after: Some(after),
                ..
            }
            | Self::Upstream {
                retry_after: Some(after),
                ..
            } => {
                let secs = after.as_secs().max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        response
    }
}

pub use assay_wire::http_server::json_response;

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(e: EdgeError) -> (StatusCode, http::HeaderMap, serde_json::Value) {
        let r = e.into_response();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.expect("full body").to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).expect("json"),
        )
    }

    #[tokio::test]
    async fn unauthorized_hides_the_reason() {
        let (status, headers, body) = body_of(EdgeError::Unauthorized(
            "signature mismatch for secret #2".into(),
        ))
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(body["error"]["message"], "authentication failed");
        assert!(!body.to_string().contains("secret"));
        let (status, headers, body) =
            body_of(EdgeError::AdminUnauthorized("token does not match".into())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"assay admin\""
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("/admin/login"))
        );
    }

    #[tokio::test]
    async fn html_errors_are_pages_with_the_same_status() {
        let r = EdgeError::Forbidden("a form posted from <evil> is refused".into())
            .into_html_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(!r.headers().contains_key(header::WWW_AUTHENTICATE));
        assert!(
            r.headers()[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/html"))
        );
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("a form posted from &lt;evil&gt; is refused"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn internals_stay_out_of_bodies() {
        let e = EdgeError::Unavailable {
            message: "the store cannot accept orders right now".into(),
            cause: "disk I/O error at /var/lib/assay/assay.db".into(),
            retry_after: Some(Duration::from_secs(5)),
        };
        let (status, headers, body) = body_of(e).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "5");
        assert!(!body.to_string().contains("/var/lib"));
        let (status, _, body) = body_of(EdgeError::Internal("panic in worker".into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["message"], "internal error");
    }

    #[tokio::test]
    async fn bad_request_names_the_field() {
        let (status, _, body) =
            body_of(EdgeError::BadRequest("`account_id` is missing".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["message"], "`account_id` is missing");
        let (status, headers, _) = body_of(EdgeError::MethodNotAllowed { allow: "POST" }).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "POST");
    }
}
