#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::*;
use crate::order::{OrderBuilder, OrderKind};
use crate::package::Package;

/// One request as the stub host saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Option<String>,
    content_type: Option<String>,
    body: Bytes,
}

/// A stand-in for the host: checks the signature with `assay_wire::signature::verify` and, on the
/// package route, Basic auth with `assay_wire::basic_auth::verify`; answers 401 when either fails.
struct Stub {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn stub(signing: &str, api_key: &str, packages_answer: Value) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let secrets = (Secret::new(signing), Secret::new(api_key));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (secrets, log, answer) =
                (secrets.clone(), Arc::clone(&log), packages_answer.clone());
            let service = service_fn(move |req: Request<Incoming>| {
                let (secrets, log, answer) = (secrets.clone(), Arc::clone(&log), answer.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let header = |name: &str| parts.headers.get(name).map(|v| v.as_bytes());
                    log.lock().unwrap().push(Seen {
                        path: parts.uri.path().to_owned(),
                        query: parts.uri.query().map(str::to_owned),
                        content_type: header("content-type")
                            .map(|v| String::from_utf8_lossy(v).into_owned()),
                        body: body.clone(),
                    });
                    let signed = assay_wire::signature::verify(
                        &body,
                        header(SIGNATURE_HEADER),
                        &[secrets.0],
                    )
                    .is_ok();
                    let is_packages = parts.uri.path().ends_with("/packages");
                    let authorized = !is_packages
                        || assay_wire::basic_auth::verify(header("authorization"), &[secrets.1])
                            .is_ok();
                    let (status, text) = match (signed && authorized, is_packages) {
                        (false, _) => (401, "{}".to_owned()),
                        (true, true) => (200, answer.to_string()),
                        (true, false) => (202, String::new()),
                    };
                    let response = Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from(text)))
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Stub { base, seen }
}

fn valid_page() -> Value {
    json!({ "data": [
        { "id": "p1", "remote_id": null, "name": "Backend skills", "description": "45 minutes" },
        { "id": "p2", "name": "Background check", "tests": [{ "id": "t1", "name": "Criminal record" }] }
    ], "next": null })
}

#[tokio::test]
async fn fetch_packages_signs_and_parses() {
    let host = stub("whsec", "pk", valid_page()).await;
    let (key, secret) = (Secret::new("pk"), Secret::new("whsec"));
    let page = fetch_packages(
        &host.base,
        "skills-test",
        "acc-1",
        "recruitee",
        &key,
        &secret,
    )
    .await
    .unwrap();
    assert_eq!(page.data.len(), 2);
    assert_eq!(page.data[0].name.as_deref(), Some("Backend skills"));
    assert_eq!(page.data[1].tests.as_ref().map(Vec::len), Some(1));
    let seen = host.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/products/skills-test/packages");
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        body,
        json!({ "account_id": "acc-1", "provider": "recruitee" })
    );
}

#[tokio::test]
async fn fetch_packages_lists_every_violation() {
    let host = stub(
        "whsec",
        "pk",
        json!({ "data": [{ "id": 1 }, { "name": ["x"] }] }),
    )
    .await;
    let err = fetch_packages(
        &host.base,
        "p",
        "a",
        "recruitee",
        &Secret::new("pk"),
        &Secret::new("whsec"),
    )
    .await
    .unwrap_err();
    let ClientError::Schema { violations, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        violations.iter().any(|v| v.starts_with("/data/0/id")),
        "{violations:?}"
    );
    assert!(
        violations.iter().any(|v| v.starts_with("/data/1/name")),
        "{violations:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains("/data/0/id") && shown.contains("/data/1/name"),
        "{shown}"
    );
}

#[tokio::test]
async fn fetch_packages_with_wrong_secrets_is_refused() {
    let host = stub("whsec", "pk", valid_page()).await;
    for (key, secret) in [("pk", "other"), ("other", "whsec")] {
        let err = fetch_packages(
            &host.base,
            "p",
            "a",
            "recruitee",
            &Secret::new(key),
            &Secret::new(secret),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Status {
                    status: StatusCode::UNAUTHORIZED,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn send_order_twice_sends_the_same_signed_bytes() {
    let host = stub("whsec", "pk", valid_page()).await;
    let package = Package {
        id: Some("p1".into()),
        name: Some("Backend skills".into()),
        ..Package::default()
    };
    let webhook = OrderBuilder::new(OrderKind::Assessment, package).build();
    let (secret, token) = (Secret::new("whsec"), Secret::new("tok en"));
    for _ in 0..2 {
        let status = send_order(&host.base, "skills-test", &webhook, &secret, Some(&token))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let seen = host.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, webhook.body);
    assert_eq!(seen[1].body, webhook.body);
    assert_eq!(seen[0].path, "/v1/products/skills-test/webhooks");
    assert_eq!(seen[0].query.as_deref(), Some("token=tok+en"));
    // A body signed with another secret is refused by the stub: the signature is real.
    let status = send_order(
        &host.base,
        "skills-test",
        &webhook,
        &Secret::new("nope"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unreachable_host_is_a_transport_error_without_the_token() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = post_webhook(
        &base,
        "p",
        Bytes::from_static(b"{}"),
        None,
        Some(&Secret::new("s3cr3t")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Http { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("s3cr3t"));
}

#[test]
fn product_urls_keep_a_base_path() {
    let url = product_url("http://h:1/prefix/", "a b", "packages").unwrap();
    assert_eq!(url.as_str(), "http://h:1/prefix/v1/products/a%20b/packages");
    assert!(matches!(
        product_url("not a url", "p", "packages"),
        Err(ClientError::BadUrl(_))
    ));
}
