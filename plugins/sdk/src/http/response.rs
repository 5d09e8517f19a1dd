//! A received response, and what its status means for the host.

use serde::de::DeserializeOwned;

use crate::{PluginError, RetryableFailure};

/// How much of the vendor's words an error message quotes: bytes of UTF-8, cut back to a
/// character boundary. Bytes, not characters, because the bound is on the message's size (it
/// travels in results, logs and StackOne's `failed` results), whatever the script.
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
    /// [`PluginError::Permanent`], whatever the status: the vendor's API changed or the URL
    /// points elsewhere (a web page at a 2xx is the site, not the API), and retrying the same
    /// request gets the same answer. A gateway's passing trouble comes with a 5xx, which
    /// [`Response::error_for_status`] makes retryable before the body is read.
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
/// | 1xx, 3xx (and anything outside 100..=599) | [`PluginError::Permanent`] | stops: the base URL is probably wrong |
///
/// `Retry-After` counts only as delay-seconds (RFC 9110): ASCII digits, with spaces or tabs
/// around them, and nothing else (no sign, fraction or unit). An HTTP date is ignored (the
/// host's own backoff applies: the plugin's clock and the vendor's need not agree). A count too
/// large for a `u64` of milliseconds saturates at `u64::MAX`: "much later", never "no hint".
///
/// The message is `the vendor answered HTTP {status}: {quote}`, or `the vendor answered HTTP
/// {status}` when there is nothing to quote. The quote is the vendor's own words: the first
/// string among `error_description`, `message`, `detail`, `error` and `error.message` of a
/// JSON object, else the whole body (invalid UTF-8 replaced by U+FFFD); trimmed of Unicode
/// `White_Space`, then cut to at most [`QUOTED_BODY_BYTES`] bytes of UTF-8 on a character
/// boundary, so a message is never invalid UTF-8 (nor half a UTF-16 surrogate pair in the
/// TypeScript SDK). A body counts as JSON when `serde_json` reads it: UTF-8 without a byte-order
/// mark, no `NaN`, numbers within `f64`, no lone surrogate escape, at most 127 levels deep.
///
/// The TypeScript and Python SDKs do the same; `plugins/sdk-conformance/http-status.json` is
/// the table of cases all three SDKs' tests check, row by row.
pub fn status_error(status: u16, retry_after: Option<&str>, body: &[u8]) -> Option<PluginError> {
    if (200..300).contains(&status) {
        return None;
    }
    let quote = vendor_message(body);
    let message = if quote.is_empty() {
        format!("the vendor answered HTTP {status}")
    } else {
        format!("the vendor answered HTTP {status}: {quote}")
    };
    Some(match status {
        401 | 403 => PluginError::Unauthorized(message),
        404 | 410 => PluginError::NotFound(message),
        408 | 425 | 429 | 500..=599 => PluginError::UpstreamRetryable(RetryableFailure {
            message,
            retry_after_ms: retry_after.and_then(delay_ms),
        }),
        422 => PluginError::Permanent(message),
        400..=499 => PluginError::InvalidInput(message),
        _ => PluginError::Permanent(message),
    })
}

