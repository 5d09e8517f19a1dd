//! Contract 0.2.0 end to end, beside 0.1.0: a released 0.1.0 plugin and a 0.2.0 plugin on one
//! host, declared settings checked at load and on reload, declined callbacks, failures that
//! reach the recruiter, the package list cache, and state a plugin keeps between calls.

use std::path::Path;

use http::StatusCode;
use serde_json::Value;

use assay_tests::fixtures::{fixture_path, legacy_plugin_path};
use assay_tests::harness::{Deployment, WAIT};

const PACKAGES_BODY: &[u8] = br#"{"account_id":"acc-1","provider":"recruitee"}"#;

async fn readyz(d: &Deployment) -> Value {
    reqwest::get(format!("{}/readyz", d.url()))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json")
}

fn product<'a>(ready: &'a Value, name: &str) -> &'a Value {
    ready["products"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p["product"] == name))
        .unwrap_or_else(|| panic!("{name} in {ready}"))
}

/// Points `product`'s `plugin` at `wasm`, wherever it is.
fn use_plugin(config: &mut String, product: &str, wasm: &Path) {
    let from = format!("plugin = \"{product}.wasm\"");
    assert!(config.contains(&from), "{config}");
    *config = config.replace(&from, &format!("plugin = \"{}\"", wasm.display()));
}

/// Waits until the host has handled `n` more reload passes than `before`.
async fn wait_for_reload(mut reloads: tokio::sync::watch::Receiver<u64>, before: u64) {
    tokio::time::timeout(WAIT, reloads.wait_for(|n| *n > before))
        .await
        .expect("a reload in time")
        .expect("the host runs");
}

#[tokio::test]
async fn a_0_1_0_plugin_and_a_0_2_0_plugin_serve_side_by_side() {
    // codetest as released with contract 0.1.0 (a committed build), backcheck built from
    // today's sources on 0.2.0.
    let d = Deployment::start_with(|c| use_plugin(c, "codetest", &legacy_plugin_path("codetest")))
        .await;
    let ready = readyz(&d).await;
    assert_eq!(product(&ready, "codetest")["contract"], "0.1.0", "{ready}");
    assert_eq!(product(&ready, "backcheck")["contract"], "0.2.0", "{ready}");

    // The whole assessment flow through the 0.1.0 plugin.
    let order = d.order("codetest", 201).await;
    assert_eq!(d.send("codetest", &order).await, 200);
    d.stackone
        .wait_for_value(&order.order_id, "initiated", WAIT)
        .await
        .expect("initiated");
    let invitation = d
        .eventually("the invitation", || {
            d.vendor.invitations().into_iter().next()
        })
        .await;
    assert_eq!(
        d.vendor
            .complete_invitation(&invitation.id, 45, 50)
            .await
            .expect("sent"),
        200
    );
    d.stackone
        .wait_for_value(&order.order_id, "passed", WAIT)
        .await
        .expect("passed");

    // And the background check through the 0.2.0 plugin, on the same host.
    let check_order = d.order("backcheck", 202).await;
    assert_eq!(d.send("backcheck", &check_order).await, 200);
    let check = d
        .eventually("the check", || d.vendor.checks().into_iter().next())
        .await;
    assert!(d.vendor.set_check_status(&check.id, "clear"));
    d.stackone
        .wait_for_value(&check_order.order_id, "passed", WAIT)
        .await
        .expect("passed");
    for delivery in d.stackone.deliveries() {
        assert!(delivery.violations.is_empty(), "{:?}", delivery.violations);
    }
}

/// The configuration `config` without codetest's `base_url` setting (which its plugin declares
/// required).
fn without_codetest_base_url(config: &str) -> String {
    let header = "[products.codetest.settings]\n";
    let (before, after) = config.split_once(header).expect("codetest's settings");
    let (line, rest) = after.split_once('\n').expect("a first setting");
    assert!(line.starts_with("base_url = "), "{line}");
    format!("{before}{header}{rest}")
}

