//! Package lists a plugin said may be reused (contract 0.2.0's `freshness`), per product
//! generation and StackOne account.
//!
//! One cache belongs to one [`Product`](crate::products::Product) value: a reload of the plugin
//! or of the product's settings builds a new `Product`, so the old entries go with the old
//! generation and can never be served for the new one. Within a generation an entry is keyed by
//! the query (account id and provider).
//!
//! An entry is:
//! - **fresh** for `max-age-s` after it was fetched: served without calling the plugin. Once
//!   three quarters of that has passed, the first request that hits it starts one background
//!   refresh, so a busy account never waits for the plugin;
//! - **stale** for `stale-if-error-s` after that: the plugin is called, and only if the call
//!   fails is the stale list served (`x-assay-cache: stale`, and
//!   [`assay_wire::metric::PACKAGE_LIST_CACHE_TOTAL`] with outcome `stale`);
//! - gone after both.
//!
//! The entry holds the response body as sent, so a hit costs a map lookup and a copy of
//! `Bytes`. A product holds at most [`MAX_ENTRIES`] accounts; past that, expired entries are
//! dropped, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use assay_runtime::types::Freshness;

/// Most accounts one product's cache holds.
pub const MAX_ENTRIES: usize = 10_000;
/// Longest `max-age-s` honoured: a day. A longer hint is cut to it.
pub const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 3600);
/// Longest `stale-if-error-s` honoured: a week.
pub const STALE_CAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// The header that says how a package list was answered.
pub const CACHE_HEADER: &str = "x-assay-cache";

/// What a package list request is keyed by within one generation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// StackOne's account id.
    pub account_id: String,
    /// The ATS provider, if StackOne sent one.
    pub provider: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    body: Bytes,
    fetched: Instant,
    max_age: Duration,
    stale_for: Duration,
    refreshing: bool,
}

/// What the cache holds for a key at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Serve `body` without calling the plugin; `refresh` says this request should start the
    /// background refresh (only one request per entry is told so).
    Fresh {
        /// The response body.
        body: Bytes,
        /// Start a background refresh.
        refresh: bool,
    },
    /// Call the plugin; serve `body` if the call fails.
    Stale {
        /// The response body to fall back on.
        body: Bytes,
    },
    /// Call the plugin; nothing to fall back on.
    Miss,
}

/// One product generation's package lists.
#[derive(Debug, Default)]
pub struct PackageCache {
    entries: Mutex<HashMap<CacheKey, Entry>>,
}

impl PackageCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What to do for `key` at `now`.
    pub fn lookup(&self, key: &CacheKey, now: Instant) -> Lookup {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else {
            return Lookup::Miss;
        };
        let age = now.saturating_duration_since(entry.fetched);
        if age < entry.max_age {
            let refresh = !entry.refreshing && age >= entry.max_age / 4 * 3;
            if refresh {
                entry.refreshing = true;
            }
            return Lookup::Fresh {
                body: entry.body.clone(),
                refresh,
            };
        }
        if age < entry.max_age + entry.stale_for {
            return Lookup::Stale {
                body: entry.body.clone(),
            };
        }
        entries.remove(key);
        Lookup::Miss
    }

    /// Stores `body` for `key` as fetched at `fetched`, if `freshness` allows reuse at all;
    /// otherwise drops what was there (the plugin no longer wants it cached).
    pub fn store(
        &self,
        key: CacheKey,
        body: Bytes,
        freshness: Option<&Freshness>,
        fetched: Instant,
    ) {
        let mut entries = self.lock();
        let Some(f) = freshness.filter(|f| f.max_age_s > 0) else {
            entries.remove(&key);
            return;
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            make_room(&mut entries, fetched);
        }
        entries.insert(
            key,
            Entry {
                body,
                fetched,
                max_age: Duration::from_secs(f.max_age_s.into()).min(MAX_AGE_CAP),
                stale_for: Duration::from_secs(f.stale_if_error_s.into()).min(STALE_CAP),
                refreshing: false,
            },
        );
    }

    /// A background refresh of `key` failed: the next request past three quarters of the
    /// entry's age may try again.
    pub fn refresh_failed(&self, key: &CacheKey) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.refreshing = false;
        }
    }

    /// How many accounts are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops every expired entry, then, if none was, the oldest one.
