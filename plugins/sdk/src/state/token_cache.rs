//! A vendor access token kept in the product's state until it nears its expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Bucket;
use crate::PluginError;

/// The least time a cached token must have left to be used: a call that starts with a token
/// about to expire could see it refused halfway through.
pub const MIN_SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// How long before its expiry a token of `lifetime` stops being used: [`MIN_SAFETY_MARGIN`]
/// or a tenth of the lifetime, whichever is longer, but never more than half the lifetime (so
/// a short-lived token is still reused). A one-hour token is reused for 54 minutes, a
/// five-minute token for 4.5 minutes, a 40-second token for 20 seconds.
pub fn safety_margin(lifetime: Duration) -> Duration {
    MIN_SAFETY_MARGIN.max(lifetime / 10).min(lifetime / 2)
}

/// A vendor access token cached in the product's state (default bucket) under one key.
///
/// [`TokenCache::get_or_fetch`] returns the cached token while it has more than its
/// [`safety_margin`] left; otherwise it calls your `fetch`, stores the new token with an
/// expiry (so the host drops it in time) and returns it. The expiry is also written into the
/// value, by the wall clock, so a token is never used too late even if the stored expiry
/// were lost. Every call is a fresh instance, but the token is fetched once per lifetime, not
/// once per call. A change of the product's settings clears the state, so a token fetched with
/// old credentials is not reused.
///
/// The OAuth2 client-credentials grant, with the client id and secret from the settings
/// (declare them: `client_secret` as [`SettingSpec::secret`](crate::SettingSpec::secret)):
///
/// ```no_run
/// use std::time::Duration;
///
/// use assay_plugin_sdk::state::TokenCache;
/// use assay_plugin_sdk::{PluginError, http, settings};
/// use serde::Deserialize;
///
/// /// The token endpoint's answer (RFC 6749, section 5.1).
/// #[derive(Deserialize)]
/// struct TokenAnswer {
///     access_token: String,
///     /// Seconds the token lives; when the vendor leaves it out, assume five minutes.
///     expires_in: Option<u64>,
/// }
///
/// /// The vendor's API, authorised with a token that is fetched once per lifetime.
/// fn api() -> Result<http::Client, PluginError> {
///     let token = TokenCache::new("vendor-token").get_or_fetch(|| {
///         let answer: TokenAnswer = http::Request::post(settings::require("token_url")?)
///             .form(&[
///                 ("grant_type", "client_credentials"),
///                 ("client_id", &settings::require("client_id")?),
///                 ("client_secret", &settings::require("client_secret")?),
///             ])
///             .send()?
///             .error_for_status()?
///             .json()?;
///         let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
///         Ok((answer.access_token, lifetime))
///     })?;
///     Ok(http::Client::new(settings::require("base_url")?).bearer(&token))
/// }
/// ```
///
/// If the vendor refuses a cached token before its time (it was revoked), call
/// [`TokenCache::forget`] and try once more with a fresh one.
///
/// The cache is a convenience, never a cause of failure: a value it cannot read or decode is
/// a miss, and a token it cannot store (the state is full) is logged and returned anyway.
#[derive(Debug, Clone)]
pub struct TokenCache {
    key: String,
}

impl TokenCache {
    /// A cache of one token under `key` in the default bucket.
    pub fn new(key: impl Into<String>) -> Self {
        Self { key: key.into() }
    }

    /// The key the token is stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The cached token if it has more than its safety margin left, else a new one from
    /// `fetch` (the token and how long it lives from now), stored before it is returned.
    /// Only `fetch`'s own error fails the call.
    pub fn get_or_fetch<F>(&self, fetch: F) -> Result<String, PluginError>
    where
        F: FnOnce() -> Result<(String, Duration), PluginError>,
    {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        // The lifetime is counted from before the request: the vendor's clock started while it
        // was being answered, so this errs on the early side.
        let asked = unix_millis(SystemTime::now());
        let (token, lifetime) = fetch()?;
        if let Some(ttl) = cache_ttl(lifetime) {
            let value = encode(&token, asked, lifetime);
            if let Err(e) = Bucket::open(super::DEFAULT_BUCKET)
                .and_then(|bucket| bucket.set_for(&self.key, value, ttl))
            {
                crate::log::warn(
                    "the token could not be cached; it is used for this call only",
                    &[("key", &self.key), ("error", e.message())],
                );
            }
        }
        Ok(token)
    }

