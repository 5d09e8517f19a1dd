//! Step 6 of `assay check`: StackOne's testing checklist against a running host, product by
//! product, with the requests StackOne sends (the emulator's client, `assay_emulator::client`):
//!
//! - the Package's List Endpoint answers with auth and signature, in StackOne's shape
//!   (validated against the OpenAPI schema), and refuses a request without them;
//! - a CORS preflight from each configured origin is answered for that origin;
//! - a signed order webhook (a test order, its id starting `assay-send-test-`) is accepted;
//! - its first result reaches StackOne (read through the host's admin view, which needs
//!   `server.admin_token`);
//! - StackOne's connector meta for the provider (`--provider`, default `recruitee`) lists
//!   every field of that result, with an allowed value where the field has a list of them.
//!
//! The test order is a real order: it is stored, fulfilled by the plugin (which may call the
//! vendor) and its result is sent to the configured StackOne. Point the host at the emulator or
//! at a StackOne account meant for testing.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use super::Report;
use crate::cli::CheckArgs;
use crate::config::{Config, OrderKind, ProductConfig};
use crate::send;

/// The fix the guide gives for a package list that fails.
const PACKAGE_LIST_FIX: &str = "Check Package's List Endpoint URL implementation at your end \
     (the plugin's list-packages; `assay orders` and the host's log show its errors), and that \
     StackOne's configuration has this URL and a package list key of this product";
/// The guide's fix for a test notification that does not arrive.
const WEBHOOK_FIX: &str = "Verify webhook URL and enable the expected events as mentioned in the \
     StackOne Configuration (the product's webhook_secrets must include StackOne's signing \
     secret)";
/// What to do when the test order is not fulfilled.
const FULFIL_FIX: &str = "The plugin did not fulfil the test order: the reason above is the \
     plugin's; check that the vendor's API answers from this host (allowed_hosts, `assay check` \
     without --url) and the product's settings (`assay orders show ID` shows every attempt)";
/// The guide's fix for a result update that fails.
const RESULT_FIX: &str = "Check Connector Meta API endpoint for payload format (`assay orders \
     show ID` shows the body sent and StackOne's answer)";

/// Runs the checklist for `products` against the host at `url`.
pub(super) async fn run(
    args: &CheckArgs,
    config: &Config,
    products: &[String],
    url: &str,
    report: &mut Report,
) {
    let url = url.trim_end_matches('/');
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            report.fail("HTTP client", e, "this machine cannot make HTTP requests");
            return;
        }
    };
    let ready = http.get(format!("{url}/readyz")).send().await;
    match ready {
        Err(e) => {
            report.fail(
                format!("host at {url}"),
                super::unreachable_reason(&e),
                "start it (`assay serve`), or pass the address it listens on with --url",
            );
            return;
        }
        Ok(answer) if answer.status().is_success() => {
            report.pass(format!("host at {url} is ready"));
        }
        Ok(answer) => {
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            report.fail(
                format!("host at {url}"),
                format!("/readyz answers {status}: {}", body.trim()),
                "see what the answer names (a plugin that failed to load, the store)",
            );
        }
    }
    for name in products {
        let product = &config.products[name];
        let listed = report.outcome(
            format!("product `{name}`: the package list answers with auth and signature, in StackOne's shape"),
            send::packages(url, name, product)
                .await
                .map(|page| page.data.len()),
            PACKAGE_LIST_FIX,
        );
        refuses_unsigned(&http, url, name, report).await;
        cors(&http, url, name, product, report).await;
        if listed.is_none() {
            report.note(format!(
                "product `{name}`: no test order without a package list"
            ));
            continue;
        }
        if let Some(body) = order_round_trip(args, config, url, name, product, report).await {
            result_payload(args, config, name, product, &body, report).await;
        }
    }
}

