//! The demo vendor on a real socket.

use std::time::Duration;

use tokio::sync::mpsc;

use super::backcheck::{CHECK_STATUSES, OPEN_CHECK_STATUSES};
use super::codetest::sign_hex;
use super::*;

const TOKEN: &str = "tok";
const WEBHOOK_SECRET: &str = "whsec";

async fn vendor() -> RunningVendor {
    DemoVendor::new(Secret::new(TOKEN), Secret::new(WEBHOOK_SECRET))
        .start()
        .await
        .expect("start")
}

/// Sends `method path` with the vendor's token (and `body` as JSON, if any); returns the
/// status, the `Retry-After` header and the JSON answer.
async fn call(
    vendor: &RunningVendor,
    method: Method,
    path: &str,
    body: Option<Value>,
    idempotency_key: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", vendor.base_url()))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(key) = idempotency_key {
        request = request.header(IDEMPOTENCY_KEY_HEADER, key);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().expect("ascii").to_owned());
    (status, retry_after, response.json().await.expect("json"))
}

fn invitation_body(reference: &str, callback_url: &str) -> Value {
    json!({"test_id": "ct-rust", "reference": reference,
           "candidate": {"name": "Ada Lovelace", "email": "ada@example.com"},
           "callback_url": callback_url})
}

