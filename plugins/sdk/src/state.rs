//! The product's state between calls: keys and values that outlive the call's instance.
//!
//! Every call still runs in a fresh instance, so statics and memory are gone when it returns.
//! What a plugin stores here survives: a vendor's access token, say, fetched once and reused
//! until it nears its expiry ([`TokenCache`] does exactly that).
//!
//! ```ignore
//! use std::time::Duration;
//! use assay_plugin_sdk::state;
//!
//! state::set_for("upload-url", url.as_bytes(), Duration::from_secs(600))?;
//! if let Some(url) = state::get("upload-url")? { /* … */ }
//! state::delete("upload-url")?;
//! ```
//!
//! It is the standard `wasi:keyvalue/store`, with expiry from `assay:plugin/state`. The free
//! functions use the bucket `""`; [`Bucket::open`] gives a named one (a namespace of keys
//! within the same product). What the host promises:
//!
//! - **Per product**: no other product can read or write these keys, and the host never logs
//!   them.
//! - **In memory**: a restart of the host clears them; a plugin reload keeps them; a change
//!   of the product's settings clears them (a token fetched with old credentials never outlives
//!   them). So use it as a cache of what you can fetch again, never as the only copy.
//! - **Small**: at most 1 MiB per product, counting keys and values (and a little per key);
//!   keys are at most 1 KiB long.
//!
//! # Errors
//!
//! A write the host refuses (the product's state is full, a key is too long) is a
//! [`PluginError::Permanent`]: the space is freed only by expiry, your own deletes, a settings
//! change or a restart, so trying the same call again soon would meet the same refusal, and
//! the operator needs to see it. For a cache, a failed write is better treated as a miss:
//! [`TokenCache`] logs it and returns the token it fetched.

mod token_cache;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PluginError;
use crate::bindings::assay::plugin0_2_0::state::set_with_expiry;
use crate::bindings::wasi::keyvalue::store::{self, Error as StoreError};

pub use token_cache::{MIN_SAFETY_MARGIN, TokenCache, safety_margin};

/// The bucket the free functions of this module use.
pub const DEFAULT_BUCKET: &str = "";

/// A bucket of the product's state: one namespace of keys.
#[derive(Debug)]
pub struct Bucket {
    inner: store::Bucket,
}

impl Bucket {
    /// Opens the bucket `name` (`""` is the default one). Buckets need no creating; two
    /// names are two separate sets of keys, both counted in the product's one limit.
    pub fn open(name: &str) -> Result<Self, PluginError> {
        store::open(name)
            .map(|inner| Bucket { inner })
            .map_err(|e| state_error("open the bucket", name, e))
    }

    /// The value of `key`, `None` if it is absent or expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        self.inner.get(key).map_err(|e| state_error("read", key, e))
    }

    /// Whether `key` holds a value that has not expired.
    pub fn exists(&self, key: &str) -> Result<bool, PluginError> {
        self.inner
            .exists(key)
            .map_err(|e| state_error("read", key, e))
    }

    /// Sets `key` to `value`, replacing any value and any expiry.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<(), PluginError> {
        self.inner
            .set(key, value.as_ref())
            .map_err(|e| state_error("write", key, e))
    }

    /// Sets `key` to `value`, gone `ttl` later (in whole milliseconds, rounded down).
    pub fn set_for(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<(), PluginError> {
        set_with_expiry(&self.inner, key, value.as_ref(), millis(ttl))
            .map_err(|e| state_error("write", key, e))
    }

    /// Removes `key`; nothing happens if it is absent.
    pub fn delete(&self, key: &str) -> Result<(), PluginError> {
        self.inner
            .delete(key)
            .map_err(|e| state_error("delete", key, e))
    }

    /// The value of `key` decoded from JSON, `None` if it is absent, expired, or no longer
    /// decodes as a `T`. State survives plugin reloads, so a value written by an older version
    /// of your plugin may have another shape: that is logged (with the key only) and treated
    /// as a miss, so the plugin fetches afresh instead of failing until the next restart.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, PluginError> {
        let Some(bytes) = self.get(key)? else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(Some(value)),
            Err(e) => {
                crate::log::warn(
                    "a state value does not decode; treated as absent",
                    &[("key", key), ("error", &e.to_string())],
                );
                Ok(None)
            }
        }
    }

    /// Sets `key` to `value` encoded as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), PluginError> {
        self.set(key, to_json(key, value)?)
    }

    /// Sets `key` to `value` encoded as JSON, gone `ttl` later.
    pub fn set_json_for<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), PluginError> {
        self.set_for(key, to_json(key, value)?, ttl)
    }
}

/// The value of `key` in the default bucket, `None` if it is absent or expired.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.get(key)
}

/// Whether `key` holds a value in the default bucket.
pub fn exists(key: &str) -> Result<bool, PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.exists(key)
}

/// Sets `key` in the default bucket, with no expiry.
pub fn set(key: &str, value: impl AsRef<[u8]>) -> Result<(), PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.set(key, value)
}

/// Sets `key` in the default bucket, gone `ttl` later.
pub fn set_for(key: &str, value: impl AsRef<[u8]>, ttl: Duration) -> Result<(), PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.set_for(key, value, ttl)
}

/// Removes `key` from the default bucket.
pub fn delete(key: &str) -> Result<(), PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.delete(key)
}

/// [`Bucket::get_json`] in the default bucket.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.get_json(key)
}

/// [`Bucket::set_json`] in the default bucket.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.set_json(key, value)
}

/// [`Bucket::set_json_for`] in the default bucket.
pub fn set_json_for<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    ttl: Duration,
) -> Result<(), PluginError> {
    Bucket::open(DEFAULT_BUCKET)?.set_json_for(key, value, ttl)
}

fn to_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value).map_err(|e| {
        PluginError::Permanent(format!("cannot encode the state value of `{key}`: {e}"))
    })
}

/// `duration` in whole milliseconds, capped at `u64::MAX`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What a refusal of the state store means: always [`PluginError::Permanent`] (see the module
/// docs), naming what was attempted on which key or bucket.
fn state_error(action: &str, name: &str, error: StoreError) -> PluginError {
    let why = match error {
        StoreError::NoSuchStore => "the host has no such state store".to_owned(),
        StoreError::AccessDenied => "the host denied access to the state".to_owned(),
        StoreError::Other(message) => message,
    };
    PluginError::Permanent(format!(
        "could not {action} `{name}` in the product's state: {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_permanent_and_name_the_key() {
        let e = state_error(
            "write",
            "vendor-token",
            StoreError::Other("the product's state is full".into()),
        );
        assert!(
            matches!(&e, PluginError::Permanent(m)
                if m.contains("`vendor-token`") && m.contains("is full") && m.contains("write")),
            "{e:?}"
        );
        for error in [StoreError::NoSuchStore, StoreError::AccessDenied] {
            assert!(matches!(
                state_error("open the bucket", "b", error),
                PluginError::Permanent(_)
            ));
        }
    }

    #[test]
    fn expiries_are_whole_milliseconds() {
        assert_eq!(millis(Duration::from_micros(1_500)), 1);
        assert_eq!(millis(Duration::from_secs(30)), 30_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
