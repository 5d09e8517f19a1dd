//! An emulator of StackOne's side of the partner integration, and a demo vendor.
//!
//! StackOne cannot be reached from a developer's machine, so Assay ships this stand-in. It
//! follows `PROTOCOL.md` and StackOne's OpenAPI description (embedded in [`schema`]). It is
//! the `assay emulate` subcommand ([`run_emulate`]), the README's demo, and "StackOne" in the
//! integration tests. A vendor can take this crate as a dev-dependency to test its own plugin
//! against the real host: StackOne's calls come from [`client`], results land in [`Emulator`]
//! and are checked against StackOne's schema, and [`vendor`] plays an assessment or
//! background-check vendor's API.
//!
//! # Layout
//!
//! - [`schema`]: validation of JSON against the OpenAPI component schemas.
//! - [`package`]: packages as the Package's List Endpoint returns them.
//! - [`order`]: order webhooks shaped like StackOne's ([`OrderBuilder`]).
//! - [`client`]: StackOne → host: the signed package fetch and order webhooks.
//! - [`server`]: host → StackOne: the result PATCH routes and connector meta ([`Emulator`]).
//! - [`script`]: scripted failures the server answers instead (429, 503, 422, 408).
//! - [`delivery`]: the record of each result PATCH received.
//! - [`recruiter_view`]: what the recruiter would see in the ATS.
//! - [`connector_meta`]: the `GET /connectors/meta/{provider}` answer.
//! - [`timestamp`]: ISO-8601 timestamps as StackOne writes them.
//! - [`vendor`]: the demo vendor's API (CodeTest assessments, BackCheck checks).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;

use assay_wire::secret::Secret;

pub mod client;
pub mod connector_meta;
pub mod delivery;
pub mod order;
pub mod package;
pub mod recruiter_view;
pub mod schema;
pub mod script;
pub mod server;
pub mod timestamp;
pub mod vendor;

pub use client::{ClientError, fetch_packages, post_webhook, send_order};
pub use delivery::Delivery;
pub use order::{OrderBuilder, OrderKind, OrderPlacement, OrderWebhook};
pub use package::{Package, PackagesPage};
pub use recruiter_view::RecruiterView;
pub use script::{ScriptTarget, ScriptedResponse};
pub use server::{Emulator, RunningEmulator, WaitTimeout};

/// `result.value`s after which a result no longer changes: [`run_emulate`] waits for one.
pub const FINAL_RESULT_VALUES: [&str; 5] =
    ["completed", "passed", "failed", "expired", "cancelled"];
/// How long [`run_emulate`] waits for final results by default.
pub const EMULATE_WAIT: Duration = Duration::from_secs(60);

/// One product the emulated recruiter sends an order to.
#[derive(Debug, Clone)]
pub struct EmulatedProduct {
    /// The product name in the host's configuration (its route segment).
    pub name: String,
    /// The kind of order to send.
    pub kind: OrderKind,
    /// The key StackOne sends to the product's Package's List Endpoint.
    pub api_key: Secret,
    /// The webhook signing secret.
    pub signing_secret: Secret,
    /// The optional `?token=` of the webhook URL.
    pub token: Option<Secret>,
}

/// What `assay emulate` needs.
#[derive(Debug, Clone)]
pub struct EmulateOptions {
    /// The host's base URL, e.g. `http://127.0.0.1:8080`.
    pub host_base_url: String,
    /// The products to exercise, one order each.
    pub products: Vec<EmulatedProduct>,
    /// Where the emulated StackOne API listens; the host's StackOne base URL must point here.
    pub listen: SocketAddr,
    /// The StackOne API keys the host may PATCH results with.
    pub stackone_api_keys: Vec<Secret>,
    /// The linked-account id of the orders.
    pub account_id: String,
    /// The ATS provider key.
    pub provider: String,
    /// How long to wait for every order's final result.
    pub wait: Duration,
}

impl EmulateOptions {
    /// Options with the default account, provider and wait.
    pub fn new(
        host_base_url: impl Into<String>,
        listen: SocketAddr,
        stackone_api_keys: Vec<Secret>,
    ) -> Self {
        Self {
            host_base_url: host_base_url.into(),
            products: Vec::new(),
            listen,
            stackone_api_keys,
            account_id: order::DEFAULT_ACCOUNT_ID.into(),
            provider: order::DEFAULT_PROVIDER.into(),
            wait: EMULATE_WAIT,
        }
    }
}

/// Why an emulated run stopped.
#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    /// The emulated StackOne API could not listen.
    #[error("the StackOne emulator could not listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: io::Error,
    },
    /// A call to the host failed.
    #[error("product {product}")]
    Client {
        /// The product.
        product: String,
        /// What failed.
        #[source]
        source: ClientError,
    },
    /// The host listed no packages, so there is nothing to order.
    #[error("product {product}: the host listed no packages")]
    NoPackages {
        /// The product.
        product: String,
    },
    /// The host refused the order webhook.
    #[error("product {product}: the host answered the order webhook with {status}")]
    OrderRefused {
        /// The product.
        product: String,
        /// The status answered.
        status: http::StatusCode,
    },
    /// Some orders had no final result in time.
    #[error("no final result within {within:?} for orders {pending:?}")]
    Timeout {
        /// How long was waited.
        within: Duration,
        /// Order ids still without a final result.
        pending: Vec<String>,
    },
    /// The report could not be written.
    #[error("writing the report: {0}")]
    Output(#[from] io::Error),
}