#[tokio::test]
async fn the_api_needs_the_token_but_pages_do_not() {
    let vendor = vendor().await;
    let client = reqwest::Client::new();
    for token in [None, Some("wrong")] {
        let mut request = client.get(format!("{}/api/tests", vendor.base_url()));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        assert_eq!(request.send().await.expect("send").status(), 401);
    }
    assert_eq!(vendor.api_calls(), 0, "refused calls are not counted");
    assert_eq!(vendor.calls().len(), 2, "but they are recorded");
    let page = client
        .get(format!("{}/take/inv-1", vendor.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(page.status(), 200);
    let (status, _, tests) = call(&vendor, Method::GET, "/api/tests", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(tests["tests"][0]["id"], codetest::TESTS[0].id);
    assert_eq!(vendor.api_calls(), 1);
}

#[tokio::test]
async fn invitations_are_idempotent_by_reference_and_by_key() {
    let vendor = vendor().await;
    let post = Method::POST;
    let body = invitation_body("ord-1", "http://127.0.0.1:9/cb");
    let (first_status, _, first) = call(
        &vendor,
        post.clone(),
        "/api/invitations",
        Some(body.clone()),
        None,
    )
    .await;
    let (again_status, _, again) =
        call(&vendor, post.clone(), "/api/invitations", Some(body), None).await;
    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first["id"], again["id"]);
    assert!(
        first["test_url"]
            .as_str()
            .expect("test_url")
            .starts_with(&vendor.base_url())
    );

    // Another reference under an idempotency key seen before is the same invitation too.
    let keyed = invitation_body("ord-2", "http://127.0.0.1:9/cb");
    let (s1, _, a) = call(
        &vendor,
        post.clone(),
        "/api/invitations",
        Some(keyed),
        Some("k-2"),
    )
    .await;
    let other_ref = invitation_body("ord-2-retry", "http://127.0.0.1:9/cb");
    let (s2, _, b) = call(
        &vendor,
        post.clone(),
        "/api/invitations",
        Some(other_ref),
        Some("k-2"),
    )
    .await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(a["id"], b["id"]);

    let invitations = vendor.invitations();
    assert_eq!(invitations.len(), 2);
    assert_eq!(invitations[0].reference, "ord-1");
    assert_eq!(invitations[0].candidate_name, "Ada Lovelace");
    assert_eq!(
        invitations[0].request["candidate"]["email"],
        "ada@example.com"
    );
    assert_eq!(invitations[1].idempotency_key.as_deref(), Some("k-2"));
    let keys: Vec<_> = vendor
        .calls()
        .into_iter()
        .map(|c| (c.status, c.idempotency_key))
        .collect();
    assert_eq!(
        keys,
        [
            (201, None),
            (200, None),
            (201, Some("k-2".into())),
            (200, Some("k-2".into()))
        ]
    );
}

#[tokio::test]
async fn malformed_and_unknown_requests_are_refused() {
    let vendor = vendor().await;
    let post = Method::POST;
    let mut unknown_test = invitation_body("ord-9", "http://127.0.0.1:9/cb");
    unknown_test["test_id"] = json!("ct-cobol");
    let (status, _, _) = call(
        &vendor,
        post.clone(),
        "/api/invitations",
        Some(unknown_test),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &vendor,
        post.clone(),
        "/api/invitations",
        Some(json!({"test_id": "ct-rust"})),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = call(&vendor, post.clone(), "/v1/checks", Some(json!([1])), None).await;
    assert_eq!(status, 400);
    let (status, _, _) = call(
        &vendor,
        post,
        "/v1/checks",
        Some(json!({"package_id": "bc-gold", "reference": "o", "candidate": {"email": "a@b.c"}})),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = call(&vendor, Method::GET, "/v1/checks/chk-404", None, None).await;
    assert_eq!(status, 404);
    assert!(vendor.invitations().is_empty() && vendor.checks().is_empty());
}

#[tokio::test]
async fn injected_failures_answer_the_next_calls_then_stop() {
    let vendor = vendor().await;
    vendor.fail_next(2, StatusCode::SERVICE_UNAVAILABLE, Some(3));
    vendor.fail_next(1, StatusCode::UNAUTHORIZED, None);
    let get = Method::GET;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, retry_after, _) = call(&vendor, get.clone(), "/v1/packages", None, None).await;
        seen.push((status, retry_after));
    }
    assert_eq!(
        seen,
        [
            (503, Some("3".into())),
            (503, Some("3".into())),
            (401, None),
            (200, None)
        ]
    );
    assert_eq!(vendor.api_calls(), 4);
}

#[tokio::test]
async fn checks_move_through_their_statuses() {
    let vendor = vendor().await;
    let (status, _, created) = call(
        &vendor,
        Method::POST,
        "/v1/checks",
        Some(json!({"package_id": "bc-basic", "reference": "o", "candidate": {"first_name": "Ada", "email": "a@b.c"}})),
        None,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(vendor.checks()[0].request["candidate"]["first_name"], "Ada");

    let path = format!("/v1/checks/{id}");
    for status in CHECK_STATUSES {
        assert!(vendor.set_check_status(&id, status));
        let (code, _, got) = call(&vendor, Method::GET, &path, None, None).await;
        assert_eq!(code, 200);
        assert_eq!(got["status"], status);
        let open = OPEN_CHECK_STATUSES.contains(&status);
        assert_eq!(got["report_url"].is_null(), open, "{status}");
        assert_eq!(got["completed_at"].is_null(), open, "{status}");
        if !open {
            assert!(
                got["report_url"]
                    .as_str()
                    .expect("report")
                    .ends_with(&format!("/reports/{id}"))
            );
        }
    }
    assert!(!vendor.set_check_status("chk-nope", "clear"));
}

/// A stand-in for the host's callback route: answers `status` and hands each request's
/// signature header and body to the test.
async fn callback_receiver(
    status: StatusCode,
    signature_header: &'static str,
) -> (
    String,
    mpsc::UnboundedReceiver<(Option<String>, Bytes)>,
    oneshot::Sender<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/v1/products/codetest/callbacks/attempts",
        listener.local_addr().expect("addr")
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(http_server::serve(
        listener,
        move |request: Request<hyper::body::Incoming>, _peer| {
            let tx = tx.clone();
            async move {
                let (parts, body) = request.into_parts();
                let signature = parts
                    .headers
                    .get(signature_header)
                    .map(|v| v.to_str().expect("ascii").to_owned());
                let body = body.collect().await.expect("body").to_bytes();
                let _ = tx.send((signature, body));
                reply(status, &json!({"ok": status.is_success()}))
            }
        },
        async {
            let _ = stopped.await;
        },
    ));
    (url, rx, stop)
}

#[tokio::test]
async fn completing_an_invitation_posts_a_signed_event_to_its_callback_url() {
    let vendor = vendor().await;
    let (url, mut received, _stop) =
        callback_receiver(StatusCode::OK, CODETEST_SIGNATURE_HEADER).await;
    let (_, _, created) = call(
        &vendor,
        Method::POST,
        "/api/invitations",
        Some(invitation_body("ord-7", &url)),
        None,
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();

    let status = vendor
        .complete_invitation(&id, 45, 50)
        .await
        .expect("callback");
    assert_eq!(status, 200);
    let (signature, body) = tokio::time::timeout(Duration::from_secs(5), received.recv())
        .await
        .expect("in time")
        .expect("a callback");
    assert_eq!(
        signature.as_deref(),
        Some(sign_hex(WEBHOOK_SECRET, &body).as_str()),
        "signed with the webhook secret over the exact bytes sent"
    );
    let event: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(event["event"], codetest::ATTEMPT_COMPLETED);
    assert_eq!(event["invitation_id"], id.as_str());
    assert_eq!(event["reference"], "ord-7");
    assert_eq!(
        (event["score"].as_u64(), event["max_score"].as_u64()),
        (Some(45), Some(50))
    );
    assert!(
        event["report_url"]
            .as_str()
            .expect("report")
            .ends_with(&format!("/reports/{id}"))
    );
    let invitation = &vendor.invitations()[0];
    assert!(invitation.completed);
    assert_eq!(invitation.callback_statuses, [200]);
}

#[tokio::test]
async fn forged_callbacks_are_signed_wrongly_or_not_at_all_and_their_refusal_is_reported() {
    let vendor = vendor().await;
    let (url, mut received, _stop) =
        callback_receiver(StatusCode::UNAUTHORIZED, CODETEST_SIGNATURE_HEADER).await;
    call(
        &vendor,
        Method::POST,
        "/api/invitations",
        Some(invitation_body("ord-8", &url)),
        None,
    )
    .await;
    let id = vendor.invitations()[0].id.clone();
    for (signature, expect_header) in [
        (CallbackSignature::Wrong, true),
        (CallbackSignature::Missing, false),
    ] {
        let status = vendor
            .send_attempt_event(&id, 10, 10, signature)
            .await
            .expect("sent");
        assert_eq!(status, 401);
        let (header, body) = received.recv().await.expect("a callback");
        assert_eq!(header.is_some(), expect_header, "{signature:?}");
        if let Some(h) = header {
            assert_ne!(h, sign_hex(WEBHOOK_SECRET, &body));
        }
    }
    let invitation = &vendor.invitations()[0];
    assert!(
        !invitation.completed,
        "a refused callback does not complete it"
    );
    assert_eq!(invitation.callback_statuses, [401, 401]);
    assert!(vendor.complete_invitation("inv-404", 1, 1).await.is_err());
}

#[tokio::test]
async fn check_changes_are_pushed_signed_when_the_check_asked_for_pushes() {
    let vendor = vendor().await;
    let (url, mut received, _stop) =
        callback_receiver(StatusCode::ACCEPTED, BACKCHECK_SIGNATURE_HEADER).await;
    let create = |reference: &str, callback: Option<&str>| {
        let mut body = json!({"package_id": "bc-standard", "reference": reference,
                              "candidate": {"email": "a@b.c"}});
        if let Some(c) = callback {
            body["callback_url"] = json!(c);
        }
        body
    };
    let (_, _, pushed) = call(
        &vendor,
        Method::POST,
        "/v1/checks",
        Some(create("o-1", Some(&url))),
        None,
    )
    .await;
    let (_, _, polled) = call(
        &vendor,
        Method::POST,
        "/v1/checks",
        Some(create("o-2", None)),
        None,
    )
    .await;
    let pushed = pushed["id"].as_str().expect("id").to_owned();
    let polled = polled["id"].as_str().expect("id").to_owned();

    for status in ["processing", "consider"] {
        let answer = vendor
            .push_check_status(&pushed, status, CallbackSignature::Valid)
            .await
            .expect("pushed");
        assert_eq!(answer, 202);
        let (signature, body) = tokio::time::timeout(Duration::from_secs(5), received.recv())
            .await
            .expect("in time")
            .expect("a push");
        assert_eq!(
            signature.as_deref(),
            Some(sign_hex(WEBHOOK_SECRET, &body).as_str())
        );
        let event: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(event["event"], backcheck::CHECK_UPDATED);
        assert_eq!(event["check"]["id"], pushed.as_str());
        assert_eq!(event["check"]["reference"], "o-1");
        assert_eq!(event["check"]["status"], status);
        assert_eq!(
            event["check"]["report_url"].is_null(),
            status == "processing"
        );
    }
    let check = &vendor.checks()[0];
    assert_eq!(check.status, "consider");
    assert_eq!(check.callback_statuses, [202, 202]);

    let no_callback = vendor
        .push_check_status(&polled, "clear", CallbackSignature::Valid)
        .await;
    assert!(
        no_callback.is_err(),
        "a check without a callback_url is only polled"
    );
    assert!(
        vendor
            .push_check_status("chk-404", "clear", CallbackSignature::Valid)
            .await
            .is_err()
    );
}

#[test]
fn signature_matches_the_plugins_scheme() {
    // RFC 4231, test case 2.
    assert_eq!(
        sign_hex("Jefe", b"what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn stop_closes_the_port() {
    let vendor = vendor().await;
    let addr = vendor.addr();
    vendor.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
