//! What the recruiter sees in the ATS once results arrive.
//!
//! From StackOne's guide for Recruitee: the package name with a Pending icon once the order is
//! sent; then the score's value as a percentage beside the package name, the result status in
//! the score's tooltip, and `result_url` as an "Open" link. Attachments are listed too.
//! Each accepted result update overrides the fields it carries (a `null` clears nothing).

use std::fmt;

use serde_json::{Map, Value};

use super::delivery::Delivery;
use super::order::{OrderKind, OrderWebhook};

/// The recruiter's view of every order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecruiterView {
    /// One entry per order, in sending order; orders only known from PATCHes come last.
    pub entries: Vec<RecruiterEntry>,
}

/// One order on a candidate's profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecruiterEntry {
    /// StackOne's order id.
    pub order_id: String,
    /// Assessment or background check (`None` for an order only known from a PATCH).
    pub kind: Option<OrderKind>,
    /// The candidate.
    pub candidate_name: String,
    /// The package name shown beside the score.
    pub package_name: String,
    /// The score, once one was sent.
    pub score: Option<Score>,
    /// `result.value` (the tooltip), e.g. `passed`.
    pub status: Option<String>,
    /// `result.source_value`, as the vendor wrote it.
    pub status_source: Option<String>,
    /// The "Open" link.
    pub result_url: Option<String>,
    /// Attachment URLs with their content type.
    pub attachments: Vec<(String, Option<String>)>,
    /// `summary`.
    pub summary: Option<String>,
    /// Result updates StackOne accepted for this order.
    pub accepted_updates: usize,
    /// Result updates it refused (wrong key, schema violation, scripted failure, ...).
    pub refused_updates: usize,
}

/// A score as sent (all strings in StackOne's schema) and as the ATS shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Score {
    /// `score.label`.
    pub label: Option<String>,
    /// `score.value`.
    pub value: Option<String>,
    /// `score.min`.
    pub min: Option<String>,
    /// `score.max`.
    pub max: Option<String>,
    /// The percentage shown, when the value is a number.
    pub percent: Option<f64>,
}

/// The percentage the ATS shows for a score: `value` placed between `min` and `max` when
/// both are present (45 of 0..50 is 90%), relative to `max` alone from zero, or `value`
/// itself when neither is given (StackOne's example sends `"80"` for 80%). A trailing `%` is
/// allowed. `None` when a present number does not parse or the range is empty.
pub fn score_percent(value: &str, min: Option<&str>, max: Option<&str>) -> Option<f64> {
    let number = |s: &str| {
        s.trim()
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
    };
    let value = number(value)?;
    let percent = match (min.map(number), max.map(number)) {
        (Some(None), _) | (_, Some(None)) => return None,
        (min, Some(Some(max))) => {
            let min = min.flatten().unwrap_or(0.0);
            if max <= min {
                return None;
            }
            (value - min) / (max - min) * 100.0
        }
        (_, None) => value,
    };
    Some(percent)
}

/// `90` → `90%`, `87.5` → `87.5%`.
pub fn format_percent(percent: f64) -> String {
    let rounded = (percent * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}%")
    } else {
        format!("{rounded:.1}%")
    }
}