/// The `assay emulate` run: starts the emulated StackOne API on `options.listen`, fetches each
/// product's packages, sends one order per product for its first package, waits for final
/// results, and writes each step and the recruiter view to `out`.
pub async fn run_emulate(
    options: &EmulateOptions,
    out: &mut impl Write,
) -> Result<RecruiterView, EmulateError> {
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| EmulateError::Listen {
                addr: options.listen,
                source,
            })?;
    let emulator = Emulator::new(options.stackone_api_keys.clone())
        .start_on(listener)
        .map_err(|source| EmulateError::Listen {
            addr: options.listen,
            source,
        })?;
    writeln!(
        out,
        "StackOne emulator: result updates at {}",
        emulator.base_url()
    )?;
    let outcome = run_story(&emulator, options, out).await;
    // Shutdown errors of the emulated API do not change what the run showed.
    let _ = emulator.stop().await;
    outcome
}

/// The story of [`run_emulate`] against an emulator that is already running (the host's
/// `stackone.base_url` must point at it): packages, one order per product, results, and the
/// recruiter view. The emulator keeps running.
pub async fn run_story(
    emulator: &RunningEmulator,
    options: &EmulateOptions,
    out: &mut impl Write,
) -> Result<RecruiterView, EmulateError> {
    let run_id = order::fresh_run_id();
    for product in &options.products {
        let client_error = |source| EmulateError::Client {
            product: product.name.clone(),
            source,
        };
        writeln!(
            out,
            "\n[{}] POST {}/v1/products/{}/packages",
            product.name, options.host_base_url, product.name
        )?;
        let page = fetch_packages(
            &options.host_base_url,
            &product.name,
            &options.account_id,
            &options.provider,
            &product.api_key,
            &product.signing_secret,
        )
        .await
        .map_err(client_error)?;
        for package in &page.data {
            writeln!(
                out,
                "    package {} ({})",
                package.display_name(),
                package.id.as_deref().unwrap_or("no id")
            )?;
        }
        let package = page
            .data
            .first()
            .cloned()
            .ok_or_else(|| EmulateError::NoPackages {
                product: product.name.clone(),
            })?;
        let webhook = OrderBuilder::new(product.kind, package)
            .run_id(run_id.as_str())
            .account_id(options.account_id.as_str())
            .provider(options.provider.as_str())
            .stackone_base_url(emulator.base_url())
            .build();
        let token = product.token.as_ref();
        let status = emulator
            .send_order(
                &options.host_base_url,
                &product.name,
                &webhook,
                &product.signing_secret,
                token,
            )
            .await
            .map_err(client_error)?;
        writeln!(
            out,
            "    order {} for {} ({}) sent: host answered {status}",
            webhook.order_id,
            webhook.candidate_name,
            webhook.package.display_name()
        )?;
        if !status.is_success() {
            return Err(EmulateError::OrderRefused {
                product: product.name.clone(),
                status,
            });
        }
    }
    let outcome = wait_for_final_results(emulator, options.wait, out).await;
    writeln!(
        out,
        "\nWhat the recruiter sees:\n{}",
        emulator.recruiter_view()
    )?;
    outcome.map(|()| emulator.recruiter_view())
}

/// Prints each result update as it arrives until every order has a final result.
async fn wait_for_final_results(
    emulator: &Emulator,
    within: Duration,
    out: &mut impl Write,
) -> Result<(), EmulateError> {
    let deadline = Instant::now() + within;
    let mut shown = 0;
    loop {
        let deliveries = emulator.deliveries();
        for d in deliveries.iter().skip(shown) {
            let result = d
                .json
                .as_ref()
                .and_then(|j| j.pointer("/result/value"))
                .and_then(Value::as_str);
            writeln!(
                out,
                "    PATCH {} -> {} (result {})",
                d.path,
                d.status,
                result.unwrap_or("-")
            )?;
            for violation in &d.violations {
                writeln!(out, "        schema: {violation}")?;
            }
        }
        shown = deliveries.len();
        let pending = pending_orders(emulator, &deliveries);
        if pending.is_empty() {
            return Ok(());
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if emulator
            .wait_for_deliveries(shown + 1, remaining)
            .await
            .is_err()
        {
            return Err(EmulateError::Timeout { within, pending });
        }
    }
}

/// Registered orders without an accepted final result yet.
fn pending_orders(emulator: &Emulator, deliveries: &[Delivery]) -> Vec<String> {
    let is_final = |d: &Delivery| {
        d.accepted()
            && d.json
                .as_ref()
                .and_then(|j| j.pointer("/result/value"))
                .and_then(Value::as_str)
                .is_some_and(|v| FINAL_RESULT_VALUES.contains(&v))
    };
    emulator
        .orders()
        .into_iter()
        .filter(|o| {
            !deliveries
                .iter()
                .any(|d| d.order_id == o.order_id && is_final(d))
        })
        .map(|o| o.order_id)
        .collect()
}

#[cfg(test)]
mod tests;
