//! Quiz: the smallest complete Assay plugin, the one the SDK's tutorial walks through.
//!
//! The vendor API it speaks (a bearer token on every call):
//! `GET /quizzes` → `[{"id", "title"}]`;
//! `POST /sessions` with `{"quiz_id", "email", "callback_url"}` and an `Idempotency-Key`
//! header → `{"id", "url"}`;
//! and, when the candidate is done, a `POST` to `callback_url` signed with
//! `x-quiz-signature: hex(HMAC-SHA256(webhook_secret, body))`:
//! `{"session_id", "percent", "report_url"}`.

use std::time::Duration;

use assay_plugin_sdk::{
    AssessmentResult, CallbackOutcome, CallbackRequest, CallbackResponse, Fulfilment, Order,
    OrderKind, OrderRef, OrderResult, Package, PackageList, PackageQuery, PendingOrder, Plugin,
    PluginError, PluginMetadata, ResultValue, Score, SettingSpec, export, http, settings, webhook,
};
use serde::Deserialize;
use serde_json::json;

struct Quiz;

#[derive(Deserialize)]
struct VendorQuiz {
    id: String,
    title: String,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    url: String,
}

#[derive(Deserialize)]
struct Finished {
    session_id: String,
    percent: u8,
    report_url: String,
}

/// The vendor's API, from the product's settings.
fn api() -> Result<http::Client, PluginError> {
    Ok(http::Client::new(settings::require("base_url")?).bearer(&settings::require("api_token")?))
}

impl Plugin for Quiz {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            name: "quiz".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Ten-minute quizzes".into(),
            kinds: vec![OrderKind::Assessment],
            // The host refuses a configuration that misses one of the required settings, or
            // writes a secret literally, when it loads it.
            settings: vec![
                SettingSpec::required("base_url", "The Quiz API, e.g. https://api.quiz.example"),
                SettingSpec::secret("api_token", "Bearer token for the Quiz API"),
                SettingSpec::secret("webhook_secret", "Secret Quiz signs its callbacks with"),
                SettingSpec::required(
                    "callback_url",
                    "This product's callback route on the host, for Quiz to call",
                ),
            ],
        }
    }

    fn list_packages(_query: PackageQuery) -> Result<PackageList, PluginError> {
        let quizzes: Vec<VendorQuiz> = api()?.get("/quizzes").send()?.error_for_status()?.json()?;
        let packages = quizzes
            .into_iter()
            .map(|q| Package::new(q.id, q.title))
            .collect();
        // Quizzes change rarely: the host may answer from its cache for five minutes, and for
        // an hour more while the Quiz API is down.
        Ok(PackageList::fresh_for(
            packages,
            Duration::from_secs(300),
            Duration::from_secs(3600),
        ))
    }

    fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> {
        let quiz_id = order
            .package_id()
            .ok_or_else(|| PluginError::InvalidInput("the order names no package".into()))?;
        let email = order
            .candidate_email()
            .ok_or_else(|| PluginError::InvalidInput("the candidate has no e-mail".into()))?;
        // StackOne's order id as the idempotency key: a second call for the same order gets
        // the same session back instead of inviting the candidate twice.
        let session: Session = api()?
            .post("/sessions")
            .header("idempotency-key", &order.id)
            .json(&json!({
                "quiz_id": quiz_id,
                "email": email,
                "callback_url": settings::require("callback_url")?,
            }))?
            .send()?
            .error_for_status()?
            .json()?;
        Ok(Fulfilment {
            external_id: session.id,
            test_url: Some(session.url.clone()),
            first_result: Some(AssessmentResult {
                result_url: Some(session.url),
                ..AssessmentResult::status(ResultValue::Initiated, None)
            }),
        })
    }

    fn handle_callback(request: CallbackRequest) -> Result<CallbackOutcome, PluginError> {
        let secret = settings::require("webhook_secret")?;
        let genuine = request
            .header("x-quiz-signature")
            .is_some_and(|sig| webhook::verify_hmac_sha256_hex(&secret, &request.body, sig));
        if !genuine {
            return Ok(CallbackOutcome::reply(CallbackResponse::json(
                401,
                &json!({"error": "bad signature"}),
            )));
        }
        let done: Finished = serde_json::from_slice(&request.body)
            .map_err(|e| PluginError::InvalidInput(format!("not a quiz event: {e}")))?;
        let value = if done.percent >= 70 {
            ResultValue::Passed
        } else {
            ResultValue::Failed
        };
        Ok(CallbackOutcome::with_results(
            CallbackResponse::json(200, &json!({"ok": true})),
            vec![OrderResult {
                order: OrderRef::ExternalId(done.session_id),
                result: AssessmentResult {
                    score: Some(Score::percent(f64::from(done.percent))),
                    result_url: Some(done.report_url),
                    ..AssessmentResult::status(value, None)
                },
            }],
        ))
    }

    fn poll_results(_pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> {
        // Quiz calls back; there is nothing to poll.
        Ok(vec![])
    }
}

export!(Quiz);
