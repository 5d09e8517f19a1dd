#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::delivery::REDACTED;
use crate::order::OrderBuilder;
use crate::package::Package;

const KEY: &str = "so_api_key";
const WAIT: Duration = Duration::from_secs(10);

struct Patch<'a> {
    key: Option<&'a str>,
    account: Option<&'a str>,
    content_type: &'a str,
    body: String,
}

impl Default for Patch<'_> {
    fn default() -> Self {
        Self {
            key: Some(KEY),
            account: None,
            content_type: "application/json",
            body: valid_body().to_string(),
        }
    }
}

fn valid_body() -> Value {
    json!({
        "score": { "label": "Points", "value": "45", "min": "0", "max": "50" },
        "result": { "value": "passed", "source_value": "Passed" },
        "result_url": "https://vendor.example/r/1",
        "submission_date": "2024-05-01T10:40:00.000Z",
    })
}

/// An emulator with one registered assessment order; returns it and the order.
async fn running() -> (RunningEmulator, OrderWebhook) {
    let emulator = Emulator::new(vec![Secret::new("old_key"), Secret::new(KEY)]);
    let package = Package {
        id: Some("p1".into()),
        name: Some("Backend skills".into()),
        ..Package::default()
    };
    let order = OrderBuilder::new(OrderKind::Assessment, package).build();
    emulator.register_order(&order);
    (emulator.start().await.unwrap(), order)
}

