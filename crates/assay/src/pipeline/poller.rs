//! Runs each product's `poll-results` on its schedule (`poll_interval_s`).
//!
//! Vendors without callbacks are asked, per product, about the orders still waiting for a
//! result; what the plugin returns is recorded like a callback's results. Each polled product
//! has a task of its own, so one slow vendor delays no other; the poller follows the product
//! table and starts, re-times or stops those tasks when a reload changes it. Between polls
//! every task sleeps: nothing here runs on a timer finer than a product's own interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::pipeline::results;
use crate::products::{Product, Products};
use assay_runtime::types::PendingOrder as PluginPending;
use assay_store::Store;

/// The most orders handed to one `poll-results` call.
pub const MAX_PENDING_PER_POLL: usize = 100;

/// Polls until `cancel` fires. Returns early only if a product's task died, which the host's
/// supervisor treats as this task dying.
pub async fn run(
    store: Arc<dyn Store>,
    products: Products,
    relay: Arc<Notify>,
    cancel: CancellationToken,
) {
    let mut changes = products.subscribe();
    let mut running: HashMap<String, (Duration, CancellationToken)> = HashMap::new();
    let mut tasks = JoinSet::new();
    loop {
        let table = products.snapshot();
        running.retain(|name, (interval, token)| {
            let keep = table
                .products
                .get(name)
                .and_then(|p| p.config.poll_interval)
                == Some(*interval);
            if !keep {
                token.cancel();
            }
            keep
        });
        for (name, product) in &table.products {
            let Some(interval) = product.config.poll_interval else {
                continue;
            };
            if running.contains_key(name) {
                continue;
            }
            let token = cancel.child_token();
            running.insert(name.clone(), (interval, token.clone()));
            tasks.spawn(poll_loop(
                name.clone(),
                interval,
                Arc::clone(&store),
                products.clone(),
                Arc::clone(&relay),
                token,
            ));
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                // A product's task ends only when its token is cancelled; anything else is a
                // panic, which must not leave that product unpolled in silence.
                if let Err(e) = ended {
                    tracing::error!(error = %e, "poller: a product's task died");
                    return;
                }
            }
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Polls one product every `interval` until `cancel` fires (the host stops, the product is
/// removed or re-timed).
async fn poll_loop(
    name: String,
    interval: Duration,
    store: Arc<dyn Store>,
    products: Products,
    relay: Arc<Notify>,
    cancel: CancellationToken,
) {
    while !cancel.is_cancelled() {
        if let Some(product) = products.get(&name) {
            poll_product(store.as_ref(), &product, &relay).await;
        }
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
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
