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

/// The answer to an invitation.
#[derive(Debug, Deserialize)]
pub struct Invitation {
    /// The vendor's id: the order's external id.
    pub id: String,
    /// The candidate's link.
    pub test_url: String,
    /// The vendor's status of the invitation (`sent`).
    pub status: Option<String>,
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
        match self.reference.as_deref().filter(|r| !r.is_empty()) {
            Some(reference) => OrderRef::OrderId(reference.to_owned()),
            None => OrderRef::ExternalId(self.invitation_id.clone()),
        }
    }
}
