//! The order worker: runs `fulfil-order` for committed orders.
//!
//! It claims due orders from the store (with a lease, so an order whose worker died is claimed
//! again), calls the product's plugin with bounded concurrency and records the outcome:
//!
//! | the plugin | the order |
//! |---|---|
//! | returns a fulfilment | awaits its result; the first result (if any) goes to the outbox |
//! | `upstream-retryable`, `misconfigured`, a deadline, a trap, the memory limit | is retried with [`FULFIL_BACKOFF`], honouring the plugin's retry-after, up to [`MAX_FULFIL_ATTEMPTS`] |
//! | `invalid-input`, `unauthorized`, `not-found`, `permanent` | is parked as failed with the reason; StackOne is sent a `failed` result |
//! | `cancelled` | is parked as failed with the reason; StackOne is sent a `cancelled` result |
//!
//! Traps, limits and misconfiguration are retried because a fixed plugin or configuration may
//! be hot-reloaded meanwhile; the cap keeps a plugin that always traps from retrying forever.
//!
//! # Slots per product
//!
//! The worker fulfils [`FULFIL_CONCURRENCY`] orders at once, and each product at most its
//! `max_concurrent_fulfilments` of them ([`DEFAULT_PRODUCT_FULFILMENTS`] unless configured).
//! The store hands out due orders round robin across the products that still have a free
//! slot ([`assay_store::fair`]), so a product whose plugin runs to its deadline, or whose
//! backlog arrived first, queues only its own orders: the other products' orders are claimed
//! as soon as a slot is free, not after the backlog.
//!
//! An order that fails for good must not stay "Pending" in the recruiter's ATS: the store
//! parks it and queues its final result (status `failed`, or `cancelled`, with the plugin's
//! message as `source_value`) in one transaction, and the relay delivers it like any other
//! result. If StackOne refuses that result, it stays a dead letter for the operator; nothing
//! further is sent about the order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::convert::order_from_json;
use crate::pipeline::backoff::FULFIL_BACKOFF;
use crate::pipeline::claim_loop::{ClaimLoop, record_outcome};
use crate::pipeline::results::to_store;
use crate::products::Products;
use assay_runtime::CallError;
use assay_runtime::types::{AssessmentResult, PluginError, ResultStatus, ResultValue};
use assay_store::{ClaimSlots, ClaimedOrder, ResultBody, Store, Timestamp};
use assay_wire::metric;

/// How many orders are fulfilled at once, all products together, and how many of one
/// product unless its `max_concurrent_fulfilments` says otherwise (half the slots, so a
/// product whose plugin runs to its deadline leaves the other half to the rest): defined with
/// the configuration, which bounds `max_concurrent_fulfilments` by them.
pub use crate::config::limits::{DEFAULT_PRODUCT_FULFILMENTS, FULFIL_CONCURRENCY};
/// After this many failed attempts a retryable failure parks the order as failed.
pub const MAX_FULFIL_ATTEMPTS: u32 = 12;
/// Longest `source_value` of the result that tells StackOne an order failed; the reason in
/// the store is kept whole.
pub const MAX_FAILURE_SOURCE_VALUE: usize = 500;

/// The order worker. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    products: Products,
    wake: Arc<Notify>,
    relay: Arc<Notify>,
    in_flight: Arc<InFlight>,
}

/// Orders being fulfilled, by product: what each product has left of its slots.
#[derive(Default)]
struct InFlight(Mutex<BTreeMap<String, usize>>);

impl InFlight {
    /// The slots a claim of up to `total` orders may use: each configured product's bound
    /// less its orders in flight; a product no longer configured gets the default bound.
    fn slots(&self, total: usize, products: &Products) -> ClaimSlots {
        let in_flight = self.lock();
        let busy = |name: &str| in_flight.get(name).copied().unwrap_or(0);
        let mut per_product: BTreeMap<String, usize> = products
            .snapshot()
            .products
            .iter()
            .map(|(name, p)| {
                let bound = p.config.max_concurrent_fulfilments;
                (name.clone(), bound.saturating_sub(busy(name)))
            })
            .collect();
        for (name, n) in in_flight.iter() {
            per_product
                .entry(name.clone())
                .or_insert_with(|| DEFAULT_PRODUCT_FULFILMENTS.saturating_sub(*n));
        }
        ClaimSlots {
            total,
            per_product,
            others: DEFAULT_PRODUCT_FULFILMENTS,
        }
    }

    /// Counts one order of `product` in flight until the returned guard is dropped.
    fn start(self: &Arc<Self>, product: &str) -> InFlightGuard {
        *self.lock().entry(product.to_owned()).or_insert(0) += 1;
        InFlightGuard {
            in_flight: Arc::clone(self),
            product: product.to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, usize>> {
        // The map stays consistent whatever panicked while it was held.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One order in flight; dropping it frees the product's slot.
struct InFlightGuard {
    in_flight: Arc<InFlight>,
    product: String,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock();
        if let Some(n) = map.get_mut(&self.product) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.product);
            }
        }
    }
}

enum Outcome {
    Fulfilled,
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    Failed(Failure),
}

/// Why an order failed for good, and what the recruiter is told.
struct Failure {
    /// The reason kept with the order, for the operator.
    reason: String,
    /// `failed`, or `cancelled` when the vendor cancelled the order.
    status: ResultValue,
    /// The plugin's own message (or the host's reason), sent as the status's `source_value`.
    message: String,
}

impl Failure {
    /// A failure the host found (not the plugin): the recruiter sees the reason.
    fn host(reason: String) -> Self {
        Self {
            message: reason.clone(),
            reason,
            status: ResultValue::Failed,
        }
    }

