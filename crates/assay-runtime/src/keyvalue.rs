//! The state a product's plugin keeps between calls: the host side of the standard
//! `wasi:keyvalue/store` and of `assay:plugin/state` (expiry), for contract 0.2.0 on.
//!
//! Each call still gets a fresh instance; only what the plugin puts here survives it. One
//! [`ProductState`] belongs to one product: the host hands the same one to every call of that
//! product (across plugin reloads) and a new, empty one when the product's settings change, so
//! a token fetched with old credentials never outlives them. Another product's calls hold
//! another `ProductState`, so no key of one product is reachable from another.
//!
//! The state lives in memory: a restart of the host clears it. Values are never logged. A
//! product holds at most [`ProductState::limit`] bytes of keys and values (plus
//! [`ENTRY_OVERHEAD`] per key); a `set` past the limit fails with a message saying so, after
//! expired keys were dropped to make room.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default size limit of one product's state, in bytes.
pub const DEFAULT_STATE_LIMIT: usize = 1024 * 1024;
/// What each key costs besides its key and value bytes.
pub const ENTRY_OVERHEAD: usize = 64;
/// Longest bucket name or key accepted.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most keys one `list-keys` call returns; the cursor pages through the rest.
pub const LIST_PAGE: usize = 100;

/// A bucket handle: the name the plugin opened, within its product's state.
#[derive(Debug)]
pub struct Bucket {
    pub(crate) name: String,
}

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The write would take the product past its limit.
    #[error(
        "the product's state is full: this write needs {needed} bytes and {free} of the limit of {limit} are free"
    )]
    Full {
        /// Bytes the write needs.
        needed: usize,
        /// Bytes still free.
        free: usize,
        /// The product's limit.
        limit: usize,
    },
    /// A bucket name or key longer than [`MAX_KEY_BYTES`].
    #[error("a bucket name or key is {0} bytes long; the limit is {MAX_KEY_BYTES}")]
    KeyTooLong(usize),
}

#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| now < at)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// By bucket, then key: `list-keys` pages through one bucket in key order.
    entries: BTreeMap<(String, String), Entry>,
    used: usize,
}

impl Inner {
    fn cost(bucket: &str, key: &str, value: &[u8]) -> usize {
        ENTRY_OVERHEAD + bucket.len() + key.len() + value.len()
    }

    fn remove(&mut self, bucket: &str, key: &str) {
        let k = (bucket.to_owned(), key.to_owned());
        if let Some(old) = self.entries.remove(&k) {
            self.used -= Self::cost(bucket, key, &old.value);
        }
    }

    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.entries.retain(|(b, k), e| {
            let keep = e.live(now);
            if !keep {
                freed += Self::cost(b, k, &e.value);
            }
            keep
        });
        self.used -= freed;
    }
}

