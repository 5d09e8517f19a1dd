//! Building the [`PackageList`] `list-packages` returns, with its [`Freshness`] hint.
//!
//! StackOne asks for the package list each time a recruiter opens "send test" in the ATS. A
//! catalogue that changes rarely need not cost a plugin call (and a vendor API call) each
//! time: a freshness hint lets the host answer from its cache. See "Caching the package list"
//! in the crate docs for what the host does with it.

use std::time::Duration;

use crate::{Freshness, Package, PackageList};

impl PackageList {
    /// A list the host must not reuse: it calls `list-packages` for every request. Right for a
    /// catalogue that differs per call, or while you are still developing the plugin.
    ///
    /// ```ignore
    /// Ok(PackageList::uncached(vec![Package::new("q-1", "Ten-minute quiz")]))
    /// ```
    pub fn uncached(packages: Vec<Package>) -> Self {
        PackageList {
            packages,
            freshness: None,
        }
    }

    /// A list the host may answer from its cache for `max_age` (refreshing it in the
    /// background before then), and for `stale_if_error` longer when a refresh fails.
    /// Durations are counted in whole seconds, rounded down, and capped at `u32::MAX`.
    ///
    /// ```ignore
    /// // Fresh for five minutes; an hour more if the vendor's API is down.
    /// Ok(PackageList::fresh_for(packages, Duration::from_secs(300), Duration::from_secs(3600)))
    /// ```
    pub fn fresh_for(packages: Vec<Package>, max_age: Duration, stale_if_error: Duration) -> Self {
        PackageList {
            packages,
            freshness: Some(Freshness::new(max_age, stale_if_error)),
        }
    }
}

impl Freshness {
    /// Fresh for `max_age`, then usable for `stale_if_error` more while `list-packages`
    /// fails; whole seconds, rounded down, capped at `u32::MAX`.
    pub fn new(max_age: Duration, stale_if_error: Duration) -> Self {
        Freshness {
            max_age_s: whole_seconds(max_age),
            stale_if_error_s: whole_seconds(stale_if_error),
        }
    }

    /// How long the list stays fresh.
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_s.into())
    }

    /// How long past [`Freshness::max_age`] the list may still answer when a refresh fails.
    pub fn stale_if_error(&self) -> Duration {
        Duration::from_secs(self.stale_if_error_s.into())
    }
}

fn whole_seconds(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncached_lists_carry_no_hint() {
        let list = PackageList::uncached(vec![Package::new("a", "A")]);
        assert_eq!(list.packages.len(), 1);
        assert!(list.freshness.is_none());
    }

    #[test]
    fn freshness_is_in_whole_seconds() {
        let list = PackageList::fresh_for(
            vec![],
            Duration::from_millis(300_999),
            Duration::from_secs(3600),
        );
        let freshness = list.freshness.expect("a hint");
        assert_eq!(
            (freshness.max_age_s, freshness.stale_if_error_s),
            (300, 3600)
        );
        assert_eq!(freshness.max_age(), Duration::from_secs(300));
        assert_eq!(freshness.stale_if_error(), Duration::from_secs(3600));
    }

    #[test]
    fn long_durations_are_capped() {
        let freshness = Freshness::new(Duration::MAX, Duration::ZERO);
        assert_eq!(
            (freshness.max_age_s, freshness.stale_if_error_s),
            (u32::MAX, 0)
        );
    }
}
