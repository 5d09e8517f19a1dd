//! The example plugins (`plugins/codetest`, `plugins/backcheck`), built from source, called one
//! export at a time in the real runtime against the demo vendor on a real socket: the SDK's
//! HTTP client and error mapping inside the sandbox, and each plugin's vendor protocol.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use assay::convert::order_from_json;
use assay_emulator::vendor::{DemoVendor, RunningVendor};
use assay_runtime::types::{
    CallbackHandled, CallbackOutcome, CallbackRequest, Header, Order, OrderKind, OrderRef,
    OrderResult, PackageQuery, PendingOrder, PluginError, ResultValue,
};
use assay_runtime::{AllowedHost, CallError, Plugin, ProductContext, Runtime, RuntimeOptions};
use assay_tests::fixtures::example_plugin_path;
use assay_wire::secret::{Redactor, Secret};
use hmac::{Hmac, Mac};
use http::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

const TOKEN: &str = "vendor-token";
const WEBHOOK_SECRET: &str = "vendor-webhook-secret";

async fn vendor() -> RunningVendor {
    DemoVendor::new(Secret::new(TOKEN), Secret::new(WEBHOOK_SECRET))
        .start()
        .await
        .expect("the demo vendor starts")
}

async fn load(name: &str) -> Arc<Plugin> {
    Runtime::new(RuntimeOptions::default())
        .expect("runtime")
        .load(&example_plugin_path(name))
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

/// A product context for `vendor`: its base URL, token and webhook secret, plus `extra`
/// settings (an empty value removes a setting).
fn ctx(vendor: &RunningVendor, extra: &[(&str, &str)]) -> ProductContext {
    let mut settings = BTreeMap::from([
        ("base_url".to_owned(), vendor.base_url()),
        ("api_token".to_owned(), TOKEN.to_owned()),
        ("webhook_secret".to_owned(), WEBHOOK_SECRET.to_owned()),
        (
            "callback_url".to_owned(),
            "http://127.0.0.1:9/v1/products/p/callbacks/x".to_owned(),
        ),
    ]);
    for (k, v) in extra {
        if v.is_empty() {
            settings.remove(*k);
        } else {
            settings.insert((*k).to_owned(), (*v).to_owned());
        }
    }
    let mut c = ProductContext::new("example");
    c.settings = Arc::new(
        settings
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
    );
    c.allowed_hosts = vec![vendor.base_url().parse::<AllowedHost>().expect("entry")].into();
    c.timeout = Duration::from_secs(10);
    c
}

fn query() -> PackageQuery {
    PackageQuery {
        account_id: "acc-1".into(),
        provider: Some("recruitee".into()),
    }
}

fn order(kind: OrderKind, id: &str, package: &str, first_name: &str) -> Order {
    let object = json!({
        "id": id,
        "account_id": "acc-1",
        "package": {"id": "stackone-package-id", "remote_id": package},
        "candidate": {
            "first_name": first_name,
            "last_name": "Lovelace",
            "emails": [{"type": "personal", "value": "ada@example.com"}]
        }
    });
    order_from_json(kind, &object, "", None, None).expect("a valid order")
}

fn plugin_error(e: &CallError) -> &PluginError {
    e.plugin_error()
        .unwrap_or_else(|| panic!("a plugin error, not {e:#}"))
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn callback(header: &str, signature: Option<String>, body: &Value) -> CallbackRequest {
    let body = body.to_string().into_bytes();
    let mut headers = vec![Header {
        name: "content-type".into(),
        value: b"application/json".to_vec(),
    }];
    if let Some(sig) = signature {
        headers.push(Header {
            name: header.into(),
            value: sig.into_bytes(),
        });
    }
    CallbackRequest {
        method: "POST".into(),
        path: "x".into(),
        query: None,
        headers,
        body,
    }
}

fn signed(header: &str, body: &Value) -> CallbackRequest {
    callback(header, Some(sign(body.to_string().as_bytes())), body)
}

/// The outcome of a callback the plugin handled (rather than declined).
fn handled(outcome: &CallbackOutcome) -> &CallbackHandled {
    match outcome {
        CallbackOutcome::Handled(h) => h,
        CallbackOutcome::Unknown(reason) => panic!("declined: {reason}"),
    }
}

fn status_of(outcome: &CallbackOutcome) -> u16 {
    handled(outcome).response.status
}

fn value_of(result: &OrderResult) -> (&ResultValue, Option<&str>) {
    let status = result.result.status.as_ref().expect("a status");
    (&status.value, status.source_value.as_deref())
}

#[tokio::test]
async fn codetest_lists_the_vendors_tests_or_its_fixed_catalogue() {
    let v = vendor().await;
    let plugin = load("codetest").await;
    let packages = plugin
        .list_packages(&ctx(&v, &[]), query())
        .await
        .expect("packages")
        .packages;
    let ids: Vec<&str> = packages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["ct-rust", "ct-sql"]);
    assert!(packages.iter().all(|p| p.tests.is_empty()));

    let calls = v.api_calls();
    let catalogue = r#"[{"id": "fixed-1", "name": "Fixed test"}]"#;
    let packages = plugin
        .list_packages(&ctx(&v, &[("packages", catalogue)]), query())
        .await
        .expect("packages")
        .packages;
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].name, "Fixed test");
    assert_eq!(v.api_calls(), calls, "the catalogue needs no vendor call");

    // The list comes with a freshness hint, 300 s and 3600 s unless the settings say otherwise.
    let hint = |extra: &[(&str, &str)]| {
        let c = ctx(&v, extra);
        let plugin = Arc::clone(&plugin);
        async move {
            let f = plugin
                .list_packages(&c, query())
                .await
                .expect("packages")
                .freshness
                .expect("a freshness hint");
            (f.max_age_s, f.stale_if_error_s)
        }
    };
    assert_eq!(hint(&[("packages", catalogue)]).await, (300, 3600));
    assert_eq!(
        hint(&[
            ("packages", catalogue),
            ("packages_max_age_s", "7"),
            ("packages_stale_if_error_s", "9")
        ])
        .await,
        (7, 9)
    );

    let err = plugin
        .list_packages(&ctx(&v, &[("packages", "[{oops")]), query())
        .await
        .expect_err("invalid catalogue");
    assert!(
        matches!(plugin_error(&err), PluginError::Misconfigured(m) if m.contains("`packages`")),
        "{err:#}"
    );
}