    /// The cached token if there is one with more than its safety margin left.
    pub fn cached(&self) -> Option<String> {
        let bytes = Bucket::open(super::DEFAULT_BUCKET)
            .and_then(|bucket| bucket.get(&self.key))
            .ok()
            .flatten()?;
        usable(decode(&bytes)?, unix_millis(SystemTime::now()))
    }

    /// Drops the cached token, so the next [`TokenCache::get_or_fetch`] fetches a new one.
    pub fn forget(&self) -> Result<(), PluginError> {
        Bucket::open(super::DEFAULT_BUCKET)?.delete(&self.key)
    }
}

/// What is stored: the token, and when it expires by the wall clock.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Entry {
    token: String,
    /// Milliseconds since the Unix epoch.
    expires_at_ms: u64,
    /// The lifetime the vendor gave, which sets the safety margin.
    lifetime_ms: u64,
}

/// The stored form of `token`, fetched at `fetched_ms` (Unix milliseconds) to live `lifetime`.
fn encode(token: &str, fetched_ms: u64, lifetime: Duration) -> Vec<u8> {
    let lifetime_ms = super::millis(lifetime);
    let entry = Entry {
        token: token.to_owned(),
        expires_at_ms: fetched_ms.saturating_add(lifetime_ms),
        lifetime_ms,
    };
    serde_json::to_vec(&entry).unwrap_or_else(|_| unreachable!("a string and two numbers"))
}

/// The stored entry, or `None` if the bytes are not one (another version wrote them).
fn decode(bytes: &[u8]) -> Option<Entry> {
    serde_json::from_slice(bytes).ok()
}

/// The entry's token if, at `now_ms`, it has more than its safety margin left.
fn usable(entry: Entry, now_ms: u64) -> Option<String> {
    let margin = super::millis(safety_margin(Duration::from_millis(entry.lifetime_ms)));
    (now_ms.saturating_add(margin) < entry.expires_at_ms).then_some(entry.token)
}

/// How long the host should keep a token of `lifetime`: until its margin begins. `None` for a
/// token too short-lived to be worth storing.
fn cache_ttl(lifetime: Duration) -> Option<Duration> {
    Some(lifetime.saturating_sub(safety_margin(lifetime))).filter(|ttl| ttl.as_millis() > 0)
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, super::millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_margin_is_thirty_seconds_or_a_tenth_but_at_most_half() {
        assert_eq!(safety_margin(HOUR), Duration::from_secs(360));
        assert_eq!(
            safety_margin(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            safety_margin(Duration::from_secs(120)),
            Duration::from_secs(30)
        );
        assert_eq!(
            safety_margin(Duration::from_secs(40)),
            Duration::from_secs(20)
        );
        assert_eq!(safety_margin(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_token_is_used_until_its_margin_begins() {
        let fetched = 1_000_000;
        let entry = || decode(&encode("tok", fetched, HOUR)).expect("decodes");
        let hour_ms = 3_600_000;
        let margin_ms = 360_000;
        assert_eq!(usable(entry(), fetched).as_deref(), Some("tok"));
        assert_eq!(
            usable(entry(), fetched + hour_ms - margin_ms - 1).as_deref(),
            Some("tok")
        );
        assert_eq!(usable(entry(), fetched + hour_ms - margin_ms), None);
        assert_eq!(usable(entry(), fetched + hour_ms * 2), None, "long expired");
    }

    #[test]
    fn the_stored_value_carries_its_expiry() {
        let entry = decode(&encode("tok", 5_000, Duration::from_secs(60))).expect("decodes");
        assert_eq!(
            entry,
            Entry {
                token: "tok".into(),
                expires_at_ms: 65_000,
                lifetime_ms: 60_000
            }
        );
    }

    #[test]
    fn values_of_another_shape_are_misses() {
        assert_eq!(decode(b"tok"), None);
        assert_eq!(decode(br#"{"token": "tok"}"#), None);
    }

    #[test]
    fn the_host_drops_a_token_when_its_margin_begins() {
        assert_eq!(cache_ttl(HOUR), Some(Duration::from_secs(3240)));
        assert_eq!(
            cache_ttl(Duration::from_secs(40)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(cache_ttl(Duration::ZERO), None, "not worth storing");
        assert_eq!(cache_ttl(Duration::from_micros(1500)), None);
    }

    #[test]
    fn a_clock_before_the_epoch_reads_as_zero() {
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(unix_millis(UNIX_EPOCH + Duration::from_millis(7)), 7);
    }
}
