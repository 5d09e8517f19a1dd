//! `assay send packages|order|callback`: one request as StackOne (or, for `callback`, the
//! vendor) sends it, signed with a product's configured secrets, against any running host
//! (`assay dev`'s or `assay serve`'s), and its answer printed, like `stripe trigger`. The
//! StackOne requests are the StackOne emulator's (`assay_emulator::client`), so they are
//! exactly what the emulator and the tests send. A callback is signed the way the plugin SDK's
//! `webhook` helpers check it (hex HMAC-SHA256 of the raw body): a plugin with a scheme of its
//! own needs `--unsigned` and its own tools.
//!
//! `send order --follow` then reads the order through the host's admin view
//! (`GET /admin/orders/{id}`, with the configured admin token) until its first result is
//! delivered to StackOne, or says where it stopped when the time is up.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use assay_emulator::{OrderBuilder, OrderWebhook, client};
use serde_json::Value;

use crate::cli::{CallbackArgs, SendCommand, SendTarget};
use crate::config::{Config, ProductConfig};

/// How often `--follow` looks at the order.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The prefix of every order id `assay send order` makes, so a test order is recognisable
/// in the store, the logs and StackOne.
pub const TEST_ORDER_PREFIX: &str = "assay-send-test";

/// Runs `assay send`.
pub async fn run(cmd: SendCommand) -> anyhow::Result<()> {
    match cmd {
        SendCommand::Packages(target) => {
            let (config, url) = load(&target)?;
            let product = product(&config, &target.product)?;
            let page = packages(&url, &target.product, product).await?;
            println!("{}", serde_json::to_string_pretty(&page)?);
            Ok(())
        }
        SendCommand::Order {
            target,
            follow,
            timeout,
        } => {
            let (config, url) = load(&target)?;
            let product = product(&config, &target.product)?;
            let order_id = order(&url, &target.product, product).await?;
            if follow {
                let admin = config
                    .server
                    .admin_listen
                    .map_or_else(|| url.clone(), |a| format!("http://{a}"));
                let token = config.server.admin_token.as_ref().with_context(
                    || "--follow reads the order through /admin, which needs server.admin_token",
                )?;
                let delivered = follow_order(
                    &admin,
                    token,
                    &order_id,
                    Duration::from_secs(timeout),
                    &mut |state| println!("order {order_id}: {state}"),
                )
                .await?;
                println!(
                    "result {} delivered to StackOne (HTTP {})",
                    delivered["result_value"].as_str().unwrap_or("?"),
                    delivered["http_status"]
                );
            }
            Ok(())
        }
        SendCommand::Callback(args) => callback(&args).await,
    }
}

/// Sends the vendor's callback `args` describes and prints the host's answer; fails unless it
/// is 2xx.
async fn callback(args: &CallbackArgs) -> anyhow::Result<()> {
    let (config, url) = load(&args.target)?;
    let name = &args.target.product;
    let product = product(&config, name)?;
    let body = match args.data.strip_prefix('@') {
        Some(file) => std::fs::read(file).with_context(|| format!("reading --data @{file}"))?,
        None => args.data.clone().into_bytes(),
    };
    let path = args.path.trim_start_matches('/');
    let endpoint = format!("{url}/v1/products/{name}/callbacks/{path}");
    let mut request = reqwest::Client::new()
        .post(&endpoint)
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(30));
    if !args.unsigned {
        let setting = &args.signature_setting;
        let secret = product.settings.get(setting).with_context(|| {
            format!(
                "product `{name}` has no setting `{setting}` to sign the callback with \
                 (name another with --signature-setting, or send it --unsigned)"
            )
        })?;
        let header = args
            .signature_header
            .clone()
            .unwrap_or_else(|| format!("x-{name}-signature"));
        let signature = assay_emulator::vendor::codetest::sign_hex(secret.expose(), &body);
        request = request.header(header, signature);
    }
    let answer = request
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach the host at {url}"))?;
    let status = answer.status();
    let text = answer.text().await.unwrap_or_default();
    println!("callback sent to {endpoint}: {status}");
    if !text.is_empty() {
        println!("{text}");
    }
    if !status.is_success() {
        bail!("the host answered the callback with {status}");
    }
    Ok(())
}

fn load(target: &SendTarget) -> anyhow::Result<(Config, String)> {
    let config = target.config.load()?;
    let url = target
        .url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen));
    Ok((config, url.trim_end_matches('/').to_owned()))
}

fn product<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c ProductConfig> {
    config.products.get(name).with_context(|| {
        let names: Vec<&str> = config.products.keys().map(String::as_str).collect();
        format!(
            "unknown product `{name}`: the configuration has {}",
            names.join(", ")
        )
    })
}

