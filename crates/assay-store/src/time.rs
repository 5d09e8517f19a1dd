//! Instants as the store keeps them: milliseconds since the Unix epoch, UTC.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in milliseconds since 1970-01-01T00:00:00Z.
///
/// The store takes "now" from its callers for everything that decides what is due (claims,
/// leases, backoff), so tests can move time forward without sleeping. Integers rather than
/// `SystemTime` because that is what both SQLite and Postgres index cheaply and compare exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`; times before the epoch become the epoch.
    pub fn from_system_time(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self(ms)
    }

    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant plus `d`, saturating at the far future.
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// This instant minus `d`, saturating at the far past.
    pub fn minus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    /// How long after `earlier` this instant is; zero if it is not after it.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2025-01-31T09:05:00.250Z`: what the status page
/// and `assay orders` show. Instants outside the years -9999..=9999 (only reachable through
/// saturating arithmetic) print as the nearest end of that range.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let instant = jiff::Timestamp::from_millisecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        write!(f, "{instant:.3}")
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc() {
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.789
        assert_eq!(
            Timestamp::from_millis(951_827_696_789).to_string(),
            "2000-02-29T12:34:56.789Z"
        );
        assert_eq!(
            Timestamp::from_millis(-1).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn arithmetic_saturates_and_since_is_never_negative() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_secs(2)).as_millis(), 3_000);
        assert_eq!(t.minus(Duration::from_millis(1_500)).as_millis(), -500);
        assert_eq!(
            Timestamp::from_millis(i64::MAX - 1)
                .plus(Duration::MAX)
                .as_millis(),
            i64::MAX
        );
        assert_eq!(t.since(t.plus(Duration::from_secs(1))), Duration::ZERO);
        assert_eq!(
            t.plus(Duration::from_secs(1)).since(t),
            Duration::from_secs(1)
        );
    }
}
