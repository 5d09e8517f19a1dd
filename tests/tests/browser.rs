//! The status page in a real browser: headless Chromium logs in through the form, sees the
//! products and an order sent through the emulator with its candidate masked, reveals it,
//! retries a result StackOne refused (a dead letter) with the page's button and sees it reach
//! the emulator, and logs out. Takes a screenshot of the page every run; with `ASSAY_UPDATE_SCREENSHOT=1`
//! it becomes `docs/status-page.png`, the README's picture (so an ordinary run leaves the tree
//! as it was).
//!
//! Without Chromium the test prints [`browser::SKIP_LINE`] and passes, unless
//! `ASSAY_REQUIRE_ALL=1` (CI), where it fails.

use std::path::Path;

use assay_tests::browser::{self, Browser};
use assay_tests::harness::{Deployment, WAIT};
use serde_json::{Value, json};

/// The README's picture of the page, committed; rewritten only on request.
const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/status-page.png");

/// Where this run's screenshot goes: the README's picture when `ASSAY_UPDATE_SCREENSHOT=1`,
/// otherwise a file beside the test's other output that nobody commits.
fn screenshot_path() -> std::path::PathBuf {
    if std::env::var_os("ASSAY_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
        Path::new(SCREENSHOT).to_owned()
    } else {
        std::env::temp_dir().join(format!("assay-status-page-{}.png", std::process::id()))
    }
}

#[tokio::test]
async fn an_operator_logs_in_sees_masked_orders_and_logs_out_in_chromium() {
    let Some(binary) = browser::find() else {
        assert!(
            !browser::require_all(),
            "ASSAY_REQUIRE_ALL=1 and chromium is missing: apt-get install chromium"
        );
        println!("{}", browser::SKIP_LINE);
        return;
    };
    let d = Deployment::start().await;
    let order = d.order("codetest", 77).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    d.stackone
        .wait_for_accepted(&order.order_id, WAIT)
        .await
        .expect("the first result reaches StackOne");
    // The candidate as the store keeps it, to check the page masks it.
    let status: Value = reqwest::Client::new()
        .get(format!("{}/admin/status", d.url()))
        .bearer_auth(d.secrets.admin.expose())
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    // A second order whose first result StackOne refuses: a dead letter to retry.
    let (refused, dead_id) = d.dead_letter("codetest", 78, "candidate is archived").await;
    let label = status["recent_orders"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["order_id"] == order.order_id.as_str()))
        .and_then(|o| o["candidate_label"].as_str())
        .unwrap_or_else(|| panic!("the order with a candidate in {status}"))
        .to_owned();

    let mut b = Browser::launch(&binary)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let result = drive(&mut b, &d, &order.order_id, &label, dead_id).await;
    if let Err(e) = result {
        panic!("{e}\nchromium's log:\n{}", b.log());
    }
    assert_eq!(
        d.accepted_value(&refused.order_id).await.as_deref(),
        Some("initiated"),
        "the retried result reaches StackOne"
    );
}

async fn drive(
    b: &mut Browser,
    d: &Deployment,
    order_id: &str,
    label: &str,
    dead: i64,
) -> Result<(), String> {
    let url = d.url();
    b.goto(&format!("{url}/admin")).await?;
    b.wait_for(
        "location.pathname === '/admin/login' && !!document.querySelector('#token')",
        "the redirect to the login form",
    )
    .await?;
    b.eval(&format!(
        "document.querySelector('#token').value = {}; document.querySelector('#login').click(); true",
        json!(d.secrets.admin.expose())
    ))
    .await?;
    b.wait_for(
        "location.pathname === '/admin' && !!document.querySelector('#products')",
        "the status page after logging in",
    )
    .await?;

    let text = b.text().await?;
    for shown in [
        "codetest",
        "backcheck",
        "assessment",
        "background_check",
        "0.2.0",
        order_id,
    ] {
        if !text.contains(shown) {
            return Err(format!("`{shown}` is not on the status page:\n{text}"));
        }
    }
    let products = b
        .eval("document.querySelectorAll('#products tr').length")
        .await?;
    if products != json!(3) {
        return Err(format!(
            "a header and two products expected, got {products} rows"
        ));
    }
    let cell = format!(
        "Array.from(document.querySelectorAll('#orders tr')).find(r => r.innerText.includes({})).querySelector('.candidate').innerText",
        json!(order_id)
    );
    let masked = b.eval(&cell).await?;
    if masked != json!(assay::edge::html::mask(label)) || text.contains(label) {
        return Err(format!(
            "the candidate is not masked: the cell shows {masked} for {label:?}"
        ));
    }
    let shot = screenshot_path();
    b.screenshot(&shot).await?;
    let size = std::fs::metadata(&shot)
        .map_err(|e| format!("{}: {e}", shot.display()))?
        .len();
    if size < 1024 {
        return Err(format!("the screenshot is only {size} bytes"));
    }
    if shot != Path::new(SCREENSHOT) {
        let _ = std::fs::remove_file(&shot);
    }

    // The dead letter's button puts the result back in the queue; the page comes back with
    // the letter marked as retried and no button.
    let button = format!("#retry-{dead}");
    b.wait_for(
        &format!("!!document.querySelector('#dead-letters {button}')"),
        "the dead letter's retry button",
    )
    .await?;
    b.eval(&format!(
        "document.querySelector('#dead-letters {button}').click(); true"
    ))
    .await?;
    b.wait_for(
        &format!(
            "location.pathname === '/admin' && !!document.querySelector('#dead-letters') \
             && !document.querySelector('#dead-letters {button}') \
             && document.querySelector('#dead-letters').innerText.includes('retried')"
        ),
        "the status page with the dead letter retried",
    )
    .await?;

    b.eval("document.querySelector('#reveal').click(); true")
        .await?;
    b.wait_for(
        "location.search === '?reveal=1' && !!document.querySelector('#mask')",
        "the page with candidate details shown",
    )
    .await?;
    let shown = b.eval(&cell).await?;
    if shown != json!(label) {
        return Err(format!("revealed, the cell shows {shown}, not {label:?}"));
    }

    b.eval("document.querySelector('#logout').click(); true")
        .await?;
    b.wait_for(
        "location.pathname === '/admin/login' && document.body.innerText.includes('You are logged out.')",
        "the login form after logging out",
    )
    .await?;
    b.goto(&format!("{url}/admin")).await?;
    b.wait_for(
        "location.pathname === '/admin/login' && !!document.querySelector('#token') \
         && !document.body.innerText.includes('You are logged out.')",
        "the login form again: the session is gone",
    )
    .await?;
    Ok(())
}
