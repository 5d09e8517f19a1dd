//! The order object of a StackOne webhook, parsed leniently and checked.
//!
//! StackOne documents every order field as nullable, and ids sometimes arrive as numbers. Only
//! what Assay cannot work without is required: the order id (results are delivered to it) and
//! the linked account id (StackOne needs it in `x-account-id`). Errors name the missing field
//! as a path in the webhook body. [`parse_order`] takes the object [`crate::stackone::locate_order`]
//! found; the host (`assay::convert::order_from_json`) turns the [`WebhookOrder`] into the
//! plugin contract's `order`.
//!
//! This is the part of the webhook path that parses what a client sent; it lives here, with no
//! plugin runtime in the build graph, so that the `envelope` fuzz target builds without
//! wasmtime.

use serde::Deserialize;
use serde_json::Value;

/// Why an order object could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A field Assay needs is absent or empty; names its path, e.g. `data.id`.
    #[error("`{0}` is missing")]
    Missing(String),
    /// A field has the wrong shape; names its path and the problem.
    #[error("`{path}` is invalid: {problem}")]
    Invalid {
        /// Where the field sits.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// An order object that has what Assay needs: its id and account id, the rest as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOrder {
    /// StackOne's order id, not empty.
    pub id: String,
    /// The linked account, the object's or else the envelope's; not empty.
    pub account_id: String,
    /// The ATS provider, the object's or else the envelope's.
    pub provider: Option<String>,
    /// The provider's id of the order.
    pub remote_id: Option<String>,
    /// The package ordered (every field empty if the object has none).
    pub package: PackageWire,
    /// The candidate (every field empty if the object has none).
    pub candidate: CandidateWire,
    /// The application, if sent.
    pub application: Option<ApplicationWire>,
    /// The job, if sent.
    pub job: Option<JobWire>,
    /// Who ordered, if sent.
    pub requester: Option<MemberWire>,
    /// The order object exactly as received, as JSON text.
    pub raw_json: String,
}

/// Checks the order `object` of a webhook.
///
/// `at` is where the object sits in the body (`data`, `event_data` or empty for the top level),
/// for error messages; `account_id` and `provider` come from the envelope when the object
/// lacks them.
pub fn parse_order(
    object: &Value,
    at: &str,
    account_id: Option<&str>,
    provider: Option<&str>,
) -> Result<WebhookOrder, OrderError> {
    let path = |field: &str| {
        if at.is_empty() {
            field.to_owned()
        } else {
            format!("{at}.{field}")
        }
    };
    let wire = OrderWire::deserialize(object).map_err(|e| OrderError::Invalid {
        path: if at.is_empty() {
            "order".to_owned()
        } else {
            at.to_owned()
        },
        problem: e.to_string(),
    })?;
    let id = wire
        .id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OrderError::Missing(path("id")))?;
    let account_id = wire
        .account_id
        .or_else(|| account_id.map(str::to_owned))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OrderError::Missing("account_id".to_owned()))?;
    Ok(WebhookOrder {
        id,
        account_id,
        provider: wire.provider.or_else(|| provider.map(str::to_owned)),
        remote_id: wire.remote_id,
        package: wire.package.unwrap_or_default(),
        candidate: wire.candidate.unwrap_or_default(),
        application: wire.application,
        job: wire.job,
        requester: wire.requester,
        raw_json: object.to_string(),
    })
}

/// The order object as StackOne sends it, every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct OrderWire {
    /// StackOne's order id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The provider's id of the order.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// The linked account.
    #[serde(default, deserialize_with = "lenient")]
    pub account_id: Option<String>,
    /// The ATS provider.
    #[serde(default, deserialize_with = "lenient")]
    pub provider: Option<String>,
    /// The package ordered.
    pub package: Option<PackageWire>,
    /// The candidate.
    pub candidate: Option<CandidateWire>,
    /// The application.
    pub application: Option<ApplicationWire>,
    /// The job.
    pub job: Option<JobWire>,
    /// Who ordered.
    pub requester: Option<MemberWire>,
}

/// The package of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PackageWire {
    /// StackOne's id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The vendor's id (the package list's `remote_id`).
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// Its name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient")]
    pub description: Option<String>,
    /// The tests of a background-check package.
    pub tests: Option<Vec<TestWire>>,
}

