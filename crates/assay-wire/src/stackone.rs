//! StackOne's wire formats, as serde types.
//!
//! Everything here follows `PROTOCOL.md` and StackOne's OpenAPI description. Incoming payloads
//! are parsed tolerantly (every field optional, unknown fields allowed) because StackOne's
//! webhook envelope is not formally specified; outgoing payloads are exact, and the tests check
//! them against the OpenAPI schema.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The base URL of StackOne's API (`https://api.stackone.com`): an `http(s)` URL with a host
/// and no query, fragment or credentials, checked once when the configuration is loaded, so a
/// result can always be addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(url::Url);

impl BaseUrl {
    /// Parses and checks `text`; the error is a sentence about the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("`{text}` is not an http:// or https:// URL without query or credentials");
        let url = url::Url::parse(text).map_err(|_| bad())?;
        let ok = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && url.query().is_none()
            && url.fragment().is_none();
        if ok { Ok(Self(url)) } else { Err(bad()) }
    }

    /// The URL without a trailing slash, so paths can be appended.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    /// The URL of `segments` below this base, each segment percent-encoded.
    pub fn join<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> url::Url {
        let mut url = self.0.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        // An http(s) URL with a host always has path segments, so the `if` never skips.
        url
    }
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for BaseUrl {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The body of StackOne's call to the Package's List Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagesRequest {
    /// The StackOne linked-account id of the customer asking.
    pub account_id: String,
    /// The ATS provider key, e.g. `recruitee`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// The answer to the Package's List Endpoint: StackOne's `AssessmentPackagePaginated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagesPage {
    /// The packages.
    pub data: Vec<PackageJson>,
    /// Pagination cursor; Assay always answers with every package, so it is `null`.
    pub next: Option<String>,
}

/// One package of a [`PackagesPage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageJson {
    /// The vendor's package id.
    pub id: Option<String>,
    /// The same id: StackOne calls the provider's identifier `remote_id`.
    pub remote_id: Option<String>,
    /// The name a recruiter sees.
    pub name: Option<String>,
    /// Optional longer text.
    pub description: Option<String>,
    /// The tests of a background-check package.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<Vec<TestJson>>,
}

/// A test inside a background-check package (StackOne's `Package`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestJson {
    /// The vendor's id of the test.
    pub id: Option<String>,
    /// The same id, as the provider's identifier.
    pub remote_id: Option<String>,
    /// The name a recruiter sees.
    pub name: Option<String>,
    /// Optional longer text.
    pub description: Option<String>,
}

/// The envelope of a StackOne webhook. Every field is optional: the envelope is only known
/// from StackOne's example code.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Envelope {
    /// The event name, e.g. `ats_assessments.created`.
    pub event: Option<String>,
    /// The linked account the event belongs to.
    pub account_id: Option<String>,
    /// The ATS provider key.
    pub provider: Option<String>,
    /// The record's id, when the order is not embedded.
    pub record_id: Option<String>,
    /// Where StackOne's examples put the record.
    pub data: Option<Value>,
    /// Where some StackOne events put the record instead.
    pub event_data: Option<Value>,
}

impl Envelope {
    /// The envelope of a webhook body: a JSON object. Serde would also fill the fields from
    /// an array, by position (`["ats_assessments.created"]` would name an event without an
    /// `event` key), so anything but an object is refused here.
    pub fn from_json(body: &Value) -> Result<Envelope, serde_json::Error> {
        if !body.is_object() {
            return Err(serde::de::Error::custom(format!(
                "expected a JSON object, found {}",
                json_kind(body)
            )));
        }
        Envelope::deserialize(body)
    }
}

/// The kind of a JSON value, for error messages that must not quote the value.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where the order object sits in a webhook body: `data`, then `event_data`, then the top
/// level (PROTOCOL.md leaves this open, so all three are accepted). Returns the place's name
/// (`""` for the top level, for error messages) and the object.
pub fn locate_order(body: &Value) -> Option<(&'static str, &Value)> {
    let looks_like_order = |v: &Value| {
        v.is_object()
            && ["id", "candidate", "package"]
                .iter()
                .any(|k| v.get(k).is_some())
    };
    ["data", "event_data"]
        .into_iter()
        .filter_map(|k| body.get(k).map(|v| (k, v)))
        .find(|(_, v)| looks_like_order(v))
        .or_else(|| looks_like_order(body).then_some(("", body)))
}

