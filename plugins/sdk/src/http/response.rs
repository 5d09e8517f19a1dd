//! A received response, and what its status means for the host.

use serde::de::DeserializeOwned;

use crate::{PluginError, RetryableFailure};

/// How much of the vendor's body an error message quotes.
pub const QUOTED_BODY_BYTES: usize = 300;

/// A received response, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower-case, values as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the body as JSON. An answer that is not the expected JSON is a
    /// [`PluginError::Permanent`]: the vendor's API changed or the URL points elsewhere.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            PluginError::Permanent(format!(
                "the vendor's answer (HTTP {}) is not the expected JSON: {e}",
                self.status
            ))
        })
    }

    /// `Ok(self)` for a 2xx status; otherwise the [`PluginError`] the status means, see
    /// [`status_error`].
    pub fn error_for_status(self) -> Result<Self, PluginError> {
        match status_error(self.status, self.header("retry-after"), &self.body) {
            None => Ok(self),
            Some(error) => Err(error),
        }
    }
}

/// The [`PluginError`] an HTTP status from the vendor's API means, or `None` for 2xx.
///
/// | status | error | the host |
/// |---|---|---|
/// | 401, 403 | [`PluginError::Unauthorized`] | stops; the operator must fix the credentials |
/// | 404, 410 | [`PluginError::NotFound`] | stops |
/// | 408, 425, 429, 5xx | [`PluginError::UpstreamRetryable`], with `Retry-After` (seconds) as `retry_after_ms` | tries again later |
/// | 422 | [`PluginError::Permanent`] | stops: the vendor understood the request and refuses it (an unknown test, say); for an order, StackOne gets a `failed` result with the vendor's message |
/// | other 4xx | [`PluginError::InvalidInput`] | stops: the vendor refused what was sent |
/// | 1xx, 3xx | [`PluginError::Permanent`] | stops: the base URL is probably wrong |
///
/// The message names the status and gives the vendor's own words: the `error_description`,
/// `message`, `detail` or `error` text of a JSON body (or `error.message`), else the start of
/// the body. A `Retry-After` given as an HTTP date is ignored (the host's own backoff applies).
pub fn status_error(status: u16, retry_after: Option<&str>, body: &[u8]) -> Option<PluginError> {
    if (200..300).contains(&status) {
        return None;
    }
    let message = format!(
        "the vendor answered HTTP {status}: {}",
        vendor_message(body)
    );
    Some(match status {
        401 | 403 => PluginError::Unauthorized(message),
        404 | 410 => PluginError::NotFound(message),
        408 | 425 | 429 | 500..=599 => PluginError::UpstreamRetryable(RetryableFailure {
            message,
            retry_after_ms: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|secs| secs.saturating_mul(1000)),
        }),
        422 => PluginError::Permanent(message),
        400..=499 => PluginError::InvalidInput(message),
        _ => PluginError::Permanent(message),
    })
}

/// What the vendor said in an error body, at most [`QUOTED_BODY_BYTES`] of it.
fn vendor_message(body: &[u8]) -> String {
    let said = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|json| {
            [
                "/error_description",
                "/message",
                "/detail",
                "/error",
                "/error/message",
            ]
            .iter()
            .find_map(|pointer| json.pointer(pointer)?.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let said = said.trim();
    let mut end = said.len().min(QUOTED_BODY_BYTES);
    while !said.is_char_boundary(end) {
        end -= 1;
    }
    said[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after_ms(error: Option<PluginError>) -> Option<Option<u64>> {
        match error {
            Some(PluginError::UpstreamRetryable(r)) => Some(r.retry_after_ms),
            _ => None,
        }
    }

    #[test]
    fn success_is_no_error() {
        for status in [200, 201, 204, 299] {
            assert!(status_error(status, None, b"").is_none(), "{status}");
        }
    }

    #[test]
    fn statuses_map_to_what_the_host_should_do() {
        assert!(matches!(
            status_error(401, None, b""),
            Some(PluginError::Unauthorized(_))
        ));
        assert!(matches!(
            status_error(403, None, b""),
            Some(PluginError::Unauthorized(_))
        ));
        assert!(matches!(
            status_error(404, None, b""),
            Some(PluginError::NotFound(_))
        ));
        for status in [400, 409] {
            assert!(
                matches!(
                    status_error(status, None, b""),
                    Some(PluginError::InvalidInput(_))
                ),
                "{status}"
            );
        }
        for status in [301, 302, 304, 422] {
            assert!(
                matches!(
                    status_error(status, None, b""),
                    Some(PluginError::Permanent(_))
                ),
                "{status}"
            );
        }
        for status in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                retry_after_ms(status_error(status, None, b"")),
                Some(None),
                "{status}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_become_milliseconds() {
        assert_eq!(
            retry_after_ms(status_error(503, Some(" 7 "), b"")),
            Some(Some(7000))
        );
        assert_eq!(
            retry_after_ms(status_error(
                429,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                b""
            )),
            Some(None)
        );
        assert_eq!(
            retry_after_ms(status_error(429, Some("18446744073709551615"), b"")),
            Some(Some(u64::MAX))
        );
    }

    #[test]
    fn the_message_quotes_the_start_of_the_body() {
        let body = format!("{{\"error\":\"bad test id\"}}{}", "x".repeat(1000));
        let Some(PluginError::InvalidInput(message)) = status_error(400, None, body.as_bytes())
        else {
            panic!("400 is invalid input");
        };
        assert!(message.contains("400"), "{message}");
        assert!(message.contains("bad test id"), "{message}");
        assert!(message.len() < QUOTED_BODY_BYTES + 100, "{message}");
        let long = "é".repeat(QUOTED_BODY_BYTES);
        assert!(vendor_message(long.as_bytes()).len() <= QUOTED_BODY_BYTES);
    }

    #[test]
    fn a_422_is_permanent_in_the_vendors_own_words() {
        let Some(PluginError::Permanent(message)) =
            status_error(422, None, br#"{"error": "no test ct-go"}"#)
        else {
            panic!("422 is permanent");
        };
        assert_eq!(message, "the vendor answered HTTP 422: no test ct-go");
    }

    #[test]
    fn the_vendors_words_are_found_in_common_error_bodies() {
        for (body, said) in [
            (
                &br#"{"error": "invalid_client", "error_description": "unknown client"}"#[..],
                "unknown client",
            ),
            (
                br#"{"message": "quiz archived", "code": 7}"#,
                "quiz archived",
            ),
            (br#"{"detail": "not allowed"}"#, "not allowed"),
            (br#"{"error": {"message": "nested"}}"#, "nested"),
            (br#"{"other": 1}"#, r#"{"other": 1}"#),
            (b"  plain text  ", "plain text"),
        ] {
            assert_eq!(vendor_message(body), said);
        }
    }

    #[test]
    fn error_for_status_reads_retry_after_from_the_headers() {
        let response = Response {
            status: 503,
            headers: vec![("Retry-After".into(), b"3".to_vec())],
            body: vec![],
        };
        assert_eq!(
            retry_after_ms(response.error_for_status().err()),
            Some(Some(3000))
        );
    }
}
