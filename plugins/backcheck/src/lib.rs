//! BackCheck: an example background-check plugin.
//!
//! # The vendor API it speaks
//!
//! Every call carries `Authorization: Bearer <api_token>`; paths are under `base_url`.
//!
//! | call | request | answer |
//! |---|---|---|
//! | `GET /v1/packages` | | `{"packages": [{"id", "name", "description", "checks": [{"id", "name", "description"}]}]}` |
//! | `POST /v1/checks` | header `Idempotency-Key: <StackOne order id>`; `{"package_id", "reference", "candidate": {"first_name", "last_name", "email"}, "callback_url"}` (`callback_url` only when configured) | `201` (`200` for a reference seen before) with a check |
//! | `GET /v1/checks/{id}` | | a check |
//!
//! A check is `{"id", "reference", "status", "report_url", "completed_at"}`, its `status` one
//! of `pending`, `processing` (or `in_progress`), `clear`, `consider`, `suspended`, `canceled`,
//! `expired`. The mapping to StackOne's result is in [`status_value`]; the vendor's word is
//! always kept as `source_value`.
//!
//! # How results come back
//!
//! **Polling** (set `poll_interval_s` on the product): `poll-results` GETs each waiting check
//! and returns a result only for checks in a *final* status (`clear`, `consider`, `canceled`,
//! `expired`). It keeps no state between polls (each call is a fresh instance), so it cannot
//! tell a changed status from an unchanged one; a final result ends the order, so the host
//! stops asking about it and each final result is delivered once. Progress (`processing`,
//! `suspended`) is not reported by polling, because it would be delivered again on every poll.
//!
//! **Pushes** (optional, set `callback_url` and `webhook_secret`): BackCheck POSTs every status
//! change to `callback_url` with `x-backcheck-signature: hex(HMAC-SHA256(webhook_secret, raw
//! body))` and `{"event": "check.updated", "check": {…a check…}}`. Each push is one change, so
//! progress is reported too. A bad signature is answered 401 with no results; pushes and polls
//! can run side by side (a progress push after the final result is dropped by the host).
//!
//! # Settings
//!
//! | key | used by | |
//! |---|---|---|
//! | `base_url` | all but metadata | the vendor API |
//! | `api_token` | all but metadata | secret |
//! | `callback_url` | fulfil-order | optional: this host's callback route; BackCheck then pushes changes |
//! | `webhook_secret` | handle-callback | secret the pushes are signed with; without it pushes are refused (404) |
//! | `packages` | list-packages | optional JSON array `[{"id", "name", "description", "checks": [{"id", "name"}]}]`, answered without calling the vendor |

mod api;
mod status;

use std::time::Duration;

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderResult, Package, PackageQuery, PendingOrder, Plugin, PluginError,
    PluginMetadata, ResultValue, export, http, log, settings, webhook,
};
use serde_json::json;

use api::{Check, CheckCandidate, CheckEvent, NewCheck, Packages, VendorPackage};
use status::check_result;
pub use status::{FINAL_STATUSES, status_value};

/// The header BackCheck signs its pushes in.
pub const SIGNATURE_HEADER: &str = "x-backcheck-signature";
/// The event of a push.
pub const UPDATED_EVENT: &str = "check.updated";
/// The longest wait for one check while polling, so one slow answer cannot use up the whole
/// call's deadline.
pub const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

struct BackCheck;

/// The vendor's API, from the settings.
fn api() -> Result<http::Client, PluginError> {
    Ok(http::Client::new(settings::require("base_url")?).bearer(&settings::require("api_token")?))
}

impl Plugin for BackCheck {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "backcheck".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "BackCheck background checks".into(),
            kinds: vec![OrderKind::BackgroundCheck],
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<Vec<Package>, PluginError> {
        let packages: Vec<VendorPackage> = match settings::json("packages")? {
            Some(catalogue) => catalogue,
            None => {
                let answer: Packages = api()?
                    .get("/v1/packages")
                    .send()?
                    .error_for_status()?
                    .json()?;
                answer.packages
            }
        };
        Ok(packages.into_iter().map(VendorPackage::package).collect())
    }

    fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> {
        let package_id = order
            .package_id()
            .ok_or_else(|| PluginError::InvalidInput("the order names no package".into()))?;
        let email = order.candidate_email().ok_or_else(|| {
            PluginError::InvalidInput("the candidate has no e-mail address".into())
        })?;
        let callback_url = settings::get("callback_url").filter(|u| !u.is_empty());
        let body = NewCheck {
            package_id,
            reference: &order.id,
            candidate: CheckCandidate {
                first_name: order.candidate.first_name.as_deref(),
                last_name: order.candidate.last_name.as_deref(),
                email,
            },
            callback_url: callback_url.as_deref(),
        };
        let check: Check = api()?
            .post("/v1/checks")
            .header("idempotency-key", &order.id)
            .json(&body)?
            .send()?
            .error_for_status()?
            .json()?;
        log::info(
            "background check created",
            &[
                ("order", &order.id),
                ("check", &check.id),
                ("status", &check.status),
            ],
        );
        // A repeated call may find the check already finished; report that rather than
        // `initiated`, which would be dropped after the final result anyway.
        let first = if status_value(&check.status).is_final() {
            check_result(&check)
        } else {
            AssessmentResult {
                summary: Some("Background check requested".into()),
                ..AssessmentResult::status(ResultValue::Initiated, Some(check.status.clone()))
            }
        };
        Ok(Fulfilment {
            external_id: check.id,
            test_url: None,
            first_result: Some(first),
        })
    }

    fn handle_callback(request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        let Some(secret) = settings::get("webhook_secret").filter(|s| !s.is_empty()) else {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                404,
                &json!({"error": "BackCheck pushes are not configured"}),
            )));
        };
        if !request.method.eq_ignore_ascii_case("POST") {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                405,
                &json!({"error": "POST only"}),
            )));
        }
        let signed = request
            .header(SIGNATURE_HEADER)
            .is_some_and(|sig| webhook::verify_hmac_sha256_hex(&secret, &request.body, sig));
        if !signed {
            log::warn(
                "push with a missing or wrong signature refused",
                &[("path", &request.path)],
            );
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                401,
                &json!({"error": "bad signature"}),
            )));
        }
        let event: CheckEvent = match serde_json::from_slice(&request.body) {
            Ok(e) => e,
            Err(e) => {
                return Ok(CallbackOutcome::reply(CallbackResponse::json(
                    400,
                    &json!({"error": format!("not a BackCheck event: {e}")}),
                )));
            }
        };
        if event.event != UPDATED_EVENT {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                200,
                &json!({"ok": true, "ignored": event.event}),
            )));
        }
        log::info(
            "check updated",
            &[("check", &event.check.id), ("status", &event.check.status)],
        );
        Ok(CallbackOutcome {
            response: CallbackResponse::json(200, &json!({"ok": true})),
            results: vec![OrderResult {
                order: event.check.order_ref(),
                result: check_result(&event.check),
            }],
        })
    }

    fn poll_results(pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        let api = api()?.timeout(POLL_REQUEST_TIMEOUT);
        let mut results = Vec::new();
        for order in &pending {
            let path = format!("/v1/checks/{}", http::encode_component(&order.external_id));
            let check = api
                .get(path)
                .send()
                .and_then(http::Response::error_for_status)
                .and_then(|r| r.json::<Check>());
            match check {
                Ok(check) => {
                    if status_value(&check.status).is_final() {
                        results.push(OrderResult {
                            order: check.order_ref(),
                            result: check_result(&check),
                        });
                    }
                }
                // Every other check would be refused too: the operator must act.
                Err(e @ PluginError::Unauthorized(_)) => return Err(e),
                // The vendor is struggling: stop asking. What was found is still delivered;
                // the rest waits for the next poll.
                Err(e @ PluginError::UpstreamRetryable(_)) => {
                    log::warn(
                        "polling stopped early",
                        &[("check", &order.external_id), ("error", e.message())],
                    );
                    return if results.is_empty() {
                        Err(e)
                    } else {
                        Ok(results)
                    };
                }
                // One odd check must not hold up the others.
                Err(e) => log::warn(
                    "check skipped",
                    &[("check", &order.external_id), ("error", e.message())],
                ),
            }
        }
        Ok(results)
    }
}

export!(BackCheck);
