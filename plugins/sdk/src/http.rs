//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! ```ignore
//! let invitation: Invitation = http::Request::post(format!("{base}/api/invitations"))
//!     .bearer(&token)
//!     .json(&body)?
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! ```
//!
//! Every failure is already a [`PluginError`] the host knows how to handle: a host that is not
//! in `allowed_hosts` is [`PluginError::Permanent`]; connection failures and timeouts are
//! [`PluginError::UpstreamRetryable`]; [`Response::error_for_status`] maps HTTP statuses.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::{PluginError, RetryableFailure};

/// The largest chunk written to the request body stream at once (the stream's own limit).
const WRITE_CHUNK: usize = 4096;
/// The largest chunk read from the response body at once.
const READ_CHUNK: u64 = 64 * 1024;

/// An HTTP request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A received response, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower-case.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH`.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Sets a JSON body and its content type.
    pub fn json<T: Serialize>(mut self, value: &T) -> Result<Self, PluginError> {
        self.body = serde_json::to_vec(value)
            .map_err(|e| PluginError::Permanent(format!("cannot encode the request body: {e}")))?;
        Ok(self.header("content-type", "application/json"))
    }

    /// Sets a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<Response, PluginError> {
        let (scheme, authority, path) = split_url(&self.url)?;
        let fields = Fields::new();
        for (name, value) in &self.headers {
            fields.append(name, value.as_bytes()).map_err(|e| {
                PluginError::InvalidInput(format!("header `{name}` refused: {e:?}"))
            })?;
        }
        if !self.body.is_empty() {
            let _ = fields.append("content-length", self.body.len().to_string().as_bytes());
        }
        let request = OutgoingRequest::new(fields);
        let refused =
            |what: &str| PluginError::InvalidInput(format!("{what} of {} refused", self.url));
        request
            .set_method(&self.method)
            .map_err(|()| refused("the method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| refused("the scheme"))?;
        request
            .set_authority(Some(authority))
            .map_err(|()| refused("the host"))?;
        request
            .set_path_with_query(Some(path))
            .map_err(|()| refused("the path"))?;
        let body = request.body().map_err(|()| refused("the body"))?;

        let future = outgoing_handler::handle(request, None)
            .map_err(|code| transport_error(&self.url, code))?;
        write_body(&body, &self.body)?;
        OutgoingBody::finish(body, None).map_err(|code| transport_error(&self.url, code))?;

        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(transport_error(&self.url, code)),
            Some(Err(())) | None => {
                return Err(PluginError::retryable(format!(
                    "no response from {}",
                    self.url
                )));
            }
        };
        let status = response.status();
        let headers = response.headers().entries();
        let incoming = response
            .consume()
            .map_err(|()| PluginError::retryable("the response body was already taken"))?;
        let body = read_body(&incoming, &self.url)?;
        drop(incoming);
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), PluginError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| PluginError::Permanent("the request body stream was already taken".into()))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(|e| {
            PluginError::retryable(format!("sending the request body failed: {e:?}"))
        })?;
    }
    Ok(())
}

fn read_body(body: &IncomingBody, url: &str) -> Result<Vec<u8>, PluginError> {
    let stream = body
        .stream()
        .map_err(|()| PluginError::retryable("the response body stream was already taken"))?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(PluginError::retryable(format!(
                    "reading the response of {url} failed: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
}

impl Response {
    /// The first value of header `name` (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Parses the body as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::Permanent(format!("the vendor's answer is not the expected JSON: {e}"))
        })
    }

    /// `Ok(self)` for 2xx; otherwise the [`PluginError`] the status means: 401/403
    /// unauthorized, 404 not found, 408/429/5xx retryable (honouring `Retry-After` seconds),
    /// other 4xx invalid input. The message includes the start of the vendor's body.
    pub fn error_for_status(self) -> Result<Self, PluginError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(300)]).into_owned();
        let message = format!("the vendor answered HTTP {}: {text}", self.status);
        Err(match self.status {
            401 | 403 => PluginError::Unauthorized(message),
            404 => PluginError::NotFound(message),
            408 | 429 | 500..=599 => PluginError::UpstreamRetryable(RetryableFailure {
                message,
                retry_after_ms: self
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(|s| s * 1000),
            }),
            _ => PluginError::InvalidInput(message),
        })
    }
}

fn transport_error(url: &str, code: ErrorCode) -> PluginError {
    match code {
        ErrorCode::HttpRequestDenied => PluginError::Permanent(format!(
            "the host refused the request to {url}: its origin is not in the product's allowed_hosts"
        )),
        other => PluginError::retryable(format!("request to {url} failed: {other:?}")),
    }
}

/// Splits `scheme://authority/path?query` (the path defaults to `/`).
fn split_url(url: &str) -> Result<(Scheme, &str, &str), PluginError> {
    let bad = || PluginError::InvalidInput(format!("not an absolute http(s) URL: {url}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return Err(bad()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => match rest.find('?') {
            Some(_) => return Err(bad()),
            None => (rest, "/"),
        },
    };
    if authority.is_empty() {
        return Err(bad());
    }
    Ok((scheme, authority, path))
}
