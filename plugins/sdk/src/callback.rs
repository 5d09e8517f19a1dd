//! Conveniences for callbacks: reading the vendor's request, building the outcome.

use crate::{
    CallbackHandled, CallbackOutcome, CallbackRequest, CallbackResponse, Header, OrderResult,
};

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
    /// A handled callback that only answers the caller, with no results: a refused signature,
    /// an event you ignore.
    ///
    /// ```ignore
    /// return Ok(CallbackOutcome::reply(CallbackResponse::json(401, &json!({"error": "bad signature"}))));
    /// ```
    pub fn reply(response: CallbackResponse) -> Self {
        Self::with_results(response, vec![])
    }

    /// A handled callback: `results` go to StackOne, and the host sends `response` once they
    /// are stored.
    ///
    /// ```ignore
    /// Ok(CallbackOutcome::with_results(
    ///     CallbackResponse::json(200, &json!({"ok": true})),
    ///     vec![OrderResult { order: OrderRef::ExternalId(session_id), result }],
    /// ))
    /// ```
    pub fn with_results(response: CallbackResponse, results: Vec<OrderResult>) -> Self {
        CallbackOutcome::Handled(CallbackHandled { response, results })
    }

    /// The callback names something this plugin does not know (a session it never created,
    /// another account's check): the host answers 404 with `reason`, counts and logs it, stores
    /// nothing, and the vendor is not asked to send it again.
    ///
    /// ```ignore
    /// Err(PluginError::NotFound(_)) => Ok(CallbackOutcome::unknown(format!("no session {id}"))),
    /// ```
    pub fn unknown(reason: impl Into<String>) -> Self {
        CallbackOutcome::Unknown(reason.into())
    }

    /// The response of a handled callback; `None` for an unknown one.
    pub fn response(&self) -> Option<&CallbackResponse> {
        match self {
            CallbackOutcome::Handled(handled) => Some(&handled.response),
            CallbackOutcome::Unknown(_) => None,
        }
    }

    /// The results of a handled callback; empty for an unknown one.
    pub fn results(&self) -> &[OrderResult] {
        match self {
            CallbackOutcome::Handled(handled) => &handled.results,
            CallbackOutcome::Unknown(_) => &[],
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
        assert!(CallbackResponse::empty(204).body.is_empty());
    }

    #[test]
    fn outcomes_are_handled_or_unknown() {
        let reply = CallbackOutcome::reply(CallbackResponse::empty(401));
        assert_eq!(reply.response().map(|r| r.status), Some(401));
        assert!(reply.results().is_empty());

        let result = OrderResult {
            order: crate::OrderRef::ExternalId("s-1".into()),
            result: crate::AssessmentResult::status(crate::ResultValue::Passed, None),
        };
        let handled = CallbackOutcome::with_results(CallbackResponse::empty(200), vec![result]);
        assert_eq!(handled.results().len(), 1);

        let unknown = CallbackOutcome::unknown("no session s-9");
        assert!(matches!(&unknown, CallbackOutcome::Unknown(r) if r == "no session s-9"));
        assert!(unknown.response().is_none() && unknown.results().is_empty());
    }
}