/// A test of an ordered package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TestWire {
    /// StackOne's id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The vendor's id.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// Its name.
    #[serde(default, deserialize_with = "lenient")]
    pub name: Option<String>,
    /// Its description.
    #[serde(default, deserialize_with = "lenient")]
    pub description: Option<String>,
}

/// The candidate of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CandidateWire {
    /// StackOne's id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The ATS's id.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "lenient")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "lenient")]
    pub last_name: Option<String>,
    /// E-mail addresses.
    pub emails: Option<Vec<EmailWire>>,
    /// The candidate's page in the ATS.
    #[serde(default, deserialize_with = "lenient")]
    pub profile_url: Option<String>,
}

/// An e-mail address of a candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EmailWire {
    /// `type`: personal, work, ….
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// The address.
    #[serde(default, deserialize_with = "lenient")]
    pub value: Option<String>,
}

/// The application an order belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ApplicationWire {
    /// StackOne's id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The ATS's id.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// Its status.
    pub application_status: Option<StatusWire>,
}

/// An application's status: StackOne's value and the ATS's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StatusWire {
    /// StackOne's value.
    #[serde(default, deserialize_with = "lenient")]
    pub value: Option<String>,
    /// The ATS's value.
    #[serde(default, deserialize_with = "lenient")]
    pub source_value: Option<String>,
}

/// The job an order is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JobWire {
    /// StackOne's id.
    #[serde(default, deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The ATS's id.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_id: Option<String>,
    /// Its title.
    #[serde(default, deserialize_with = "lenient")]
    pub title: Option<String>,
    /// Its hiring team.
    pub hiring_team: Option<Vec<MemberWire>>,
}

/// A hiring team member, or the requester of an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MemberWire {
    /// StackOne's user id.
    #[serde(default, deserialize_with = "lenient")]
    pub user_id: Option<String>,
    /// The ATS's user id.
    #[serde(default, deserialize_with = "lenient")]
    pub remote_user_id: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "lenient")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "lenient")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(default, deserialize_with = "lenient")]
    pub email: Option<String>,
    /// Role in the hiring team.
    #[serde(default, deserialize_with = "lenient")]
    pub role: Option<String>,
}

/// Accepts a string, a number or a boolean as text, and `null` as absent; StackOne documents
/// these fields as strings but providers' ids are sometimes numeric.
fn lenient<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {other}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_id_or_account_names_the_field() {
        let err = parse_order(&json!({"candidate": {}}), "data", Some("a"), None);
        assert_eq!(err.expect_err("no id").to_string(), "`data.id` is missing");
        let err = parse_order(&json!({"id": "o"}), "", None, None);
        assert_eq!(
            err.expect_err("no account").to_string(),
            "`account_id` is missing"
        );
        let err = parse_order(
            &json!({"id": "o", "candidate": "x"}),
            "data",
            Some("a"),
            None,
        );
        assert!(
            err.expect_err("bad candidate")
                .to_string()
                .starts_with("`data` is invalid")
        );
    }

    #[test]
    fn numbers_are_text_and_the_envelope_fills_in() {
        let order = parse_order(
            &json!({"id": 12, "remote_id": true, "provider": null}),
            "data",
            Some("acc"),
            Some("ats"),
        )
        .expect("valid order");
        assert_eq!(order.id, "12");
        assert_eq!(order.remote_id.as_deref(), Some("true"));
        assert_eq!(order.account_id, "acc");
        assert_eq!(order.provider.as_deref(), Some("ats"));
        assert_eq!(order.candidate, CandidateWire::default());
    }

    #[test]
    fn raw_json_is_the_order_received_even_for_large_numbers() {
        // Found by the `envelope` fuzz target: without serde_json's `float_roundtrip` this
        // number came back one unit in the last place off (7.777777777777779e40).
        let body = r#"{"id": "o", "account_id": "a", "remote_id": 77777777777777777777777777777777777777777}"#;
        let object: Value = serde_json::from_str(body).expect("json");
        let order = parse_order(&object, "data", None, None).expect("valid order");
        let raw: Value = serde_json::from_str(&order.raw_json).expect("raw json");
        assert_eq!(raw, object);
    }
}
