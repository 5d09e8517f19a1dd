//! Retry delays: capped exponential backoff with jitter, and `Retry-After`.
//!
//! Used by the order worker (a plugin's retryable error) and the outbox relay (StackOne's 408,
//! 429, 5xx and connection errors). The jitter is "equal jitter": half the delay is fixed and
//! half random, so retries of many orders that failed together spread out, yet none retries
//! sooner than half its nominal delay. A server's `Retry-After` is a floor: Assay never comes
//! back earlier than it was told to.

use std::time::{Duration, SystemTime};

/// A backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The nominal delay after the first failure.
    pub base: Duration,
    /// No nominal delay exceeds this.
    pub cap: Duration,
}

/// The order worker's schedule for retryable plugin errors.
pub const FULFIL_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    cap: Duration::from_secs(600),
};

/// The outbox relay's schedule for retryable delivery failures.
pub const DELIVERY_BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(300),
};

/// The longest `Retry-After` honoured; a larger one is clamped, so a misbehaving server
/// cannot park a result for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl Backoff {
    /// The nominal (un-jittered) delay before retry number `attempt` (1 = first retry).
    pub fn nominal(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// The delay before retry number `attempt`, with jitter, and at least `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let nominal = self.nominal(attempt);
        let half = nominal / 2;
        let jitter = half.mul_f64(rand::random::<f64>());
        let jittered = half + jitter;
        match retry_after {
            Some(after) => jittered.max(after.min(MAX_RETRY_AFTER)),
            None => jittered,
        }
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(10),
        };
        let got: Vec<u64> = (1..=6).map(|a| b.nominal(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            b.nominal(1000),
            Duration::from_secs(10),
            "no overflow on huge attempts"
        );
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let b = DELIVERY_BACKOFF;
        for attempt in 1..12 {
            let nominal = b.nominal(attempt);
            for _ in 0..50 {
                let d = b.delay(attempt, None);
                assert!(
                    d >= nominal / 2 && d <= nominal,
                    "attempt {attempt}: {d:?} vs {nominal:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor_and_clamped() {
        let b = DELIVERY_BACKOFF;
        assert!(b.delay(1, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(1_000_000))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
