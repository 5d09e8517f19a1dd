//! CodeTest's API: coding tests, invitations, and signed callbacks when a candidate finishes.
//!
//! All calls carry `Authorization: Bearer <token>`.
//!
//! `GET /api/tests` → 200
//! ```json
//! {"tests": [{"id": "ct-rust", "title": "Rust backend engineer", "description": "…", "duration_minutes": 90}]}
//! ```
//!
//! `POST /api/invitations` (optionally with an `Idempotency-Key` header)
//! ```json
//! {"test_id": "ct-rust", "reference": "<StackOne order id>",
//!  "candidate": {"name": "Ada Lovelace", "email": "ada@example.com"},
//!  "callback_url": "https://assay.example/v1/products/codetest/callbacks/attempts"}
//! ```
//! → 201 (or 200 with the existing invitation for a key or reference seen before)
//! ```json
//! {"id": "inv-1", "test_id": "ct-rust", "reference": "…", "test_url": "http://…/take/inv-1", "status": "sent"}
//! ```
//! 400 for a body that is not a JSON object, 422 when `test_id`, `reference`, `candidate.email`
//! or `callback_url` is missing, 404 for an unknown test.
//!
//! `GET /api/invitations/{id}` → 200 with the invitation as above, `status` `sent` or
//! `completed`; 404 if unknown.
//!
//! When the candidate finishes, CodeTest POSTs to the invitation's `callback_url`, with
//! `x-codetest-signature: hex(HMAC-SHA256(webhook secret, raw body))`:
//! ```json
//! {"event": "attempt.completed", "invitation_id": "inv-1", "reference": "…",
//!  "score": 45, "max_score": 50, "started_at": "2026-…Z", "submitted_at": "2026-…Z",
//!  "report_url": "http://…/reports/inv-1"}
//! ```

use hmac::{Hmac, Mac};
use http::{Method, Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Call, field, not_an_object, now, reply};
use assay_wire::http_server::Body;
use assay_wire::secret::Secret;

/// The header CodeTest signs its callbacks in.
pub const CODETEST_SIGNATURE_HEADER: &str = "x-codetest-signature";
/// The event CodeTest sends when a candidate submits.
pub const ATTEMPT_COMPLETED: &str = "attempt.completed";
/// A test of CodeTest's catalogue.
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    /// The test id.
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// Its description.
    pub description: &'static str,
    /// How long it takes, in minutes.
    pub duration_minutes: u32,
}

/// CodeTest's tests.
pub const TESTS: [TestSpec; 2] = [
    TestSpec {
        id: "ct-rust",
        title: "Rust backend engineer",
        description: "90 minutes: async services, error handling, testing",
        duration_minutes: 90,
    },
    TestSpec {
        id: "ct-sql",
        title: "SQL fundamentals",
        description: "30 minutes: joins, aggregates, indexes",
        duration_minutes: 30,
    },
];

/// An invitation CodeTest sent to a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// The vendor's id.
    pub id: String,
    /// The test.
    pub test_id: String,
    /// StackOne's order id, as the plugin sent it.
    pub reference: String,
    /// The `Idempotency-Key` header of the call that created it, if any.
    pub idempotency_key: Option<String>,
    /// The candidate's name.
    pub candidate_name: String,
    /// The candidate's e-mail.
    pub candidate_email: String,
    /// Where results are sent.
    pub callback_url: String,
    /// The candidate's test link.
    pub test_url: String,
    /// When it was created (RFC 3339); the candidate "starts" then.
    pub created_at: String,
    /// Whether a completion callback was accepted (answered 2xx).
    pub completed: bool,
    /// The status of every callback sent for it, in order.
    pub callback_statuses: Vec<u16>,
    /// The request body that created it, as received.
    pub request: Value,
}

/// How the vendor signs a callback ([`super::DemoVendor::send_attempt_event`],
/// [`super::DemoVendor::push_check_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackSignature {
    /// With the vendor's webhook secret, as the plugin expects.
    Valid,
    /// With another secret: a forged callback.
    Wrong,
    /// Without the signature header.
    Missing,
}

