//! The hostile-input table: requests an attacker or a broken client sends, each answered with
//! its status, and none of them reaching the store or a plugin.
//!
//! Rows are sent on raw sockets where a client library would fix the request up (a doubled
//! slash, a repeated header, a body that stops short).

use std::time::Duration;

use assay_store::OrderFilter;
use assay_tests::harness::Deployment;
use assay_wire::signature;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The host's request deadline in these tests, short so the slow-body row is quick.
const REQUEST_TIMEOUT_MS: u64 = 600;

/// Sends `head` (CRLF-joined lines, then a blank line) and `body` on a fresh connection, then
/// reads the answer's status; `body_delay` holds the body back after the head.
async fn raw(addr: &str, head: &[String], body: &[u8], body_delay: Option<Duration>) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{}\r\n\r\n", head.join("\r\n"));
    stream.write_all(head.as_bytes()).await.expect("head");
    match body_delay {
        Some(delay) => {
            // Half the body, then nothing until the host has given up.
            stream
                .write_all(&body[..body.len() / 2])
                .await
                .expect("part");
            tokio::time::sleep(delay).await;
        }
        None => stream.write_all(body).await.expect("body"),
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[tokio::test]
async fn each_hostile_request_gets_its_status_and_nothing_is_stored() {
    let d = Deployment::start_with(|text| {
        *text = text.replace(
            "[server]\n",
            &format!("[server]\nrequest_timeout_ms = {REQUEST_TIMEOUT_MS}\n"),
        );
    })
    .await;
    let addr = d.url().trim_start_matches("http://").to_owned();
    let webhook = d.order("codetest", 1).await;
    let body = webhook.body.to_vec();
    let good = signature::sign(&body, &d.secrets.whsec);
    // Making the order read the package list through the plugin; nothing after this may.
    let vendor_calls = d.vendor.api_calls();
    let head = |path: &str, signatures: &[&str]| {
        let mut lines = vec![
            format!("POST {path} HTTP/1.1"),
            format!("Host: {addr}"),
            "Content-Type: application/json".to_owned(),
            format!("Content-Length: {}", body.len()),
        ];
        lines.extend(
            signatures
                .iter()
                .map(|s| format!("x-stackone-signature: {s}")),
        );
        lines
    };
    let webhooks = "/v1/products/codetest/webhooks";
    let rows: Vec<(&str, Vec<String>, Option<Duration>, u16)> = vec![
        (
            "a doubled leading slash",
            head(&format!("/{webhooks}"), &[&good]),
            None,
            404,
        ),
        (
            "a doubled inner slash",
            head("/v1//products/codetest/webhooks", &[&good]),
            None,
            404,
        ),
        (
            "a forged signature after the good one",
            head(webhooks, &[&good, "forged"]),
            None,
            401,
        ),
        (
            "a forged signature before the good one",
            head(webhooks, &["forged", &good]),
            None,
            401,
        ),
        ("no signature", head(webhooks, &[]), None, 401),
        (
            "a product nobody configured",
            head("/v1/products/nobody/webhooks", &[&good]),
            None,
            404,
        ),
        (
            "a body that stops halfway",
            head(webhooks, &[&good]),
            Some(Duration::from_millis(REQUEST_TIMEOUT_MS * 2)),
            408,
        ),
    ];
    let mut seen = Vec::new();
    for (what, lines, delay, _) in &rows {
        seen.push((*what, raw(&addr, lines, &body, *delay).await));
    }
    let expected: Vec<_> = rows
        .iter()
        .map(|(what, _, _, status)| (*what, *status))
        .collect();
    assert_eq!(seen, expected);

    let orders = d
        .host
        .store
        .list_orders(OrderFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("orders");
    assert!(orders.is_empty(), "stored: {orders:?}");
    assert_eq!(
        d.vendor.api_calls(),
        vendor_calls,
        "a plugin reached the vendor"
    );

    // The same webhook, sent properly, is accepted: the rows failed for what they changed.
    assert_eq!(d.send("codetest", &webhook).await, 200);
}
