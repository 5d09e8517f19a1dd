//! Conveniences for building an [`AssessmentResult`].

use crate::{AssessmentResult, ResultStatus, ResultValue, Score};

impl AssessmentResult {
    /// A result with only a status; fill in the rest with struct update syntax:
    ///
    /// ```ignore
    /// AssessmentResult {
    ///     result_url: Some(report),
    ///     ..AssessmentResult::status(ResultValue::Passed, Some("clear".into()))
    /// }
    /// ```
    pub fn status(value: ResultValue, source_value: Option<String>) -> Self {
        AssessmentResult {
            score: None,
            status: Some(ResultStatus {
                value,
                source_value,
            }),
            result_url: None,
            start_date: None,
            submission_date: None,
            summary: None,
            attachments: vec![],
            candidate_profile_url: None,
        }
    }
}

impl Score {
    /// An `Overall` score of `percent`, rounded to a whole number and clamped to 0..=100, with
    /// `min` "0" and `max` "100": what the recruiter sees as a percentage.
    pub fn percent(percent: f64) -> Self {
        let value = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0).round()
        };
        Score {
            label: Some("Overall".into()),
            value: Some(format!("{value:.0}")),
            min: Some("0".into()),
            max: Some("100".into()),
        }
    }
}

impl ResultValue {
    /// Whether this status ends the order: the host then stops polling it, and drops a
    /// progress result that arrives later.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ResultValue::Completed
                | ResultValue::Passed
                | ResultValue::Failed
                | ResultValue::Expired
                | ResultValue::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_scores_are_whole_strings_out_of_100() {
        let value = |v: f64| Score::percent(v).value;
        assert_eq!(value(86.5), Some("87".into()));
        assert_eq!(value(89.4), Some("89".into()));
        assert_eq!(value(-3.0), Some("0".into()));
        assert_eq!(value(250.0), Some("100".into()));
        assert_eq!(value(f64::NAN), Some("0".into()));
        let s = Score::percent(70.0);
        assert_eq!(
            (s.label.as_deref(), s.min.as_deref(), s.max.as_deref()),
            (Some("Overall"), Some("0"), Some("100"))
        );
    }

    #[test]
    fn final_statuses_match_the_hosts() {
        let finals: Vec<bool> = [
            ResultValue::Initiated,
            ResultValue::InProgress,
            ResultValue::UnmappedValue("x".into()),
            ResultValue::Completed,
            ResultValue::Passed,
            ResultValue::Failed,
            ResultValue::Expired,
            ResultValue::Cancelled,
        ]
        .iter()
        .map(ResultValue::is_final)
        .collect();
        assert_eq!(finals, [false, false, false, true, true, true, true, true]);
    }

    #[test]
    fn status_only_results_carry_nothing_else() {
        let r = AssessmentResult::status(ResultValue::Initiated, Some("sent".into()));
        assert!(r.score.is_none() && r.result_url.is_none() && r.attachments.is_empty());
        assert_eq!(
            r.status.and_then(|s| s.source_value).as_deref(),
            Some("sent")
        );
    }
}
