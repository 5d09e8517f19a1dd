//! BackCheck's wire format: what the plugin sends and what the vendor answers.

use assay_plugin_sdk::{OrderRef, Package, PackageTest};
use serde::{Deserialize, Serialize};

/// `GET /v1/packages`.
#[derive(Debug, Deserialize)]
pub struct Packages {
    /// The packages a customer can order.
    pub packages: Vec<VendorPackage>,
}

/// A package: a bundle of checks. Also the shape of the `packages` setting's entries.
#[derive(Debug, Deserialize)]
pub struct VendorPackage {
    /// The vendor's id; it comes back in orders as the package's `remote_id`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The checks it runs.
    #[serde(default)]
    pub checks: Vec<CheckType>,
}

/// One kind of check in a package.
#[derive(Debug, Deserialize)]
pub struct CheckType {
    /// The vendor's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
}

impl VendorPackage {
    /// As StackOne's package, the checks as its `tests`.
    pub fn package(self) -> Package {
        Package {
            id: self.id,
            name: self.name,
            description: self.description,
            tests: self
                .checks
                .into_iter()
                .map(|c| PackageTest {
                    id: c.id,
                    name: c.name,
                    description: c.description,
                })
                .collect(),
        }
    }
}

/// `POST /v1/checks`.
#[derive(Debug, Serialize)]
pub struct NewCheck<'a> {
    /// The package.
    pub package_id: &'a str,
    /// StackOne's order id.
    pub reference: &'a str,
    /// Who is checked.
    pub candidate: CheckCandidate<'a>,
    /// Where to push status changes, if configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<&'a str>,
}

/// The candidate.
#[derive(Debug, Serialize)]
pub struct CheckCandidate<'a> {
    /// Given name.
    pub first_name: Option<&'a str>,
    /// Family name.
    pub last_name: Option<&'a str>,
    /// Where the vendor asks for consent and documents.
    pub email: &'a str,
}

/// A check, as every call answers it.
#[derive(Debug, Deserialize)]
pub struct Check {
    /// The vendor's id: the order's external id.
    pub id: String,
    /// StackOne's order id, as sent.
    pub reference: Option<String>,
    /// The vendor's status.
    pub status: String,
    /// The report, once there is one.
    pub report_url: Option<String>,
    /// When the check finished (ISO-8601).
    pub completed_at: Option<String>,
}

impl Check {
    /// The order the check belongs to: StackOne's id when the vendor sent it back, else the
    /// check id the host recorded as the external id.
    pub fn order_ref(&self) -> OrderRef {
        match self.reference.as_deref().filter(|r| !r.trim().is_empty()) {
            Some(reference) => OrderRef::OrderId(reference.to_owned()),
            None => OrderRef::ExternalId(self.id.clone()),
        }
    }

    /// Whether the check names StackOne's order id. Without it, only BackCheck can say
    /// whether the check is this product's: the plugin looks it up.
    pub fn has_reference(&self) -> bool {
        matches!(self.order_ref(), OrderRef::OrderId(_))
    }
}

/// A push.
#[derive(Debug, Deserialize)]
pub struct CheckEvent {
    /// `check.updated`, or another event the plugin ignores.
    pub event: String,
    /// The check as it is now.
    pub check: Check,
}