/// The demo vendor's URL, as the harness wrote it into `allowed_hosts`.
fn vendor_url(config: &str) -> String {
    config
        .lines()
        .find_map(|l| l.strip_prefix("allowed_hosts = [\""))
        .and_then(|l| l.strip_suffix("\"]"))
        .expect("the vendor's URL")
        .to_owned()
}

#[tokio::test]
async fn a_missing_required_setting_is_refused_at_load_naming_product_key_and_line() {
    let d = Deployment::start_with(|c| *c = without_codetest_base_url(c)).await;
    let ready = readyz(&d).await;
    let codetest = product(&ready, "codetest");
    assert_eq!(codetest["ready"], false, "{ready}");
    let error = codetest["error"].as_str().expect("an error");
    assert!(error.contains("product `codetest`"), "{error}");
    assert!(error.contains("`base_url`"), "{error}");
    assert!(error.contains("config.toml:"), "names the place: {error}");
    assert_eq!(product(&ready, "backcheck")["ready"], true, "{ready}");

    // StackOne is told the product is unavailable, not that its request was wrong.
    let client = reqwest::Client::new();
    assert_eq!(
        list(&d, &client, "codetest").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_plugin_that_does_not_serve_its_products_kind_is_refused_at_load() {
    // The background-check plugin configured for an assessment product: its orders would
    // reach a plugin that cannot fulfil them.
    let d = Deployment::start_with(|c| {
        *c = c.replacen("kind = \"background_check\"", "kind = \"assessment\"", 1);
    })
    .await;
    let ready = readyz(&d).await;
    let backcheck = product(&ready, "backcheck");
    assert_eq!(backcheck["ready"], false, "{ready}");
    let error = backcheck["error"].as_str().expect("an error");
    assert!(
        error.contains("product `backcheck`")
            && error.contains(
                "the product's kind is `assessment` but the plugin serves only background_check"
            ),
        "{error}"
    );
    assert_eq!(product(&ready, "codetest")["ready"], true, "{ready}");
    let client = reqwest::Client::new();
    assert_eq!(
        list(&d, &client, "backcheck").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_secret_written_as_a_literal_is_refused_at_load() {
    let d = Deployment::start_with(|c| {
        *c = c.replacen(
            "api_token = \"env:T_VENDOR_TOKEN\"",
            "api_token = \"pasted-token\"",
            1,
        );
    })
    .await;
    let ready = readyz(&d).await;
    let error = product(&ready, "codetest")["error"]
        .as_str()
        .expect("an error")
        .to_owned();
    assert!(error.contains("`api_token`"), "{error}");
    assert!(error.contains("literal"), "{error}");
    assert!(
        !error.contains("pasted-token"),
        "the value is never echoed: {error}"
    );
}

#[tokio::test]
async fn a_reload_missing_a_required_setting_keeps_the_old_generation_serving() {
    let d = Deployment::start().await;
    let client = reqwest::Client::new();
    let before = d.host.reloads();
    let handled = *before.borrow();
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(d.config_path(), without_codetest_base_url(&text)).expect("write");
    let ready = d
        .eventually_async("the refusal", || async {
            let ready = readyz(&d).await;
            product(&ready, "codetest")["last_reload_error"]
                .is_string()
                .then_some(ready)
        })
        .await;
    wait_for_reload(before, handled).await;
    let codetest = product(&ready, "codetest");
    assert_eq!(
        codetest["serving"], true,
        "the old generation serves: {ready}"
    );
    assert_eq!(
        codetest["state"], "stale",
        "red while the old generation serves: {ready}"
    );
    assert!(
        codetest["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("`base_url`")),
        "{ready}"
    );
    assert_eq!(
        list(&d, &client, "codetest").await.0,
        StatusCode::OK,
        "still served"
    );
    let product = d.host.products.get("codetest").expect("codetest");
    assert!(
        product.config.settings.contains_key("base_url"),
        "the old settings stay in force"
    );
}

/// Signs a CodeTest callback as the demo vendor does.
fn codetest_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_callback_naming_an_unknown_session_is_404_not_503() {
    let d = Deployment::start().await;
    // Signed like the vendor's own, but for an invitation and reference nobody created, while
    // no order waits for its fulfilment to be recorded: no retry could ever place it.
    let body = serde_json::to_vec(&serde_json::json!({
        "event": "attempt.completed",
        "invitation_id": "inv-nobody",
        "reference": "order-nobody",
        "score": 10, "max_score": 50,
        "started_at": "2026-11-30T10:00:00Z", "submitted_at": "2026-11-30T11:00:00Z",
        "report_url": "http://vendor.example/reports/inv-nobody"
    }))
    .expect("json");
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let response = client
            .post(format!(
                "{}/v1/products/codetest/callbacks/attempts",
                d.url()
            ))
            .header(
                "x-codetest-signature",
                codetest_signature(d.secrets.vendor_secret.expose(), &body),
            )
            .body(body.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.headers().get("retry-after").is_none());
        let v: Value = response.json().await.expect("json");
        assert_eq!(v["error"]["code"], "unknown", "{v}");
    }
    assert!(d.stackone.deliveries().is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn a_callback_the_plugin_declines_is_404() {
    let d = Deployment::start_with(add_tokencache_products).await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/products/tc1/callbacks/whatever", d.url()))
        .body("x")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let v: Value = response.json().await.expect("json");
    assert_eq!(v["error"]["code"], "unknown", "{v}");
}

#[tokio::test]
async fn a_vendor_422_on_fulfilment_reaches_stackone_as_a_failed_result() {
    let d = Deployment::start().await;
    let order = d.order("codetest", 203).await;
    // The order is valid for StackOne; the vendor refuses it for good.
    d.vendor
        .fail_next(1, StatusCode::UNPROCESSABLE_ENTITY, None);
    assert_eq!(d.send("codetest", &order).await, 200);
    d.stackone
        .wait_for_value(&order.order_id, "failed", WAIT)
        .await
        .expect("a failed result reached StackOne");
    let deliveries = d.stackone.deliveries_for(&order.order_id);
    assert_eq!(deliveries.len(), 1, "one result, and only one");
    let failed = &deliveries[0];
    assert!(failed.violations.is_empty(), "{:?}", failed.violations);
    let json = failed.json.as_ref().expect("json");
    assert_eq!(json["result"]["value"], "failed", "{json}");
    // The vendor's words, as the plugin reported them.
    assert!(
        json["result"]["source_value"]
            .as_str()
            .is_some_and(|s| s.contains("injected failure")),
        "the plugin's message is the source value: {json}"
    );
    let orders = d
        .host
        .store
        .list_orders(assay_store::OrderFilter {
            order_id: Some(order.order_id.clone()),
            ..Default::default()
        })
        .await
        .expect("orders");
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].state, assay_store::OrderState::Failed);
    let detail = d
        .host
        .store
        .get_order(orders[0].id)
        .await
        .expect("read")
        .expect("the order");
    assert_eq!(
        detail.outbox.len(),
        1,
        "the failure result is in the outbox"
    );
    assert_eq!(detail.outbox[0].result_value.as_deref(), Some("failed"));
    // Only one attempt: a 422 is not retried.
    let creates = d
        .vendor
        .calls()
        .into_iter()
        .filter(|c| c.path == "/api/invitations")
        .count();
    assert_eq!(creates, 1);
}

/// Two products served by the `tokencache` fixture, against the demo vendor's token endpoint.
fn add_tokencache_products(config: &mut String) {
    let vendor = vendor_url(config);
    for name in ["tc1", "tc2"] {
        config.push_str(&format!(
            "\n[products.{name}]\nplugin = \"{plugin}\"\nkind = \"assessment\"\n\
             webhook_secrets = [\"env:T_WHSEC\"]\npackage_list_keys = [\"env:T_PKG\"]\n\
             allowed_hosts = [\"{vendor}\"]\n[products.{name}.settings]\n\
             token_url = \"{vendor}/oauth/token\"\nclient_id = \"{name}\"\n\
             client_secret = \"env:T_VENDOR_TOKEN\"\n",
            plugin = fixture_path("tokencache").display(),
        ));
    }
}

/// The token `product`'s `tokencache` plugin used: the name of its one package.
async fn token_used(d: &Deployment, client: &reqwest::Client, product: &str) -> String {
    let (status, _, body) = list(d, client, product).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).expect("json");
    v["data"][0]["name"].as_str().expect("a token").to_owned()
}

/// Stores `value` under `key` in `product`'s state, through the `tokencache` plugin.
async fn put_state(
    d: &Deployment,
    client: &reqwest::Client,
    product: &str,
    key: &str,
    value: &str,
) {
    let put = client
        .post(format!(
            "{}/v1/products/{product}/callbacks/put/{key}",
            d.url()
        ))
        .body(value.to_owned())
        .send()
        .await
        .expect("sent");
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
}

/// What `product`'s state holds under `key`, as the `tokencache` plugin answers it.
async fn peek_state(
    d: &Deployment,
    client: &reqwest::Client,
    product: &str,
    key: &str,
) -> (StatusCode, String) {
    let r = client
        .get(format!(
            "{}/v1/products/{product}/callbacks/peek/{key}",
            d.url()
        ))
        .send()
        .await
        .expect("sent");
    (r.status(), r.text().await.expect("text"))
}

#[tokio::test]
async fn a_plugin_caches_its_token_between_calls_and_no_other_product_sees_it() {
    let d = Deployment::start_with(add_tokencache_products).await;
    let client = reqwest::Client::new();
    let first = token_used(&d, &client, "tc1").await;
    for _ in 0..20 {
        assert_eq!(
            token_used(&d, &client, "tc1").await,
            first,
            "the cached token"
        );
    }
    assert_eq!(d.vendor.token_requests(), 1, "one token for 21 calls");

    // The other product has its own state: its first call fetches its own token.
    let second = token_used(&d, &client, "tc2").await;
    assert_ne!(second, first);
    assert_eq!(d.vendor.token_requests(), 2);

    // tc1 keeps a value; tc2 cannot read it under the same key.
    put_state(&d, &client, "tc1", "shared", "tc1's value").await;
    assert_eq!(
        peek_state(&d, &client, "tc1", "shared").await,
        (StatusCode::OK, "tc1's value".to_owned())
    );
    assert_eq!(
        peek_state(&d, &client, "tc2", "shared").await,
        (StatusCode::NOT_FOUND, "absent".to_owned())
    );
}

/// The package list of `product`: status, `x-assay-cache`, body.
async fn list(
    d: &Deployment,
    client: &reqwest::Client,
    product: &str,
) -> (StatusCode, Option<String>, bytes::Bytes) {
    let response = d
        .package_list_request(client, product, PACKAGES_BODY)
        .send()
        .await
        .expect("sent");
    let cache = response
        .headers()
        .get("x-assay-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        response.status(),
        cache,
        response.bytes().await.expect("body"),
    )
}

/// Adds `settings` (TOML lines) to CodeTest's settings.
fn with_codetest_settings(settings: String) -> impl FnOnce(&mut String) {
    move |c: &mut String| {
        let header = "[products.codetest.settings]\n";
        *c = c.replacen(header, &format!("{header}{settings}"), 1);
    }
}

/// CodeTest's package list reusable for `max_age` seconds, and `stale` more while it fails.
fn codetest_freshness(max_age: u32, stale: u32) -> impl FnOnce(&mut String) {
    with_codetest_settings(format!(
        "packages_max_age_s = \"{max_age}\"\npackages_stale_if_error_s = \"{stale}\"\n"
    ))
}

#[tokio::test]
async fn the_package_list_is_served_stale_while_the_plugin_fails_until_the_window_ends() {
    let d = Deployment::start_with(codetest_freshness(1, 2)).await;
    let client = reqwest::Client::new();
    let asked = std::time::Instant::now();
    let (status, cache, fresh) = list(&d, &client, "codetest").await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("miss")));
    let calls = d.vendor.api_calls();
    let (status, cache, again) = list(&d, &client, "codetest").await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("hit")));
    assert_eq!(again, fresh);
    assert_eq!(
        d.vendor.api_calls(),
        calls,
        "a hit does not call the plugin"
    );

    // CodeTest goes down.
    d.vendor
        .fail_next(100_000, StatusCode::SERVICE_UNAVAILABLE, None);
    let stale_answers = std::cell::Cell::new(0);
    let ended = d
        .eventually_async("the end of the stale window", || {
            let (d, client, fresh, stale_answers) = (&d, &client, &fresh, &stale_answers);
            async move {
                let (status, cache, body) = list(d, client, "codetest").await;
                match (status, cache.as_deref()) {
                    (StatusCode::OK, Some("hit")) => None,
                    (StatusCode::OK, Some("stale")) => {
                        assert_eq!(&body, fresh, "the stale answer is the cached list");
                        stale_answers.set(stale_answers.get() + 1);
                        None
                    }
                    (StatusCode::SERVICE_UNAVAILABLE, None) => Some(std::time::Instant::now()),
                    other => panic!("unexpected answer {other:?}"),
                }
            }
        })
        .await;
    assert!(
        stale_answers.get() > 0,
        "the stale list was served while CodeTest failed"
    );
    assert!(
        ended.duration_since(asked) >= std::time::Duration::from_secs(3),
        "the stale window (1 s fresh + 2 s stale) ended after {:?}",
        ended.duration_since(asked)
    );
}

