//! [`OrderKind`]: which StackOne flow an order belongs to.

use std::fmt;

/// Which StackOne flow an order belongs to. It decides the result endpoint; it is written
/// `assessment` or `background_check` in the configuration and the store.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Candidate assessments.
    Assessment,
    /// Background checks.
    BackgroundCheck,
}

impl OrderKind {
    /// The name in the configuration and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Assessment => "assessment",
            OrderKind::BackgroundCheck => "background_check",
        }
    }

    /// Parses [`OrderKind::as_str`]'s output.
    pub fn parse(s: &str) -> Option<OrderKind> {
        match s {
            "assessment" => Some(OrderKind::Assessment),
            "background_check" => Some(OrderKind::BackgroundCheck),
            _ => None,
        }
    }

    /// The path segment of StackOne's unified API for this kind:
    /// `/unified/ats/{segment}/orders/{id}/result`.
    pub fn api_segment(self) -> &'static str {
        match self {
            OrderKind::Assessment => "assessments",
            OrderKind::BackgroundCheck => "background_checks",
        }
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in [OrderKind::Assessment, OrderKind::BackgroundCheck] {
            assert_eq!(OrderKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(json, format!("\"{kind}\""));
        }
        assert_eq!(OrderKind::parse("Assessment"), None);
        assert_eq!(
            OrderKind::BackgroundCheck.api_segment(),
            "background_checks"
        );
    }
}
