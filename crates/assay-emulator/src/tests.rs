#![allow(clippy::unwrap_used)]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::*;
use assay_wire::signature::SIGNATURE_HEADER;

const SIGNING: &str = "whsec_demo";
const PACKAGE_KEY: &str = "pk_demo";
const STACKONE_KEY: &str = "so_demo";

/// A stand-in host: serves one package, and on a verified order PATCHes `in_progress` then
/// `passed` (45 of 50) to the order's `results_update_url`, as a plugin's results would be.
/// With `respond` false it accepts orders but never sends results.
async fn fake_host(respond: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service_fn(move |req: Request<Incoming>| async move {
                let (parts, body) = req.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let signature = parts.headers.get(SIGNATURE_HEADER).map(|v| v.as_bytes());
                let signed =
                    assay_wire::signature::verify(&body, signature, &[Secret::new(SIGNING)])
                        .is_ok();
                let (status, answer) = if !signed {
                    (401, String::new())
                } else if parts.uri.path().ends_with("/packages") {
                    let auth = parts.headers.get("authorization").map(|v| v.as_bytes());
                    match assay_wire::basic_auth::verify(auth, &[Secret::new(PACKAGE_KEY)]) {
                        Ok(()) => (
                            200,
                            json!({ "data": [{ "id": "pkg-1", "name": "Backend skills" }] })
                                .to_string(),
                        ),
                        Err(_) => (401, String::new()),
                    }
                } else {
                    if respond {
                        tokio::spawn(push_results(serde_json::from_slice(&body).unwrap()));
                    }
                    (200, String::new())
                };
                Ok::<_, Infallible>(
                    Response::builder()
                        .status(status)
                        .body(Full::new(Bytes::from(answer)))
                        .unwrap(),
                )
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    base
}

async fn push_results(envelope: Value) {
    let url = envelope["data"]["results_update_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = envelope["account_id"].as_str().unwrap().to_owned();
    let bodies = [
        json!({ "result": { "value": "in_progress" } }),
        json!({
            "score": { "label": "Points", "value": "45", "min": "0", "max": "50" },
            "result": { "value": "passed", "source_value": "Passed" },
            "result_url": "https://vendor.example/results/1",
        }),
    ];
    for body in bodies {
        let response = reqwest::Client::new()
            .patch(&url)
            .header(
                "authorization",
                assay_wire::basic_auth::header_value(&Secret::new(STACKONE_KEY)),
            )
            .header("x-account-id", &account)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
    }
}

fn options(host: String, wait: Duration) -> EmulateOptions {
    let mut options = EmulateOptions::new(
        host,
        "127.0.0.1:0".parse().unwrap(),
        vec![Secret::new(STACKONE_KEY)],
    );
    options.products.push(EmulatedProduct {
        name: "skills-test".into(),
        kind: OrderKind::Assessment,
        api_key: Secret::new(PACKAGE_KEY),
        signing_secret: Secret::new(SIGNING),
        token: None,
    });
    options.wait = wait;
    options
}

#[tokio::test]
async fn run_emulate_shows_the_whole_flow() {
    let host = fake_host(true).await;
    let mut out = Vec::new();
    let view = run_emulate(&options(host, Duration::from_secs(10)), &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(view.entries.len(), 1, "{out}");
    let entry = &view.entries[0];
    assert_eq!(entry.package_name, "Backend skills");
    assert_eq!(entry.status.as_deref(), Some("passed"));
    assert_eq!(entry.score.as_ref().and_then(|s| s.percent), Some(90.0));
    assert_eq!(entry.accepted_updates, 2);
    for expected in [
        "package Backend skills (pkg-1)",
        "result in_progress",
        "result passed",
        "Backend skills · 90%",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

#[tokio::test]
async fn run_emulate_times_out_naming_pending_orders() {
    let host = fake_host(false).await;
    let mut out = Vec::new();
    let err = run_emulate(&options(host, Duration::from_millis(200)), &mut out)
        .await
        .unwrap_err();
    let EmulateError::Timeout { pending, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(pending.len(), 1);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("[Pending]"), "{out}");
}

#[tokio::test]
async fn run_emulate_reports_a_refused_package_fetch() {
    let host = fake_host(true).await;
    let mut opts = options(host, Duration::from_secs(1));
    opts.products[0].api_key = Secret::new("wrong");
    let err = run_emulate(&opts, &mut Vec::new()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            EmulateError::Client {
                source: ClientError::Status { .. },
                ..
            }
        ),
        "{err}"
    );
}
