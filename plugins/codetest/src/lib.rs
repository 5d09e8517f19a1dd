//! CodeTest: an example assessment plugin (coding tests).
//!
//! # The vendor API it speaks
//!
//! All calls carry `Authorization: Bearer <api_token>`.
//!
//! - `GET {base_url}/api/tests` → `{"tests": [{"id", "title", "description"}]}`
//! - `POST {base_url}/api/invitations` with
//!   `{"test_id", "reference", "candidate": {"name", "email"}, "callback_url"}` →
//!   `{"id", "test_url", "status"}`. `reference` is StackOne's order id; the vendor answers the
//!   existing invitation for a reference it has seen, which makes `fulfil-order` idempotent.
//! - When the candidate finishes, the vendor POSTs to `callback_url` (this product's callback
//!   route on the host) with `x-codetest-signature: hex(HMAC-SHA256(webhook_secret, body))`:
//!   `{"event": "attempt.completed", "invitation_id", "score", "max_score", "started_at",
//!   "submitted_at", "report_url"}`.
//!
//! # Settings
//!
//! `base_url`, `api_token`, `webhook_secret`, `callback_url` (required for the calls that use
//! them); `pass_threshold` (percent, default 70); `packages` (optional JSON array of
//! `{"id", "name", "description"}`: a fixed catalogue answered without calling the vendor).

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderRef, OrderResult, Package, PackageQuery, PendingOrder, Plugin, PluginError,
    PluginMetadata, ResultValue, Score, export, http, log, settings, webhook,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The default pass mark, in percent.
pub const DEFAULT_PASS_THRESHOLD: f64 = 70.0;
/// The header the vendor signs callbacks in.
pub const SIGNATURE_HEADER: &str = "x-codetest-signature";

struct CodeTest;

#[derive(Deserialize)]
struct Tests {
    tests: Vec<Test>,
}

#[derive(Deserialize)]
struct Test {
    id: String,
    title: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct CatalogueEntry {
    id: String,
    name: String,
    description: Option<String>,
}

#[derive(Serialize)]
struct NewInvitation<'a> {
    test_id: &'a str,
    reference: &'a str,
    candidate: InvitedCandidate<'a>,
    callback_url: &'a str,
}

#[derive(Serialize)]
struct InvitedCandidate<'a> {
    name: &'a str,
    email: &'a str,
}

#[derive(Deserialize)]
struct Invitation {
    id: String,
    test_url: String,
}

#[derive(Deserialize)]
struct AttemptEvent {
    event: String,
    invitation_id: String,
    score: Option<f64>,
    max_score: Option<f64>,
    started_at: Option<String>,
    submitted_at: Option<String>,
    report_url: Option<String>,
}

impl Plugin for CodeTest {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "codetest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CodeTest coding assessments".into(),
            kinds: vec![OrderKind::Assessment],
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<Vec<Package>, PluginError> {
        if let Some(catalogue) = settings::get("packages") {
            let entries: Vec<CatalogueEntry> = serde_json::from_str(&catalogue).map_err(|e| {
                PluginError::InvalidInput(format!(
                    "the `packages` setting is not a JSON catalogue: {e}"
                ))
            })?;
            return Ok(entries
                .into_iter()
                .map(|e| Package {
                    id: e.id,
                    name: e.name,
                    description: e.description,
                    tests: vec![],
                })
                .collect());
        }
        let base = settings::require("base_url")?;
        let tests: Tests = http::Request::get(format!("{base}/api/tests"))
            .bearer(&settings::require("api_token")?)
            .send()?
            .error_for_status()?
            .json()?;
        Ok(tests
            .tests
            .into_iter()
            .map(|t| Package {
                id: t.id,
                name: t.title,
                description: t.description,
                tests: vec![],
            })
            .collect())
    }

    fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> {
        let test_id = order
            .package_id()
            .ok_or_else(|| PluginError::InvalidInput("the order names no package".into()))?;
        let email = order.candidate_email().ok_or_else(|| {
            PluginError::InvalidInput("the candidate has no e-mail address".into())
        })?;
        let name = order.candidate_name();
        let base = settings::require("base_url")?;
        let callback_url = settings::require("callback_url")?;
        let body = NewInvitation {
            test_id,
            reference: &order.id,
            candidate: InvitedCandidate { name: &name, email },
            callback_url: &callback_url,
        };
        let invitation: Invitation = http::Request::post(format!("{base}/api/invitations"))
            .bearer(&settings::require("api_token")?)
            .json(&body)?
            .send()?
            .error_for_status()?
            .json()?;
        log::info(
            "invitation created",
            &[("order", &order.id), ("invitation", &invitation.id)],
        );
        let first = AssessmentResult {
            result_url: Some(invitation.test_url.clone()),
            summary: Some("Invitation sent to the candidate".into()),
            ..AssessmentResult::status(ResultValue::Initiated, Some("sent".into()))
        };
        Ok(Fulfilment {
            external_id: invitation.id,
            test_url: Some(invitation.test_url),
            first_result: Some(first),
        })
    }

    fn handle_callback(request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        let secret = settings::require("webhook_secret")?;
        let signed = request
            .header(SIGNATURE_HEADER)
            .is_some_and(|sig| webhook::verify_hmac_sha256_hex(&secret, &request.body, sig));
        if !signed {
            log::warn("callback with a missing or wrong signature refused", &[]);
            return Ok(CallbackOutcome {
                response: CallbackResponse::json(401, &json!({"error": "bad signature"})),
                results: vec![],
            });
        }
        let event: AttemptEvent = match serde_json::from_slice(&request.body) {
            Ok(e) => e,
            Err(e) => {
                return Ok(CallbackOutcome {
                    response: CallbackResponse::json(
                        400,
                        &json!({"error": format!("invalid event: {e}")}),
                    ),
                    results: vec![],
                });
            }
        };
        if event.event != "attempt.completed" {
            return Ok(CallbackOutcome {
                response: CallbackResponse::json(200, &json!({"ok": true, "ignored": event.event})),
                results: vec![],
            });
        }
        let result = attempt_result(&event, pass_threshold());
        Ok(CallbackOutcome {
            response: CallbackResponse::json(200, &json!({"ok": true})),
            results: vec![OrderResult {
                order: OrderRef::ExternalId(event.invitation_id),
                result,
            }],
        })
    }

    fn poll_results(_pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        // CodeTest calls back; nothing to poll.
        Ok(vec![])
    }
}

fn pass_threshold() -> f64 {
    settings::get("pass_threshold")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_PASS_THRESHOLD)
}

/// Maps a completed attempt to StackOne's result: the score as a percentage (0 to 100, as
/// strings), passed or failed by the threshold, the report as the result link.
fn attempt_result(event: &AttemptEvent, threshold: f64) -> AssessmentResult {
    let percent = match (event.score, event.max_score) {
        (Some(score), Some(max)) if max > 0.0 => Some((score / max * 100.0).clamp(0.0, 100.0)),
        (Some(score), None) => Some(score.clamp(0.0, 100.0)),
        _ => None,
    };
    let (value, source) = match percent {
        Some(p) if p >= threshold => (ResultValue::Passed, "passed"),
        Some(_) => (ResultValue::Failed, "failed"),
        None => (ResultValue::Completed, "completed"),
    };
    AssessmentResult {
        score: percent.map(|p| Score {
            label: Some("Overall".into()),
            value: Some(format!("{}", p.round() as i64)),
            min: Some("0".into()),
            max: Some("100".into()),
        }),
        result_url: event.report_url.clone(),
        start_date: event.started_at.clone(),
        submission_date: event.submitted_at.clone(),
        summary: percent.map(|p| format!("Scored {:.0}% (pass mark {threshold:.0}%)", p)),
        ..AssessmentResult::status(value, Some(source.into()))
    }
}

export!(CodeTest);