impl RecruiterView {
    /// Builds the view from the orders sent and the result updates received.
    pub fn build(orders: &[OrderWebhook], deliveries: &[Delivery]) -> Self {
        let mut entries: Vec<RecruiterEntry> = orders
            .iter()
            .map(|o| RecruiterEntry {
                order_id: o.order_id.clone(),
                kind: Some(o.kind),
                candidate_name: o.candidate_name.clone(),
                package_name: o.package.display_name().to_owned(),
                ..RecruiterEntry::default()
            })
            .collect();
        for delivery in deliveries {
            if !entries.iter().any(|e| e.order_id == delivery.order_id) {
                entries.push(RecruiterEntry {
                    order_id: delivery.order_id.clone(),
                    candidate_name: "(unknown candidate)".into(),
                    package_name: "(unknown package)".into(),
                    ..RecruiterEntry::default()
                });
            }
        }
        for entry in &mut entries {
            let mut merged = Map::new();
            for delivery in deliveries.iter().filter(|d| d.order_id == entry.order_id) {
                match (&delivery.json, delivery.accepted()) {
                    (Some(Value::Object(fields)), true) => {
                        entry.accepted_updates += 1;
                        merged.extend(
                            fields
                                .iter()
                                .filter(|(_, v)| !v.is_null())
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                    }
                    _ => entry.refused_updates += 1,
                }
            }
            entry.apply(&merged);
        }
        Self { entries }
    }

    /// The entry of one order.
    pub fn entry(&self, order_id: &str) -> Option<&RecruiterEntry> {
        self.entries.iter().find(|e| e.order_id == order_id)
    }
}

impl RecruiterEntry {
    fn apply(&mut self, result: &Map<String, Value>) {
        let text = |v: Option<&Value>| match v {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        if let Some(score) = result.get("score").and_then(Value::as_object) {
            let mut score = Score {
                label: text(score.get("label")),
                value: text(score.get("value")),
                min: text(score.get("min")),
                max: text(score.get("max")),
                percent: None,
            };
            score.percent = score
                .value
                .as_deref()
                .and_then(|v| score_percent(v, score.min.as_deref(), score.max.as_deref()));
            self.score = Some(score);
        }
        if let Some(status) = result.get("result") {
            self.status = text(status.get("value"));
            self.status_source = text(status.get("source_value"));
        }
        self.result_url = text(result.get("result_url"));
        self.summary = text(result.get("summary"));
        self.attachments = result
            .get("attachments")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|a| {
                        Some((
                            text(a.get("url"))?,
                            text(a.get("content_type").and_then(|c| c.get("value"))),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
    }

    /// Whether a result has reached the ATS yet (otherwise it shows Pending).
    pub fn pending(&self) -> bool {
        self.accepted_updates == 0
    }
}

impl fmt::Display for RecruiterEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown_score = self
            .score
            .as_ref()
            .and_then(|s| s.percent.map(format_percent).or_else(|| s.value.clone()));
        let badge = match (&shown_score, self.pending()) {
            (_, true) => "[Pending]".to_owned(),
            (Some(score), false) => score.clone(),
            (None, false) => "[no score]".to_owned(),
        };
        let kind = self.kind.map(|k| format!(", {k}")).unwrap_or_default();
        writeln!(
            f,
            "{} · {} · {}  (order {}{kind})",
            self.candidate_name, self.package_name, badge, self.order_id
        )?;
        if let Some(score) = &self.score {
            let range = match (&score.min, &score.max) {
                (Some(min), Some(max)) => format!(" of {min}..{max}"),
                (None, Some(max)) => format!(" of {max}"),
                _ => String::new(),
            };
            let label = score
                .label
                .as_ref()
                .map(|l| format!(", label \"{l}\""))
                .unwrap_or_default();
            writeln!(
                f,
                "    score    {}{range}{label}",
                score.value.as_deref().unwrap_or("-")
            )?;
        }
        if self.status.is_some() || self.status_source.is_some() {
            let source = self
                .status_source
                .as_ref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            writeln!(
                f,
                "    tooltip  {}{source}",
                self.status.as_deref().unwrap_or("-")
            )?;
        }
        if let Some(url) = &self.result_url {
            writeln!(f, "    Open     {url}")?;
        }
        for (url, content_type) in &self.attachments {
            writeln!(
                f,
                "    file     {url} ({})",
                content_type.as_deref().unwrap_or("unknown type")
            )?;
        }
        if let Some(summary) = &self.summary {
            writeln!(f, "    summary  {summary}")?;
        }
        writeln!(
            f,
            "    updates  {} accepted, {} refused",
            self.accepted_updates, self.refused_updates
        )
    }
}

impl fmt::Display for RecruiterView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return writeln!(f, "(no orders)");
        }
        self.entries
            .iter()
            .try_for_each(|entry| write!(f, "{entry}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use bytes::Bytes;
    use http::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::order::OrderBuilder;
    use crate::package::Package;

    #[test]
    fn percentages() {
        assert_eq!(score_percent("45", Some("0"), Some("50")), Some(90.0));
        assert_eq!(score_percent("80", None, None), Some(80.0));
        assert_eq!(score_percent("80%", None, None), Some(80.0));
        assert_eq!(score_percent("7", None, Some("8")), Some(87.5));
        assert_eq!(score_percent("15", Some("10"), Some("20")), Some(50.0));
        assert_eq!(score_percent(" 3.5 ", Some("1"), Some("6")), Some(50.0));
        assert_eq!(score_percent("A+", None, None), None);
        assert_eq!(score_percent("5", Some("x"), Some("10")), None);
        assert_eq!(score_percent("5", Some("10"), Some("10")), None);
        assert_eq!(score_percent("NaN", None, None), None);
        assert_eq!(format_percent(90.0), "90%");
        assert_eq!(format_percent(87.5), "87.5%");
        assert_eq!(format_percent(66.666), "66.7%");
    }

    fn delivery(order_id: &str, status: StatusCode, body: Value) -> Delivery {
        Delivery {
            sequence: 1,
            received_at: SystemTime::now(),
            path: OrderKind::Assessment.result_path(order_id),
            order_id: order_id.into(),
            kind: OrderKind::Assessment,
            account_id: Some("a".into()),
            headers: Vec::new(),
            body: Bytes::from(body.to_string()),
            json: Some(body),
            violations: Vec::new(),
            status,
            scripted: false,
        }
    }

    #[test]
    fn pending_then_merged_results() {
        let package = Package {
            id: Some("p1".into()),
            name: Some("Backend skills".into()),
            ..Package::default()
        };
        let order = OrderBuilder::new(OrderKind::Assessment, package).build();
        let id = order.order_id.clone();
        let view = RecruiterView::build(std::slice::from_ref(&order), &[]);
        assert!(view.entries[0].pending());
        assert!(
            view.to_string().contains("Backend skills · [Pending]"),
            "{view}"
        );

        let deliveries = [
            delivery(
                &id,
                StatusCode::OK,
                json!({ "result": { "value": "in_progress" }, "result_url": "https://v/1" }),
            ),
            delivery(
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "score": { "value": 1 } }),
            ),
            delivery(
                &id,
                StatusCode::OK,
                json!({
                    "score": { "label": "Points", "value": "45", "min": "0", "max": "50" },
                    "result": { "value": "passed", "source_value": "Passed" },
                    "result_url": null,
                    "attachments": [{ "url": "https://v/1.pdf", "content_type": { "value": "pdf" } }],
                }),
            ),
        ];
        let view = RecruiterView::build(&[order], &deliveries);
        let entry = view.entry(&id).expect("entry");
        assert_eq!(entry.score.as_ref().and_then(|s| s.percent), Some(90.0));
        assert_eq!(entry.status.as_deref(), Some("passed"));
        // `null` in a later update does not clear the link sent earlier.
        assert_eq!(entry.result_url.as_deref(), Some("https://v/1"));
        assert_eq!((entry.accepted_updates, entry.refused_updates), (2, 1));
        let shown = view.to_string();
        for expected in [
            "Backend skills · 90%",
            "tooltip  passed (Passed)",
            "Open     https://v/1",
            "https://v/1.pdf (pdf)",
        ] {
            assert!(
                shown.contains(expected),
                "{expected:?} missing from:\n{shown}"
            );
        }
    }
}
