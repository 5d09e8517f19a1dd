//! The example plugins against the demo vendor's less travelled paths: idempotency keys,
//! forged callbacks, and BackCheck's pushes with polling off.

use assay_emulator::vendor::CallbackSignature;
use assay_tests::harness::{Deployment, WAIT};

/// Waits until StackOne accepted a result with `value` for `order_id`.
async fn wait_for_value(d: &Deployment, order_id: &str, value: &str) {
    d.stackone
        .wait_for_value(order_id, value, WAIT)
        .await
        .unwrap_or_else(|_| panic!("a `{value}` result for {order_id} reached StackOne"));
}

#[tokio::test]
async fn forged_codetest_callbacks_are_refused_and_deliver_nothing() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 11).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    let invitation = d
        .eventually("the vendor invitation", || {
            d.vendor.invitations().into_iter().next()
        })
        .await;
    let created = d
        .vendor
        .calls()
        .into_iter()
        .find(|c| c.method == "POST" && c.path == "/api/invitations")
        .expect("the create call");
    assert_eq!(
        created.idempotency_key.as_deref(),
        Some(order.order_id.as_str()),
        "fulfil-order keys the invitation by StackOne's order id"
    );
    wait_for_value(&d, &order.order_id, "initiated").await;

    for forged in [CallbackSignature::Wrong, CallbackSignature::Missing] {
        let status = d
            .vendor
            .send_attempt_event(&invitation.id, 50, 50, forged)
            .await
            .expect("sent");
        assert_eq!(status, 401, "{forged:?}");
    }
    let status = d
        .vendor
        .complete_invitation(&invitation.id, 20, 50)
        .await
        .expect("sent");
    assert_eq!(status, 200);
    wait_for_value(&d, &order.order_id, "failed").await;
    // The host stores a callback's results before it answers, so a forged callback that had
    // produced a result would be in the outbox ahead of the genuine one.
    assert_eq!(
        d.stackone.accepted_values(&order.order_id),
        ["initiated", "failed"],
        "the forged callbacks added nothing"
    );
    let last = d
        .stackone
        .deliveries_for(&order.order_id)
        .last()
        .and_then(|x| x.json.clone())
        .expect("json");
    assert_eq!(
        last["score"]["value"], "40",
        "20 of 50, below the pass mark"
    );
    assert_eq!(d.vendor.invitations()[0].callback_statuses, [401, 401, 200]);
}

#[tokio::test]
async fn backcheck_pushes_reach_stackone_without_polling() {
    // No poll_interval_s: only pushes can bring BackCheck's results.
    let d = Deployment::start_with(|config| {
        *config = config.replace("poll_interval_s = 1\n", "");
    })
    .await;
    let order = d.order("backcheck", 12).await;
    assert_eq!(d.send("backcheck", &order).await, 200);
    let check = d
        .eventually("the vendor check", || d.vendor.checks().into_iter().next())
        .await;
    assert!(
        check.callback_url.is_some(),
        "the plugin asks for pushes when callback_url is set"
    );
    assert_eq!(
        check.idempotency_key.as_deref(),
        Some(order.order_id.as_str())
    );
    wait_for_value(&d, &order.order_id, "initiated").await;

    let forged = d
        .vendor
        .push_check_status(&check.id, "processing", CallbackSignature::Wrong)
        .await
        .expect("sent");
    assert_eq!(forged, 401);
    let pushed = d
        .vendor
        .push_check_status(&check.id, "processing", CallbackSignature::Valid)
        .await
        .expect("sent");
    assert_eq!(pushed, 200);
    wait_for_value(&d, &order.order_id, "in_progress").await;
    let pushed = d
        .vendor
        .push_check_status(&check.id, "clear", CallbackSignature::Valid)
        .await
        .expect("sent");
    assert_eq!(pushed, 200);
    wait_for_value(&d, &order.order_id, "passed").await;

    assert_eq!(
        d.stackone.accepted_values(&order.order_id),
        ["initiated", "in_progress", "passed"]
    );
    let last = d
        .stackone
        .deliveries_for(&order.order_id)
        .last()
        .and_then(|x| x.json.clone())
        .expect("json");
    assert_eq!(last["result"]["source_value"], "clear");
    assert!(
        last["result_url"]
            .as_str()
            .expect("report link")
            .ends_with(&format!("/reports/{}", check.id))
    );
}

#[tokio::test]
async fn a_callback_before_fulfilment_is_recorded_is_refused_until_it_can_be_kept() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 12).await;
    // The vendor already has the invitation (its answer to fulfil-order got lost, say), and
    // the host's next fulfil-order call fails, so the order waits for its retry.
    let created = reqwest::Client::new()
        .post(format!("{}/api/invitations", d.vendor.base_url()))
        .bearer_auth(d.secrets.vendor_token.expose())
        .header("idempotency-key", &order.order_id)
        .json(&serde_json::json!({
            "test_id": order.package.id,
            "reference": order.order_id,
            "candidate": {"name": "Ada Lovelace", "email": "ada@candidate.example"},
            "callback_url": format!("{}/v1/products/codetest/callbacks/attempts", d.url()),
        }))
        .send()
        .await
        .expect("created");
    assert_eq!(created.status(), 201);
    let invitation = d.vendor.invitations().remove(0);
    d.vendor
        .fail_next(1, http::StatusCode::SERVICE_UNAVAILABLE, Some(1));
    assert_eq!(d.send("codetest", &order).await, 200);
    d.eventually("the failed fulfil-order call", || {
        d.vendor
            .calls()
            .into_iter()
            .find(|c| c.path == "/api/invitations" && c.status == 503)
    })
    .await;

    // The candidate finishes now: the plugin accepts the callback, but the host cannot keep a
    // result for an order the vendor has not confirmed, so the vendor must send it again.
    let status = d
        .vendor
        .complete_invitation(&invitation.id, 45, 50)
        .await
        .expect("sent");
    assert_eq!(status, 503, "refused for now, not answered 200 and lost");

    // The retried fulfil-order finds the invitation (same idempotency key); then the
    // vendor's second attempt is kept and delivered.
    wait_for_value(&d, &order.order_id, "initiated").await;
    let status = d
        .vendor
        .complete_invitation(&invitation.id, 45, 50)
        .await
        .expect("sent");
    assert_eq!(status, 200);
    wait_for_value(&d, &order.order_id, "passed").await;
    assert_eq!(d.vendor.invitations().len(), 1, "no second invitation");
    assert_eq!(d.vendor.invitations()[0].callback_statuses, [503, 200]);
}
