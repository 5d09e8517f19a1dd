//! The record of one result PATCH the emulated StackOne received.

use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;
use serde_json::Value;

use super::order::OrderKind;

/// What the emulator writes in place of the `Authorization` value it records.
pub const REDACTED: &str = "[redacted]";

/// One result PATCH as received, and how the emulator answered it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Arrival number, from 1.
    pub sequence: usize,
    /// When the request was complete.
    pub received_at: SystemTime,
    /// The request path.
    pub path: String,
    /// The `{id}` of the path.
    pub order_id: String,
    /// Which result route was called.
    pub kind: OrderKind,
    /// The `x-account-id` header, if sent.
    pub account_id: Option<String>,
    /// Every header, names lowercase, the `Authorization` value replaced by [`REDACTED`].
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// The body as JSON, when it parses.
    pub json: Option<Value>,
    /// Schema violations of the body (empty when valid or not JSON).
    pub violations: Vec<String>,
    /// The status answered.
    pub status: StatusCode,
    /// Whether the answer came from a scripted response.
    pub scripted: bool,
}

impl Delivery {
    /// Whether StackOne accepted it (`200 Record updated successfully.`).
    pub fn accepted(&self) -> bool {
        self.status == StatusCode::OK
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