#[tokio::test]
async fn codetest_invites_once_per_order_however_often_it_is_called() {
    let v = vendor().await;
    let plugin = load("codetest").await;
    let c = ctx(&v, &[]);
    let first = plugin
        .fulfil_order(&c, order(OrderKind::Assessment, "ord-1", "ct-rust", "Ada"))
        .await
        .expect("fulfilled");
    let again = plugin
        .fulfil_order(&c, order(OrderKind::Assessment, "ord-1", "ct-rust", "Ada"))
        .await
        .expect("fulfilled again");
    assert_eq!(first.external_id, again.external_id);
    let invitations = v.invitations();
    assert_eq!(invitations.len(), 1, "one invitation for two calls");
    let inv = &invitations[0];
    assert_eq!(inv.id, first.external_id);
    assert_eq!(
        inv.reference, "ord-1",
        "StackOne's order id is the reference"
    );
    assert_eq!(
        inv.test_id, "ct-rust",
        "the package's remote_id is the test"
    );
    assert_eq!(inv.candidate_name, "Ada Lovelace");
    assert_eq!(first.test_url.as_deref(), Some(inv.test_url.as_str()));
    let initiated = first.first_result.expect("a first result");
    assert!(matches!(
        initiated.status.as_ref().map(|s| &s.value),
        Some(ResultValue::Initiated)
    ));
    assert_eq!(initiated.result_url, first.test_url);

    // A body past one write chunk (4 KiB) is streamed in pieces and arrives whole.
    let long_name = "x".repeat(10_000);
    plugin
        .fulfil_order(
            &c,
            order(OrderKind::Assessment, "ord-2", "ct-sql", &long_name),
        )
        .await
        .expect("fulfilled");
    let inv = v
        .invitations()
        .into_iter()
        .find(|i| i.reference == "ord-2")
        .expect("invited");
    assert_eq!(inv.candidate_name, format!("{long_name} Lovelace"));
}

