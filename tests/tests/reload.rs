//! Hot reload: plugins swapped under load without a failed request, half-written and broken
//! files never served, configuration changes honoured without a restart.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use assay::reload::{MAX_SETTLE, SETTLE};
use assay_tests::fixtures::{example_plugin_path, fixture_path, install_plugin};
use assay_tests::harness::{Deployment, WAIT};
use serde_json::Value;

/// Package ids the `codetest` product answers with, whichever plugin generation serves it.
async fn package_ids(client: &reqwest::Client, d: &Deployment) -> Result<Vec<String>, String> {
    let response = d
        .package_list_request(
            client,
            "codetest",
            br#"{"account_id":"acc","provider":"recruitee"}"#,
        )
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let v: Value = response.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {v}"));
    }
    Ok(v["data"]
        .as_array()
        .ok_or("no data")?
        .iter()
        .filter_map(|p| p["id"].as_str().map(str::to_owned))
        .collect())
}

const OLD: [&str; 2] = ["ct-rust", "ct-sql"];
const NEW: [&str; 2] = ["wb-rust", "wb-sql"];

fn generation_of(ids: &[String]) -> Option<&'static str> {
    if ids == OLD {
        Some("codetest")
    } else if ids == NEW {
        Some("wellbehaved")
    } else {
        None
    }
}

fn swap_in(dir: &Path, which: &str) {
    let wasm = if which == "codetest" {
        example_plugin_path("codetest")
    } else {
        fixture_path("wellbehaved")
    };
    install_plugin(dir, "codetest", &wasm).expect("install");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_swaps_under_load_fail_no_request_and_never_mix() {
    let d = Arc::new(Deployment::start().await);
    let client = reqwest::Client::new();
    assert_eq!(
        generation_of(&package_ids(&client, &d).await.expect("first")),
        Some("codetest")
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (d, client, stop, ok, failed) = (
            Arc::clone(&d),
            client.clone(),
            Arc::clone(&stop),
            Arc::clone(&ok),
            Arc::clone(&failed),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match package_ids(&client, &d).await {
                    Ok(ids) if generation_of(&ids).is_some() => ok.fetch_add(1, Ordering::Relaxed),
                    Ok(ids) => panic!("a response mixing generations: {ids:?}"),
                    Err(e) => {
                        eprintln!("failed request: {e}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for swap in 0..50 {
        let next = if swap % 2 == 0 {
            "wellbehaved"
        } else {
            "codetest"
        };
        swap_in(&d.plugins_dir(), next);
        d.eventually_async("the new generation", || async {
            (generation_of(&package_ids(&client, &d).await.ok()?) == Some(next)).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests during 50 swaps"
    );
    assert!(
        ok.load(Ordering::Relaxed) > 100,
        "the load really ran: {}",
        ok.load(Ordering::Relaxed)
    );
    let product = d.host.products.get("codetest").expect("product");
    assert_eq!(product.generation, 51);
}

#[tokio::test]
async fn a_half_written_file_is_never_loaded() {
    let d = Deployment::start().await;
    let before = d.host.products.get("codetest").expect("product").generation;
    let bytes = std::fs::read(fixture_path("wellbehaved")).expect("read");
    let target = d.plugins_dir().join("codetest.wasm");
    // Written in place, in two halves, the second well within the settle time.
    std::fs::write(&target, &bytes[..bytes.len() / 2]).expect("first half");
    tokio::time::sleep(SETTLE / 3).await;
    std::fs::write(&target, &bytes).expect("whole file");
    let client = reqwest::Client::new();
    d.eventually_async("the new generation", || async {
        (generation_of(&package_ids(&client, &d).await.ok()?) == Some("wellbehaved")).then_some(())
    })
    .await;
    let product = d.host.products.get("codetest").expect("product");
    assert_eq!(product.generation, before + 1, "exactly one new generation");
    assert_eq!(product.last_error, None, "the half file was never tried");
}

#[tokio::test]
async fn a_broken_file_keeps_the_old_generation_and_is_reported() {
    let d = Deployment::start().await;
    let dir = d.plugins_dir();
    std::fs::write(dir.join(".broken.part"), b"\0asm\x0d\0\x01\0garbage").expect("write");
    std::fs::rename(dir.join(".broken.part"), dir.join("codetest.wasm")).expect("rename");
    let client = reqwest::Client::new();
    let ready: Value = d
        .eventually_async("the reload error", || async {
            let v: Value = client
                .get(format!("{}/readyz", d.url()))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let has_error = v["products"]
                .as_array()?
                .iter()
                .any(|p| p["product"] == "codetest" && p["last_reload_error"].is_string());
            has_error.then_some(v)
        })
        .await;
    assert!(
        ready.to_string().contains("codetest.wasm"),
        "the error names the file: {ready}"
    );
    assert_eq!(
        generation_of(&package_ids(&client, &d).await.expect("still served")),
        Some("codetest")
    );
}

#[tokio::test]
async fn deleting_a_plugin_gives_503_for_its_product_only() {
    let d = Deployment::start().await;
    std::fs::remove_file(d.plugins_dir().join("codetest.wasm")).expect("delete");
    let client = reqwest::Client::new();
    let err = d
        .eventually_async("the 503", || async {
            match package_ids(&client, &d).await {
                Err(e) if e.starts_with("503") => Some(e),
                _ => None,
            }
        })
        .await;
    assert!(err.contains("codetest"), "{err}");
    // The other product still answers.
    let page = assay_emulator::fetch_packages(
        &d.url(),
        "backcheck",
        "acc",
        "recruitee",
        &d.secrets.package_key,
        &d.secrets.whsec,
    )
    .await;
    assert!(page.is_ok(), "{page:?}");
    // Putting the file back brings the product back.
    swap_in(&d.plugins_dir(), "codetest");
    d.eventually_async("the product back", || async {
        package_ids(&client, &d).await.ok()
    })
    .await;
}

#[tokio::test]
async fn rotating_the_webhook_secret_in_the_config_takes_effect_without_restart() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 40).await;
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    let rotated = text.replacen(
        "webhook_secrets = [\"env:T_WHSEC\"]",
        "webhook_secrets = [\"env:T_WHSEC2\"]",
        1,
    );
    assert_ne!(text, rotated);
    std::fs::write(d.config_path(), rotated).expect("write config");
    let new_secret = d.secrets.whsec2.clone();
    d.eventually_async("the rotated secret", || async {
        let status = d
            .stackone
            .send_order(&d.url(), "codetest", &order, &new_secret, None)
            .await
            .ok()?;
        (status.as_u16() == 200).then_some(())
    })
    .await;
    let old = d
        .stackone
        .send_order(&d.url(), "codetest", &order, &d.secrets.whsec, None)
        .await
        .expect("send");
    assert_eq!(old.as_u16(), 401, "the old secret is gone");
    // An invalid configuration changes nothing. Nothing observable happens when a change is
    // refused, so wait for the reloader to say it handled the change.
    let mut handled = d.host.reloads();
    handled.borrow_and_update();
    std::fs::write(d.config_path(), "[server]\nlisten = 12\n").expect("write");
    tokio::time::timeout(MAX_SETTLE + WAIT, handled.changed())
        .await
        .expect("the reloader handles the change")
        .expect("the reloader runs");
    let still = d
        .stackone
        .send_order(&d.url(), "codetest", &order, &new_secret, None)
        .await
        .expect("send");
    assert_eq!(still.as_u16(), 200, "an invalid file was ignored");
}
