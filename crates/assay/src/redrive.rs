//! `assay orders retry` and the checks of `assay orders list`'s filters.
//!
//! A redrive ([`Store::redrive`]) is a write, and one SQLite file has one writer: the host
//! serving from it holds its lock. So a retry goes one of two ways:
//!
//! - `--url`: through the running host's `POST /admin/orders/{id}/retry`, with the admin
//!   token the configuration names (`server.admin_token`, resolved here as the host does);
//!   the host wakes its worker or relay at once;
//! - without it: straight into the store. For a SQLite file that works only while no host
//!   serves from it (the file's lock says so, and the error then says to use `--url`); the
//!   next host to start takes the order up. PostgreSQL has many writers, so the redrive goes
//!   in at once and the hosts' next claim takes it up.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cli::{ConfigArgs, RetryArgs};
use crate::commands::StoreLocation;
use crate::config::{ENV_ADMIN_TOKEN, SecretRef};
use assay_store::{
    OrderId, OrderState, PostgresStore, Redriven, SqliteOptions, SqliteStore, Store, Timestamp,
};

/// How long a direct retry waits for the store's lock before saying a host holds it.
const LOCK_WAIT: Duration = Duration::from_millis(300);

/// Runs `assay orders retry`.
pub async fn retry(args: &RetryArgs) -> anyhow::Result<()> {
    let redriven = match &args.url {
        Some(url) => through_host(&args.config, url, args.id).await?,
        None => into_store(&args.config, args.id).await?,
    };
    let what = match redriven.kind {
        assay_store::RedriveKind::Order => "the order is queued for fulfilment again".to_owned(),
        assay_store::RedriveKind::Result => format!(
            "its dead-lettered result is queued for delivery again (outbox row {})",
            redriven.outbox_id.unwrap_or_default()
        ),
    };
    println!(
        "order {}: {what}; {} -> {}",
        redriven.order, redriven.from, redriven.to
    );
    Ok(())
}

async fn into_store(config: &ConfigArgs, id: i64) -> anyhow::Result<Redriven> {
    let path = match crate::commands::store_location(config)? {
        StoreLocation::Sqlite(path) => path,
        // PostgreSQL has many writers: the redrive goes straight in, and the hosts' worker or
        // relay pick the order up on their next claim.
        StoreLocation::Postgres(url) => {
            let store = PostgresStore::connect(url.expose())
                .await
                .context("opening the PostgreSQL store (store.url)")?;
            return Ok(store.redrive(OrderId(id), Timestamp::now()).await?);
        }
    };
    if !path.exists() {
        bail!("there is no store at {}", path.display());
    }
    let options = SqliteOptions {
        lock_wait: LOCK_WAIT,
        ..SqliteOptions::default()
    };
    let opened = tokio::task::spawn_blocking({
        let path = path.clone();
        move || SqliteStore::open_with(path, options)
    })
    .await?;
    let store = match opened {
        Ok(store) => store,
        Err(e) if e.is_unavailable() && e.to_string().contains("in use") => bail!(
            "{e}: a host is serving from it; retry through that host with \
             `--url http://<its admin_listen or listen address>`"
        ),
        Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
    };
    Ok(store.redrive(OrderId(id), Timestamp::now()).await?)
}

async fn through_host(config: &ConfigArgs, url: &str, id: i64) -> anyhow::Result<Redriven> {
    let token = admin_token(config)?;
    let endpoint = format!("{}/admin/orders/{id}/retry", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(token.expose())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .with_context(|| format!("cannot reach the host at {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("the host at {url} refused the retry ({status}): {message}");
    }
    serde_json::from_str(&body).with_context(|| format!("the host at {url} answered {body:?}"))
}

/// The admin token the configuration names (`ASSAY_ADMIN_TOKEN` overriding
/// `server.admin_token`), resolved as the host resolves it.
fn admin_token(config: &ConfigArgs) -> anyhow::Result<assay_wire::secret::Secret> {
    let reference = match std::env::var(ENV_ADMIN_TOKEN) {
        Ok(r) if !r.is_empty() => r,
        _ => raw_config(&config.config)?
            .get("server")
            .and_then(|s| s.get("admin_token"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "{} has no server.admin_token, which a retry through the host needs",
                    config.config.display()
                )
            })?,
    };
    let reference: SecretRef = reference
        .parse()
        .map_err(|e| anyhow::anyhow!("server.admin_token: {e}"))?;
    let base = config.config.parent().unwrap_or(Path::new("."));
    reference
        .resolve(base, &|name| std::env::var(name).ok())
        .map_err(|e| anyhow::anyhow!("server.admin_token ({reference}): {e}"))
}

fn raw_config(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `product` if the configuration has it, else an error naming the products it has.
pub fn known_product(config: &ConfigArgs, product: String) -> anyhow::Result<String> {
    let table = raw_config(&config.config)?;
    let names: Vec<&str> = table
        .get("products")
        .and_then(|p| p.as_table())
        .map(|t| t.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if names.contains(&product.as_str()) {
        return Ok(product);
    }
    bail!(
        "unknown product `{product}`: {} has {}",
        config.config.display(),
        if names.is_empty() {
            "no products".to_owned()
        } else {
            names.join(", ")
        }
    )
}

/// An order state by name, or an error listing the names.
pub fn parse_state(name: &str) -> anyhow::Result<OrderState> {
    OrderState::parse(name).with_context(|| {
        let names: Vec<&str> = OrderState::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown state `{name}`: the states are {}",
            names.join(", ")
        )
    })
}