#[tokio::test]
async fn vendor_failures_become_the_plugin_errors_the_host_acts_on() {
    let v = vendor().await;
    let plugin = load("codetest").await;
    let c = ctx(&v, &[]);
    let list = || plugin.list_packages(&c, query());

    v.fail_next(1, StatusCode::SERVICE_UNAVAILABLE, Some(7));
    let err = list().await.expect_err("503");
    assert!(
        matches!(plugin_error(&err), PluginError::UpstreamRetryable(r) if r.retry_after_ms == Some(7000)),
        "{err:#}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));

    v.fail_next(1, StatusCode::TOO_MANY_REQUESTS, None);
    let err = list().await.expect_err("429");
    assert!(
        matches!(plugin_error(&err), PluginError::UpstreamRetryable(_)),
        "{err:#}"
    );

    v.fail_next(1, StatusCode::UNAUTHORIZED, None);
    let err = list().await.expect_err("401");
    assert!(
        matches!(plugin_error(&err), PluginError::Unauthorized(m) if m.contains("401")),
        "{err:#}"
    );

    v.fail_next(1, StatusCode::UNPROCESSABLE_ENTITY, None);
    let err = list().await.expect_err("422");
    assert!(
        matches!(plugin_error(&err), PluginError::Permanent(m) if m.contains("injected failure")),
        "the message quotes the vendor: {err:#}"
    );

    assert!(list().await.is_ok(), "the failures were used up");

    let wrong_token = ctx(&v, &[("api_token", "not-the-token")]);
    let err = plugin
        .list_packages(&wrong_token, query())
        .await
        .expect_err("wrong token");
    assert!(matches!(plugin_error(&err), PluginError::Unauthorized(_)));

    let base = v.base_url();
    v.stop().await;
    let err = list().await.expect_err("nobody listens");
    assert!(
        matches!(plugin_error(&err), PluginError::UpstreamRetryable(r) if r.message.contains(&base)),
        "connection refused is retryable: {err:#}"
    );
}

#[tokio::test]
async fn hosts_outside_allowed_hosts_and_missing_settings_stop_the_call() {
    let v = vendor().await;
    let plugin = load("codetest").await;
    let mut c = ctx(&v, &[]);
    c.allowed_hosts = vec![
        "https://api.vendor.example"
            .parse::<AllowedHost>()
            .expect("entry"),
    ]
    .into();
    let calls = v.api_calls();
    let err = plugin.list_packages(&c, query()).await.expect_err("denied");
    assert!(
        matches!(plugin_error(&err), PluginError::Permanent(m) if m.contains("allowed_hosts")),
        "{err:#}"
    );
    assert_eq!(v.api_calls(), calls, "nothing reached the vendor");

    let err = plugin
        .list_packages(&ctx(&v, &[("base_url", "")]), query())
        .await
        .expect_err("no base_url");
    assert!(
        matches!(plugin_error(&err), PluginError::Misconfigured(m) if m.contains("`base_url`")),
        "{err:#}"
    );
    let err = plugin
        .fulfil_order(
            &ctx(&v, &[("callback_url", "")]),
            order(OrderKind::Assessment, "ord-1", "ct-rust", "Ada"),
        )
        .await
        .expect_err("no callback_url");
    assert!(
        matches!(plugin_error(&err), PluginError::Misconfigured(m) if m.contains("`callback_url`")),
        "{err:#}"
    );
    assert!(v.invitations().is_empty());
}

#[tokio::test]
async fn codetest_turns_a_signed_completion_into_a_scored_result() {
    let v = vendor().await;
    let plugin = load("codetest").await;
    let c = ctx(&v, &[]);
    let event = json!({
        "event": "attempt.completed",
        "invitation_id": "inv-7",
        "reference": "ord-7",
        "score": 45,
        "max_score": 50,
        "started_at": "2025-01-02T10:00:00Z",
        "submitted_at": "2025-01-02T11:00:00Z",
        "report_url": "https://codetest.example/reports/inv-7"
    });
    let outcome = plugin
        .handle_callback(&c, signed("x-codetest-signature", &event))
        .await
        .expect("handled");
    assert_eq!(status_of(&outcome), 200);
    assert_eq!(handled(&outcome).results.len(), 1);
    let result = &handled(&outcome).results[0];
    assert!(matches!(&result.order, OrderRef::OrderId(id) if id == "ord-7"));
    assert!(matches!(value_of(result).0, ResultValue::Passed));
    let score = result.result.score.as_ref().expect("a score");
    assert_eq!(
        (
            score.value.as_deref(),
            score.min.as_deref(),
            score.max.as_deref()
        ),
        (Some("90"), Some("0"), Some("100"))
    );
    assert_eq!(
        result.result.result_url.as_deref(),
        Some("https://codetest.example/reports/inv-7")
    );

    let strict = ctx(&v, &[("pass_threshold", "95")]);
    let outcome = plugin
        .handle_callback(&strict, signed("x-codetest-signature", &event))
        .await
        .expect("handled");
    assert!(matches!(
        value_of(&handled(&outcome).results[0]).0,
        ResultValue::Failed
    ));

    let forged = callback("x-codetest-signature", Some("00".repeat(32)), &event);
    let outcome = plugin.handle_callback(&c, forged).await.expect("handled");
    assert_eq!(status_of(&outcome), 401);
    assert!(
        handled(&outcome).results.is_empty(),
        "a forged callback records nothing"
    );
    let unsigned = callback("x-codetest-signature", None, &event);
    let outcome = plugin.handle_callback(&c, unsigned).await.expect("handled");
    assert_eq!(status_of(&outcome), 401);

    // Without a reference the plugin asks CodeTest; an invitation CodeTest does not know is
    // declined, so the host answers 404 and the vendor stops sending it.
    let mut unknown = event.clone();
    unknown["reference"] = Value::Null;
    let outcome = plugin
        .handle_callback(&c, signed("x-codetest-signature", &unknown))
        .await
        .expect("answered");
    assert!(
        matches!(&outcome, CallbackOutcome::Unknown(r) if r.contains("inv-7")),
        "{outcome:?}"
    );

    let other = json!({"event": "invitation.opened", "invitation_id": "inv-7"});
    let outcome = plugin
        .handle_callback(&c, signed("x-codetest-signature", &other))
        .await
        .expect("handled");
    assert_eq!(status_of(&outcome), 200);
    assert!(handled(&outcome).results.is_empty());

    let err = plugin
        .handle_callback(
            &ctx(&v, &[("pass_threshold", "seventy")]),
            signed("x-codetest-signature", &event),
        )
        .await
        .expect_err("a bad threshold");
    assert!(
        matches!(plugin_error(&err), PluginError::Misconfigured(m) if m.contains("`pass_threshold`")),
        "{err:#}"
    );
}

/// Whether `r` names the order of `check` (by the check id, or by StackOne's order id when the
/// vendor sends the reference back).
fn names(r: &OrderResult, check_id: &str, order_id: &str) -> bool {
    match &r.order {
        OrderRef::ExternalId(id) => id == check_id,
        OrderRef::OrderId(id) => id == order_id,
    }
}

fn pending(order_id: &str, external_id: &str) -> PendingOrder {
    PendingOrder {
        order_id: order_id.into(),
        external_id: external_id.into(),
        kind: OrderKind::BackgroundCheck,
        account_id: "acc-1".into(),
    }
}

#[tokio::test]
async fn backcheck_lists_packages_with_their_checks() {
    let v = vendor().await;
    let plugin = load("backcheck").await;
    let packages = plugin
        .list_packages(&ctx(&v, &[]), query())
        .await
        .expect("packages")
        .packages;
    assert_eq!(packages[0].id, "bc-standard");
    let tests: Vec<&str> = packages[0].tests.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tests, ["identity", "criminal", "employment"]);
}