    /// A failed `fulfil-order` call.
    fn call(e: &CallError) -> Self {
        let (status, message) = match e.plugin_error() {
            Some(PluginError::Cancelled(m)) => (ResultValue::Cancelled, m.clone()),
            Some(
                PluginError::InvalidInput(m)
                | PluginError::Unauthorized(m)
                | PluginError::NotFound(m)
                | PluginError::Permanent(m)
                | PluginError::Misconfigured(m),
            ) => (ResultValue::Failed, m.clone()),
            Some(PluginError::UpstreamRetryable(r)) => (ResultValue::Failed, r.message.clone()),
            None => (ResultValue::Failed, e.kind.to_string()),
        };
        Self {
            reason: e.to_string(),
            status,
            message,
        }
    }

    /// The final result StackOne is sent.
    fn result(&self) -> ResultBody {
        let mut message = self.message.clone();
        assay_runtime::truncate_at_char(&mut message, MAX_FAILURE_SOURCE_VALUE);
        to_store(AssessmentResult {
            score: None,
            status: Some(ResultStatus {
                value: self.status.clone(),
                source_value: Some(message),
            }),
            result_url: None,
            start_date: None,
            submission_date: None,
            summary: None,
            attachments: vec![],
            candidate_profile_url: None,
        })
    }
}

impl Worker {
    /// A worker over `store` and `products`; `relay` is woken when a first result is stored.
    pub fn new(store: Arc<dyn Store>, products: Products, relay: Arc<Notify>) -> Self {
        Self {
            store,
            products,
            wake: Arc::new(Notify::new()),
            relay,
            in_flight: Arc::default(),
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
                let worker = claimer.clone();
                async move {
                    let slots = worker.in_flight.slots(n, &worker.products);
                    // `store.fulfil_lease_ms`, as the configuration in force says.
                    let lease = worker.products.config().store.fulfil_lease;
                    let claimed = worker
                        .store
                        .claim_due_orders(slots, Timestamp::now(), lease)
                        .await?;
                    // Counted before the next claim reads the slots.
                    Ok(claimed
                        .into_iter()
                        .map(|order| (worker.in_flight.start(&order.product), order))
                        .collect())
                }
            },
            next_due: move || {
                let worker = scheduler.clone();
                async move {
                    // A product at its bound has due orders the claim cannot take: waiting
                    // for them would spin; a finishing order wakes the loop instead.
                    let full = worker
                        .in_flight
                        .slots(FULFIL_CONCURRENCY, &worker.products)
                        .full_products();
                    worker.store.next_fulfilment_due_except(full).await
                }
            },
        }
        .run(
            cancel,
            move |(slot, order): (InFlightGuard, ClaimedOrder)| {
                let worker = self.clone();
                async move {
                    worker.fulfil(order).await;
                    drop(slot);
                }
            },
        )
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
                self.failed(&order, Failure::host(reason)).await
            }
            Outcome::Retry { error, retry_after } => {
                let delay = FULFIL_BACKOFF.delay(attempt, retry_after);
                tracing::warn!(
                    product,
                    order_id = order.order_id,
                    attempt,
                    error,
                    retry_in_s = delay.as_secs_f64(),
                    "fulfilment will be retried"
                );
                // The claim loop reads the retry's time from the store and sleeps until it.
                let lease = self.products.config().store.fulfil_lease;
                let not_before = Timestamp::now().plus(delay);
                record_outcome(lease, || {
                    self.store
                        .fulfilment_retry(order.claim, not_before, error.clone())
                })
                .await
            }
            Outcome::Failed(failure) => self.failed(&order, failure).await,
        };
        if let Err(e) = result {
            // The lease runs out and the order is claimed again; fulfil-order is idempotent.
            tracing::error!(product, order_id = order.order_id, error = %e, "worker: could not record the outcome");
        }
    }

    /// Parks the order and queues the result that tells the recruiter.
    async fn failed(
        &self,
        order: &ClaimedOrder,
        failure: Failure,
    ) -> Result<(), assay_store::StoreError> {
        tracing::error!(
            product = order.product,
            order_id = order.order_id,
            reason = failure.reason,
            "order failed; StackOne is sent its final result"
        );
        let result = failure.result();
        let status = if matches!(failure.status, ResultValue::Cancelled) {
            "cancelled"
        } else {
            "failed"
        };
        let lease = self.products.config().store.fulfil_lease;
        record_outcome(lease, || {
            self.store
                .fulfilment_failed(order.claim, failure.reason.clone(), Some(result.clone()))
        })
        .await?;
        metrics::counter!(metric::ORDERS_FAILED_TOTAL, "product" => order.product.clone(), "status" => status).increment(1);
        self.relay.notify_one();
        Ok(())
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
            Err(e) => {
                return Outcome::Failed(Failure::host(format!("stored order is not JSON: {e}")));
            }
        };
        let wit_order = match order_from_json(
            order.kind.into(),
            &object,
            "",
            Some(&order.account_id),
            order.provider.as_deref(),
        ) {
            Ok(o) => o,
            Err(e) => {
                return Outcome::Failed(Failure::host(format!("order cannot be fulfilled: {e}")));
            }
        };
        match plugin.fulfil_order(&product.context, wit_order).await {
            Ok(fulfilment) => {
                let first = fulfilment.first_result.map(to_store);
                let has_first = first.is_some();
                let lease = self.products.config().store.fulfil_lease;
                let recorded = record_outcome(lease, || {
                    self.store.fulfilment_succeeded(
                        order.claim,
                        fulfilment.external_id.clone(),
                        fulfilment.test_url.clone(),
                        first.clone(),
                    )
                })
                .await;
                match recorded {
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
            Err(e) => Outcome::Failed(Failure::call(&e)),
        }
    }
}
