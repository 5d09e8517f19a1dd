//! What keeps one product's calls from failing the others: a bound on each product's
//! concurrent calls ([`CallSlots`]) and one memory budget all calls of the process share
//! ([`MemoryBudget`]).
//!
//! The pooling allocator has [`crate::POOL_INSTANCES`] instance slots for the whole process.
//! Without a bound per product, a slow plugin called 300 times at once took every slot and
//! another product's package list failed with the pool's "maximum concurrent limit" error.
//! Each product now has its own share (`products.NAME.max_concurrent_calls`, default
//! [`DEFAULT_MAX_CONCURRENT_CALLS`]); past it, a call fails at once with
//! [`crate::CallErrorKind::Busy`], which the edge answers 503 with `Retry-After` and the worker
//! retries, and the pool keeps room for the others.
//!
//! Each call's memory limit bounds one call, not their sum: eight calls of a memory-hungry
//! plugin took 2.9 GB. Every memory growth of every call is charged to the [`MemoryBudget`]
//! (`plugins.memory_budget_mb`, default a quarter of the machine's memory) and given back
//! when the call ends; a growth past the budget is refused like one past the call's own
//! limit, and the call fails with [`crate::CallErrorKind::MemoryBudget`], retryable. One
//! product may hold at most [`PRODUCT_BUDGET_SHARE`] of the budget, so a memory-hungry
//! product cannot spend what the others need.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::pool::LaneMemo;

/// The default bound of one product's concurrent calls (a quarter of the instance pool, so
/// that three products at their bound still leave the pool a quarter), defined with the
/// configuration, which fills it in.
pub use assay_config::limits::DEFAULT_MAX_CONCURRENT_CALLS;

/// The part of the [`MemoryBudget`] one product's calls may hold together: a half, so one
/// product at its share leaves the other half to the rest.
pub const PRODUCT_BUDGET_SHARE: (u64, u64) = (1, 2);

/// The bound of one product's concurrent calls, and the lane they start on (see `pool`).
#[derive(Debug)]
pub struct CallSlots {
    limit: usize,
    slots: Arc<Semaphore>,
    lane: Arc<LaneMemo>,
}

impl CallSlots {
    /// `limit` concurrent calls (at least 1).
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        CallSlots {
            limit,
            slots: Arc::new(Semaphore::new(limit)),
            lane: Arc::default(),
        }
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether the product's calls start on the long lane, remembered between them.
    pub fn lane(&self) -> &Arc<LaneMemo> {
        &self.lane
    }

    /// Calls in flight now.
    pub fn in_use(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// A slot for one call, or `None` when every slot is taken. The slot is given back when
    /// the permit is dropped, which for a call that grew a big memory is after that memory
    /// was released (see `pool::Reclaimer`), so a product's pending releases count against
    /// its bound too.
    pub fn try_take(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }
}

impl Default for CallSlots {
    fn default() -> Self {
        CallSlots::new(DEFAULT_MAX_CONCURRENT_CALLS)
    }
}

/// Memory all plugin calls of the process may hold at once, in bytes.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: u64,
    used: AtomicU64,
    /// What each product's calls hold now.
    by_product: Mutex<HashMap<Arc<str>, u64>>,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        MemoryBudget {
            limit,
            used: AtomicU64::new(0),
            by_product: Mutex::new(HashMap::new()),
        }
    }

    /// A quarter of the machine's memory (`MemTotal` of `/proc/meminfo`), or 2 GiB where that
    /// cannot be read: [`assay_config::limits::default_memory_budget`], the default of
    /// `plugins.memory_budget_mb`.
    pub fn default_limit() -> u64 {
        assay_config::limits::default_memory_budget()
    }

    /// The budget, in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// The most one product's calls may hold together.
    pub fn product_limit(&self) -> u64 {
        self.limit / PRODUCT_BUDGET_SHARE.1 * PRODUCT_BUDGET_SHARE.0
    }

    /// Charges `bytes` to `product` if they fit both the budget and the product's share;
    /// whether they did.
    pub fn try_charge(&self, product: &Arc<str>, bytes: u64) -> bool {
        let mut by_product = self
            .by_product
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let held = by_product.get(product).copied().unwrap_or(0);
        if held.saturating_add(bytes) > self.product_limit() {
            return false;
        }
        let charged = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok();
        if charged {
            by_product.insert(Arc::clone(product), held + bytes);
        }
        charged
    }

    /// Gives back `bytes` charged to `product` earlier.
    pub fn release(&self, product: &Arc<str>, bytes: u64) {
        let mut by_product = self
            .by_product
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = by_product.get_mut(product) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                by_product.remove(product);
            }
        }
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_charges_what_fits_and_takes_back_what_is_released() {
        let budget = MemoryBudget::new(100);
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        assert!(budget.try_charge(&a, 50));
        assert!(!budget.try_charge(&a, 1), "a holds its half");
        assert!(budget.try_charge(&b, 40));
        assert!(!budget.try_charge(&c, 11), "50 + 40 + 11 is past 100");
        assert!(budget.try_charge(&c, 10));
        budget.release(&a, 50);
        assert_eq!(budget.used(), 50);
        assert!(budget.try_charge(&a, 50));
        assert!(MemoryBudget::default_limit() > 0);
    }

    #[test]
    fn slots_refuse_past_their_limit() {
        let slots = CallSlots::new(2);
        let a = slots.try_take().expect("first");
        let _b = slots.try_take().expect("second");
        assert!(slots.try_take().is_none());
        assert_eq!(slots.in_use(), 2);
        drop(a);
        assert!(slots.try_take().is_some());
    }
}