#[tokio::test]
async fn backcheck_polls_report_finished_checks_only() {
    let v = vendor().await;
    let plugin = load("backcheck").await;
    let c = ctx(&v, &[]);
    let mut checks = Vec::new();
    for order_id in ["ord-1", "ord-2"] {
        let f = plugin
            .fulfil_order(
                &c,
                order(OrderKind::BackgroundCheck, order_id, "bc-basic", "Ada"),
            )
            .await
            .expect("fulfilled");
        let first = f.first_result.expect("a first result");
        assert!(matches!(
            first.status.map(|s| s.value),
            Some(ResultValue::Initiated)
        ));
        checks.push((order_id, f.external_id));
    }
    assert_eq!(v.checks().len(), 2);
    assert!(v.checks().iter().all(|c| c.package_id == "bc-basic"));
    let all: Vec<PendingOrder> = checks.iter().map(|(o, e)| pending(o, e)).collect();

    let found = plugin.poll_results(&c, all.clone()).await.expect("polled");
    assert!(found.is_empty(), "nothing has finished: {found:?}");

    assert!(v.set_check_status(&checks[0].1, "clear"));
    assert!(v.set_check_status(&checks[1].1, "processing"));
    let found = plugin.poll_results(&c, all.clone()).await.expect("polled");
    assert_eq!(found.len(), 1, "progress is not reported by polling");
    assert!(names(&found[0], &checks[0].1, checks[0].0));
    assert!(matches!(
        value_of(&found[0]),
        (ResultValue::Passed, Some("clear"))
    ));
    assert!(
        found[0]
            .result
            .result_url
            .as_deref()
            .is_some_and(|u| u.ends_with(&format!("/reports/{}", checks[0].1)))
    );

    // An unknown check is skipped; the others are still reported.
    assert!(v.set_check_status(&checks[1].1, "consider"));
    let mut with_unknown = vec![pending("ord-x", "chk-unknown")];
    with_unknown.extend(all.clone());
    let found = plugin.poll_results(&c, with_unknown).await.expect("polled");
    assert_eq!(found.len(), 2);
    assert!(found.iter().any(|r| names(r, &checks[1].1, checks[1].0)
        && matches!(value_of(r), (ResultValue::Failed, Some("consider")))));

    // A struggling vendor fails the poll as retryable when nothing was found.
    v.fail_next(1, StatusCode::BAD_GATEWAY, Some(2));
    let err = plugin.poll_results(&c, all.clone()).await.expect_err("502");
    assert!(
        matches!(plugin_error(&err), PluginError::UpstreamRetryable(r) if r.retry_after_ms == Some(2000)),
        "{err:#}"
    );
    v.fail_next(1, StatusCode::FORBIDDEN, None);
    let err = plugin.poll_results(&c, all).await.expect_err("403");
    assert!(matches!(plugin_error(&err), PluginError::Unauthorized(_)));
}

