//! `/readyz` per product: a bad plugin file turns its product red while the last good
//! generation serves, the host stays ready while one product serves, and the public body
//! never shows a file path.

use assay_tests::fixtures::{example_plugin_path, install_plugin};
use assay_tests::harness::Deployment;
use serde_json::Value;

async fn readyz(client: &reqwest::Client, url: &str) -> Option<(u16, Value)> {
    let response = client.get(format!("{url}/readyz")).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

fn product<'a>(ready: &'a Value, name: &str) -> &'a Value {
    ready["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["product"] == name))
        .unwrap_or_else(|| panic!("no product {name} in {ready}"))
}

/// The configuration with backcheck's plugin pointing at a file that is not there.
fn without_backcheck_plugin(config: &mut String) {
    let from = "plugin = \"backcheck.wasm\"";
    assert!(config.contains(from), "{config}");
    *config = config.replacen(from, "plugin = \"not-installed.wasm\"", 1);
}

/// Every string in `value` that contains `/`: a public body must have none (no product name,
/// state, plugin label or contract version has one; a file path does).
fn strings_with_slashes(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) if s.contains('/') => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings_with_slashes).collect(),
        Value::Object(map) => map.values().flat_map(strings_with_slashes).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn a_bad_file_turns_its_product_red_while_the_old_generation_serves() {
    let d = Deployment::start().await;
    let client = reqwest::Client::new();
    let (status, before) = readyz(&client, &d.url()).await.expect("readyz answers");
    assert_eq!(status, 200, "{before}");
    assert_eq!(product(&before, "codetest")["state"], "ready", "{before}");

    let dir = d.plugins_dir();
    std::fs::write(dir.join(".broken.part"), b"\0asm\x0d\0\x01\0garbage").expect("write");
    std::fs::rename(dir.join(".broken.part"), dir.join("codetest.wasm")).expect("rename");
    let (status, ready) = d
        .eventually_async("codetest to turn stale", || async {
            readyz(&client, &d.url())
                .await
                .filter(|(_, v)| product(v, "codetest")["state"] == "stale")
        })
        .await;
    assert_eq!(status, 200, "both products still serve: {ready}");
    let codetest = product(&ready, "codetest");
    assert_eq!(codetest["serving"], true, "{ready}");
    assert_eq!(codetest["ready"], false, "{ready}");
    assert_eq!(
        codetest["generation"], 1,
        "the first generation serves: {ready}"
    );
    let error = codetest["last_reload_error"].as_str().expect("the reason");
    assert!(
        error.contains("codetest.wasm"),
        "the reason names the file: {error}"
    );
    assert!(
        ready["problems"].to_string().contains("codetest"),
        "{ready}"
    );
    assert_eq!(product(&ready, "backcheck")["state"], "ready", "{ready}");
    let dir_text = d.dir.path().display().to_string();
    assert!(
        !ready.to_string().contains(&dir_text),
        "the public body shows a path: {ready}"
    );
    assert_eq!(
        strings_with_slashes(&ready),
        Vec::<String>::new(),
        "{ready}"
    );
    // Still served by the old generation.
    let page = assay_emulator::fetch_packages(
        &d.url(),
        "codetest",
        "acc",
        "recruitee",
        &d.secrets.package_key,
        &d.secrets.whsec,
    )
    .await;
    assert!(page.is_ok(), "codetest answers: {page:?}");

    // A good file makes it green again, in a new generation.
    install_plugin(&dir, "codetest", &example_plugin_path("codetest")).expect("install");
    let (_, ready) = d
        .eventually_async("codetest to turn ready", || async {
            readyz(&client, &d.url())
                .await
                .filter(|(_, v)| product(v, "codetest")["state"] == "ready")
        })
        .await;
    assert_eq!(product(&ready, "codetest")["generation"], 2, "{ready}");
    assert_eq!(
        product(&ready, "codetest")["last_reload_error"],
        Value::Null
    );
}

#[tokio::test]
async fn the_host_is_ready_while_one_product_serves_and_not_when_none_does() {
    let d = Deployment::start_with(without_backcheck_plugin).await;
    let client = reqwest::Client::new();
    let (status, ready) = readyz(&client, &d.url()).await.expect("readyz answers");
    assert_eq!(status, 200, "codetest serves: {ready}");
    let backcheck = product(&ready, "backcheck");
    assert_eq!(backcheck["state"], "unavailable", "{ready}");
    assert_eq!(backcheck["serving"], false, "{ready}");
    let error = backcheck["error"].as_str().expect("the reason");
    assert!(error.contains("not-installed.wasm"), "{error}");
    assert_eq!(
        strings_with_slashes(&ready),
        Vec::<String>::new(),
        "no path in the public body: {ready}"
    );

    std::fs::remove_file(d.plugins_dir().join("codetest.wasm")).expect("delete codetest");
    let (status, ready) = d
        .eventually_async("/readyz to turn red", || async {
            readyz(&client, &d.url()).await.filter(|(s, _)| *s == 503)
        })
        .await;
    assert_eq!(status, 503);
    assert_eq!(
        product(&ready, "codetest")["state"],
        "unavailable",
        "{ready}"
    );
    assert!(
        ready["problems"].to_string().contains("no product serves"),
        "{ready}"
    );
    assert_eq!(
        strings_with_slashes(&ready),
        Vec::<String>::new(),
        "no path in the public body: {ready}"
    );
}

#[tokio::test]
async fn beside_an_admin_listener_public_readiness_says_states_only() {
    let d = Deployment::start_with_admin_listener(without_backcheck_plugin).await;
    let client = reqwest::Client::new();
    let (status, public) = readyz(&client, &d.url()).await.expect("public readyz");
    assert_eq!(status, 200, "{public}");
    assert_eq!(
        public,
        serde_json::json!({"ready": true, "products": [
            {"product": "backcheck", "state": "unavailable"},
            {"product": "codetest", "state": "ready"},
        ]})
    );
    let (status, admin) = readyz(&client, &d.admin_url()).await.expect("admin readyz");
    assert_eq!(status, 200, "{admin}");
    let error = product(&admin, "backcheck")["error"]
        .as_str()
        .expect("the reason");
    assert!(
        error.contains(&d.plugins_dir().display().to_string()),
        "the admin listener shows the whole path: {error}"
    );
}

#[tokio::test]
async fn a_plugins_folder_missing_at_start_is_loaded_when_it_appears() {
    let d = Deployment::start_with(|c| {
        let plugins = "/plugins\"\n";
        assert!(c.contains(plugins), "{c}");
        *c = c.replacen(plugins, "/later-plugins\"\n", 1);
    })
    .await;
    let client = reqwest::Client::new();
    let (status, ready) = readyz(&client, &d.url()).await.expect("readyz answers");
    assert_eq!(status, 503, "no plugin anywhere: {ready}");
    assert_eq!(
        product(&ready, "codetest")["state"],
        "unavailable",
        "{ready}"
    );

    let later = d.dir.path().join("later-plugins");
    std::fs::create_dir(&later).expect("create the plugins folder");
    install_plugin(&later, "codetest", &example_plugin_path("codetest")).expect("install");
    let (status, ready) = d
        .eventually_async("codetest to load from the new folder", || async {
            readyz(&client, &d.url())
                .await
                .filter(|(_, v)| product(v, "codetest")["state"] == "ready")
        })
        .await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        product(&ready, "backcheck")["state"],
        "unavailable",
        "{ready}"
    );
}
