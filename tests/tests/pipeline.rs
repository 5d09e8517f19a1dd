//! Assay's main job end to end: StackOne (the emulator) lists packages and sends orders, the
//! host fulfils them through the real example plugins against the demo vendor, and results
//! reach StackOne schema-valid. Then the failure paths.

use std::time::Duration;

use assay_emulator::{self as emulator, ScriptTarget, ScriptedResponse};
use assay_store::{OrderFilter, StoreReader};
use assay_tests::harness::{Deployment, WAIT};
use serde_json::Value;

#[tokio::test]
async fn package_lists_are_stackone_shaped() {
    let d = Deployment::start().await;
    for product in ["codetest", "backcheck"] {
        // fetch_packages validates the answer against StackOne's OpenAPI schema.
        let page = emulator::fetch_packages(
            &d.url(),
            product,
            "acc-1",
            "recruitee",
            &d.secrets.package_key,
            &d.secrets.whsec,
        )
        .await
        .unwrap_or_else(|e| panic!("{product}: {e}"));
        assert!(!page.data.is_empty(), "{product} lists packages");
    }
    let raw: Value = d
        .package_list_request(
            &reqwest::Client::new(),
            "backcheck",
            br#"{"account_id":"a"}"#,
        )
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(raw["next"], Value::Null);
    assert_eq!(raw["data"][0]["id"], "bc-standard");
    assert_eq!(raw["data"][0]["tests"][1]["name"], "Criminal record");
}

#[tokio::test]
async fn an_assessment_goes_from_order_to_recruiter_view() {
    assessment_story(&Deployment::start().await).await;
}

/// An order of `codetest` from StackOne's webhook to the recruiter's view of its score, with
/// whichever build of the plugin `d` runs (Rust, TypeScript).
pub(crate) async fn assessment_story(d: &Deployment) {
    let order = d.order("codetest", 1).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    let invitation = d
        .eventually("the vendor invitation", || {
            d.vendor.invitations().into_iter().next()
        })
        .await;
    assert_eq!(
        invitation.reference, order.order_id,
        "the order id is the vendor's idempotency reference"
    );
    assert_eq!(invitation.test_id, "ct-rust");
    assert!(invitation.candidate_email.contains('@'));
    // The first result (initiated, with the test link) arrives before the candidate finishes.
    let first = d
        .stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("initiated delivered");
    assert_eq!(
        first
            .json
            .as_ref()
            .and_then(|j| j.pointer("/result/value"))
            .and_then(Value::as_str),
        Some("initiated")
    );
    assert_eq!(
        first.header("x-account-id"),
        Some(order.account_id.as_str())
    );
    assert_eq!(
        d.vendor
            .complete_invitation(&invitation.id, 45, 50)
            .await
            .expect("callback")
            .as_u16(),
        200
    );
    d.stackone
        .wait_for_accepted_count(&order.order_id, 2, WAIT)
        .await
        .expect("final result delivered");
    let deliveries = d.stackone.deliveries_for(&order.order_id);
    assert!(
        deliveries.iter().all(|x| x.violations.is_empty()),
        "schema-valid: {:?}",
        deliveries.iter().map(|x| &x.violations).collect::<Vec<_>>()
    );
    let last = deliveries
        .last()
        .and_then(|x| x.json.clone())
        .expect("json");
    assert_eq!(last["score"]["value"], "90", "45 of 50 is 90%");
    assert_eq!(last["result"]["value"], "passed");
    assert!(
        last["result_url"]
            .as_str()
            .expect("link")
            .ends_with(&format!("/reports/{}", invitation.id))
    );
    let view = d.stackone.recruiter_view().to_string();
    assert!(view.contains("90%"), "{view}");
}

#[tokio::test]
async fn a_background_check_is_polled_to_its_result() {
    background_check_story(&Deployment::start().await).await;
}

/// An order of `backcheck` from StackOne's webhook to its final result, found by polling, with
/// whichever build of the plugin `d` runs (Rust, Python).
pub(crate) async fn background_check_story(d: &Deployment) {
    let order = d.order("backcheck", 2).await;
    assert_eq!(d.send("backcheck", &order).await, 200);
    let check = d
        .eventually("the vendor check", || d.vendor.checks().into_iter().next())
        .await;
    assert_eq!(check.reference, order.order_id);
    d.stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("initiated");
    assert!(d.vendor.set_check_status(&check.id, "consider"));
    d.stackone
        .wait_for_value(&order.order_id, "failed", WAIT)
        .await
        .expect("final result delivered");
    let last = d
        .stackone
        .deliveries_for(&order.order_id)
        .last()
        .and_then(|x| x.json.clone())
        .expect("json");
    assert_eq!(last["result"]["source_value"], "consider");
    assert!(
        d.stackone.deliveries_for(&order.order_id)[0]
            .path
            .starts_with("/unified/ats/background_checks/orders/")
    );
}

