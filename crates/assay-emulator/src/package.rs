//! Packages: what a vendor offers, as StackOne lists them to the recruiter.

use serde::{Deserialize, Serialize};

/// One package of the Package's List Endpoint answer. Every field is a nullable string in
/// StackOne's schema; background-check packages may list their `tests`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Package {
    /// The vendor's package id (what the order's `package.id` carries back).
    #[serde(default)]
    pub id: Option<String>,
    /// The provider-side id, when the vendor gives one.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// The name the recruiter picks from and later sees beside the score.
    #[serde(default)]
    pub name: Option<String>,
    /// A longer description.
    #[serde(default)]
    pub description: Option<String>,
    /// The checks a background-check package runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<Vec<PackageTest>>,
}

/// One test inside a background-check package (`Package` in StackOne's schema).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageTest {
    /// Test id.
    #[serde(default)]
    pub id: Option<String>,
    /// Provider-side id.
    #[serde(default)]
    pub remote_id: Option<String>,
    /// Test name.
    #[serde(default)]
    pub name: Option<String>,
    /// Test description.
    #[serde(default)]
    pub description: Option<String>,
}

/// A validated answer of the Package's List Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackagesPage {
    /// The packages, in the order the host listed them.
    pub data: Vec<Package>,
    /// The cursor of the next page, if the host paginates.
    #[serde(default)]
    pub next: Option<String>,
}

impl Package {
    /// The name to show, falling back to the id when the vendor gave no name.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or("(unnamed package)")
    }
}