#[tokio::test]
async fn backcheck_accepts_signed_pushes_of_any_status() {
    let v = vendor().await;
    let plugin = load("backcheck").await;
    let c = ctx(&v, &[]);
    let event = json!({
        "event": "check.updated",
        "check": {"id": "chk-9", "reference": "ord-9", "status": "suspended",
                  "report_url": null, "completed_at": null}
    });
    let outcome = plugin
        .handle_callback(&c, signed("x-backcheck-signature", &event))
        .await
        .expect("handled");
    assert_eq!(status_of(&outcome), 200);
    assert_eq!(handled(&outcome).results.len(), 1);
    assert!(matches!(&handled(&outcome).results[0].order, OrderRef::OrderId(id) if id == "ord-9"));
    assert!(matches!(
        value_of(&handled(&outcome).results[0]),
        (ResultValue::UnmappedValue(v), Some("suspended")) if v == "suspended"
    ));

    let forged = callback(
        "x-backcheck-signature",
        Some(sign(b"something else")),
        &event,
    );
    let outcome = plugin.handle_callback(&c, forged).await.expect("handled");
    assert_eq!(status_of(&outcome), 401);
    assert!(handled(&outcome).results.is_empty());

    let outcome = plugin
        .handle_callback(
            &ctx(&v, &[("webhook_secret", "")]),
            signed("x-backcheck-signature", &event),
        )
        .await
        .expect("handled");
    assert_eq!(status_of(&outcome), 404, "pushes need a webhook_secret");
    assert!(handled(&outcome).results.is_empty());
}

#[tokio::test]
async fn a_vendor_echoing_the_token_leaves_no_trace_of_it_in_the_plugin_error() {
    use base64::Engine as _;
    let v = vendor().await;
    let plugin = load("codetest").await;
    let authorization = format!("Bearer {TOKEN}");
    let traces = [
        TOKEN.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(&authorization),
        hex::encode(&authorization),
    ];

    // Without a redactor the vendor's echo reaches the error: the probe's finding.
    let bare = ctx(&v, &[]);
    v.fail_next(1, StatusCode::INTERNAL_SERVER_ERROR, None);
    let err = plugin.list_packages(&bare, query()).await.expect_err("500");
    let shown = format!("{err:#}");
    assert!(traces.iter().all(|t| shown.contains(t.as_str())), "{shown}");

    // With the product's redactor (the host builds one from its secrets), none of it does.
    let mut scrubbed = ctx(&v, &[]);
    scrubbed.redactor = Arc::new(Redactor::new([&Secret::new(TOKEN)]));
    v.fail_next(1, StatusCode::INTERNAL_SERVER_ERROR, None);
    let err = plugin
        .list_packages(&scrubbed, query())
        .await
        .expect_err("500");
    let shown = format!("{err:#}");
    assert!(shown.contains("[redacted]"), "{shown}");
    for trace in &traces {
        assert!(!shown.contains(trace.as_str()), "{trace} in {shown}");
    }
}