/// One product's keys and values.
#[derive(Debug)]
pub struct ProductState {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Default for ProductState {
    fn default() -> Self {
        Self::new(DEFAULT_STATE_LIMIT)
    }
}

impl ProductState {
    /// An empty state holding at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            limit,
        }
    }

    /// The size limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes in use (keys, values and [`ENTRY_OVERHEAD`] per key), expired keys included
    /// until they are swept.
    pub fn used(&self) -> usize {
        self.lock().used
    }

    /// Live keys across all buckets.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().entries.values().filter(|e| e.live(now)).count()
    }

    /// Whether no live key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every method finishes its
        // bookkeeping before it can panic), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `read` of the entry of `key`, unless it is absent or expired (an expired one is dropped).
    fn read<R>(&self, bucket: &str, key: &str, read: impl FnOnce(&Entry) -> R) -> Option<R> {
        let now = Instant::now();
        let mut inner = self.lock();
        let k = (bucket.to_owned(), key.to_owned());
        match inner.entries.get(&k) {
            Some(e) if e.live(now) => Some(read(e)),
            Some(_) => {
                inner.remove(bucket, key);
                None
            }
            None => None,
        }
    }

    /// The value of `key`, unless it is absent or expired.
    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.read(bucket, key, |e| e.value.clone())
    }

    /// Whether `key` holds a live value (without copying it).
    pub fn exists(&self, bucket: &str, key: &str) -> bool {
        self.read(bucket, key, |_| ()).is_some()
    }

    /// Sets `key`, replacing any value and expiry; it expires `ttl` from now if given.
    pub fn set(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        let longest = bucket.len().max(key.len());
        if longest > MAX_KEY_BYTES {
            return Err(StateError::KeyTooLong(longest));
        }
        let now = Instant::now();
        let needed = Inner::cost(bucket, key, &value);
        let mut inner = self.lock();
        inner.remove(bucket, key);
        if inner.used + needed > self.limit {
            inner.sweep(now);
        }
        if inner.used + needed > self.limit {
            return Err(StateError::Full {
                needed,
                free: self.limit - inner.used,
                limit: self.limit,
            });
        }
        inner.used += needed;
        // A ttl too long for the clock never expires.
        let expires = ttl.and_then(|t| now.checked_add(t));
        inner.entries.insert(
            (bucket.to_owned(), key.to_owned()),
            Entry { value, expires },
        );
        Ok(())
    }

    /// Removes `key`; nothing happens if it is absent.
    pub fn delete(&self, bucket: &str, key: &str) {
        self.lock().remove(bucket, key);
    }

    /// Up to [`LIST_PAGE`] live keys of `bucket` in key order, from position `cursor`, and the
    /// cursor of the next page if there is one.
    pub fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> (Vec<String>, Option<u64>) {
        let now = Instant::now();
        let skip = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let inner = self.lock();
        let mut live = inner
            .entries
            .range((bucket.to_owned(), String::new())..)
            .take_while(|((b, _), _)| b == bucket)
            .filter(|(_, e)| e.live(now))
            .map(|((_, k), _)| k.clone())
            .skip(skip);
        let page: Vec<String> = live.by_ref().take(LIST_PAGE).collect();
        let next = live
            .next()
            .map(|_| u64::try_from(skip + page.len()).unwrap_or(u64::MAX));
        (page, next)
    }

    /// Drops every key.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_per_bucket() {
        let s = ProductState::default();
        s.set("", "token", b"abc".to_vec(), None).expect("set");
        s.set("other", "token", b"xyz".to_vec(), None).expect("set");
        assert_eq!(s.get("", "token").as_deref(), Some(&b"abc"[..]));
        assert_eq!(s.get("other", "token").as_deref(), Some(&b"xyz"[..]));
        assert!(s.exists("", "token"));
        s.delete("", "token");
        assert_eq!(s.get("", "token"), None);
        assert!(s.exists("other", "token"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn a_key_expires_and_its_bytes_are_freed() {
        let s = ProductState::default();
        s.set("", "t", vec![1; 100], Some(Duration::ZERO))
            .expect("set");
        assert!(s.used() > 100);
        assert_eq!(s.get("", "t"), None, "a zero ttl is expired at once");
        assert_eq!(s.used(), 0);
        s.set("", "t", vec![1], Some(Duration::from_secs(3600)))
            .expect("set");
        assert!(s.exists("", "t"));
        // A plain set drops the expiry.
        s.set("", "t", vec![2], None).expect("set");
        assert_eq!(s.get("", "t").as_deref(), Some(&[2u8][..]));
    }

    #[test]
    fn the_limit_refuses_a_write_and_counts_replacements_once() {
        let s = ProductState::new(1000);
        s.set("", "a", vec![0; 500], None).expect("fits");
        // Replacing a key frees its old bytes first.
        s.set("", "a", vec![0; 800], None)
            .expect("replacement fits");
        let err = s.set("", "b", vec![0; 500], None).expect_err("full");
        assert!(matches!(err, StateError::Full { limit: 1000, .. }), "{err}");
        assert!(err.to_string().contains("full"), "{err}");
        assert!(s.exists("", "a"), "a refused write keeps what was there");
        // Expired keys make room.
        s.set("", "a", vec![0; 800], Some(Duration::ZERO))
            .expect("set");
        s.set("", "b", vec![0; 500], None)
            .expect("room after sweep");
    }

    #[test]
    fn long_keys_are_refused() {
        let s = ProductState::default();
        let key = "k".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            s.set("", &key, vec![], None),
            Err(StateError::KeyTooLong(MAX_KEY_BYTES + 1))
        );
    }

    #[test]
    fn list_keys_pages_through_one_bucket() {
        let s = ProductState::default();
        for i in 0..(LIST_PAGE + 5) {
            s.set("b", &format!("k{i:04}"), vec![], None).expect("set");
        }
        s.set("c", "other", vec![], None).expect("set");
        let (first, cursor) = s.list_keys("b", None);
        assert_eq!(first.len(), LIST_PAGE);
        assert_eq!(first[0], "k0000");
        let (rest, end) = s.list_keys("b", cursor);
        assert_eq!(rest.len(), 5);
        assert_eq!(end, None);
        assert!(!rest.contains(&"other".to_owned()));
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.used(), 0);
    }
}
