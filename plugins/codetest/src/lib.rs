//! CodeTest: an example assessment plugin for a coding-test vendor.
//!
//! # The vendor API it speaks
//!
//! Every call carries `Authorization: Bearer <api_token>`; paths are under `base_url`.
//!
//! | call | request | answer |
//! |---|---|---|
//! | `GET /api/tests` | | `{"tests": [{"id", "title", "description"}]}` |
//! | `POST /api/invitations` | header `Idempotency-Key: <StackOne order id>`; `{"test_id", "reference", "candidate": {"name", "email"}, "callback_url"}` | `201` (or `200` for a reference seen before) `{"id", "test_url", "status", "reference"}` |
//! | `GET /api/invitations/{id}` | | the invitation, as above; 404 if CodeTest has none of that id for this token |
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
//! What `metadata` declares; the host checks each product's settings against it when it loads
//! them, and refuses a product that leaves out a required key or writes a secret literally
//! (it must be an `env:` or `file:` reference). Every CodeTest product needs the first four:
//! no order can be placed without the API and the callback route, and no result can come back
//! without the webhook secret.
//!
//! | key | required | secret | used by | |
//! |---|---|---|---|---|
//! | `base_url` | yes | | list-packages, fulfil-order, handle-callback (lookups) | the vendor API, e.g. `https://api.codetest.example` |
//! | `api_token` | yes | yes | list-packages, fulfil-order, handle-callback (lookups) | CodeTest API token |
//! | `callback_url` | yes | | fulfil-order | this host's callback route, `https://<host>/v1/products/<product>/callbacks/attempts` |
//! | `webhook_secret` | yes | yes | handle-callback | secret the vendor signs callbacks with |
//! | `pass_threshold` | | | handle-callback | percent needed to pass, `0`–`100`; default [`DEFAULT_PASS_THRESHOLD`] |
//! | `packages` | | | list-packages | JSON array `[{"id", "name", "description"}]`: a fixed catalogue answered without calling the vendor |
//!
//! The package list, from the vendor or from `packages`, may be reused by the host for
//! [`PACKAGES_MAX_AGE`], and for [`PACKAGES_STALE_IF_ERROR`] more while CodeTest is down; a
//! change of settings starts afresh.
//!
//! # Fulfilment failures
//!
//! A 422 from CodeTest (it refuses the invitation as sent) is `permanent` with CodeTest's own
//! message, and an unknown test (404) is `not-found`: either way the order is parked and the
//! recruiter sees a `failed` result saying why. A setting that is missing or unusable when a
//! call needs it is `misconfigured`: the host retries the order once the operator has fixed
//! it.
//!
//! # Callback answers
//!
//! | the request | the answer | results |
//! |---|---|---|
//! | not a `POST` | 405 | none |
//! | missing or wrong signature | 401 `{"error": "bad signature"}` | none |
//! | signed, but not JSON of the shape above | 400 | none |
//! | another event | 200 `{"ok": true, "ignored": "<event>"}` | none |
//! | `attempt.completed` with a `reference` | 200 `{"ok": true}` | one, named by the order id, once the host stored it |
//! | `attempt.completed` without a `reference`, for an invitation CodeTest has | 200 `{"ok": true}` | one, named by the invitation's `reference` if CodeTest keeps one, else its id |
//! | `attempt.completed` without a `reference`, for an invitation CodeTest answers 404 for | declined as unknown: the host answers 404 and stores nothing | none |
//!
//! An event that carries a `reference` is not looked up: the reference is StackOne's order id,
//! which the host can place (or decline) itself, so the common case costs no call to CodeTest.
//!
//! A bad signature is answered with a 401 *response* rather than an `unauthorized` error: the
//! host turns that error into a 502 ("the vendor refused our credentials"), which would tell the
//! caller the opposite of what happened. A missing `webhook_secret` or an invalid
//! `pass_threshold` is `misconfigured`: the host answers 503 naming the product, and CodeTest
//! retries a 5xx, so no result is lost while the operator fixes the setting.

mod api;
mod attempt;

use std::time::Duration;

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderResult, PackageList, PackageQuery, PendingOrder, Plugin, PluginError,
    PluginMetadata, ResultValue, SettingSpec, export, http, log, settings, webhook,
};
use serde_json::json;

use api::{AttemptEvent, CatalogueEntry, Invitation, InvitedCandidate, NewInvitation, Tests};
pub use attempt::DEFAULT_PASS_THRESHOLD;
use attempt::attempt_result;

/// The header CodeTest signs its callbacks in.
pub const SIGNATURE_HEADER: &str = "x-codetest-signature";
/// The event that carries a finished attempt.
pub const COMPLETED_EVENT: &str = "attempt.completed";
/// How long the host may answer the package list from its cache: CodeTest's catalogue changes
/// rarely. The setting `packages_max_age_s` overrides it (`0`: never cache).
pub const PACKAGES_MAX_AGE: Duration = Duration::from_secs(300);
/// How much longer the host may answer with the cached list while CodeTest is down. The
/// setting `packages_stale_if_error_s` overrides it.
pub const PACKAGES_STALE_IF_ERROR: Duration = Duration::from_secs(3600);

