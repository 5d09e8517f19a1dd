//! ISO-8601 timestamps as StackOne writes them: `2024-05-30T12:34:56.789Z`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as UTC with milliseconds, the form StackOne uses in `timestamp`,
/// `event_date` and `sent_at`. Times before 1970 are written as the epoch, times after the
/// year 9999 as its last millisecond.
pub fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let instant = jiff::Timestamp::from_millisecond(millis).unwrap_or(jiff::Timestamp::MAX);
    format!("{instant:.3}")
}

/// The current time, formatted by [`iso8601`].
pub fn now() -> String {
    iso8601(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn known_instants() {
        let at = |secs: u64, millis: u64| {
            iso8601(UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day in a year divisible by 400) 23:59:59.999.
        assert_eq!(at(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        // 2024-12-31T12:00:00Z and the following New Year.
        assert_eq!(at(1_735_646_400, 5), "2024-12-31T12:00:00.005Z");
        assert_eq!(at(1_735_689_600, 0), "2025-01-01T00:00:00.000Z");
    }

    #[test]
    fn now_round_trips_through_httpdate() {
        // Cross-check the calendar against an independent implementation.
        let t = SystemTime::now();
        let ours = iso8601(t);
        let theirs = httpdate::fmt_http_date(t);
        let parsed = httpdate::parse_http_date(&theirs).expect("httpdate parses its own output");
        let whole_secs = iso8601(parsed);
        assert_eq!(ours[..19], whole_secs[..19], "{ours} vs {theirs}");
    }
}
