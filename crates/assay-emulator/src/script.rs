//! Scripted failures: answers the emulated StackOne gives instead of its normal one, so tests
//! can drive the host's retry and dead-letter paths (429 with `Retry-After`, 503, 422, 408, a
//! request held past the host's timeout).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use http::StatusCode;

/// One answer to give to a result PATCH in place of the normal one. The body is StackOne's
/// error shape `{statusCode, message, timestamp}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedResponse {
    /// The status to answer.
    pub status: StatusCode,
    /// The `message` of the body.
    pub message: String,
    /// The `Retry-After` header value, if any (seconds, or an HTTP date).
    pub retry_after: Option<String>,
    /// How long to hold the request before answering: past the host's PATCH timeout, this is
    /// a StackOne that hangs.
    pub hold: Option<Duration>,
}

impl ScriptedResponse {
    /// Any status and message, no `Retry-After`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            hold: None,
        }
    }

    /// `429 Too Many Requests` with `Retry-After: <seconds>`, as StackOne's rate limit answers.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "Too many requests")
            .with_retry_after(retry_after_secs.to_string())
    }

    /// `408 Request Timeout` with `Retry-After: <seconds>`.
    pub fn request_timeout(retry_after_secs: u64) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "Request timed out")
            .with_retry_after(retry_after_secs.to_string())
    }

    /// `503 Service Unavailable`.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    }

    /// A request held for `hold`, then answered `503`: a StackOne that hangs, when `hold` is
    /// longer than the host waits.
    pub fn hang(hold: Duration) -> Self {
        Self {
            hold: Some(hold),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "Held, then unavailable")
        }
    }

    /// `500 Internal Server Error`.
    pub fn server_error() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
    }

    /// `422 Unprocessable Entity` with `message`: a failure that retrying will not fix.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// Sets the `Retry-After` header value.
    pub fn with_retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
}

/// Which PATCHes a scripted response applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScriptTarget {
    /// The next PATCH for this order id.
    Order(String),
    /// The next PATCH for any order (after the order's own queue is empty).
    Any,
}

/// Queues of scripted responses. An order's own queue is used before the shared one.
#[derive(Debug, Default)]
pub(crate) struct Script {
    per_order: HashMap<String, VecDeque<ScriptedResponse>>,
    any: VecDeque<ScriptedResponse>,
}

impl Script {
    /// Queues `response` behind earlier ones for the same target.
    pub(crate) fn push(&mut self, target: ScriptTarget, response: ScriptedResponse) {
        match target {
            ScriptTarget::Order(id) => self.per_order.entry(id).or_default().push_back(response),
            ScriptTarget::Any => self.any.push_back(response),
        }
    }

    /// Takes the response for the next PATCH of `order_id`, if one is queued.
    pub(crate) fn next_for(&mut self, order_id: &str) -> Option<ScriptedResponse> {
        self.per_order
            .get_mut(order_id)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.any.pop_front())
    }

    /// How many scripted responses are still queued.
    pub(crate) fn pending(&self) -> usize {
        self.any.len() + self.per_order.values().map(VecDeque::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_queue_first_then_any_in_fifo_order() {
        let mut script = Script::default();
        script.push(ScriptTarget::Any, ScriptedResponse::unavailable());
        script.push(
            ScriptTarget::Order("o1".into()),
            ScriptedResponse::too_many_requests(2),
        );
        script.push(
            ScriptTarget::Order("o1".into()),
            ScriptedResponse::unprocessable("bad score"),
        );
        assert_eq!(script.pending(), 3);
        let first = script.next_for("o1").expect("scripted");
        assert_eq!(
            (first.status, first.retry_after.as_deref()),
            (StatusCode::TOO_MANY_REQUESTS, Some("2"))
        );
        assert_eq!(
            script.next_for("o2").map(|r| r.status),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(
            script.next_for("o1").map(|r| r.message),
            Some("bad score".to_owned())
        );
        assert_eq!(script.next_for("o1"), None);
        assert_eq!(script.pending(), 0);
    }
}