fn make_room(entries: &mut HashMap<CacheKey, Entry>, now: Instant) {
    let before = entries.len();
    entries.retain(|_, e| now.saturating_duration_since(e.fetched) < e.max_age + e.stale_for);
    if entries.len() < before {
        return;
    }
    if let Some(oldest) = entries
        .iter()
        .min_by_key(|(_, e)| e.fetched)
        .map(|(k, _)| k.clone())
    {
        entries.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str) -> CacheKey {
        CacheKey {
            account_id: account.into(),
            provider: None,
        }
    }

    fn fresh(max_age_s: u32, stale_if_error_s: u32) -> Freshness {
        Freshness {
            max_age_s,
            stale_if_error_s,
        }
    }

    #[test]
    fn an_entry_is_fresh_then_stale_then_gone() {
        let cache = PackageCache::default();
        let t0 = Instant::now();
        let body = Bytes::from_static(b"[]");
        cache.store(key("a"), body.clone(), Some(&fresh(100, 50)), t0);
        assert_eq!(
            cache.lookup(&key("a"), t0 + Duration::from_secs(10)),
            Lookup::Fresh {
                body: body.clone(),
                refresh: false
            }
        );
        assert_eq!(cache.lookup(&key("b"), t0), Lookup::Miss, "per account");
        assert_eq!(
            cache.lookup(&key("a"), t0 + Duration::from_secs(120)),
            Lookup::Stale { body: body.clone() }
        );
        assert_eq!(
            cache.lookup(&key("a"), t0 + Duration::from_secs(151)),
            Lookup::Miss
        );
        assert!(cache.is_empty(), "an entry past both windows is dropped");
    }

    #[test]
    fn one_request_starts_the_refresh() {
        let cache = PackageCache::default();
        let t0 = Instant::now();
        let body = Bytes::from_static(b"[]");
        cache.store(key("a"), body.clone(), Some(&fresh(100, 0)), t0);
        let late = t0 + Duration::from_secs(80);
        assert_eq!(
            cache.lookup(&key("a"), late),
            Lookup::Fresh {
                body: body.clone(),
                refresh: true
            }
        );
        assert_eq!(
            cache.lookup(&key("a"), late),
            Lookup::Fresh {
                body: body.clone(),
                refresh: false
            },
            "the refresh is already running"
        );
        cache.refresh_failed(&key("a"));
        assert!(matches!(
            cache.lookup(&key("a"), late),
            Lookup::Fresh { refresh: true, .. }
        ));
        // A refresh's answer replaces the entry and its clock.
        cache.store(
            key("a"),
            Bytes::from_static(b"[1]"),
            Some(&fresh(100, 0)),
            late,
        );
        assert_eq!(
            cache.lookup(&key("a"), late + Duration::from_secs(1)),
            Lookup::Fresh {
                body: Bytes::from_static(b"[1]"),
                refresh: false
            }
        );
    }

    #[test]
    fn no_freshness_or_zero_max_age_is_not_cached_and_drops_the_old_entry() {
        let cache = PackageCache::default();
        let t0 = Instant::now();
        cache.store(key("a"), Bytes::new(), None, t0);
        assert!(cache.is_empty());
        cache.store(key("a"), Bytes::new(), Some(&fresh(60, 0)), t0);
        cache.store(key("a"), Bytes::new(), Some(&fresh(0, 600)), t0);
        assert!(cache.is_empty());
    }

    #[test]
    fn hints_are_capped() {
        let cache = PackageCache::default();
        let t0 = Instant::now();
        cache.store(key("a"), Bytes::new(), Some(&fresh(u32::MAX, u32::MAX)), t0);
        assert_eq!(
            cache.lookup(&key("a"), t0 + MAX_AGE_CAP + STALE_CAP),
            Lookup::Miss
        );
    }

    #[test]
    fn a_full_cache_drops_expired_entries_then_the_oldest() {
        let cache = PackageCache::default();
        let t0 = Instant::now();
        for i in 0..MAX_ENTRIES {
            let at = t0 + Duration::from_millis(i as u64);
            cache.store(key(&i.to_string()), Bytes::new(), Some(&fresh(3600, 0)), at);
        }
        let later = t0 + Duration::from_secs(10);
        cache.store(key("new"), Bytes::new(), Some(&fresh(3600, 0)), later);
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert_eq!(
            cache.lookup(&key("0"), later),
            Lookup::Miss,
            "the oldest went"
        );
        assert!(matches!(
            cache.lookup(&key("1"), later),
            Lookup::Fresh { .. }
        ));
    }
}
