//! One HTTP request, built and sent.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::response::Response;
use super::transport;
use super::url::encode_component;
use crate::PluginError;
use crate::bindings::wasi::http::types::Method;

/// An HTTP request being built. [`Request::send`] sends it and waits for the whole answer.
///
/// Its `Debug` output hides the values of credential headers (`authorization`, anything with
/// `token`, `key`, `secret`, `signature` or `cookie` in its name), so a request can be logged.
#[derive(Clone)]
pub struct Request {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    pub(super) timeout: Option<Duration>,
}

impl Request {
    /// A request with `method` to the absolute `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
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

    /// The URL the request goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adds a header (the name is sent lower-case). The host refuses `host` and hop-by-hop
    /// headers; sending such a request fails with [`PluginError::Permanent`].
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Appends the query parameter `name=value`, percent-encoding both.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        self.url = format!(
            "{}{separator}{}={}",
            self.url,
            encode_component(name),
            encode_component(value)
        );
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, PluginError> {
        self.body = serde_json::to_vec(value)
            .map_err(|e| PluginError::Permanent(format!("cannot encode the request body: {e}")))?;
        Ok(self.header("content-type", "application/json"))
    }

    /// Sets an HTML-form body (`name=value&…`, percent-encoded) and
    /// `content-type: application/x-www-form-urlencoded`, as OAuth2 token endpoints expect.
    pub fn form(mut self, fields: &[(&str, &str)]) -> Self {
        self.body = fields
            .iter()
            .map(|(name, value)| format!("{}={}", encode_component(name), encode_component(value)))
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    /// Sets a raw body (set its `content-type` with [`Request::header`]).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Asks for shorter timeouts than the host's: `limit` for connecting, for the response
    /// head, and for each gap between body chunks. The host never allows longer ones.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Sends the request and reads the whole response. Only transport failures are errors
    /// here; any HTTP status is an `Ok` [`Response`] (see [`Response::error_for_status`]).
    pub fn send(self) -> Result<Response, PluginError> {
        transport::send(self)
    }
}

/// Whether the value of header `name` is a credential that must not be printed.
fn is_credential(name: &str) -> bool {
    name == "authorization"
        || ["token", "key", "secret", "signature", "cookie", "auth"]
            .iter()
            .any(|word| name.contains(word))
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_credential(name) {
                    "[redacted]"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_bytes", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials() {
        let request = Request::get("https://api.example.com/v1")
            .bearer("tok-123")
            .header("X-Api-Key", "key-456")
            .header("accept", "application/json");
        let shown = format!("{request:?}");
        assert!(!shown.contains("tok-123"), "{shown}");
        assert!(!shown.contains("key-456"), "{shown}");
        assert!(shown.contains("application/json"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn query_parameters_are_appended_encoded() {
        let request = Request::get("https://h/v1/checks")
            .query("status", "pending")
            .query("q", "a b&c");
        assert_eq!(
            request.url(),
            "https://h/v1/checks?status=pending&q=a%20b%26c"
        );
    }

    #[test]
    fn form_sets_an_encoded_body_and_its_type() {
        let request = Request::post("https://h/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", "a b&c=d"),
        ]);
        assert_eq!(
            request.body,
            b"grant_type=client_credentials&client_secret=a%20b%26c%3Dd"
        );
        assert!(request.headers.contains(&(
            "content-type".into(),
            "application/x-www-form-urlencoded".into()
        )));
    }

    #[test]
    fn json_sets_the_body_and_its_type() -> Result<(), PluginError> {
        let request = Request::post("https://h/").json(&serde_json::json!({"a": 1}))?;
        assert_eq!(request.body, br#"{"a":1}"#);
        assert!(
            request
                .headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        Ok(())
    }
}