/// The package list refuses a request with neither Basic auth nor a signature.
async fn refuses_unsigned(http: &reqwest::Client, url: &str, name: &str, report: &mut Report) {
    let what = format!("product `{name}`: the package list refuses a request without credentials");
    let answer = http
        .post(format!("{url}/v1/products/{name}/packages"))
        .header("content-type", "application/json")
        .body(r#"{"account_id":"assay-check","provider":"recruitee"}"#)
        .send()
        .await;
    match answer {
        Ok(a) if a.status() == reqwest::StatusCode::UNAUTHORIZED => report.pass(what),
        Ok(a) => report.fail(
            what,
            format!("it answered {}", a.status()),
            "this is not an Assay host, or a proxy in front of it answers for it: point --url \
             at the host itself",
        ),
        Err(e) => report.fail(what, super::unreachable_reason(&e), "check --url"),
    }
}

/// A preflight from each configured origin gets that origin back.
async fn cors(
    http: &reqwest::Client,
    url: &str,
    name: &str,
    product: &ProductConfig,
    report: &mut Report,
) {
    if product.cors_origins.is_empty() {
        report.note(format!(
            "product `{name}`: no cors_origins, so no CORS preflight to check (StackOne calls the \
             package list from its servers)"
        ));
        return;
    }
    for origin in &product.cors_origins {
        let what = format!("product `{name}`: CORS preflight from {origin}");
        let answer = http
            .request(
                reqwest::Method::OPTIONS,
                format!("{url}/v1/products/{name}/packages"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, x-stackone-signature",
            )
            .send()
            .await;
        let fix = format!("Verify CORS: products.{name}.cors_origins must list {origin}");
        match answer {
            Ok(a)
                if a.status().is_success()
                    && a.headers()
                        .get("access-control-allow-origin")
                        .is_some_and(|v| v.as_bytes() == origin.as_bytes()) =>
            {
                report.pass(what)
            }
            Ok(a) => report.fail(
                what,
                format!(
                    "it answered {} with Access-Control-Allow-Origin {:?}",
                    a.status(),
                    a.headers().get("access-control-allow-origin")
                ),
                fix,
            ),
            Err(e) => report.fail(what, super::unreachable_reason(&e), fix),
        }
    }
}

/// Sends a test order and follows it until its first result reaches StackOne; returns the
/// body of that result.
async fn order_round_trip(
    args: &CheckArgs,
    config: &Config,
    url: &str,
    name: &str,
    product: &ProductConfig,
    report: &mut Report,
) -> Option<Value> {
    let sent = send::send_test_order(url, name, product).await;
    let order_id = match sent {
        Ok((webhook, status)) if status.is_success() => {
            report.pass(format!(
                "product `{name}`: a signed order webhook is accepted ({status}, test order {})",
                webhook.order_id
            ));
            webhook.order_id
        }
        Ok((webhook, status)) => {
            report.fail(
                format!("product `{name}`: order webhook {}", webhook.order_id),
                format!("the host answered {status}"),
                WEBHOOK_FIX,
            );
            return None;
        }
        Err(e) => {
            report.fail(
                format!("product `{name}`: order webhook"),
                format!("{e:#}"),
                WEBHOOK_FIX,
            );
            return None;
        }
    };
    let what = format!("product `{name}`: the test order's first result reaches StackOne");
    let Some(token) = config.server.admin_token.as_ref() else {
        report.fail(
            what,
            "the order is read through /admin, and server.admin_token is not set",
            "set server.admin_token (env:ASSAY_ADMIN_TOKEN) for the host and for assay check",
        );
        return None;
    };
    let admin = config
        .server
        .admin_listen
        .map_or_else(|| url.to_owned(), |a| format!("http://{a}"));
    let started = Instant::now();
    let followed = send::follow_order(
        &admin,
        token,
        &order_id,
        Duration::from_secs(args.timeout),
        &mut |_| {},
    )
    .await;
    // Where the order stopped says what to fix: its fulfilment (the plugin, the vendor) or
    // the result's delivery (StackOne).
    let fix = followed.as_ref().err().map_or(RESULT_FIX, fix_for);
    let row = report.outcome(
        format!("{what} (in {} ms)", started.elapsed().as_millis()),
        followed,
        fix,
    )?;
    let body = row["body_json"]
        .as_str()
        .and_then(|b| serde_json::from_str::<Value>(b).ok());
    if body.is_none() {
        report.fail(
            format!("product `{name}`: the delivered result"),
            "the admin view has no body_json for it",
            "use an `assay check` of the same version as the host",
        );
    }
    body
}

/// The fix for a test order that did not reach StackOne, by where it stopped: its fulfilment
/// (the plugin, the vendor) or the result's delivery (StackOne).
fn fix_for(e: &anyhow::Error) -> &'static str {
    match e.downcast_ref::<send::Stopped>().map(|s| s.state.as_str()) {
        Some("received" | "fulfilling" | "failed") => FULFIL_FIX,
        _ => RESULT_FIX,
    }
}

/// Every leaf of the delivered result `body` is a field StackOne's connector meta lists for
/// the product's results update, with one of its allowed values where it lists them.
async fn result_payload(
    args: &CheckArgs,
    config: &Config,
    name: &str,
    product: &ProductConfig,
    body: &Value,
    report: &mut Report,
) {
    // `stackone.base_url`, or `--stackone-base-url`.
    let base = config.stackone.base_url.to_string();
    let base = base.trim_end_matches('/');
    let provider = &args.provider;
    let what = format!("product `{name}`: the result fits {provider}'s connector meta");
    let meta = connector_meta(base, provider, &product.stackone_api_key).await;
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) => {
            report.fail(
                format!("StackOne's connector meta for {provider} at {base}"),
                format!("{e:#}"),
                "check stackone.base_url (or pass --stackone-base-url) and the product's \
                 StackOne API key",
            );
            return;
        }
    };
    let model = match product.kind {
        OrderKind::Assessment => "assessments",
        OrderKind::BackgroundCheck => "background_checks",
    };
    let Some(fields) = meta["models"][model]["results.update"]["fields"].as_array() else {
        report.fail(
            what,
            format!("the meta lists no {model}/results.update fields"),
            "ask StackOne whether the provider supports result updates",
        );
        return;
    };
    let mut leaves = Vec::new();
    leaves_of(body, "", &mut leaves);
    let mut problems = Vec::new();
    for (path, value) in &leaves {
        match fields.iter().find(|f| f["field_path"] == path.as_str()) {
            None => problems.push(format!("{path} is not a field of {model}/results.update")),
            Some(field) => {
                if let Some(allowed) = field["enum"].as_array()
                    && !value.is_null()
                    && !allowed.contains(value)
                {
                    problems.push(format!("{path} is {value}, not one of {allowed:?}"));
                }
            }
        }
    }
    if problems.is_empty() {
        report.pass(format!("{what} ({} fields)", leaves.len()));
    } else {
        report.fail(what, problems.join("; "), RESULT_FIX);
    }
}

