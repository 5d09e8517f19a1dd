//! A vendor's callback (`/v1/products/{product}/callbacks/{rest…}`) as the plugin is handed it,
//! and the plugin's response headers as the vendor gets them.
//!
//! The host's edge (`assay::edge::callbacks`) runs the plugin in between; what it hands over
//! and sends back is decided here, with no plugin runtime in the build graph, so that the
//! `route` fuzz target checks it without compiling wasmtime. [`CallbackRequest`] has the
//! shape of the plugin contract's `callback-request` (`wit/plugin.wit`), into which
//! `assay-runtime` converts it; a header is a name and raw value bytes, as the contract's
//! `header` record.

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};

/// Response headers a plugin may not set: they belong to the connection, not the message.
pub const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

/// What the plugin is handed for a callback (the contract's `callback-request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRequest {
    /// The HTTP method, upper-case as sent.
    pub method: String,
    /// The part of the path after `callbacks/`, without a leading slash.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Every request header, name and raw value, a repeated one once per value in its order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl CallbackRequest {
    /// The request a vendor sent: the method, the path after `callbacks/` (`rest`, as
    /// [`crate::route::route`] captured it), the raw query, every header, the body.
    pub fn new(parts: &Parts, rest: &str, body: &[u8]) -> Self {
        CallbackRequest {
            method: parts.method.as_str().to_owned(),
            path: rest.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body: body.to_vec(),
        }
    }
}

/// The response headers a plugin set (name, raw value), as sent to the vendor: names
/// lower-cased, hop-by-hop headers left out silently, and the names of those that are not
/// valid HTTP returned apart (for the log) instead of being sent.
pub fn response_headers(
    headers: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> (HeaderMap, Vec<String>) {
    let mut map = HeaderMap::new();
    let mut invalid = Vec::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        match (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_bytes(&value),
        ) {
            (Ok(header), Ok(value)) => {
                map.append(header, value);
            }
            _ => invalid.push(name),
        }
    }
    (map, invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_handed_the_request_as_sent() {
        let (parts, ()) = http::Request::post("/v1/products/p/callbacks/done/1?sig=a%20b")
            .header("X-Sig", "one")
            .header("x-sig", "two")
            .body(())
            .expect("request")
            .into_parts();
        let call = CallbackRequest::new(&parts, "done/1", b"{}");
        assert_eq!(call.method, "POST");
        assert_eq!(call.path, "done/1");
        assert_eq!(call.query.as_deref(), Some("sig=a%20b"));
        assert_eq!(
            call.headers,
            vec![
                ("x-sig".to_owned(), b"one".to_vec()),
                ("x-sig".to_owned(), b"two".to_vec())
            ]
        );
        assert_eq!(call.body, b"{}");
    }

    #[test]
    fn response_headers_drop_hop_by_hop_and_set_invalid_ones_apart() {
        let (map, invalid) = response_headers([
            ("Content-Type".to_owned(), b"text/plain".to_vec()),
            ("Connection".to_owned(), b"close".to_vec()),
            ("bad name".to_owned(), b"x".to_vec()),
            ("x-ok".to_owned(), b"bad\nvalue".to_vec()),
        ]);
        assert_eq!(map.len(), 1);
        assert_eq!(map["content-type"], "text/plain");
        assert_eq!(invalid, ["bad name", "x-ok"]);
    }
}