async fn send(
    base: &str,
    path: &str,
    patch: Patch<'_>,
    order: &OrderWebhook,
) -> (StatusCode, http::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .patch(format!("{base}{path}"))
        .header("content-type", patch.content_type)
        .header("x-account-id", patch.account.unwrap_or(&order.account_id))
        .body(patch.body);
    if let Some(key) = patch.key {
        request = request.header(
            "authorization",
            assay_wire::basic_auth::header_value(&Secret::new(key)),
        );
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json::<Value>().await.unwrap();
    (status, headers, body)
}

fn assert_stackone_shape(body: &Value, status: StatusCode) {
    assert_eq!(body["statusCode"], status.as_u16(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(
        crate::schema::validate("UpdateResult", body).is_empty(),
        "{body}"
    );
    assert!(
        timestamp.ends_with('Z') && timestamp.len() == 24,
        "{timestamp}"
    );
}

#[tokio::test]
async fn accepts_a_valid_result_and_records_it() {
    let (so, order) = running().await;
    let path = OrderKind::Assessment.result_path(&order.order_id);
    let (status, _, body) = send(&so.base_url(), &path, Patch::default(), &order).await;
    assert_eq!(status, StatusCode::OK);
    assert_stackone_shape(&body, StatusCode::OK);
    assert_eq!(body["message"], "Record updated successfully.");

    let deliveries = so.wait_for_deliveries(1, WAIT).await.unwrap();
    let d = &deliveries[0];
    assert_eq!(
        (d.sequence, d.kind, d.order_id.as_str()),
        (1, OrderKind::Assessment, order.order_id.as_str())
    );
    assert_eq!(d.account_id.as_deref(), Some(order.account_id.as_str()));
    assert_eq!(d.json.as_ref(), Some(&valid_body()));
    assert!(d.violations.is_empty() && d.accepted() && !d.scripted);
    assert_eq!(d.header("authorization"), Some(REDACTED));
    assert!(!format!("{d:?}").contains(&assay_wire::basic_auth::header_value(&Secret::new(KEY))));
    let view = so.recruiter_view();
    assert_eq!(
        view.entry(&order.order_id)
            .and_then(|e| e.score.as_ref()?.percent),
        Some(90.0)
    );
}

#[tokio::test]
async fn refuses_wrong_or_bare_keys_with_401() {
    let (so, order) = running().await;
    let path = OrderKind::Assessment.result_path(&order.order_id);
    for key in [Some("wrong"), None] {
        let (status, _, body) = send(
            &so.base_url(),
            &path,
            Patch {
                key,
                ..Patch::default()
            },
            &order,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_stackone_shape(&body, status);
    }
    // `base64(key)` without the colon is not the credential StackOne documents.
    use base64::Engine as _;
    let bare = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    );
    let response = reqwest::Client::new()
        .patch(format!("{}{path}", so.base_url()))
        .header("authorization", bare)
        .header("x-account-id", &order.account_id)
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let deliveries = so.wait_for_deliveries(3, WAIT).await.unwrap();
    let statuses: Vec<u16> = deliveries.iter().map(|d| d.status.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401]);
    assert!(
        so.recruiter_view()
            .entry(&order.order_id)
            .unwrap()
            .pending()
    );
}

#[tokio::test]
async fn requires_account_header_and_json() {
    let (so, order) = running().await;
    let path = OrderKind::Assessment.result_path(&order.order_id);
    let no_account = reqwest::Client::new()
        .patch(format!("{}{path}", so.base_url()))
        .header(
            "authorization",
            assay_wire::basic_auth::header_value(&Secret::new(KEY)),
        )
        .json(&valid_body())
        .send()
        .await
        .unwrap();
    assert_eq!(no_account.status(), StatusCode::BAD_REQUEST);
    let body: Value = no_account.json().await.unwrap();
    assert_stackone_shape(&body, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("x-account-id"));

    let (status, _, _) = send(
        &so.base_url(),
        &path,
        Patch {
            content_type: "text/plain",
            ..Patch::default()
        },
        &order,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = send(
        &so.base_url(),
        &path,
        Patch {
            body: "{nope".into(),
            ..Patch::default()
        },
        &order,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let charset = Patch {
        content_type: "application/json; charset=utf-8",
        ..Patch::default()
    };
    assert_eq!(
        send(&so.base_url(), &path, charset, &order).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn schema_violations_are_422_with_each_listed() {
    let (so, order) = running().await;
    let path = OrderKind::Assessment.result_path(&order.order_id);
    let mut bad = valid_body();
    bad["score"]["value"] = json!(45);
    bad["result"]["value"] = json!("excellent");
    let (status, _, body) = send(
        &so.base_url(),
        &path,
        Patch {
            body: bad.to_string(),
            ..Patch::default()
        },
        &order,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_stackone_shape(&body, status);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("/score/value") && message.contains("/result/value"),
        "{message}"
    );
    let delivery = &so.wait_for_deliveries(1, WAIT).await.unwrap()[0];
    assert_eq!(delivery.violations.len(), 2, "{:?}", delivery.violations);
    assert!(
        so.recruiter_view()
            .entry(&order.order_id)
            .unwrap()
            .pending()
    );
}

#[tokio::test]
async fn unknown_order_wrong_account_or_family_is_404() {
    let (so, order) = running().await;
    let base = so.base_url();
    let unknown = OrderKind::Assessment.result_path("no-such-order");
    assert_eq!(
        send(&base, &unknown, Patch::default(), &order).await.0,
        StatusCode::NOT_FOUND
    );
    let path = OrderKind::Assessment.result_path(&order.order_id);
    let other_account = Patch {
        account: Some("999"),
        ..Patch::default()
    };
    assert_eq!(
        send(&base, &path, other_account, &order).await.0,
        StatusCode::NOT_FOUND
    );
    let other_family = OrderKind::BackgroundCheck.result_path(&order.order_id);
    assert_eq!(
        send(&base, &other_family, Patch::default(), &order).await.0,
        StatusCode::NOT_FOUND
    );
    so.set_reject_unknown_orders(false);
    assert_eq!(
        send(&base, &unknown, Patch::default(), &order).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scripted_429_then_success() {
    let (so, order) = running().await;
    let path = OrderKind::Assessment.result_path(&order.order_id);
    so.script(
        ScriptTarget::Order(order.order_id.clone()),
        ScriptedResponse::too_many_requests(2),
    );
    so.script(ScriptTarget::Any, ScriptedResponse::unavailable());
    let (status, headers, body) = send(&so.base_url(), &path, Patch::default(), &order).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("2")
    );
    assert_stackone_shape(&body, status);
    assert_eq!(
        send(&so.base_url(), &path, Patch::default(), &order)
            .await
            .0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(so.scripted_pending(), 0);
    assert_eq!(
        send(&so.base_url(), &path, Patch::default(), &order)
            .await
            .0,
        StatusCode::OK
    );
    let accepted = so.wait_for_accepted(&order.order_id, WAIT).await.unwrap();
    assert_eq!(accepted.sequence, 3);
    let scripted: Vec<bool> = so
        .deliveries_for(&order.order_id)
        .iter()
        .map(|d| d.scripted)
        .collect();
    assert_eq!(scripted, [true, true, false]);
}

#[tokio::test]
async fn waiters_wake_on_arrival() {
    let (so, order) = running().await;
    let waiter = {
        let emulator = so.emulator.clone();
        let id = order.order_id.clone();
        tokio::spawn(async move { emulator.wait_for_accepted(&id, WAIT).await })
    };
    // Send only once the waiter is subscribed, so the delivery must wake it.
    let subscribed = async {
        while so.state.delivered.receiver_count() == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, subscribed).await.unwrap();
    let path = OrderKind::Assessment.result_path(&order.order_id);
    assert_eq!(
        send(&so.base_url(), &path, Patch::default(), &order)
            .await
            .0,
        StatusCode::OK
    );
    let delivery = waiter.await.unwrap().unwrap();
    assert_eq!(delivery.order_id, order.order_id);
}

#[tokio::test]
async fn waiting_times_out_with_a_count() {
    let emulator = Emulator::new(vec![Secret::new(KEY)]);
    let within = Duration::from_millis(50);
    let err = emulator.wait_for_deliveries(1, within).await.unwrap_err();
    assert_eq!((err.within, err.received), (within, 0));
}

#[tokio::test]
async fn connector_meta_needs_the_key() {
    let (so, _) = running().await;
    let url = format!(
        "{}/connectors/meta/recruitee?include=field_path,resources",
        so.base_url()
    );
    let client = reqwest::Client::new();
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let meta: Value = client
        .get(&url)
        .header(
            "authorization",
            assay_wire::basic_auth::header_value(&Secret::new(KEY)),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "provider",
        "provider_name",
        "category",
        "active",
        "models",
        "resources",
    ] {
        assert!(meta.get(key).is_some(), "{key} missing from {meta}");
    }
    assert!(
        so.deliveries().is_empty(),
        "meta calls are not result deliveries"
    );
}

#[tokio::test]
async fn stop_closes_the_listener() {
    let (so, _) = running().await;
    let base = so.base_url();
    so.stop().await.unwrap();
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/connectors/meta/x"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn handler_without_a_socket() {
    let emulator = Emulator::new(vec![Secret::new(KEY)]);
    emulator.set_reject_unknown_orders(false);
    let request = http::Request::builder()
        .method("PATCH")
        .uri("/unified/ats/background_checks/orders/o9/result")
        .header(
            "authorization",
            assay_wire::basic_auth::header_value(&Secret::new(KEY)),
        )
        .header("x-account-id", "acc")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            valid_body().to_string(),
        )))
        .unwrap();
    let response = handler::handle(&emulator.state, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(emulator.deliveries()[0].kind, OrderKind::BackgroundCheck);
}