struct CodeTest;

/// The settings `metadata` declares (the crate docs say why these are required).
pub fn declared_settings() -> Vec<SettingSpec> {
    vec![
        SettingSpec::required(
            "base_url",
            "CodeTest's API, e.g. https://api.codetest.example",
        ),
        SettingSpec::secret("api_token", "CodeTest API token"),
        SettingSpec::required(
            "callback_url",
            "This product's callback route on the host, where CodeTest reports attempts",
        ),
        SettingSpec::secret("webhook_secret", "Secret CodeTest signs its callbacks with"),
        SettingSpec::optional(
            "pass_threshold",
            "Percent needed to pass, 0-100; default 70",
        ),
        SettingSpec::optional(
            "packages",
            "A fixed catalogue as a JSON array of {id, name, description}, answered without calling CodeTest",
        ),
        SettingSpec::optional(
            "packages_max_age_s",
            "Seconds the host may reuse the package list; default 300, 0 never",
        ),
        SettingSpec::optional(
            "packages_stale_if_error_s",
            "Seconds past that the host may still answer it while CodeTest is down; default 3600",
        ),
    ]
}

/// The vendor's API, from the settings.
fn api() -> Result<http::Client, PluginError> {
    Ok(http::Client::new(settings::require("base_url")?).bearer(&settings::require("api_token")?))
}

/// The pass mark, in percent; a value outside `0..=100` is a configuration problem.
fn pass_threshold() -> Result<f64, PluginError> {
    let threshold = settings::parse::<f64>("pass_threshold")?.unwrap_or(DEFAULT_PASS_THRESHOLD);
    if (0.0..=100.0).contains(&threshold) {
        Ok(threshold)
    } else {
        Err(PluginError::Misconfigured(
            "the setting `pass_threshold` must be between 0 and 100".into(),
        ))
    }
}

impl Plugin for CodeTest {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "codetest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "CodeTest coding assessments".into(),
            kinds: vec![OrderKind::Assessment],
            settings: declared_settings(),
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<PackageList, PluginError> {
        let packages = match settings::json::<Vec<CatalogueEntry>>("packages")? {
            Some(catalogue) => catalogue.into_iter().map(CatalogueEntry::package).collect(),
            None => {
                let tests: Tests = api()?
                    .get("/api/tests")
                    .send()?
                    .error_for_status()?
                    .json()?;
                tests.tests.into_iter().map(|t| t.package()).collect()
            }
        };
        let secs = |s: Option<u32>, default| s.map_or(default, |s| Duration::from_secs(s.into()));
        Ok(PackageList::fresh_for(
            packages,
            secs(settings::parse("packages_max_age_s")?, PACKAGES_MAX_AGE),
            secs(
                settings::parse("packages_stale_if_error_s")?,
                PACKAGES_STALE_IF_ERROR,
            ),
        ))
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
        // A 422 (CodeTest refuses the invitation as sent) is `permanent` with CodeTest's own
        // words, which the recruiter sees in the `failed` result.
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
        let secret = settings::require("webhook_secret")?;
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
        let threshold = pass_threshold()?;
        let order = if event.has_reference() {
            event.order_ref()
        } else {
            match invitation(&event.invitation_id) {
                Ok(invitation) => invitation.order_ref(),
                Err(PluginError::NotFound(_)) => {
                    return Ok(CallbackOutcome::unknown(format!(
                        "CodeTest has no invitation {} for this product",
                        event.invitation_id
                    )));
                }
                Err(e) => return Err(e),
            }
        };
        let result = attempt_result(&event, threshold);
        log::info("attempt completed", &[("invitation", &event.invitation_id)]);
        Ok(CallbackOutcome::with_results(
            CallbackResponse::json(200, &json!({"ok": true})),
            vec![OrderResult { order, result }],
        ))
    }

    fn poll_results(_pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        // CodeTest calls back; nothing to poll.
        Ok(vec![])
    }
}

/// The invitation `id` as CodeTest has it for this product's token; `not-found` if it has
/// none.
fn invitation(id: &str) -> Result<Invitation, PluginError> {
    api()?
        .get(format!("/api/invitations/{}", http::encode_component(id)))
        .send()?
        .error_for_status()?
        .json()
}

export!(CodeTest);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The keys this crate's sources pass to `settings::…("key")`.
    fn keys_read() -> BTreeSet<String> {
        settings::keys_read_in(&[
            include_str!("lib.rs"),
            include_str!("api.rs"),
            include_str!("attempt.rs"),
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
        assert_eq!(
            names(|s| s.required),
            ["base_url", "api_token", "callback_url", "webhook_secret"]
        );
        assert_eq!(names(|s| s.secret), ["api_token", "webhook_secret"]);
    }
}
