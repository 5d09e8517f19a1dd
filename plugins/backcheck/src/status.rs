//! BackCheck's statuses as StackOne's results.

use assay_plugin_sdk::{AssessmentResult, PluginError, ResultValue};

use crate::api::Check;

/// The vendor statuses that end a check.
pub const FINAL_STATUSES: [&str; 5] = ["clear", "consider", "canceled", "cancelled", "expired"];

/// StackOne's result value for a BackCheck status.
///
/// | BackCheck | StackOne |
/// |---|---|
/// | `pending`, `processing`, `in_progress` | `in_progress` |
/// | `clear` | `passed` |
/// | `consider` (findings a person must review) | `failed` |
/// | `canceled` | `cancelled` |
/// | `expired` (the candidate never gave consent) | `expired` |
/// | anything else, e.g. `suspended` | `unmapped_value` with the vendor's word |
pub fn status_value(status: &str) -> ResultValue {
    match status {
        "pending" | "processing" | "in_progress" => ResultValue::InProgress,
        "clear" => ResultValue::Passed,
        "consider" => ResultValue::Failed,
        "canceled" | "cancelled" => ResultValue::Cancelled,
        "expired" => ResultValue::Expired,
        other => ResultValue::UnmappedValue(other.to_owned()),
    }
}

/// The result for `check`: its status (the vendor's word as `source_value`), the report as
/// the result link, the completion date, and a line for the recruiter.
pub fn check_result(check: &Check) -> AssessmentResult {
    let value = status_value(&check.status);
    let summary = match &value {
        ResultValue::InProgress => "The check is in progress".to_owned(),
        ResultValue::Passed => "Clear: nothing found".to_owned(),
        ResultValue::Failed => "Consider: findings need review".to_owned(),
        ResultValue::Cancelled => "The check was cancelled".to_owned(),
        ResultValue::Expired => "The candidate did not complete the check in time".to_owned(),
        _ => format!("BackCheck status: {}", check.status),
    };
    AssessmentResult {
        result_url: check.report_url.clone(),
        submission_date: check.completed_at.clone(),
        summary: Some(summary),
        ..AssessmentResult::status(value, Some(check.status.clone()))
    }
}

/// The error `fulfil-order` returns for a check BackCheck has cancelled: the host parks the
/// order and sends StackOne a `cancelled` result with this message. `None` for any other
/// status.
pub fn cancellation(check: &Check) -> Option<PluginError> {
    matches!(status_value(&check.status), ResultValue::Cancelled)
        .then(|| PluginError::Cancelled(format!("BackCheck cancelled the check ({})", check.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: &str) -> Check {
        Check {
            id: "chk-1".into(),
            reference: Some("ord-1".into()),
            status: status.into(),
            report_url: Some("https://backcheck.example/reports/chk-1".into()),
            completed_at: Some("2025-01-03T09:00:00Z".into()),
        }
    }

    fn value_and_source(status: &str) -> (ResultValue, Option<String>) {
        let result = check_result(&check(status));
        let s = result.status.expect("status");
        (s.value, s.source_value)
    }

    #[test]
    fn statuses_map_to_stackone_values_keeping_the_vendors_word() {
        for (status, expected) in [
            ("pending", "InProgress"),
            ("processing", "InProgress"),
            ("in_progress", "InProgress"),
            ("clear", "Passed"),
            ("consider", "Failed"),
            ("canceled", "Cancelled"),
            ("expired", "Expired"),
        ] {
            let (value, source) = value_and_source(status);
            assert_eq!(
                format!("{value:?}"),
                format!("ResultValue::{expected}"),
                "{status}"
            );
            assert_eq!(source.as_deref(), Some(status));
        }
    }

    #[test]
    fn unknown_statuses_are_unmapped_values() {
        let (value, source) = value_and_source("suspended");
        assert!(matches!(&value, ResultValue::UnmappedValue(v) if v == "suspended"));
        assert_eq!(source.as_deref(), Some("suspended"));
    }

    #[test]
    fn exactly_the_final_statuses_end_the_order() {
        for status in [
            "pending",
            "processing",
            "in_progress",
            "suspended",
            "whatever",
        ] {
            assert!(!status_value(status).is_final(), "{status}");
        }
        for status in FINAL_STATUSES {
            assert!(status_value(status).is_final(), "{status}");
        }
    }

    #[test]
    fn only_a_cancelled_check_cancels_the_order() {
        for status in ["canceled", "cancelled"] {
            assert!(
                matches!(cancellation(&check(status)), Some(PluginError::Cancelled(m)) if m.contains("chk-1")),
                "{status}"
            );
        }
        for status in ["pending", "clear", "consider", "expired", "suspended"] {
            assert!(cancellation(&check(status)).is_none(), "{status}");
        }
    }

    #[test]
    fn a_pushed_check_without_a_reference_must_be_looked_up() {
        let mut c = check("clear");
        assert!(c.has_reference());
        c.reference = Some(" ".into());
        assert!(!c.has_reference());
        c.reference = None;
        assert!(!c.has_reference());
    }

    #[test]
    fn the_report_and_date_are_carried() {
        let result = check_result(&check("clear"));
        assert_eq!(
            result.result_url.as_deref(),
            Some("https://backcheck.example/reports/chk-1")
        );
        assert_eq!(
            result.submission_date.as_deref(),
            Some("2025-01-03T09:00:00Z")
        );
        assert_eq!(result.summary.as_deref(), Some("Clear: nothing found"));
    }

    #[test]
    fn the_order_is_named_by_reference_when_sent() {
        let mut c = check("clear");
        assert!(matches!(c.order_ref(), assay_plugin_sdk::OrderRef::OrderId(id) if id == "ord-1"));
        c.reference = None;
        assert!(
            matches!(c.order_ref(), assay_plugin_sdk::OrderRef::ExternalId(id) if id == "chk-1")
        );
    }
}