pub(crate) async fn packages(
    url: &str,
    name: &str,
    product: &ProductConfig,
) -> anyhow::Result<assay_emulator::PackagesPage> {
    let key = product
        .package_list_keys
        .first()
        .with_context(|| format!("product `{name}` has no package_list_keys"))?;
    let secret = signing_secret(name, product)?;
    client::fetch_packages(
        url,
        name,
        assay_emulator::order::DEFAULT_ACCOUNT_ID,
        assay_emulator::order::DEFAULT_PROVIDER,
        key,
        secret,
    )
    .await
    .map_err(explain)
}

pub(crate) fn signing_secret<'p>(
    name: &str,
    product: &'p ProductConfig,
) -> anyhow::Result<&'p assay_wire::secret::Secret> {
    product
        .webhook_secrets
        .first()
        .with_context(|| format!("product `{name}` has no webhook_secrets"))
}

/// Sends a test order for the product's first package and prints the host's answer; returns
/// StackOne's order id.
async fn order(url: &str, name: &str, product: &ProductConfig) -> anyhow::Result<String> {
    let (webhook, status) = send_test_order(url, name, product).await?;
    println!(
        "order {} ({}, package {}) sent to {url}: {status}",
        webhook.order_id,
        name,
        webhook.package.id.as_deref().unwrap_or("-")
    );
    if !status.is_success() {
        bail!("the host refused the order with {status}");
    }
    Ok(webhook.order_id)
}

/// Sends a signed test order (its id starts with [`TEST_ORDER_PREFIX`]) for the product's
/// first package; returns it and the host's status.
pub(crate) async fn send_test_order(
    url: &str,
    name: &str,
    product: &ProductConfig,
) -> anyhow::Result<(OrderWebhook, reqwest::StatusCode)> {
    let page = packages(url, name, product).await?;
    let package = page
        .data
        .first()
        .cloned()
        .with_context(|| format!("product `{name}` lists no packages to order"))?;
    let kind = match product.kind {
        crate::config::OrderKind::Assessment => assay_emulator::OrderKind::Assessment,
        crate::config::OrderKind::BackgroundCheck => assay_emulator::OrderKind::BackgroundCheck,
    };
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let webhook = OrderBuilder::new(kind, package)
        .run_id(format!("{TEST_ORDER_PREFIX}-{stamp}"))
        .build();
    let status = client::send_order(
        url,
        name,
        &webhook,
        signing_secret(name, product)?,
        product.webhook_token.as_ref(),
    )
    .await
    .map_err(explain)?;
    Ok((webhook, status))
}

/// Where a followed order stopped when the time was up.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Stopped {
    /// The order's state then (`received`, `awaiting_result`, …).
    pub state: String,
    message: String,
}

impl Stopped {
    /// The order stopped in `state`; `message` says so to a person.
    pub(crate) fn new(state: &str, message: String) -> Self {
        Self {
            state: state.to_owned(),
            message,
        }
    }
}

/// Reads the order through `admin`'s `GET /admin/orders/{id}` until a result of it is
/// delivered to StackOne, telling `progress` each state it passes; returns that outbox row
/// (`result_value`, `http_status`, `body_json`), or says where the order stopped.
pub(crate) async fn follow_order(
    admin: &str,
    token: &assay_wire::secret::Secret,
    order_id: &str,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + timeout;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut last_seen = None::<String>;
    loop {
        let answer = http
            .get(format!("{admin}/admin/orders/{order_id}"))
            .bearer_auth(token.expose())
            .send()
            .await
            .with_context(|| format!("cannot reach {admin} to follow the order"))?;
        let status = answer.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!("{admin} refused the admin token (401): check server.admin_token");
        }
        if status.is_success() {
            let detail: Value = answer.json().await?;
            let state = detail["summary"]["state"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            if last_seen.as_deref() != Some(state.as_str()) {
                progress(&state);
                last_seen = Some(state.clone());
            }
            let delivered = detail["outbox"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["state"] == "delivered").cloned());
            if let Some(row) = delivered {
                return Ok(row);
            }
            if Instant::now() >= deadline {
                let why = ["failure_reason", "last_error"]
                    .iter()
                    .find_map(|k| detail["summary"][k].as_str())
                    .or_else(|| detail["dead_letters"][0]["message"].as_str())
                    .unwrap_or("no error recorded");
                return Err(Stopped::new(
                    &state,
                    format!(
                        "no result of order {order_id} reached StackOne within {}s: it is \
                         {state} ({why})",
                        timeout.as_secs()
                    ),
                )
                .into());
            }
        } else if Instant::now() >= deadline {
            bail!(
                "no result of order {order_id} reached StackOne within {}s: {admin} answers {status}",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// The client's error with its cause (connection refused, the status and body answered).
pub(crate) fn explain(e: client::ClientError) -> anyhow::Error {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    anyhow::anyhow!(text)
}
