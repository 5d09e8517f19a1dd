//! CodeTest: an example assessment plugin for a coding-test vendor.
//!
//! # The vendor API it speaks
//!
//! Every call carries `Authorization: Bearer <api_token>`; paths are under `base_url`.
//!
//! | call | request | answer |
//! |---|---|---|
//! | `GET /api/tests` | | `{"tests": [{"id", "title", "description"}]}` |
//! | `POST /api/invitations` | header `Idempotency-Key: <StackOne order id>`; `{"test_id", "reference", "candidate": {"name", "email"}, "callback_url"}` | `201` (or `200` for a reference seen before) `{"id", "test_url", "status"}` |
//!
//! `reference` is StackOne's order id, also sent as the idempotency key: CodeTest answers the
//! existing invitation for one it has seen, which makes `fulfil-order` safe to repeat.
//!
//! When the candidate finishes, CodeTest POSTs to the invitation's `callback_url` (this
//! product's callback route on the host) with
//! `x-codetest-signature: hex(HMAC-SHA256(webhook_secret, raw body))`:
//!
//! ```json
//! {"event": "attempt.completed", "invitation_id": "inv-1", "reference": "<order id>",
//!  "score": 45, "max_score": 50, "started_at": "…", "submitted_at": "…",
//!  "report_url": "https://…"}
//! ```
//!
//! Other events are acknowledged and ignored.
//!
//! # Settings
//!
//! | key | used by | |
//! |---|---|---|
//! | `base_url` | list-packages, fulfil-order | the vendor API, e.g. `https://api.codetest.example` |
//! | `api_token` | list-packages, fulfil-order | secret |
//! | `callback_url` | fulfil-order | this host's callback route, `https://<host>/v1/products/<product>/callbacks/attempts` |
//! | `webhook_secret` | handle-callback | secret the vendor signs callbacks with |
//! | `pass_threshold` | handle-callback | percent needed to pass, `0`–`100`; default [`DEFAULT_PASS_THRESHOLD`] |
//! | `packages` | list-packages | optional JSON array `[{"id", "name", "description"}]`: a fixed catalogue answered without calling the vendor |
//!
//! # Callback answers
//!
//! | the request | the answer | results |
//! |---|---|---|
//! | not a `POST` | 405 | none |
//! | missing or wrong signature | 401 `{"error": "bad signature"}` | none |
//! | signed, but not JSON of the shape above | 400 | none |
//! | another event | 200 `{"ok": true, "ignored": "<event>"}` | none |
//! | `attempt.completed` | 200 `{"ok": true}` | one, once the host stored it |
//!
//! A bad signature is answered with a 401 *response* rather than an `unauthorized` error: the
//! host turns that error into a 502 ("the vendor refused our credentials"), which would tell the
//! caller the opposite of what happened. A missing `webhook_secret` or an invalid
//! `pass_threshold` is a `permanent` error (the host answers 502): CodeTest retries a 5xx, so
//! no result is lost while the operator fixes the setting.

mod api;
mod attempt;

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderResult, Package, PackageQuery, PendingOrder, Plugin, PluginError,
    PluginMetadata, ResultValue, export, http, log, settings, webhook,
};
use serde_json::json;

use api::{AttemptEvent, CatalogueEntry, Invitation, InvitedCandidate, NewInvitation, Tests};
pub use attempt::DEFAULT_PASS_THRESHOLD;
use attempt::attempt_result;

/// The header CodeTest signs its callbacks in.
pub const SIGNATURE_HEADER: &str = "x-codetest-signature";
/// The event that carries a finished attempt.
pub const COMPLETED_EVENT: &str = "attempt.completed";

struct CodeTest;

/// The vendor's API, from the settings.
fn api() -> Result<http::Client, PluginError> {
    Ok(http::Client::new(settings::require("base_url")?).bearer(&settings::require("api_token")?))
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
        if let Some(catalogue) = settings::json::<Vec<CatalogueEntry>>("packages")? {
            return Ok(catalogue.into_iter().map(CatalogueEntry::package).collect());
        }
        let tests: Tests = api()?
            .get("/api/tests")
            .send()?
            .error_for_status()?
            .json()?;
        Ok(tests.tests.into_iter().map(|t| t.package()).collect())
    }

    fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> {
        let test_id = order
            .package_id()
            .ok_or_else(|| PluginError::InvalidInput("the order names no package".into()))?;
        let email = order.candidate_email().ok_or_else(|| {
            PluginError::InvalidInput("the candidate has no e-mail address".into())
        })?;
        let name = order.candidate_name();
        let callback_url = settings::require("callback_url")?;
        let body = NewInvitation {
            test_id,
            reference: &order.id,
            candidate: InvitedCandidate { name: &name, email },
            callback_url: &callback_url,
        };
        let invitation: Invitation = api()?
            .post("/api/invitations")
            .header("idempotency-key", &order.id)
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
            ..AssessmentResult::status(ResultValue::Initiated, invitation.status)
        };
        Ok(Fulfilment {
            external_id: invitation.id,
            test_url: Some(invitation.test_url),
            first_result: Some(first),
        })
    }

    fn handle_callback(request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                405,
                &json!({"error": "POST only"}),
            )));
        }
        let secret = settings::require("webhook_secret").map_err(setting_error)?;
        let signed = request
            .header(SIGNATURE_HEADER)
            .is_some_and(|sig| webhook::verify_hmac_sha256_hex(&secret, &request.body, sig));
        if !signed {
            log::warn(
                "callback with a missing or wrong signature refused",
                &[("path", &request.path)],
            );
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                401,
                &json!({"error": "bad signature"}),
            )));
        }
        let event: AttemptEvent = match serde_json::from_slice(&request.body) {
            Ok(e) => e,
            Err(e) => {
                return Ok(CallbackOutcome::reply(CallbackResponse::json(
                    400,
                    &json!({"error": format!("not a CodeTest event: {e}")}),
                )));
            }
        };
        if event.event != COMPLETED_EVENT {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                200,
                &json!({"ok": true, "ignored": event.event}),
            )));
        }
        let threshold = settings::parse::<f64>("pass_threshold")
            .map_err(setting_error)?
            .unwrap_or(DEFAULT_PASS_THRESHOLD);
        if !(0.0..=100.0).contains(&threshold) {
            return Err(PluginError::Permanent(
                "the setting `pass_threshold` must be between 0 and 100".into(),
            ));
        }
        let result = attempt_result(&event, threshold);
        log::info("attempt completed", &[("invitation", &event.invitation_id)]);
        Ok(CallbackOutcome {
            response: CallbackResponse::json(200, &json!({"ok": true})),
            results: vec![OrderResult {
                order: event.order_ref(),
                result,
            }],
        })
    }

    fn poll_results(_pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        // CodeTest calls back; nothing to poll.
        Ok(vec![])
    }
}

/// A setting problem met while the vendor calls back: a 5xx, so the vendor retries once the
/// operator has fixed it.
fn setting_error(error: PluginError) -> PluginError {
    PluginError::Permanent(error.message().to_owned())
}

export!(CodeTest);
