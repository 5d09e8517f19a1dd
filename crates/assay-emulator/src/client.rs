//! StackOne's calls to the host: the package list and order webhooks, over real HTTP.
//!
//! The host serves StackOne per product at `{base}/v1/products/{product}/packages` and
//! `{base}/v1/products/{product}/webhooks`. Every request is signed over its exact body bytes.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use url::Url;

use super::order::OrderWebhook;
use super::package::PackagesPage;
use super::schema;
use assay_wire::secret::Secret;
use assay_wire::signature::{SIGNATURE_HEADER, sign};

/// How long the emulator waits for the host to answer one request.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the host failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host base URL cannot carry a path.
    #[error("invalid host base URL {0:?}")]
    BadUrl(String),
    /// The request did not complete (connection refused, timeout, ...).
    #[error("request to {url} failed")]
    Http {
        /// The URL called, without its query (which may hold a token).
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The host answered with a status other than success.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// The status answered.
        status: StatusCode,
        /// The start of the body answered.
        body: String,
    },
    /// The package list is not JSON.
    #[error("{url} answered a package list that is not JSON")]
    NotJson {
        /// The URL called.
        url: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The package list breaks StackOne's `AssessmentPackagePaginated` schema.
    #[error("{url} answered a package list that breaks StackOne's schema:\n  - {}", violations.join("\n  - "))]
    Schema {
        /// The URL called.
        url: String,
        /// One line per violation.
        violations: Vec<String>,
    },
}

/// The URL of one of the host's per-product StackOne routes (`packages` or `webhooks`).
pub fn product_url(host_base_url: &str, product: &str, route: &str) -> Result<Url, ClientError> {
    let mut url =
        Url::parse(host_base_url).map_err(|_| ClientError::BadUrl(host_base_url.to_owned()))?;
    url.path_segments_mut()
        .map_err(|()| ClientError::BadUrl(host_base_url.to_owned()))?
        .pop_if_empty()
        .extend(["v1", "products", product, route]);
    Ok(url)
}

/// Asks the host for a product's packages the way StackOne does, and checks the answer
/// against StackOne's schema.
pub async fn fetch_packages(
    host_base_url: &str,
    product: &str,
    account_id: &str,
    provider: &str,
    api_key: &Secret,
    signing_secret: &Secret,
) -> Result<PackagesPage, ClientError> {
    let url = product_url(host_base_url, product, "packages")?;
    let body = json!({ "account_id": account_id, "provider": provider }).to_string();
    let request = http_client(&url)?.post(url.clone()).header(
        http::header::AUTHORIZATION,
        assay_wire::basic_auth::header_value(api_key),
    );
    let signature = sign(body.as_bytes(), signing_secret);
    let (status, answer) = post_signed(request, &url, Bytes::from(body), Some(&signature)).await?;
    if !status.is_success() {
        return Err(status_error(&url, status, &answer));
    }
    let value: Value = serde_json::from_slice(&answer).map_err(|source| ClientError::NotJson {
        url: url.to_string(),
        source,
    })?;
    // The assessment schema is the one the guide names; the background-check one adds the
    // shape of `tests`, which the assessment schema leaves open. Checking both is stricter.
    let mut violations = schema::validate(schema::ASSESSMENT_PACKAGES, &value);
    for v in schema::validate(schema::BACKGROUND_CHECK_PACKAGES, &value) {
        if !violations.contains(&v) {
            violations.push(v);
        }
    }
    if !violations.is_empty() {
        return Err(ClientError::Schema {
            url: url.to_string(),
            violations,
        });
    }
    serde_json::from_value(value).map_err(|source| ClientError::NotJson {
        url: url.to_string(),
        source,
    })
}

/// Sends a built order webhook, signed, to the host; returns the status it answered. Calling
/// it twice with one webhook is a duplicate delivery of the same bytes.
pub async fn send_order(
    host_base_url: &str,
    product: &str,
    webhook: &OrderWebhook,
    signing_secret: &Secret,
    token: Option<&Secret>,
) -> Result<StatusCode, ClientError> {
    let signature = sign(&webhook.body, signing_secret);
    post_webhook(
        host_base_url,
        product,
        webhook.body.clone(),
        Some(&signature),
        token,
    )
    .await
}

/// Posts any bytes to a product's webhook route with the given signature header (or none);
/// for tests of tampered, unsigned or malformed deliveries.
pub async fn post_webhook(
    host_base_url: &str,
    product: &str,
    body: Bytes,
    signature: Option<&str>,
    token: Option<&Secret>,
) -> Result<StatusCode, ClientError> {
    let mut url = product_url(host_base_url, product, "webhooks")?;
    let shown = url.clone();
    if let Some(token) = token {
        url.query_pairs_mut().append_pair("token", token.expose());
    }
    let request = http_client(&shown)?.post(url);
    let (status, _) = post_signed(request, &shown, body, signature).await?;
    Ok(status)
}

fn http_client(url: &Url) -> Result<reqwest::Client, ClientError> {
    // A client per call: a pooled client outlives the runtime of one test and then fails the
    // next, and StackOne's calls are few.
    reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .map_err(|source| ClientError::Http {
            url: url.to_string(),
            source,
        })
}

async fn post_signed(
    request: reqwest::RequestBuilder,
    shown: &Url,
    body: Bytes,
    signature: Option<&str>,
) -> Result<(StatusCode, Bytes), ClientError> {
    let mut request = request
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let http_error = |source: reqwest::Error| ClientError::Http {
        url: shown.to_string(),
        source: source.without_url(),
    };
    let response = request.send().await.map_err(http_error)?;
    let status = response.status();
    let answer = response.bytes().await.map_err(http_error)?;
    Ok((status, answer))
}

fn status_error(url: &Url, status: StatusCode, body: &[u8]) -> ClientError {
    const SHOWN: usize = 500;
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]).into_owned();
    ClientError::Status {
        url: url.to_string(),
        status,
        body: text,
    }
}

#[cfg(test)]
mod tests;
