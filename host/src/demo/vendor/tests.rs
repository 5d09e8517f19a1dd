//! The demo vendor on a real socket.

use super::*;

#[tokio::test]
async fn api_needs_the_token_and_invitations_are_idempotent() {
    let vendor = DemoVendor::new(Secret::new("tok"), Secret::new("whsec"));
    let running = vendor.start().await.expect("start");
    let client = reqwest::Client::new();
    let url = format!("{}/api/invitations", running.base_url());
    let body = json!({"test_id": "ct-rust", "reference": "ord-1", "candidate": {"name": "Ada", "email": "ada@example.com"}, "callback_url": "http://127.0.0.1:9/cb"});
    let denied = client.post(&url).json(&body).send().await.expect("send");
    assert_eq!(denied.status(), 401);
    let first: Value = client
        .post(&url)
        .bearer_auth("tok")
        .json(&body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let again: Value = client
        .post(&url)
        .bearer_auth("tok")
        .json(&body)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(first["id"], again["id"]);
    assert_eq!(vendor.invitations().len(), 1);
    vendor.fail_next(1, StatusCode::SERVICE_UNAVAILABLE, Some(3));
    let failed = client
        .get(format!("{}/api/tests", running.base_url()))
        .bearer_auth("tok")
        .send()
        .await
        .expect("send");
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.headers()[header::RETRY_AFTER], "3");
    let ok = client
        .get(format!("{}/api/tests", running.base_url()))
        .bearer_auth("tok")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn checks_move_through_their_statuses() {
    let vendor = DemoVendor::new(Secret::new("tok"), Secret::new("whsec"));
    let running = vendor.start().await.expect("start");
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{}/v1/checks", running.base_url()))
        .bearer_auth("tok")
        .json(&json!({"package_id": "bc-basic", "reference": "o", "candidate": {"email": "a@b.c"}}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(vendor.set_check_status(&id, "clear"));
    let got: Value = client
        .get(format!("{}/v1/checks/{id}", running.base_url()))
        .bearer_auth("tok")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(got["status"], "clear");
    assert!(
        got["report_url"]
            .as_str()
            .expect("report")
            .ends_with(&format!("/reports/{id}"))
    );
    assert!(!vendor.set_check_status("nope", "clear"));
}

#[test]
fn signature_matches_the_plugins_scheme() {
    // hex(HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog")), RFC 4231 style vector.
    assert_eq!(
        sign_hex(
            &Secret::new("key"),
            b"The quick brown fox jumps over the lazy dog"
        ),
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
}