#[tokio::test]
async fn duplicate_webhooks_change_nothing() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 3).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    assert_eq!(
        d.send("codetest", &order).await,
        200,
        "a duplicate is acknowledged"
    );
    d.stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("delivered");
    let reader = StoreReader::open(d.store_path()).expect("reader");
    let orders = reader
        .list_orders(OrderFilter::default())
        .await
        .expect("list");
    assert_eq!(orders.len(), 1, "one order for two deliveries");
    let detail = reader
        .get_order(orders[0].id)
        .await
        .expect("get")
        .expect("order");
    assert_eq!(detail.events.len(), 1, "the duplicate changed nothing");
    assert_eq!(d.vendor.invitations().len(), 1, "the vendor was asked once");
}

async fn status_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn every_rejection_has_its_status_and_message() {
    let d = Deployment::start_with(|c| {
        c.push_str("\n[products.ghost]\nplugin = \"ghost.wasm\"\nkind = \"assessment\"\nwebhook_secrets = [\"env:T_WHSEC\"]\npackage_list_keys = [\"env:T_PKG\"]\n");
    })
    .await;
    let client = reqwest::Client::new();
    let body = br#"{"account_id":"a","provider":"recruitee"}"#;
    let sig = assay_wire::signature::sign(body, &d.secrets.whsec);
    let auth = assay_wire::basic_auth::header_value(&d.secrets.package_key);
    let post = |path: &str| client.post(format!("{}{path}", d.url()));

    let (s, b) = status_of(
        post("/v1/products/codetest/packages")
            .header("x-stackone-signature", &sig)
            .body(&body[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "no Basic auth"
    );
    let (s, _) = status_of(
        post("/v1/products/codetest/packages")
            .header("authorization", &auth)
            .header("x-stackone-signature", "AAAA")
            .body(&body[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 401, "bad signature");
    let (s, b) = status_of(
        post("/v1/products/nope/packages")
            .header("authorization", &auth)
            .header("x-stackone-signature", &sig)
            .body(&body[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("unknown_product"))
    );
    let big = vec![b'x'; 70_000];
    let (s, _) = status_of(
        post("/v1/products/codetest/webhooks")
            .body(big)
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 413, "over max_body_bytes");
    let (s, b) = status_of(
        post("/v1/products/ghost/packages")
            .header("authorization", &auth)
            .header("x-stackone-signature", &sig)
            .body(&body[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 503, "plugin not loaded");
    assert!(
        b["error"]["message"]
            .as_str()
            .expect("message")
            .contains("ghost"),
        "{b}"
    );
    let missing_account = br#"{"provider":"recruitee"}"#;
    let (s, b) = status_of(
        post("/v1/products/codetest/packages")
            .header("authorization", &auth)
            .header(
                "x-stackone-signature",
                assay_wire::signature::sign(missing_account, &d.secrets.whsec),
            )
            .body(&missing_account[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .expect("message")
            .contains("account_id"),
        "{b}"
    );
    // A webhook whose order lacks an id: 400 naming the field.
    let no_id = br#"{"event":"ats_assessments.created","account_id":"a","data":{"candidate":{"first_name":"A"}}}"#;
    let status = emulator::post_webhook(
        &d.url(),
        "codetest",
        bytes::Bytes::from_static(no_id),
        Some(&assay_wire::signature::sign(no_id, &d.secrets.whsec)),
        None,
    )
    .await
    .expect("send");
    assert_eq!(status.as_u16(), 400);
    let (_, b) = status_of(
        post("/v1/products/codetest/webhooks")
            .header(
                "x-stackone-signature",
                assay_wire::signature::sign(no_id, &d.secrets.whsec),
            )
            .body(&no_id[..])
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(b["error"]["message"], "`data.id` is missing");
    // An event the product does not handle: acknowledged and stored as ignored.
    let other = br#"{"event":"ats_assessments.deleted","account_id":"a","data":{"id":"x"}}"#;
    let status = emulator::post_webhook(
        &d.url(),
        "codetest",
        bytes::Bytes::from_static(other),
        Some(&assay_wire::signature::sign(other, &d.secrets.whsec)),
        None,
    )
    .await
    .expect("send");
    assert_eq!(status.as_u16(), 200);
    // CORS preflight: allowed origin answered, others refused.
    let pre = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/products/codetest/packages", d.url()),
        )
        .header("origin", "https://ats.example")
        .send()
        .await
        .expect("send");
    assert_eq!(pre.status().as_u16(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://ats.example"
    );
    let pre = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/products/codetest/packages", d.url()),
        )
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(pre.status().as_u16(), 403);
    // Readiness names the product without a plugin; the host serves the other two.
    let (s, b) = status_of(
        client
            .get(format!("{}/readyz", d.url()))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 200, "two products serve: {b}");
    assert!(b["problems"].to_string().contains("ghost"), "{b}");
    // Operator views need the admin token.
    let (s, _) = status_of(
        client
            .get(format!("{}/admin/status", d.url()))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 401);
    let (s, b) = status_of(
        client
            .get(format!("{}/admin/status", d.url()))
            .bearer_auth(d.secrets.admin.expose())
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["products"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_429_with_retry_after_is_delivered_once_after_the_wait() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 4).await;
    d.stackone.script(
        ScriptTarget::Order(order.order_id.clone()),
        ScriptedResponse::too_many_requests(1),
    );
    assert_eq!(d.send("codetest", &order).await, 200);
    let accepted = d
        .stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("delivered");
    let all = d.stackone.deliveries_for(&order.order_id);
    assert_eq!(
        all.iter().map(|x| x.status.as_u16()).collect::<Vec<_>>(),
        [429, 200]
    );
    let waited = accepted
        .received_at
        .duration_since(all[0].received_at)
        .expect("ordered");
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_every_delivery_with_that_key() {
    // The probe: after a 429, other results went out inside the Retry-After window 70 times
    // out of 71. Now the whole endpoint and key wait.
    let d = Deployment::start().await;
    let first = d.order("codetest", 40).await;
    d.stackone.script(
        ScriptTarget::Order(first.order_id.clone()),
        ScriptedResponse::too_many_requests(2),
    );
    assert_eq!(d.send("codetest", &first).await, 200);
    let limited = d
        .eventually("the 429", || {
            d.stackone.deliveries_for(&first.order_id).first().cloned()
        })
        .await;
    assert_eq!(limited.status.as_u16(), 429);
    // Orders sent inside the window are fulfilled, but their results wait for the pause.
    let others = [d.order("codetest", 41).await, d.order("codetest", 42).await];
    for order in &others {
        assert_eq!(d.send("codetest", order).await, 200);
    }
    for order in others.iter().chain([&first]) {
        let accepted = d
            .stackone
            .wait_for_accepted(&order.order_id, WAIT)
            .await
            .expect("delivered");
        for delivery in d.stackone.deliveries_for(&order.order_id) {
            if delivery.sequence == limited.sequence {
                continue;
            }
            let after = delivery
                .received_at
                .duration_since(limited.received_at)
                .expect("after the 429");
            assert!(
                after >= Duration::from_secs(2),
                "{} was sent {after:?} after the 429 asked for 2 s",
                order.order_id
            );
        }
        assert_eq!(accepted.status.as_u16(), 200);
    }
}

#[tokio::test]
async fn a_422_is_dead_lettered_with_stackones_message() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 5).await;
    d.stackone.script(
        ScriptTarget::Order(order.order_id.clone()),
        ScriptedResponse::unprocessable("candidate is archived"),
    );
    assert_eq!(d.send("codetest", &order).await, 200);
    let detail = d.dead_lettered(&order.order_id).await;
    let message = detail["dead_letters"][0]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("candidate is archived") && message.contains("422"),
        "{message}"
    );
    assert_eq!(
        d.stackone.deliveries_for(&order.order_id).len(),
        1,
        "not retried"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_loses_nothing_and_delivers_once() {
    let d = Deployment::start().await;
    // The vendor is down, so the order waits for a retry; StackOne is down for results too.
    let order = d.order("codetest", 6).await;
    let calls_before = d.vendor.api_calls();
    d.vendor
        .fail_next(1, http::StatusCode::SERVICE_UNAVAILABLE, Some(1));
    d.stackone.script(
        ScriptTarget::Order(order.order_id.clone()),
        ScriptedResponse::unavailable(),
    );
    assert_eq!(d.send("codetest", &order).await, 200);
    d.eventually("the failed vendor call", || {
        (d.vendor.api_calls() > calls_before).then_some(())
    })
    .await;
    let d = d.restart().await;
    let invitation = d
        .eventually("the invitation after the restart", || {
            d.vendor.invitations().into_iter().next()
        })
        .await;
    d.stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("initiated delivered after 503");
    assert_eq!(
        d.vendor
            .complete_invitation(&invitation.id, 30, 100)
            .await
            .expect("callback")
            .as_u16(),
        200
    );
    d.stackone
        .wait_for_accepted_count(&order.order_id, 2, WAIT)
        .await
        .expect("final delivered");
    let d = d.restart().await;
    // After the restart nothing is left to send: the outbox holds no undelivered result.
    let status: Value = reqwest::Client::new()
        .get(format!("{}/admin/status", d.url()))
        .bearer_auth(d.secrets.admin.expose())
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(status["outbox"]["pending"], 0, "{status}");
    assert_eq!(
        d.stackone.accepted_values(&order.order_id),
        ["initiated", "failed"],
        "each result delivered exactly once, in order"
    );
    assert_eq!(d.vendor.invitations().len(), 1);
}