impl CallbackSignature {
    /// The signature header's value for `body`, if one is sent.
    pub(super) fn header_value(self, secret: &Secret, body: &[u8]) -> Option<String> {
        match self {
            Self::Valid => Some(sign_hex(secret.expose(), body)),
            Self::Wrong => Some(sign_hex("not-the-webhook-secret", body)),
            Self::Missing => None,
        }
    }
}

impl Invitation {
    /// The `attempt.completed` event for this invitation.
    pub(super) fn completion_event(&self, score: u32, max_score: u32, base: &str) -> Value {
        json!({
            "event": ATTEMPT_COMPLETED,
            "invitation_id": self.id,
            "reference": self.reference,
            "score": score,
            "max_score": max_score,
            "started_at": self.created_at,
            "submitted_at": now(),
            "report_url": format!("{base}/reports/{}", self.id),
        })
    }

    fn answer(&self) -> Value {
        json!({
            "id": self.id,
            "test_id": self.test_id,
            "reference": self.reference,
            "test_url": self.test_url,
            "status": if self.completed { "completed" } else { "sent" },
        })
    }
}

/// CodeTest's routes; `None` if `call` is not one of them.
pub(super) fn route(
    invitations: &mut Vec<Invitation>,
    call: &Call<'_>,
    base: &str,
) -> Option<Response<Body>> {
    Some(match (call.method, call.segments) {
        (&Method::GET, ["api", "tests"]) => {
            let tests: Vec<Value> = TESTS
                .iter()
                .map(|t| {
                    json!({"id": t.id, "title": t.title, "description": t.description,
                           "duration_minutes": t.duration_minutes})
                })
                .collect();
            reply(StatusCode::OK, &json!({ "tests": tests }))
        }
        (&Method::POST, ["api", "invitations"]) => create(invitations, call, base),
        (&Method::GET, ["api", "invitations", id]) => {
            match invitations.iter().find(|i| i.id == *id) {
                Some(i) => reply(StatusCode::OK, &i.answer()),
                None => reply(
                    StatusCode::NOT_FOUND,
                    &json!({"error": format!("no invitation {id}")}),
                ),
            }
        }
        _ => return None,
    })
}

fn create(invitations: &mut Vec<Invitation>, call: &Call<'_>, base: &str) -> Response<Body> {
    let Some(body) = call.json_object() else {
        return not_an_object();
    };
    let (Some(test_id), Some(reference), Some(email), Some(callback_url)) = (
        field(&body, "/test_id"),
        field(&body, "/reference"),
        field(&body, "/candidate/email"),
        field(&body, "/callback_url"),
    ) else {
        return reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"error": "test_id, reference, candidate.email and callback_url are required"}),
        );
    };
    let key = call.idempotency_key.as_deref();
    if let Some(existing) = invitations.iter().find(|i| {
        i.reference == reference || (key.is_some() && i.idempotency_key.as_deref() == key)
    }) {
        return reply(StatusCode::OK, &existing.answer());
    }
    if !TESTS.iter().any(|t| t.id == test_id) {
        return reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no test {test_id}")}),
        );
    }
    let id = format!("inv-{}", invitations.len() + 1);
    let invitation = Invitation {
        test_url: format!("{base}/take/{id}"),
        id,
        test_id,
        reference,
        idempotency_key: call.idempotency_key.clone(),
        candidate_name: field(&body, "/candidate/name").unwrap_or_default(),
        candidate_email: email,
        callback_url,
        created_at: now(),
        completed: false,
        callback_statuses: Vec::new(),
        request: body,
    };
    let answer = invitation.answer();
    invitations.push(invitation);
    reply(StatusCode::CREATED, &answer)
}

/// The hex HMAC-SHA256 of `body` under `secret`: the scheme the codetest plugin verifies.
pub fn sign_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
