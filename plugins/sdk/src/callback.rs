//! Conveniences for callbacks: reading the vendor's request, building the response.

use crate::{CallbackOutcome, CallbackRequest, CallbackResponse, Header};

impl CallbackRequest {
    /// The first value of header `name` (case-insensitive), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
    }
}

impl CallbackResponse {
    /// A response with `status` and a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        CallbackResponse {
            status,
            headers: vec![Header {
                name: "content-type".into(),
                value: b"application/json".to_vec(),
            }],
            body: body.to_string().into_bytes(),
        }
    }

    /// A response with `status` and no body.
    pub fn empty(status: u16) -> Self {
        CallbackResponse {
            status,
            headers: vec![],
            body: vec![],
        }
    }
}

impl CallbackOutcome {
    /// An outcome that only answers the caller, with no results: a refused signature, an
    /// event you ignore.
    pub fn reply(response: CallbackResponse) -> Self {
        CallbackOutcome {
            response,
            results: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_matched_case_insensitively() {
        let request = CallbackRequest {
            method: "POST".into(),
            path: "attempts".into(),
            query: None,
            headers: vec![
                Header {
                    name: "x-signature".into(),
                    value: b"abc".to_vec(),
                },
                Header {
                    name: "x-binary".into(),
                    value: vec![0xff, 0xfe],
                },
            ],
            body: vec![],
        };
        assert_eq!(request.header("X-Signature"), Some("abc"));
        assert_eq!(request.header("x-binary"), None, "not UTF-8");
        assert_eq!(request.header("x-other"), None);
    }

    #[test]
    fn json_responses_say_so() {
        let r = CallbackResponse::json(200, &serde_json::json!({"ok": true}));
        assert_eq!(r.body, br#"{"ok":true}"#);
        assert_eq!(r.headers[0].name, "content-type");
        assert_eq!(r.headers[0].value, b"application/json");
        assert!(CallbackOutcome::reply(r).results.is_empty());
        assert!(CallbackResponse::empty(204).body.is_empty());
    }
}
