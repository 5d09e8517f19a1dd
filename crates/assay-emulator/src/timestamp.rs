//! ISO-8601 timestamps as StackOne writes them: `2024-05-30T12:34:56.789Z`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as UTC with milliseconds, the form StackOne uses in `timestamp`,
/// `event_date` and `sent_at`. Times before 1970 are written as the epoch.
pub fn iso8601(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// The current time, formatted by [`iso8601`].
pub fn now() -> String {
    iso8601(SystemTime::now())
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after Howard Hinnant's
/// `civil_from_days`: eras of 400 years, years starting in March so leap days come last.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
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