/// The body of a results update (`PATCH …/orders/{id}/result`): StackOne's
/// `AtsUpdateCandidatesAssessmentsResultsRequestDto`, identical for background checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultBody {
    /// The score, every part a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreJson>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<EnumJson>,
    /// The vendor's report link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
    /// ISO-8601 start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// ISO-8601 submission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_date: Option<String>,
    /// A short summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Reports and other files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentJson>>,
    /// The candidate's profile in the vendor's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CandidateRefJson>,
    /// The order's `passthrough`, handed back unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Value>,
}

/// StackOne's `ScoreApiModel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreJson {
    /// A label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The lowest possible score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// The highest possible score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
}

/// StackOne's `{value, source_value}` enum wrapper (`ResultEnum`, `AttachmentContentType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumJson {
    /// The normalised value.
    pub value: String,
    /// The vendor's own text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_value: Option<String>,
}

/// StackOne's `Attachment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentJson {
    /// Where the file is.
    pub url: String,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<EnumJson>,
}

/// StackOne's `UpdateResultCandidateApiModel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateRefJson {
    /// StackOne's candidate id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The candidate's profile in the vendor's system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
}

/// StackOne's error body: `{statusCode, message, timestamp}`, plus optional details.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status StackOne meant.
    pub status_code: Option<u16>,
    /// StackOne's message; may be a string or a list of strings.
    pub message: Option<Value>,
    /// Provider errors, when the ATS refused the update.
    #[serde(rename = "provider_errors")]
    pub provider_errors: Option<Value>,
}

impl ErrorBody {
    /// A one-line description for logs and dead letters.
    pub fn describe(&self) -> String {
        let message = match &self.message {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| i.to_string())
                })
                .collect::<Vec<_>>()
                .join("; "),
            Some(other) => other.to_string(),
            None => "no message".to_owned(),
        };
        match &self.provider_errors {
            Some(p) if !p.is_null() => format!("{message} (provider errors: {p})"),
            _ => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn order_is_found_in_data_event_data_or_top_level() {
        let order = json!({"id": "o1", "candidate": {}});
        let in_data = json!({"event": "x", "data": order});
        let in_event_data = json!({"event": "x", "data": null, "event_data": order});
        let top = json!({"id": "o1", "candidate": {}, "event": "x"});
        assert_eq!(locate_order(&in_data), Some(("data", &order)));
        assert_eq!(locate_order(&in_event_data), Some(("event_data", &order)));
        assert_eq!(locate_order(&top), Some(("", &top)));
        assert_eq!(locate_order(&json!({"event": "x", "data": "s"})), None);
    }

    #[test]
    fn an_envelope_is_an_object_never_an_array() {
        // Serde fills a struct from an array by position: this body has no `event` key, yet
        // the edge used to read it as the event `ats_assessments.created` (the `envelope`
        // fuzz target's property that fields come from keys of the same name).
        let positional = json!(["ats_assessments.created", "acc", "p", "r", null, null]);
        assert!(serde_json::from_value::<Envelope>(positional.clone()).is_ok());
        let e = Envelope::from_json(&positional).expect_err("an array is no envelope");
        assert_eq!(e.to_string(), "expected a JSON object, found an array");
        for other in [json!(null), json!(1), json!("event"), json!(true)] {
            assert!(Envelope::from_json(&other).is_err(), "{other}");
        }
        let envelope =
            Envelope::from_json(&json!({"event": "e", "account_id": "a"})).expect("an object");
        assert_eq!(envelope.event.as_deref(), Some("e"));
        assert_eq!(envelope.account_id.as_deref(), Some("a"));
    }

    #[test]
    fn result_body_omits_unknown_fields() {
        let body = ResultBody {
            score: Some(ScoreJson {
                value: Some("87".into()),
                ..Default::default()
            }),
            result: Some(EnumJson {
                value: "passed".into(),
                source_value: None,
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&body).expect("serialises");
        assert_eq!(
            v,
            json!({"score": {"value": "87"}, "result": {"value": "passed"}})
        );
    }

    #[test]
    fn error_body_describes_string_and_list_messages() {
        let e: ErrorBody =
            serde_json::from_value(json!({"statusCode": 422, "message": ["a", "b"]}))
                .expect("parses");
        assert_eq!(e.describe(), "a; b");
        let e: ErrorBody = serde_json::from_value(
            json!({"statusCode": 422, "message": "bad", "provider_errors": [{"status": 400}]}),
        )
        .expect("parses");
        assert_eq!(e.describe(), r#"bad (provider errors: [{"status":400}])"#);
    }
}