#[tokio::test]
async fn a_fresh_entry_is_refreshed_in_the_background() {
    // Ten seconds: the refresh starts from 7.5 s, so requests have 2.5 s to land in that window
    // even on a loaded machine.
    let d = Deployment::start_with(codetest_freshness(10, 0)).await;
    let client = reqwest::Client::new();
    let (_, cache, _) = list(&d, &client, "codetest").await;
    assert_eq!(cache.as_deref(), Some("miss"));
    let calls = d.vendor.api_calls();
    // From three quarters of the max-age on, a hit starts one refresh; every answer until
    // the refreshed entry is in place is still a hit.
    d.eventually_async("a background refresh", || {
        let (d, client) = (&d, &client);
        async move {
            let (status, cache, _) = list(d, client, "codetest").await;
            assert_eq!(
                (status, cache.as_deref()),
                (StatusCode::OK, Some("hit")),
                "no request waits for the plugin"
            );
            (d.vendor.api_calls() > calls).then_some(())
        }
    })
    .await;
    assert_eq!(d.vendor.api_calls(), calls + 1, "one refresh");
}

#[tokio::test]
async fn a_cached_token_is_fetched_again_once_per_expiry_window() {
    let d = Deployment::start_with(add_tokencache_products).await;
    // Two-second tokens: the SDK's token cache keeps one until half its life is left.
    d.vendor.set_token_lifetime(2);
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut first_use: Vec<(String, std::time::Instant)> = Vec::new();
    let mut calls = 0;
    while started.elapsed() < std::time::Duration::from_millis(3500) {
        let token = token_used(&d, &client, "tc1").await;
        calls += 1;
        if first_use.last().is_none_or(|(t, _)| *t != token) {
            assert!(
                !first_use.iter().any(|(t, _)| *t == token),
                "a token came back after it was replaced"
            );
            first_use.push((token, std::time::Instant::now()));
        }
    }
    assert!(calls > 20, "many calls: {calls}");
    assert!(first_use.len() >= 2, "the token was renewed: {first_use:?}");
    assert_eq!(
        d.vendor.token_requests(),
        first_use.len(),
        "one token request per token used"
    );
    // Timed where the tokens are granted, not where the test sees them (a slow answer would
    // shift the latter): a token is asked for again only once its window (a second, counted
    // from when the plugin asked for it) is over, while calls come every few milliseconds.
    // The slack allows for the token request's own time on a loaded machine.
    let granted = d.vendor.tokens_granted_at();
    for pair in granted.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap >= std::time::Duration::from_millis(750),
            "a new token was asked for {gap:?} after the last, within its window"
        );
    }
}

