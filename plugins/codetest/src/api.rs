//! CodeTest's wire format: what the plugin sends and what the vendor answers.

use assay_plugin_sdk::{OrderRef, Package};
use serde::{Deserialize, Serialize};

/// `GET /api/tests`.
#[derive(Debug, Deserialize)]
pub struct Tests {
    /// The tests a customer can send.
    pub tests: Vec<Test>,
}

/// One test.
#[derive(Debug, Deserialize)]
pub struct Test {
    /// The vendor's id; it comes back in orders as the package's `remote_id`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: Option<String>,
}

impl Test {
    /// As StackOne's package.
    pub fn package(self) -> Package {
        Package {
            id: self.id,
            name: self.title,
            description: self.description,
            tests: vec![],
        }
    }
}

/// One entry of the `packages` setting.
#[derive(Debug, Deserialize)]
pub struct CatalogueEntry {
    /// The package id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
}

impl CatalogueEntry {
    /// As StackOne's package.
    pub fn package(self) -> Package {
        Package {
            id: self.id,
            name: self.name,
            description: self.description,
            tests: vec![],
        }
    }
}

/// `POST /api/invitations`.
#[derive(Debug, Serialize)]
pub struct NewInvitation<'a> {
    /// The test.
    pub test_id: &'a str,
    /// StackOne's order id.
    pub reference: &'a str,
    /// Who takes it.
    pub candidate: InvitedCandidate<'a>,
    /// Where CodeTest reports the attempt.
    pub callback_url: &'a str,
}

/// The invited candidate.
#[derive(Debug, Serialize)]
pub struct InvitedCandidate<'a> {
    /// Full name (may be empty).
    pub name: &'a str,
    /// Where the invitation goes.
    pub email: &'a str,
}

/// An invitation, as `POST /api/invitations` and `GET /api/invitations/{id}` answer it.
#[derive(Debug, Deserialize)]
pub struct Invitation {
    /// The vendor's id: the order's external id.
    pub id: String,
    /// The candidate's link.
    pub test_url: String,
    /// The vendor's status of the invitation (`sent`, `completed`).
    pub status: Option<String>,
    /// StackOne's order id, as sent when it was created.
    #[serde(default)]
    pub reference: Option<String>,
}

impl Invitation {
    /// The order the invitation belongs to: StackOne's id as CodeTest keeps it, else the
    /// invitation id the host recorded as the external id.
    pub fn order_ref(&self) -> OrderRef {
        order_ref(self.reference.as_deref(), &self.id)
    }
}

/// A callback event.
#[derive(Debug, Deserialize)]
pub struct AttemptEvent {
    /// `attempt.completed`, or another event the plugin ignores.
    pub event: String,
    /// The invitation.
    pub invitation_id: String,
    /// StackOne's order id, as sent with the invitation.
    pub reference: Option<String>,
    /// Points scored.
    pub score: Option<f64>,
    /// Points possible; without it `score` is a percentage.
    pub max_score: Option<f64>,
    /// When the candidate started (ISO-8601).
    pub started_at: Option<String>,
    /// When the candidate submitted (ISO-8601).
    pub submitted_at: Option<String>,
    /// The recruiter's report.
    pub report_url: Option<String>,
}

impl AttemptEvent {
    /// The order the event is about: StackOne's id when CodeTest sent it back, else the
    /// invitation id the host recorded as the external id.
    pub fn order_ref(&self) -> OrderRef {
        order_ref(self.reference.as_deref(), &self.invitation_id)
    }

    /// Whether the event names StackOne's order id. Without it, only CodeTest can say whether
    /// the invitation is this product's: the plugin looks it up.
    pub fn has_reference(&self) -> bool {
        matches!(self.order_ref(), OrderRef::OrderId(_))
    }
}

/// StackOne's order id when `reference` holds one, else the invitation id.
fn order_ref(reference: Option<&str>, invitation_id: &str) -> OrderRef {
    match reference.filter(|r| !r.trim().is_empty()) {
        Some(reference) => OrderRef::OrderId(reference.to_owned()),
        None => OrderRef::ExternalId(invitation_id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(reference: Option<&str>) -> Invitation {
        serde_json::from_value(serde_json::json!({
            "id": "inv-3", "test_id": "ct-rust", "reference": reference,
            "test_url": "https://codetest.example/take/inv-3", "status": "sent"
        }))
        .expect("the demo vendor's shape")
    }

    #[test]
    fn a_looked_up_invitation_names_its_order_by_reference_when_kept() {
        assert!(
            matches!(invitation(Some("ord-3")).order_ref(), OrderRef::OrderId(id) if id == "ord-3")
        );
        assert!(matches!(invitation(None).order_ref(), OrderRef::ExternalId(id) if id == "inv-3"));
        assert!(
            matches!(invitation(Some(" ")).order_ref(), OrderRef::ExternalId(id) if id == "inv-3")
        );
    }

    #[test]
    fn only_an_event_with_a_reference_needs_no_lookup() {
        let event = |reference: Option<&str>| AttemptEvent {
            event: "attempt.completed".into(),
            invitation_id: "inv-3".into(),
            reference: reference.map(Into::into),
            score: None,
            max_score: None,
            started_at: None,
            submitted_at: None,
            report_url: None,
        };
        assert!(event(Some("ord-3")).has_reference());
        assert!(!event(None).has_reference());
        assert!(!event(Some("")).has_reference());
    }
}
