//! Runs each product's `poll-results` on its schedule (`poll_interval_s`).
//!
//! Vendors without callbacks are asked, per product, about the orders still waiting for a
//! result; what the plugin returns is recorded like a callback's results. One task serves
//! every product and re-reads the product table on each tick, so a reload that adds, removes
//! or re-times a product takes effect without restarting anything.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::pipeline::results;
use crate::products::{Product, Products};
use assay_runtime::types::PendingOrder as PluginPending;
use assay_store::Store;

/// How often the poller checks which products are due.
pub const TICK: Duration = Duration::from_millis(250);
/// The most orders handed to one `poll-results` call.
pub const MAX_PENDING_PER_POLL: usize = 100;

/// Polls until `shutdown` completes.
pub async fn run(
    store: Arc<dyn Store>,
    products: Products,
    relay: Arc<Notify>,
    shutdown: impl Future<Output = ()>,
) {
    let mut last: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        let table = products.snapshot();
        last.retain(|name, _| table.products.contains_key(name));
        for (name, product) in &table.products {
            let Some(interval) = product.config.poll_interval else {
                continue;
            };
            let due = last.get(name).is_none_or(|t| t.elapsed() >= interval);
            if !due {
                continue;
            }
            last.insert(name.clone(), Instant::now());
            poll_product(store.as_ref(), product, &relay).await;
        }
    }
}

/// One poll of one product.
pub async fn poll_product(store: &dyn Store, product: &Product, relay: &Notify) {
    let name = &product.config.name;
    let Ok(plugin) = &product.plugin else { return };
    let pending = match store.pending_orders(name, MAX_PENDING_PER_POLL).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(product = name, error = %e, "poller: cannot read pending orders");
            return;
        }
    };
    if pending.is_empty() {
        return;
    }
    let pending = pending
        .into_iter()
        .map(|p| PluginPending {
            order_id: p.order_id,
            external_id: p.external_id,
            kind: p.kind.into(),
            account_id: p.account_id,
        })
        .collect();
    match plugin.poll_results(&product.context, pending).await {
        Ok(found) => match results::record(store, name, found).await {
            Ok(r) => {
                if r.queued > 0 {
                    tracing::info!(product = name, queued = r.queued, "poll found results");
                    relay.notify_one();
                }
            }
            Err(e) => {
                tracing::error!(product = name, error = %e, "poller: cannot store results; they will be polled again")
            }
        },
        Err(e) => tracing::warn!(product = name, error = %e, "poll-results failed"),
    }
}