/// Rewrites the configuration file with `edit` and waits until the host has handled it.
async fn reconfigure(d: &Deployment, edit: impl FnOnce(String) -> String) {
    let reloads = d.host.reloads();
    let before = *reloads.borrow();
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(d.config_path(), edit(text)).expect("write");
    wait_for_reload(reloads, before).await;
}

#[tokio::test]
async fn state_survives_a_reload_and_is_cleared_when_the_settings_change() {
    let d = Deployment::start_with(add_tokencache_products).await;
    let client = reqwest::Client::new();
    put_state(&d, &client, "tc1", "kept", "v1").await;
    let peek = || peek_state(&d, &client, "tc1", "kept");
    // A reload that leaves tc1's settings alone (a limit changes) keeps its state.
    reconfigure(&d, |t| {
        t.replacen("[products.tc1]\n", "[products.tc1]\ntimeout_ms = 9000\n", 1)
    })
    .await;
    assert_eq!(
        d.host
            .products
            .get("tc1")
            .expect("tc1")
            .config
            .timeout
            .as_millis(),
        9000
    );
    assert_eq!(peek().await, (StatusCode::OK, "v1".to_owned()));
    // New settings: a state built with the old ones is gone.
    reconfigure(&d, |t| {
        t.replacen(
            "[products.tc1.settings]\n",
            "[products.tc1.settings]\nbase_url = \"http://127.0.0.1:9\"\n",
            1,
        )
    })
    .await;
    assert!(
        d.host
            .products
            .get("tc1")
            .expect("tc1")
            .config
            .settings
            .contains_key("base_url")
    );
    assert_eq!(peek().await, (StatusCode::NOT_FOUND, "absent".to_owned()));
}

