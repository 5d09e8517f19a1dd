//! What every call to one vendor API shares.

use std::fmt;
use std::time::Duration;

use super::request::Request;
use super::url::join;
use crate::bindings::wasi::http::types::Method;

/// A vendor API: a base URL plus the headers (typically the token) and timeout every request
/// to it carries. Cheap to build; a plugin makes one per call from its settings.
///
/// ```ignore
/// let api = http::Client::new(settings::require("base_url")?)
///     .bearer(&settings::require("api_token")?);
/// let check: Check = api.get(format!("/v1/checks/{id}")).send()?.error_for_status()?.json()?;
/// ```
#[derive(Clone)]
pub struct Client {
    base_url: String,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
}

impl Client {
    /// A client for the API at `base_url` (e.g. `https://api.vendor.example`; a trailing `/`
    /// does not matter).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            headers: Vec::new(),
            timeout: None,
        }
    }

    /// Every request carries `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Every request carries this header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Every request asks for these timeouts (see [`Request::timeout`]).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A request with `method` to `path` under the base URL.
    pub fn request(&self, method: Method, path: impl AsRef<str>) -> Request {
        let mut request = Request::new(method, join(&self.base_url, path.as_ref()));
        request.headers.clone_from(&self.headers);
        request.timeout = self.timeout;
        request
    }

    /// A `GET` of `path`.
    pub fn get(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::Get, path)
    }

    /// A `POST` to `path`.
    pub fn post(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::Post, path)
    }

    /// A `PUT` to `path`.
    pub fn put(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::Put, path)
    }

    /// A `PATCH` to `path`.
    pub fn patch(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::Patch, path)
    }

    /// A `DELETE` of `path`.
    pub fn delete(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::Delete, path)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Shown through a request so credential headers are redacted the same way.
        f.debug_tuple("Client").field(&self.get("")).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_the_base_url_headers_and_timeout() {
        let api = Client::new("https://api.example.com/")
            .bearer("tok")
            .timeout(Duration::from_secs(3));
        let request = api.post("/v1/checks");
        assert_eq!(request.url(), "https://api.example.com/v1/checks");
        assert_eq!(
            request.headers,
            vec![("authorization".to_owned(), "Bearer tok".to_owned())]
        );
        assert_eq!(request.timeout, Some(Duration::from_secs(3)));
        assert!(!format!("{api:?}").contains("Bearer"), "{api:?}");
    }
}