/// `GET {base}/connectors/meta/{provider}` with the StackOne API key.
async fn connector_meta(
    base: &str,
    provider: &str,
    key: &assay_wire::secret::Secret,
) -> anyhow::Result<Value> {
    let url = format!(
        "{base}/connectors/meta/{provider}?include=field_path,unmapped_fields,resources,inactive,webhooks,static_fields"
    );
    let answer = reqwest::Client::new()
        .get(&url)
        .header("authorization", assay_wire::basic_auth::header_value(key))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let status = answer.status();
    if !status.is_success() {
        anyhow::bail!("it answered {status}");
    }
    answer.json().await.context("the answer is not JSON")
}

/// Each leaf of `value` with its field path as the connector meta writes it (`score.value`,
/// `items[].name`).
fn leaves_of(value: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves_of(item, &path, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for item in items {
                leaves_of(item, &format!("{prefix}[]"), out);
            }
        }
        _ => out.push((prefix.to_owned(), value.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_follows_where_the_order_stopped() {
        let stopped = |state: &str| {
            anyhow::Error::new(send::Stopped::new(state, format!("it is {state}")))
                .context("following the order")
        };
        for state in ["received", "fulfilling", "failed"] {
            assert_eq!(fix_for(&stopped(state)), FULFIL_FIX, "{state}");
        }
        for state in ["awaiting_result", "result_received", "dead_lettered"] {
            assert_eq!(fix_for(&stopped(state)), RESULT_FIX, "{state}");
        }
        assert_eq!(fix_for(&anyhow::anyhow!("admin answered 401")), RESULT_FIX);
    }

    #[test]
    fn leaves_are_named_as_the_connector_meta_names_fields() {
        let body = serde_json::json!({
            "result": {"value": "passed", "source_value": "Passed"},
            "score": {"value": "87"},
            "attachments": [{"url": "https://r.example/1"}],
            "tags": ["a", "b"],
        });
        let mut leaves = Vec::new();
        leaves_of(&body, "", &mut leaves);
        let paths: Vec<&str> = leaves.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "attachments[].url",
                "result.source_value",
                "result.value",
                "score.value",
                "tags"
            ]
        );
    }
}
