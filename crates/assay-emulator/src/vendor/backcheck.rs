//! BackCheck's API: screening packages, and checks that are polled for their status.
//!
//! All calls carry `Authorization: Bearer <token>`.
//!
//! `GET /v1/packages` → 200
//! ```json
//! {"packages": [{"id": "bc-standard", "name": "Standard screening", "description": "…",
//!                "checks": [{"id": "identity", "name": "Identity"}, …]}]}
//! ```
//!
//! `POST /v1/checks` (optionally with an `Idempotency-Key` header)
//! ```json
//! {"package_id": "bc-standard", "reference": "<StackOne order id>",
//!  "candidate": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}}
//! ```
//! → 201 (or 200 with the existing check for a key or reference seen before) with the check as
//! `GET /v1/checks/{id}` answers it. 400 for a body that is not a JSON object, 422 when
//! `package_id`, `reference` or `candidate.email` is missing, 404 for an unknown package.
//!
//! `GET /v1/checks/{id}` → 200
//! ```json
//! {"id": "chk-1", "package_id": "bc-standard", "reference": "…", "status": "clear",
//!  "report_url": "http://…/reports/chk-1", "completed_at": "2026-…Z"}
//! ```
//! `status` is one of [`CHECK_STATUSES`]; `report_url` and `completed_at` are `null` until the
//! check is past processing. 404 if unknown.
//!
//! Pushes are optional: a check created with a `callback_url` field gets each status change
//! POSTed there (when a test or the demo calls [`super::DemoVendor::push_check_status`]), with
//! `x-backcheck-signature: hex(HMAC-SHA256(webhook secret, raw body))`:
//! ```json
//! {"event": "check.updated", "check": {…the check as GET /v1/checks/{id} answers it…}}
//! ```
//! Without a `callback_url` the check is only polled.

use http::{Method, Response, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Call, field, not_an_object, now, reply};
use assay_wire::http_server::Body;

/// The header BackCheck signs its pushes in.
pub const BACKCHECK_SIGNATURE_HEADER: &str = "x-backcheck-signature";
/// The event BackCheck pushes when a check changes.
pub const CHECK_UPDATED: &str = "check.updated";
/// Every status a BackCheck check can have. A new check is `pending`.
pub const CHECK_STATUSES: [&str; 8] = [
    "pending",
    "in_progress",
    "processing",
    "clear",
    "consider",
    "suspended",
    "canceled",
    "expired",
];
/// The statuses of a check that is still being worked on: no report yet.
pub const OPEN_CHECK_STATUSES: [&str; 3] = ["pending", "in_progress", "processing"];
/// A package of BackCheck's catalogue.
#[derive(Debug, Clone, Copy)]
pub struct PackageSpec {
    /// The package id.
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// The checks it runs, as `(id, name)`.
    pub checks: &'static [(&'static str, &'static str)],
}

/// BackCheck's packages.
pub const PACKAGES: [PackageSpec; 2] = [
    PackageSpec {
        id: "bc-standard",
        name: "Standard screening",
        description: "Identity, criminal record and employment history",
        checks: &[
            ("identity", "Identity"),
            ("criminal", "Criminal record"),
            ("employment", "Employment history"),
        ],
    },
    PackageSpec {
        id: "bc-basic",
        name: "Basic screening",
        description: "Identity and criminal record",
        checks: &[("identity", "Identity"), ("criminal", "Criminal record")],
    },
];

/// A background check BackCheck runs.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The vendor's id.
    pub id: String,
    /// The package.
    pub package_id: String,
    /// StackOne's order id, as the plugin sent it.
    pub reference: String,
    /// The `Idempotency-Key` header of the call that created it, if any.
    pub idempotency_key: Option<String>,
    /// The candidate's e-mail.
    pub candidate_email: String,
    /// One of [`CHECK_STATUSES`] (or whatever a test set).
    pub status: String,
    /// The report, once the check is past processing.
    pub report_url: Option<String>,
    /// When the check got past processing (RFC 3339).
    pub completed_at: Option<String>,
    /// Where status changes are pushed, if the plugin asked for pushes.
    pub callback_url: Option<String>,
    /// The status of every push sent for it, in order.
    pub callback_statuses: Vec<u16>,
    /// The request body that created it, as received.
    pub request: Value,
}

impl Check {
    /// Moves the check to `status`; a status past processing gets a report and a time.
    pub(super) fn move_to(&mut self, status: &str, base: &str) {
        status.clone_into(&mut self.status);
        if OPEN_CHECK_STATUSES.contains(&status) {
            self.report_url = None;
            self.completed_at = None;
        } else {
            self.report_url = Some(format!("{base}/reports/{}", self.id));
            self.completed_at.get_or_insert_with(now);
        }
    }

    /// The `check.updated` event for the check as it is now.
    pub(super) fn update_event(&self) -> Value {
        json!({"event": CHECK_UPDATED, "check": self.answer()})
    }

    fn answer(&self) -> Value {
        json!({
            "id": self.id,
            "package_id": self.package_id,
            "reference": self.reference,
            "status": self.status,
            "report_url": self.report_url,
            "completed_at": self.completed_at,
        })
    }
}

/// BackCheck's routes; `None` if `call` is not one of them.
pub(super) fn route(checks: &mut Vec<Check>, call: &Call<'_>) -> Option<Response<Body>> {
    Some(match (call.method, call.segments) {
        (&Method::GET, ["v1", "packages"]) => {
            let packages: Vec<Value> = PACKAGES
                .iter()
                .map(|p| {
                    let checks: Vec<Value> = p
                        .checks
                        .iter()
                        .map(|(id, name)| json!({"id": id, "name": name}))
                        .collect();
                    json!({"id": p.id, "name": p.name, "description": p.description, "checks": checks})
                })
                .collect();
            reply(StatusCode::OK, &json!({ "packages": packages }))
        }
        (&Method::POST, ["v1", "checks"]) => create(checks, call),
        (&Method::GET, ["v1", "checks", id]) => match checks.iter().find(|c| c.id == *id) {
            Some(c) => reply(StatusCode::OK, &c.answer()),
            None => reply(
                StatusCode::NOT_FOUND,
                &json!({"error": format!("no check {id}")}),
            ),
        },
        _ => return None,
    })
}

fn create(checks: &mut Vec<Check>, call: &Call<'_>) -> Response<Body> {
    let Some(body) = call.json_object() else {
        return not_an_object();
    };
    let (Some(package_id), Some(reference), Some(email)) = (
        field(&body, "/package_id"),
        field(&body, "/reference"),
        field(&body, "/candidate/email"),
    ) else {
        return reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"error": "package_id, reference and candidate.email are required"}),
        );
    };
    let key = call.idempotency_key.as_deref();
    if let Some(existing) = checks.iter().find(|c| {
        c.reference == reference || (key.is_some() && c.idempotency_key.as_deref() == key)
    }) {
        return reply(StatusCode::OK, &existing.answer());
    }
    if !PACKAGES.iter().any(|p| p.id == package_id) {
        return reply(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no package {package_id}")}),
        );
    }
    let check = Check {
        id: format!("chk-{}", checks.len() + 1),
        package_id,
        reference,
        idempotency_key: call.idempotency_key.clone(),
        candidate_email: email,
        status: "pending".into(),
        report_url: None,
        completed_at: None,
        callback_url: field(&body, "/callback_url"),
        callback_statuses: Vec::new(),
        request: body,
    };
    let answer = check.answer();
    checks.push(check);
    reply(StatusCode::CREATED, &answer)
}
