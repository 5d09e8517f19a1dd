//! BackCheck: an example background-check plugin.
//!
//! # The vendor API it speaks
//!
//! All calls carry `Authorization: Bearer <api_token>`.
//!
//! - `GET {base_url}/v1/packages` →
//!   `{"packages": [{"id", "name", "description", "checks": [{"id", "name"}]}]}`
//! - `POST {base_url}/v1/checks` with
//!   `{"package_id", "reference", "candidate": {"first_name", "last_name", "email"}}` →
//!   `{"id", "status", "report_url"}`. `reference` is StackOne's order id; the vendor answers
//!   the existing check for a reference it has seen.
//! - `GET {base_url}/v1/checks/{id}` → `{"id", "status", "report_url", "completed_at"}`, with
//!   `status` one of `pending`, `processing`, `clear`, `consider`, `suspended`, `canceled`,
//!   `expired`.
//!
//! BackCheck has no callbacks: the host runs `poll-results` on the product's schedule
//! (`poll_interval_s`), and the plugin reports checks that left `pending`.
//!
//! # Settings
//!
//! `base_url`, `api_token`; `packages` (optional JSON array of
//! `{"id", "name", "description", "checks": [{"id", "name"}]}`, answered without calling the
//! vendor).

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderRef, OrderResult, Package, PackageQuery, PackageTest, PendingOrder, Plugin,
    PluginError, PluginMetadata, ResultValue, export, http, log, settings,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

struct BackCheck;

#[derive(Deserialize)]
struct Packages {
    packages: Vec<VendorPackage>,
}

#[derive(Deserialize)]
struct VendorPackage {
    id: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    checks: Vec<VendorCheckType>,
}

#[derive(Deserialize)]
struct VendorCheckType {
    id: String,
    name: String,
}

#[derive(Serialize)]
struct NewCheck<'a> {
    package_id: &'a str,
    reference: &'a str,
    candidate: CheckCandidate<'a>,
}

#[derive(Serialize)]
struct CheckCandidate<'a> {
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    email: &'a str,
}

#[derive(Deserialize)]
struct Check {
    id: String,
    status: String,
    report_url: Option<String>,
    completed_at: Option<String>,
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
        let packages: Vec<VendorPackage> = match settings::get("packages") {
            Some(catalogue) => serde_json::from_str(&catalogue).map_err(|e| {
                PluginError::InvalidInput(format!(
                    "the `packages` setting is not a JSON catalogue: {e}"
                ))
            })?,
            None => {
                let base = settings::require("base_url")?;
                let p: Packages = http::Request::get(format!("{base}/v1/packages"))
                    .bearer(&settings::require("api_token")?)
                    .send()?
                    .error_for_status()?
                    .json()?;
                p.packages
            }
        };
        Ok(packages
            .into_iter()
            .map(|p| Package {
                id: p.id,
                name: p.name,
                description: p.description,
                tests: p
                    .checks
                    .into_iter()
                    .map(|c| PackageTest {
                        id: c.id,
                        name: c.name,
                        description: None,
                    })
                    .collect(),
            })
            .collect())
    }

    fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> {
        let package_id = order
            .package_id()
            .ok_or_else(|| PluginError::InvalidInput("the order names no package".into()))?;
        let email = order.candidate_email().ok_or_else(|| {
            PluginError::InvalidInput("the candidate has no e-mail address".into())
        })?;
        let base = settings::require("base_url")?;
        let body = NewCheck {
            package_id,
            reference: &order.id,
            candidate: CheckCandidate {
                first_name: order.candidate.first_name.as_deref(),
                last_name: order.candidate.last_name.as_deref(),
                email,
            },
        };
        let check: Check = http::Request::post(format!("{base}/v1/checks"))
            .bearer(&settings::require("api_token")?)
            .json(&body)?
            .send()?
            .error_for_status()?
            .json()?;
        log::info(
            "background check created",
            &[("order", &order.id), ("check", &check.id)],
        );
        let first = AssessmentResult {
            summary: Some("Background check requested".into()),
            ..AssessmentResult::status(ResultValue::Initiated, Some(check.status.clone()))
        };
        Ok(Fulfilment {
            external_id: check.id,
            test_url: None,
            first_result: Some(first),
        })
    }

    fn handle_callback(_request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        // BackCheck does not push: results come from `poll-results`.
        Ok(CallbackOutcome {
            response: CallbackResponse::json(404, &json!({"error": "BackCheck has no callbacks"})),
            results: vec![],
        })
    }

    fn poll_results(pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        let base = settings::require("base_url")?;
        let token = settings::require("api_token")?;
        let mut results = Vec::new();
        for order in pending {
            let check: Check =
                http::Request::get(format!("{base}/v1/checks/{}", order.external_id))
                    .bearer(&token)
                    .send()?
                    .error_for_status()?
                    .json()?;
            if let Some(result) = check_result(&check) {
                results.push(OrderResult {
                    order: OrderRef::ExternalId(check.id.clone()),
                    result,
                });
            }
        }
        Ok(results)
    }
}

/// The result of a check that left `pending`, or `None` while it is pending.
fn check_result(check: &Check) -> Option<AssessmentResult> {
    let (value, summary) = match check.status.as_str() {
        "pending" => return None,
        "processing" | "in_progress" => (ResultValue::InProgress, "The check is in progress"),
        "clear" => (ResultValue::Passed, "Clear: nothing found"),
        "consider" => (ResultValue::Failed, "Consider: findings need review"),
        "canceled" | "cancelled" => (ResultValue::Cancelled, "The check was cancelled"),
        "expired" => (
            ResultValue::Expired,
            "The candidate did not complete the check in time",
        ),
        other => (
            ResultValue::UnmappedValue(other.to_owned()),
            "See the report for the status",
        ),
    };
    Some(AssessmentResult {
        result_url: check.report_url.clone(),
        submission_date: check.completed_at.clone(),
        summary: Some(summary.into()),
        ..AssessmentResult::status(value, Some(check.status.clone()))
    })
}

export!(BackCheck);
