//! A completed attempt as StackOne's result.

use assay_plugin_sdk::{AssessmentResult, ResultValue, Score};

use crate::api::AttemptEvent;

/// The pass mark, in percent, when the `pass_threshold` setting is not set.
pub const DEFAULT_PASS_THRESHOLD: f64 = 70.0;

/// Maps a completed attempt to StackOne's result: the score as a percentage (`0`–`100`, as
/// strings), `passed` at or above `threshold` percent and `failed` below it, the report as the
/// result link, the attempt's dates. Without a usable score the result is `completed`.
pub fn attempt_result(event: &AttemptEvent, threshold: f64) -> AssessmentResult {
    let percent = match (event.score, event.max_score) {
        (Some(score), Some(max)) if max > 0.0 => Some(score / max * 100.0),
        (Some(score), None) => Some(score),
        _ => None,
    }
    .filter(|p| p.is_finite())
    .map(|p| p.clamp(0.0, 100.0));
    let score = percent.map(Score::percent);
    // Decide on the rounded figure the recruiter sees, so 69.6% shown as "70" passes a 70 mark.
    let shown = score
        .as_ref()
        .and_then(|s| s.value.as_deref())
        .and_then(|v| v.parse::<f64>().ok());
    let value = match shown {
        Some(p) if p >= threshold => ResultValue::Passed,
        Some(_) => ResultValue::Failed,
        None => ResultValue::Completed,
    };
    let summary = match shown {
        Some(p) => format!("Scored {p:.0}% (pass mark {threshold:.0}%)"),
        None => "Completed; see the report".to_owned(),
    };
    AssessmentResult {
        score,
        result_url: event.report_url.clone(),
        start_date: event.started_at.clone(),
        submission_date: event.submitted_at.clone(),
        summary: Some(summary),
        ..AssessmentResult::status(value, Some("completed".into()))
    }
}

#[cfg(test)]
mod tests {
    use assay_plugin_sdk::OrderRef;

    use super::*;

    fn event(score: Option<f64>, max_score: Option<f64>) -> AttemptEvent {
        AttemptEvent {
            event: "attempt.completed".into(),
            invitation_id: "inv-1".into(),
            reference: None,
            score,
            max_score,
            started_at: Some("2025-01-02T10:00:00Z".into()),
            submitted_at: Some("2025-01-02T11:30:00Z".into()),
            report_url: Some("https://codetest.example/reports/inv-1".into()),
        }
    }

    fn value(result: &AssessmentResult) -> Option<&ResultValue> {
        result.status.as_ref().map(|s| &s.value)
    }

    fn shown(result: &AssessmentResult) -> Option<&str> {
        result.score.as_ref().and_then(|s| s.value.as_deref())
    }

    #[test]
    fn a_score_at_or_above_the_mark_passes() {
        let r = attempt_result(&event(Some(45.0), Some(50.0)), DEFAULT_PASS_THRESHOLD);
        assert_eq!(shown(&r), Some("90"));
        assert!(matches!(value(&r), Some(ResultValue::Passed)));
        let r = attempt_result(&event(Some(35.0), Some(50.0)), DEFAULT_PASS_THRESHOLD);
        assert_eq!(shown(&r), Some("70"));
        assert!(
            matches!(value(&r), Some(ResultValue::Passed)),
            "exactly the mark passes"
        );
    }

    #[test]
    fn a_score_below_the_mark_fails() {
        let r = attempt_result(&event(Some(30.0), Some(50.0)), DEFAULT_PASS_THRESHOLD);
        assert_eq!(shown(&r), Some("60"));
        assert!(matches!(value(&r), Some(ResultValue::Failed)));
        let r = attempt_result(&event(Some(30.0), Some(50.0)), 50.0);
        assert!(
            matches!(value(&r), Some(ResultValue::Passed)),
            "the threshold is honoured"
        );
    }

    #[test]
    fn the_score_is_a_percentage_out_of_100_in_strings() {
        let r = attempt_result(&event(Some(2.0), Some(3.0)), DEFAULT_PASS_THRESHOLD);
        let score = r.score.expect("score");
        assert_eq!(score.value.as_deref(), Some("67"));
        assert_eq!(score.min.as_deref(), Some("0"));
        assert_eq!(score.max.as_deref(), Some("100"));
    }

    #[test]
    fn without_a_maximum_the_score_is_already_a_percentage() {
        let r = attempt_result(&event(Some(82.0), None), DEFAULT_PASS_THRESHOLD);
        assert_eq!(shown(&r), Some("82"));
        let r = attempt_result(&event(Some(120.0), None), DEFAULT_PASS_THRESHOLD);
        assert_eq!(shown(&r), Some("100"), "clamped");
    }

    #[test]
    fn without_a_usable_score_the_attempt_is_completed() {
        for (score, max) in [(None, Some(50.0)), (Some(10.0), Some(0.0)), (None, None)] {
            let r = attempt_result(&event(score, max), DEFAULT_PASS_THRESHOLD);
            assert!(r.score.is_none(), "{score:?}/{max:?}");
            assert!(matches!(value(&r), Some(ResultValue::Completed)));
        }
    }

    #[test]
    fn the_report_dates_and_summary_are_carried() {
        let r = attempt_result(&event(Some(45.0), Some(50.0)), DEFAULT_PASS_THRESHOLD);
        assert_eq!(
            r.result_url.as_deref(),
            Some("https://codetest.example/reports/inv-1")
        );
        assert_eq!(r.start_date.as_deref(), Some("2025-01-02T10:00:00Z"));
        assert_eq!(r.submission_date.as_deref(), Some("2025-01-02T11:30:00Z"));
        assert_eq!(r.summary.as_deref(), Some("Scored 90% (pass mark 70%)"));
        assert_eq!(
            r.status.and_then(|s| s.source_value).as_deref(),
            Some("completed")
        );
    }

    #[test]
    fn the_order_is_named_by_reference_when_the_vendor_sends_it() {
        let mut e = event(None, None);
        assert!(matches!(e.order_ref(), OrderRef::ExternalId(id) if id == "inv-1"));
        e.reference = Some("ord-9".into());
        assert!(matches!(e.order_ref(), OrderRef::OrderId(id) if id == "ord-9"));
    }
}