#[tokio::test]
async fn a_settings_change_empties_the_package_list_cache() {
    let d = Deployment::start_with(codetest_freshness(3600, 0)).await;
    let client = reqwest::Client::new();
    assert_eq!(
        list(&d, &client, "codetest").await.1.as_deref(),
        Some("miss")
    );
    assert_eq!(
        list(&d, &client, "codetest").await.1.as_deref(),
        Some("hit")
    );
    reconfigure(&d, |t| {
        t.replacen(
            "packages_max_age_s = \"3600\"",
            "packages_max_age_s = \"3500\"",
            1,
        )
    })
    .await;
    assert_eq!(
        list(&d, &client, "codetest").await.1.as_deref(),
        Some("miss"),
        "the new generation asks the plugin"
    );
    assert_eq!(
        list(&d, &client, "codetest").await.1.as_deref(),
        Some("hit")
    );
}

#[tokio::test]
async fn a_plugin_refusing_its_settings_at_run_time_is_503_naming_the_product() {
    // `packages` is optional, so the product loads; its value is not the JSON the plugin needs.
    let d = Deployment::start_with(with_codetest_settings("packages = \"[{oops\"\n".into())).await;
    let client = reqwest::Client::new();
    let response = d
        .package_list_request(&client, "codetest", PACKAGES_BODY)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let v: Value = response.json().await.expect("json");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("product `codetest`"), "{v}");
    assert!(message.contains("misconfigured"), "{v}");
}