/// A `Retry-After` of delay-seconds in milliseconds, saturating; `None` for anything else.
fn delay_ms(value: &str) -> Option<u64> {
    let digits = value.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only digits: a parse error is an overflow.
    let seconds = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(seconds.saturating_mul(1000))
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
    //! What `status_error` and `json` make of each answer is checked row by row against the
    //! table all three SDKs share, `plugins/sdk-conformance/http-status.json`.

    use super::*;

    #[test]
    fn error_for_status_reads_retry_after_from_the_headers() {
        let response = Response {
            status: 503,
            headers: vec![("Retry-After".into(), b"3".to_vec())],
            body: vec![],
        };
        let Err(PluginError::UpstreamRetryable(failure)) = response.error_for_status() else {
            panic!("503 is retryable");
        };
        assert_eq!(failure.retry_after_ms, Some(3000));
    }

    /// The table every SDK is checked against, `plugins/sdk-conformance/http-status.json` (a
    /// project `assay plugin new` wrote carries it as `conformance/http-status.json`).
    fn conformance() -> serde_json::Value {
        let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let candidates = [
            sdk.join("conformance/http-status.json"),
            sdk.join("../sdk-conformance/http-status.json"),
        ];
        let path = candidates
            .iter()
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no conformance table at {candidates:?}"));
        let text = std::fs::read_to_string(path).expect("the conformance table reads");
        serde_json::from_str(&text).expect("the conformance table is JSON")
    }

    fn row_body(row: &serde_json::Value) -> Vec<u8> {
        match (row["body"].as_str(), row["body_hex"].as_str()) {
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(hex)) => hex::decode(hex).expect("body_hex is hex"),
            _ => panic!("a row has body or body_hex: {row}"),
        }
    }

    /// The WIT name of the case, its message and retry hint (as the table writes it).
    fn described(error: &PluginError) -> (&'static str, String, Option<String>) {
        match error {
            PluginError::InvalidInput(m) => ("invalid-input", m.clone(), None),
            PluginError::Unauthorized(m) => ("unauthorized", m.clone(), None),
            PluginError::NotFound(m) => ("not-found", m.clone(), None),
            PluginError::UpstreamRetryable(r) => (
                "upstream-retryable",
                r.message.clone(),
                r.retry_after_ms.map(|ms| ms.to_string()),
            ),
            PluginError::Permanent(m) => ("permanent", m.clone(), None),
            PluginError::Misconfigured(m) => ("misconfigured", m.clone(), None),
            PluginError::Cancelled(m) => ("cancelled", m.clone(), None),
        }
    }

    fn assert_no_row_differs(failed: &[String], rows: usize) {
        assert!(
            failed.is_empty(),
            "{} of {rows} rows differ:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    #[test]
    fn every_row_of_the_shared_status_table() {
        let table = conformance();
        assert_eq!(
            table["quoted_body_bytes"].as_u64(),
            Some(QUOTED_BODY_BYTES as u64)
        );
        let rows = table["status"].as_array().expect("status rows");
        assert!(rows.len() > 50, "{} rows", rows.len());
        let mut failed = Vec::new();
        for row in rows {
            let status = row["status"].as_u64().expect("a status") as u16;
            let response = Response {
                status,
                headers: row["retry_after"]
                    .as_str()
                    .map(|v| ("retry-after".to_owned(), v.as_bytes().to_vec()))
                    .into_iter()
                    .collect(),
                body: row_body(row),
            };
            let got = response.error_for_status().err().map(|e| described(&e));
            let want = row["case"].as_str().map(|case| {
                (
                    case,
                    row["message"].as_str().expect("a message").to_owned(),
                    row["retry_after_ms"].as_str().map(str::to_owned),
                )
            });
            if got != want {
                failed.push(format!("{}: got {got:?}, want {want:?}", row["name"]));
            }
        }
        assert_no_row_differs(&failed, rows.len());
    }

    #[test]
    fn every_row_of_the_shared_json_table() {
        let table = conformance();
        let rows = table["json"].as_array().expect("json rows");
        assert!(rows.len() > 10, "{} rows", rows.len());
        let mut failed = Vec::new();
        for row in rows {
            let response = Response {
                status: row["status"].as_u64().expect("a status") as u16,
                headers: Vec::new(),
                body: row_body(row),
            };
            let got = response.json::<serde_json::Value>();
            let ok = match (&got, row.get("value")) {
                (Ok(value), Some(want)) => value == want,
                (Ok(_), None) => row["parses"] == true,
                (Err(error), None) => {
                    let (case, message, _) = described(error);
                    Some(case) == row["case"].as_str()
                        && message.starts_with(row["message_prefix"].as_str().expect("a prefix"))
                }
                _ => false,
            };
            if !ok {
                failed.push(format!("{}: got {got:?}", row["name"]));
            }
        }
        assert_no_row_differs(&failed, rows.len());
    }
}
