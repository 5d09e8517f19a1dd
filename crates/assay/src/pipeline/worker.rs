//! The order worker: runs `fulfil-order` for committed orders.
//!
//! It claims due orders from the store (with a lease, so an order whose worker died is claimed
//! again), calls the product's plugin with bounded concurrency and records the outcome:
//!
//! | the plugin | the order |
//! |---|---|
//! | returns a fulfilment | awaits its result; the first result (if any) goes to the outbox |
//! | `upstream-retryable`, a deadline, a trap, the memory limit | is retried with [`FULFIL_BACKOFF`], honouring the plugin's retry-after, up to [`MAX_FULFIL_ATTEMPTS`] |
//! | `invalid-input`, `unauthorized`, `not-found`, `permanent` | is parked as failed with the reason |
//!
//! Traps and limits are retried because a fixed plugin may be hot-reloaded meanwhile; the cap
//! keeps a plugin that always traps from retrying forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::convert::order_from_json;
use crate::pipeline::backoff::FULFIL_BACKOFF;
use crate::pipeline::claim_loop::ClaimLoop;
use crate::pipeline::results::to_store;
use crate::products::Products;
use assay_store::{ClaimedOrder, Store, Timestamp};

/// How many orders are fulfilled at once.
pub const FULFIL_CONCURRENCY: usize = 8;
/// How long a claimed order is exclusive; longer than the longest plugin deadline.
pub const FULFIL_LEASE: Duration = Duration::from_secs(360);
/// After this many failed attempts a retryable failure parks the order as failed.
pub const MAX_FULFIL_ATTEMPTS: u32 = 12;

/// The order worker. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    products: Products,
    wake: Arc<Notify>,
    relay: Arc<Notify>,
}

enum Outcome {
    Fulfilled,
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    Failed(String),
}

impl Worker {
    /// A worker over `store` and `products`; `relay` is woken when a first result is stored.
    pub fn new(store: Arc<dyn Store>, products: Products, relay: Arc<Notify>) -> Self {
        Self {
            store,
            products,
            wake: Arc::new(Notify::new()),
            relay,
        }
    }

    /// A handle that wakes the worker; the edge calls it after committing an order.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Fulfils orders until `cancel` fires; calls in flight then finish.
    pub async fn run(self, cancel: CancellationToken) {
        let claimer = self.clone();
        let scheduler = self.clone();
        ClaimLoop {
            name: "worker",
            concurrency: FULFIL_CONCURRENCY,
            wake: Arc::clone(&self.wake),
            claim: move |n| {
                let store = Arc::clone(&claimer.store);
                async move {
                    store
                        .claim_orders_for_fulfilment(n, Timestamp::now(), FULFIL_LEASE)
                        .await
                }
            },
            next_due: move || {
                let store = Arc::clone(&scheduler.store);
                async move { store.next_fulfilment_due().await }
            },
        }
        .run(cancel, move |order| {
            let worker = self.clone();
            async move { worker.fulfil(order).await }
        })
        .await;
    }

    async fn fulfil(&self, order: ClaimedOrder) {
        let outcome = self.attempt(&order).await;
        let product = order.product.clone();
        let attempt = order.claim.attempt;
        let result = match outcome {
            Outcome::Fulfilled => Ok(()),
            Outcome::Retry { error, .. } if attempt >= MAX_FULFIL_ATTEMPTS => {
                let reason = format!("gave up after {attempt} attempts; last error: {error}");
                tracing::error!(product, order_id = order.order_id, reason, "order failed");
                self.store.fulfilment_failed(order.claim, reason).await
            }
            Outcome::Retry { error, retry_after } => {
                let delay = FULFIL_BACKOFF.delay(attempt, retry_after);
                tracing::warn!(product, order_id = order.order_id, attempt, error, retry_in = ?delay, "fulfilment will be retried");
                // The claim loop reads the retry's time from the store and sleeps until it.
                self.store
                    .fulfilment_retry(order.claim, Timestamp::now().plus(delay), error)
                    .await
            }
            Outcome::Failed(reason) => {
                tracing::error!(product, order_id = order.order_id, reason, "order failed");
                self.store.fulfilment_failed(order.claim, reason).await
            }
        };
        if let Err(e) = result {
            // The lease runs out and the order is claimed again; fulfil-order is idempotent.
            tracing::error!(product, order_id = order.order_id, error = %e, "worker: could not record the outcome");
        }
    }

    async fn attempt(&self, order: &ClaimedOrder) -> Outcome {
        let Some(product) = self.products.get(&order.product) else {
            return Outcome::Retry {
                error: format!(
                    "product `{}` is not configured; keeping the order until it is",
                    order.product
                ),
                retry_after: None,
            };
        };
        let plugin = match &product.plugin {
            Ok(p) => Arc::clone(p),
            Err(e) => {
                return Outcome::Retry {
                    error: format!("the plugin is not loaded: {e}"),
                    retry_after: None,
                };
            }
        };
        let object: serde_json::Value = match serde_json::from_str(&order.order_json) {
            Ok(v) => v,
            Err(e) => return Outcome::Failed(format!("stored order is not JSON: {e}")),
        };
        let wit_order = match order_from_json(
            order.kind.into(),
            &object,
            "",
            Some(&order.account_id),
            order.provider.as_deref(),
        ) {
            Ok(o) => o,
            Err(e) => return Outcome::Failed(format!("order cannot be fulfilled: {e}")),
        };
        match plugin.fulfil_order(&product.context, wit_order).await {
            Ok(fulfilment) => {
                let first = fulfilment.first_result.map(to_store);
                let has_first = first.is_some();
                match self
                    .store
                    .fulfilment_succeeded(
                        order.claim,
                        fulfilment.external_id.clone(),
                        fulfilment.test_url,
                        first,
                    )
                    .await
                {
                    Ok(()) => {
                        tracing::info!(
                            product = order.product,
                            order_id = order.order_id,
                            external_id = fulfilment.external_id,
                            "order fulfilled"
                        );
                        if has_first {
                            self.relay.notify_one();
                        }
                        Outcome::Fulfilled
                    }
                    Err(e) => Outcome::Retry {
                        error: format!("could not store the fulfilment: {e}"),
                        retry_after: None,
                    },
                }
            }
            Err(e) if e.is_retryable() => Outcome::Retry {
                retry_after: e.retry_after(),
                error: e.to_string(),
            },
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
