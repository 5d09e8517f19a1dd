//! `assay send packages|order|callback` against a running host, signed with the
//! configuration's secrets: the answers printed, an order followed until its result reaches the
//! emulator, a vendor's callback carrying a final result to StackOne, and a clear failure for
//! an unknown product, a host that is down, a wrong secret and a forged or unsigned callback.

use std::process::Output;

use assay_tests::harness::{Deployment, WAIT, secret_vars};
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

#[tokio::test]
async fn send_callback_signs_as_the_vendor_and_its_result_reaches_stackone() {
    let d = Deployment::start().await;
    let url = d.url();
    let order = d.order("codetest", 1).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    let invitation = d
        .eventually("the vendor's invitation", || {
            d.vendor
                .invitations()
                .into_iter()
                .find(|i| i.reference == order.order_id)
        })
        .await;
    d.stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("initiated delivered");
    let event = serde_json::json!({
        "event": "attempt.completed",
        "invitation_id": invitation.id,
        "reference": order.order_id,
        "score": 40,
        "max_score": 50,
        "started_at": invitation.created_at,
        "submitted_at": invitation.created_at,
        "report_url": format!("{}/reports/{}", d.vendor.base_url(), invitation.id),
    })
    .to_string();
    let base = [
        "callback",
        "--product",
        "codetest",
        "--url",
        &url,
        "--path",
        "attempts",
    ];

    // Forged and unsigned: the plugin's 401, shown, and a failing exit code.
    for (extra, overrides) in [
        (vec!["--unsigned"], vec![]),
        (vec![], vec![("T_VENDOR_SECRET", "not-the-vendor-secret")]),
    ] {
        let args: Vec<&str> = base
            .iter()
            .copied()
            .chain(["--data", event.as_str()])
            .chain(extra)
            .collect();
        let refused = send(&d, &args, &overrides).await;
        assert!(!refused.status.success());
        let out = text(&refused.stdout);
        assert!(
            out.contains("401") && out.contains("bad signature"),
            "{out}"
        );
    }
    assert_eq!(d.stackone.deliveries_for(&order.order_id).len(), 1);

    // From a file, signed with the product's webhook_secret: the final result reaches StackOne.
    let file = d.dir.path().join("attempt.json");
    std::fs::write(&file, &event).expect("write the event");
    let data = format!("@{}", file.display());
    let args: Vec<&str> = base.iter().copied().chain(["--data", &data]).collect();
    let sent = send(&d, &args, &[]).await;
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    assert!(
        text(&sent.stdout).contains(": 200 OK"),
        "{}",
        text(&sent.stdout)
    );
    d.stackone
        .wait_for_accepted_count(&order.order_id, 2, WAIT)
        .await
        .expect("final result delivered");
    let json = d
        .stackone
        .deliveries_for(&order.order_id)
        .pop()
        .and_then(|x| x.json)
        .expect("JSON");
    assert_eq!(json["score"]["value"], "80", "40 of 50: {json}");

    // A setting the product does not have is named.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--data", "{}", "--signature-setting", "nope"])
        .collect();
    let missing = send(&d, &args, &[]).await;
    assert!(!missing.status.success());
    let said = text(&missing.stderr);
    assert!(said.contains("no setting `nope`"), "{said}");
}
