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
//! | `GET /v1/checks/{id}` | | a check; 404 if BackCheck has none of that id for this token |
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
//! `expired`). It keeps no record of what it reported (each call is a fresh instance, and the
//! product's state is lost on a restart), so it cannot tell a changed status from an unchanged
//! one; a final result ends the order, so the host
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
//! What `metadata` declares; the host checks each product's settings against it when it loads
//! them, and refuses a product that leaves out a required key or writes a secret literally
//! (it must be an `env:` or `file:` reference). Only the API is required: pushes are optional,
//! since polling finds every result.
//!
//! | key | required | secret | used by | |
//! |---|---|---|---|---|
//! | `base_url` | yes | | all but metadata | the vendor API |
//! | `api_token` | yes | yes | all but metadata | BackCheck API token |
//! | `callback_url` | | | fulfil-order | this host's callback route; BackCheck then pushes changes |
//! | `webhook_secret` | | yes | handle-callback | secret the pushes are signed with; without it pushes are refused (404) |
//! | `packages` | | | list-packages | JSON array `[{"id", "name", "description", "checks": [{"id", "name"}]}]`, answered without calling the vendor |
//!
//! The package list, from the vendor or from `packages`, may be reused by the host for
//! [`PACKAGES_MAX_AGE`], and for [`PACKAGES_STALE_IF_ERROR`] more while BackCheck is down; a
//! change of settings starts afresh.
//!
//! # Fulfilment
//!
//! A check BackCheck answers as `canceled` (a repeated call finding it cancelled meanwhile)
//! is the `cancelled` error: the host parks the order and StackOne gets a `cancelled` result
//! with the reason. Another final status (`clear`, `consider`, `expired`) is returned as the
//! first result. A 422 (BackCheck refuses the check as sent) is `permanent` with BackCheck's
//! own message, which the recruiter sees in the `failed` result.
//!
//! # Pushes it declines
//!
//! A push whose check carries a `reference` (StackOne's order id) is not looked up: the host
//! can place or decline it itself. A push without one names only BackCheck's check id, so the
//! plugin asks BackCheck for the check: if BackCheck answers 404, the push is declined as
//! unknown (the host answers 404 and stores nothing); otherwise the result is named by the
//! reference BackCheck keeps, or by the check id.

mod api;
mod status;

use std::time::Duration;

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderResult, PackageList, PackageQuery, PendingOrder, Plugin, PluginError,
    PluginMetadata, ResultValue, SettingSpec, export, http, log, settings, webhook,
};
use serde_json::json;

use api::{Check, CheckCandidate, CheckEvent, NewCheck, Packages, VendorPackage};
pub use status::{FINAL_STATUSES, status_value};
use status::{cancellation, check_result};

/// The header BackCheck signs its pushes in.
pub const SIGNATURE_HEADER: &str = "x-backcheck-signature";
/// The event of a push.
pub const UPDATED_EVENT: &str = "check.updated";
/// The longest wait for one check while polling, so one slow answer cannot use up the whole
/// call's deadline.
pub const POLL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the host may answer the package list from its cache: BackCheck's packages change
/// rarely.
pub const PACKAGES_MAX_AGE: Duration = Duration::from_secs(300);
/// How much longer the host may answer with the cached list while BackCheck is down.
pub const PACKAGES_STALE_IF_ERROR: Duration = Duration::from_secs(3600);

struct BackCheck;

/// The settings `metadata` declares (the crate docs say why only the API is required).
pub fn declared_settings() -> Vec<SettingSpec> {
    vec![
        SettingSpec::required(
            "base_url",
            "BackCheck's API, e.g. https://api.backcheck.example",
        ),
        SettingSpec::secret("api_token", "BackCheck API token"),
        SettingSpec::optional(
            "callback_url",
            "This product's callback route on the host; BackCheck then pushes status changes",
        ),
        SettingSpec::optional_secret(
            "webhook_secret",
            "Secret BackCheck signs its pushes with; without it pushes are refused",
        ),
        SettingSpec::optional(
            "packages",
            "A fixed catalogue as a JSON array of {id, name, description, checks}, answered without calling BackCheck",
        ),
    ]
}

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
            settings: declared_settings(),
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<PackageList, PluginError> {
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
        Ok(PackageList::fresh_for(
            packages.into_iter().map(VendorPackage::package).collect(),
            PACKAGES_MAX_AGE,
            PACKAGES_STALE_IF_ERROR,
        ))
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
        // A 422 (BackCheck refuses the check as sent) is `permanent` with BackCheck's own words,
        // which the recruiter sees in the `failed` result.
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
        if let Some(cancelled) = cancellation(&check) {
            return Err(cancelled);
        }
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
        let order = if event.check.has_reference() {
            event.check.order_ref()
        } else {
            match check(&api()?, &event.check.id) {
                Ok(known) => known.order_ref(),
                Err(PluginError::NotFound(_)) => {
                    return Ok(CallbackOutcome::unknown(format!(
                        "BackCheck has no check {} for this product",
                        event.check.id
                    )));
                }
                Err(e) => return Err(e),
            }
        };
        log::info(
            "check updated",
            &[("check", &event.check.id), ("status", &event.check.status)],
        );
        Ok(CallbackOutcome::with_results(
            CallbackResponse::json(200, &json!({"ok": true})),
            vec![OrderResult {
                order,
                result: check_result(&event.check),
            }],
        ))
    }

    fn poll_results(pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        let api = api()?.timeout(POLL_REQUEST_TIMEOUT);
        let mut results = Vec::new();
        for order in &pending {
            match check(&api, &order.external_id) {
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

/// The check `id` as BackCheck has it for this product's token; `not-found` if it has none.
fn check(api: &http::Client, id: &str) -> Result<Check, PluginError> {
    api.get(format!("/v1/checks/{}", http::encode_component(id)))
        .send()?
        .error_for_status()?
        .json()
}

export!(BackCheck);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The keys this crate's sources pass to `settings::…("key")`.
    fn keys_read() -> BTreeSet<String> {
        settings::keys_read_in(&[
            include_str!("lib.rs"),
            include_str!("api.rs"),
            include_str!("status.rs"),
        ])
    }

    #[test]
    fn every_key_the_plugin_reads_is_declared() {
        let specs = declared_settings();
        let declared: BTreeSet<String> = specs.iter().map(|s| s.name.clone()).collect();
        let read = keys_read();
        assert!(
            read.contains("base_url") && read.contains("packages"),
            "{read:?}"
        );
        assert_eq!(declared, read);
        let names = |keep: fn(&SettingSpec) -> bool| -> Vec<&str> {
            specs
                .iter()
                .filter(|s| keep(s))
                .map(|s| s.name.as_str())
                .collect()
        };
        assert_eq!(names(|s| s.required), ["base_url", "api_token"]);
        assert_eq!(names(|s| s.secret), ["api_token", "webhook_secret"]);
    }
}
