//! The host's background tasks are supervised: one that dies is noticed, turns `/readyz` red,
//! and stops the host with an error (so `assay serve` exits non-zero and is restarted).

use assay::app::FAILURE_GRACE;
use assay_tests::harness::{Deployment, WAIT};
use serde_json::Value;

async fn readyz(client: &reqwest::Client, d: &Deployment) -> Option<(u16, Value)> {
    let response = client
        .get(format!("{}/readyz", d.url()))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test]
async fn a_dead_relay_turns_readiness_red_and_stops_the_host_with_an_error() {
    let d = Deployment::start().await;
    let client = reqwest::Client::new();
    let (status, body) = readyz(&client, &d).await.expect("readyz answers");
    assert_eq!(status, 200, "ready before the fault: {body}");

    assert!(
        d.host.supervisor.abort("relay"),
        "the host runs a relay task"
    );
    let (status, body) = d
        .eventually_async("/readyz to turn red", || async {
            readyz(&client, &d).await.filter(|(s, _)| *s == 503)
        })
        .await;
    assert_eq!(status, 503);
    let problems = body["problems"].to_string();
    assert!(
        problems.contains("relay") && problems.contains("was aborted"),
        "readiness names the dead task: {body}"
    );

    // The host stops by itself after the grace period, and says why.
    tokio::time::timeout(FAILURE_GRACE + WAIT, d.host.supervisor.cancelled())
        .await
        .expect("the host stops itself after a task died");
    let failure = d
        .host
        .shutdown()
        .await
        .expect_err("a dead task is the host's error");
    assert_eq!(failure.task, "relay");
    assert!(
        failure.to_string().contains("relay task was aborted"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_clean_shutdown_is_not_a_failure() {
    let d = Deployment::start().await;
    let started = std::time::Instant::now();
    d.host.shutdown().await.expect("nothing died");
    assert!(
        started.elapsed() < FAILURE_GRACE,
        "shutdown does not wait for a grace period meant for failures: {:?}",
        started.elapsed()
    );
}
