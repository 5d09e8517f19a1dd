//! `assay orders retry` and `assay orders list --state/--product` against a running host:
//! a result StackOne refused is listed as a dead letter, retried through the host, and
//! reaches the emulator; each bad input is a clear error.

use std::process::Output;

use tokio::process::Command;

use assay_tests::harness::Deployment;

use crate::ASSAY;

/// Runs `assay orders ARGS --config <the deployment's>` with its admin token's variable set
/// (on the runtime, which also serves the host, so never blocking it).
async fn orders(d: &Deployment, args: &[&str]) -> Output {
    Command::new(ASSAY)
        .arg("orders")
        .args(args)
        .arg("--config")
        .arg(d.config_path())
        .env("T_ADMIN", d.secrets.admin.expose())
        .env_remove("ASSAY_ADMIN_TOKEN")
        .env_remove("ASSAY_STORE_PATH")
        .output()
        .await
        .expect("run assay orders")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `output` failed and its error says each of `says`.
fn fails_saying(output: &Output, says: &[&str]) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "expected a failure: {stderr}");
    for s in says {
        assert!(stderr.contains(s), "`{s}` is not in: {stderr}");
    }
}

#[tokio::test]
async fn a_dead_letter_is_listed_retried_through_the_host_and_delivered() {
    let d = Deployment::start().await;
    let (order, id) = d.dead_letter("codetest", 31, "candidate is archived").await;
    let id_arg = id.to_string();

    // A refused first result leaves the order waiting for its result, with a dead letter.
    let listed = orders(
        &d,
        &[
            "list",
            "--state",
            "awaiting_result",
            "--product",
            "codetest",
        ],
    )
    .await;
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let listed = text(&listed.stdout);
    assert!(listed.contains("DEAD LETTERS"), "{listed}");
    let row = listed
        .lines()
        .find(|l| l.contains(&order.order_id))
        .unwrap_or_else(|| panic!("no row for the order: {listed}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert!(
        cells.windows(2).any(|w| w == ["1", "1"]),
        "one attempt, one dead letter: {row}"
    );
    let none = orders(&d, &["list", "--state", "failed", "--json"]).await;
    assert_eq!(text(&none.stdout).trim(), "[]");
    fails_saying(
        &orders(&d, &["list", "--state", "stuck"]).await,
        &["unknown state `stuck`", "dead_lettered"],
    );
    fails_saying(
        &orders(&d, &["list", "--product", "nope"]).await,
        &["unknown product `nope`", "backcheck, codetest"],
    );

    // The host owns the store file: a direct retry says to go through it.
    fails_saying(&orders(&d, &["retry", &id_arg]).await, &["in use", "--url"]);
    let retried = orders(&d, &["retry", &id_arg, "--url", &d.url()]).await;
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    assert!(
        text(&retried.stdout).contains("queued for delivery again"),
        "{}",
        text(&retried.stdout)
    );
    assert_eq!(
        d.accepted_value(&order.order_id).await.as_deref(),
        Some("initiated"),
        "the retried result reaches StackOne"
    );

    // Its history stays: the dead letter, marked, and the redrive with StackOne's reason.
    let shown = orders(&d, &["show", &id_arg]).await;
    let shown = text(&shown.stdout);
    assert!(shown.contains("Redrives"), "{shown}");
    assert!(shown.contains("candidate is archived"), "{shown}");

    fails_saying(
        &orders(&d, &["retry", &id_arg, "--url", &d.url()]).await,
        &["409", "only a failed order"],
    );
    fails_saying(
        &orders(&d, &["retry", "987654", "--url", &d.url()]).await,
        &["404"],
    );
    let wrong_token = Command::new(ASSAY)
        .args(["orders", "retry", &id_arg, "--url", &d.url(), "--config"])
        .arg(d.config_path())
        .env("T_ADMIN", "not-the-token")
        .env_remove("ASSAY_ADMIN_TOKEN")
        .output()
        .await
        .expect("run");
    fails_saying(&wrong_token, &["401"]);
}

/// A store file holding one order parked as `failed`, as a stopped host left it.
async fn store_with_a_failed_order(path: &std::path::Path) -> i64 {
    use assay_store::{
        IncomingEvent, IngestOutcome, NewOrder, OrderKind, SqliteStore, Store, Timestamp,
    };
    let store = SqliteStore::open(path).expect("open the store");
    let event = IncomingEvent {
        product: "codetest".into(),
        event_name: "ats_assessments.created".into(),
        idempotency_key: "k-1".into(),
        received_at: Timestamp::now(),
        envelope: "{}".into(),
        order: Some(NewOrder {
            order_id: "o-1".into(),
            kind: OrderKind::Assessment,
            account_id: "acct".into(),
            provider: None,
            package_id: None,
            candidate_label: None,
            order_json: "{}".into(),
        }),
    };
    let IngestOutcome::Accepted { order } = store.record_event(event).await.expect("record") else {
        panic!("a new order")
    };
    let claimed = store
        .claim_orders_for_fulfilment(1, Timestamp::now(), std::time::Duration::from_secs(30))
        .await
        .expect("claim");
    store
        .fulfilment_failed(
            claimed[0].claim,
            "the vendor retired the package".into(),
            None,
        )
        .await
        .expect("failed");
    order.0
}

#[tokio::test]
async fn a_failed_order_is_retried_in_the_store_file_while_no_host_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("assay.db");
    let id = store_with_a_failed_order(&path).await.to_string();
    let run = |args: &[&str]| {
        Command::new(ASSAY)
            .arg("orders")
            .args(args)
            .arg("--store")
            .arg(&path)
            .arg("--config")
            .arg(dir.path().join("absent.toml"))
            .output()
    };
    let retried = run(&["retry", &id]).await.expect("run");
    assert!(retried.status.success(), "{}", text(&retried.stderr));
    assert!(
        text(&retried.stdout).contains("queued for fulfilment again; failed -> received"),
        "{}",
        text(&retried.stdout)
    );
    let shown = text(&run(&["show", &id]).await.expect("run").stdout);
    assert!(shown.contains("Redrives"), "{shown}");
    assert!(shown.contains("the vendor retired the package"), "{shown}");
    assert!(shown.contains("  state           received"), "{shown}");
    fails_saying(
        &run(&["retry", &id]).await.expect("run"),
        &["only a failed order", "received"],
    );
    fails_saying(
        &run(&["retry", "77"]).await.expect("run"),
        &["order 77 not found"],
    );
    let absent = Command::new(ASSAY)
        .args(["orders", "retry", "1", "--store"])
        .arg(dir.path().join("none.db"))
        .output()
        .await
        .expect("run");
    fails_saying(&absent, &["there is no store at"]);
}
