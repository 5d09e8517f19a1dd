//! `assay send packages|order` against a running host, signed with the configuration's
//! secrets: the answers printed, an order followed until its result reaches the emulator, and
//! a clear failure for an unknown product, a host that is down and a wrong secret.

use std::process::Output;

use assay_tests::harness::{Deployment, secret_vars};
use tokio::process::Command;

use crate::ASSAY;

/// `assay send ARGS --config <the deployment's>` with the configuration's variables set,
/// `overrides` replacing some of their values.
async fn send(d: &Deployment, args: &[&str], overrides: &[(&str, &str)]) -> Output {
    let mut command = Command::new(ASSAY);
    command
        .arg("send")
        .args(args)
        .arg("--config")
        .arg(d.config_path());
    for (name, value) in secret_vars(&d.secrets) {
        command.env(name, value.expose());
    }
    for (name, value) in overrides {
        command.env(name, value);
    }
    command.output().await.expect("run assay send")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn send_lists_packages_and_follows_an_order_to_stackone() {
    let d = Deployment::start().await;
    let url = d.url();
    let listed = send(
        &d,
        &["packages", "--product", "codetest", "--url", &url],
        &[],
    )
    .await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let page: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert!(
        page["data"].as_array().is_some_and(|d| !d.is_empty()),
        "{page}"
    );

    // StackOne refuses results of orders it never sent: `--follow` gives up saying why.
    let refused = send(
        &d,
        &[
            "order",
            "--product",
            "codetest",
            "--url",
            &url,
            "--follow",
            "--timeout",
            "2",
        ],
        &[],
    )
    .await;
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("reached StackOne within 2s") && said.contains("404"),
        "{said}"
    );

    d.stackone.set_reject_unknown_orders(false);
    let sent = send(
        &d,
        &["order", "--product", "backcheck", "--url", &url, "--follow"],
        &[],
    )
    .await;
    let out = text(&sent.stdout);
    assert!(sent.status.success(), "{out}{}", text(&sent.stderr));
    assert!(out.contains("assay-send-test-"), "{out}");
    assert!(out.contains(": 200 OK"), "{out}");
    assert!(out.contains("delivered to StackOne (HTTP 200)"), "{out}");
    let order_id = out
        .split_whitespace()
        .nth(1)
        .expect("the order id")
        .to_owned();
    assert!(
        !d.stackone.deliveries_for(&order_id).is_empty(),
        "the emulator has the result of {order_id}"
    );
}

#[tokio::test]
async fn send_fails_clearly_on_bad_input() {
    let d = Deployment::start().await;
    let url = d.url();
    let unknown = send(&d, &["packages", "--product", "nope", "--url", &url], &[]).await;
    assert!(!unknown.status.success());
    let said = text(&unknown.stderr);
    assert!(
        said.contains("unknown product `nope`") && said.contains("backcheck, codetest"),
        "{said}"
    );

    // Nothing listens on a port just freed.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let down = send(
        &d,
        &[
            "packages",
            "--product",
            "codetest",
            "--url",
            &format!("http://{free}"),
        ],
        &[],
    )
    .await;
    assert!(!down.status.success());
    let said = text(&down.stderr);
    assert!(
        said.contains(&free.to_string()) && said.contains("failed"),
        "{said}"
    );

    let wrong = send(
        &d,
        &["order", "--product", "codetest", "--url", &url],
        &[("T_WHSEC", "not-the-signing-secret")],
    )
    .await;
    assert!(!wrong.status.success());
    let said = text(&wrong.stderr);
    assert!(said.contains("401"), "the host's 401 is shown: {said}");
}
