//! Conversions between StackOne's JSON and the plugin contract's types.
//!
//! Incoming orders are parsed and checked in [`assay_wire::order`] (leniently: StackOne
//! documents every order field as nullable, and ids sometimes arrive as numbers; only the
//! order id and the account id are required); here they are given the contract's shape.

use serde_json::Value;

use assay_runtime::types::{
    Application, AssessmentResult, Candidate, ContentType, Email, HiringTeamMember, Job, Order,
    OrderKind, OrderPackage, Package, PackageTest, ResultValue,
};
pub use assay_wire::order::OrderError;
use assay_wire::order::{MemberWire, TestWire, parse_order};
use assay_wire::stackone::{
    AttachmentJson, CandidateRefJson, EnumJson, PackageJson, ResultBody, ScoreJson, TestJson,
};

/// Builds the plugin's [`Order`] from the order object of a webhook: checked by
/// [`parse_order`] (which names the missing field or the bad one), then given the contract's
/// shape, with `kind` the product's.
///
/// `at` is where the object sits in the body (`data`, `event_data` or empty for the top level),
/// for error messages; `account_id` and `provider` come from the envelope when the object
/// lacks them.
pub fn order_from_json(
    kind: OrderKind,
    object: &Value,
    at: &str,
    account_id: Option<&str>,
    provider: Option<&str>,
) -> Result<Order, OrderError> {
    let order = parse_order(object, at, account_id, provider)?;
    let package = order.package;
    let candidate = order.candidate;
    Ok(Order {
        id: order.id,
        kind,
        account_id: order.account_id,
        provider: order.provider,
        remote_id: order.remote_id,
        package: OrderPackage {
            id: package.id,
            remote_id: package.remote_id,
            name: package.name,
            description: package.description,
            tests: package
                .tests
                .unwrap_or_default()
                .into_iter()
                .map(package_test)
                .collect(),
        },
        candidate: Candidate {
            id: candidate.id,
            remote_id: candidate.remote_id,
            first_name: candidate.first_name,
            last_name: candidate.last_name,
            emails: candidate
                .emails
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| {
                    Some(Email {
                        value: e.value?,
                        email_type: e.kind,
                    })
                })
                .collect(),
            profile_url: candidate.profile_url,
        },
        application: order.application.map(|a| {
            let status = a.application_status.unwrap_or_default();
            Application {
                id: a.id,
                remote_id: a.remote_id,
                status: status.value,
                status_source: status.source_value,
            }
        }),
        job: order.job.map(|j| Job {
            id: j.id,
            remote_id: j.remote_id,
            title: j.title,
            hiring_team: j
                .hiring_team
                .unwrap_or_default()
                .into_iter()
                .map(member)
                .collect(),
        }),
        requester: order.requester.map(member),
        raw_json: order.raw_json,
    })
}

/// A test of an ordered package: the vendor's id where StackOne sent it.
fn package_test(t: TestWire) -> PackageTest {
    PackageTest {
        id: t.remote_id.or(t.id).unwrap_or_default(),
        name: t.name.unwrap_or_default(),
        description: t.description,
    }
}

fn member(m: MemberWire) -> HiringTeamMember {
    HiringTeamMember {
        user_id: m.user_id,
        remote_user_id: m.remote_user_id,
        first_name: m.first_name,
        last_name: m.last_name,
        email: m.email,
        role: m.role,
    }
}

/// The StackOne package for a plugin's [`Package`]. The vendor's id is both `id` and
/// `remote_id` (the provider's identifier); `tests` appears only for packages that have them.
pub fn package_json(package: Package) -> PackageJson {
    let tests = (!package.tests.is_empty()).then(|| {
        package
            .tests
            .into_iter()
            .map(|t| TestJson {
                id: Some(t.id.clone()),
                remote_id: Some(t.id),
                name: Some(t.name),
                description: t.description,
            })
            .collect()
    });
    PackageJson {
        id: Some(package.id.clone()),
        remote_id: Some(package.id),
        name: Some(package.name),
        description: package.description,
        tests,
    }
}

/// The body of the results update for a plugin's result. `passthrough` is the order's own
/// `passthrough`, handed back as StackOne asks.
pub fn result_body(result: AssessmentResult, passthrough: Option<Value>) -> ResultBody {
    ResultBody {
        score: result.score.map(|s| ScoreJson {
            label: s.label,
            value: s.value,
            min: s.min,
            max: s.max,
        }),
        result: result.status.map(|s| {
            let (value, unmapped) = result_value_name(s.value);
            EnumJson {
                value: value.to_owned(),
                source_value: s.source_value.or(unmapped),
            }
        }),
        result_url: result.result_url,
        start_date: result.start_date,
        submission_date: result.submission_date,
        summary: result.summary,
        attachments: (!result.attachments.is_empty()).then(|| {
            result
                .attachments
                .into_iter()
                .map(|a| AttachmentJson {
                    url: a.url,
                    content_type: a.content_type.map(|c| {
                        let (value, source_value) = content_type_name(c);
                        EnumJson {
                            value: value.to_owned(),
                            source_value,
                        }
                    }),
                })
                .collect()
        }),
        candidate: result.candidate_profile_url.map(|url| CandidateRefJson {
            id: None,
            profile_url: Some(url),
        }),
        passthrough: passthrough.filter(|p| p.is_object()),
    }
}

/// StackOne's name of a result value, and the vendor text of an unmapped one.
pub fn result_value_name(value: ResultValue) -> (&'static str, Option<String>) {
    match value {
        ResultValue::Initiated => ("initiated", None),
        ResultValue::InProgress => ("in_progress", None),
        ResultValue::Cancelled => ("cancelled", None),
        ResultValue::Completed => ("completed", None),
        ResultValue::Expired => ("expired", None),
        ResultValue::Failed => ("failed", None),
        ResultValue::Passed => ("passed", None),
        ResultValue::UnmappedValue(text) => ("unmapped_value", Some(text)),
    }
}

fn content_type_name(value: ContentType) -> (&'static str, Option<String>) {
    match value {
        ContentType::Text => ("text", None),
        ContentType::Pdf => ("pdf", None),
        ContentType::Video => ("video", None),
        ContentType::Other => ("other", None),
        ContentType::UnmappedValue(text) => ("unmapped_value", Some(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_runtime::types::{ResultStatus, Score};
    use serde_json::json;

    #[test]
    fn parses_a_full_order() {
        let object = json!({
            "id": "ord-1", "remote_id": 77,
            "package": {"id": "pk", "remote_id": "vendor-pkg", "name": "Rust test"},
            "candidate": {"first_name": "Ada", "emails": [{"type": "personal", "value": "ada@example.com"}, {"type": "work"}]},
            "application": {"id": "app", "application_status": {"value": "interview", "source_value": "Round 2"}},
            "job": {"title": "Engineer", "hiring_team": [{"email": "r@example.com", "role": "recruiter"}]},
            "requester": {"first_name": "Rita"},
            "passthrough": {"x": 1}
        });
        let order = order_from_json(
            OrderKind::Assessment,
            &object,
            "data",
            Some("acc-1"),
            Some("recruitee"),
        )
        .expect("valid order");
        assert_eq!(order.id, "ord-1");
        assert_eq!(order.remote_id.as_deref(), Some("77"));
        assert_eq!(order.account_id, "acc-1");
        assert_eq!(order.provider.as_deref(), Some("recruitee"));
        assert_eq!(order.package.remote_id.as_deref(), Some("vendor-pkg"));
        assert_eq!(
            order.candidate.emails.len(),
            1,
            "an e-mail without a value is dropped"
        );
        assert_eq!(
            order.candidate.emails[0].email_type.as_deref(),
            Some("personal")
        );
        let app = order.application.expect("application");
        assert_eq!(app.status_source.as_deref(), Some("Round 2"));
        assert_eq!(
            order.job.expect("job").hiring_team[0].role.as_deref(),
            Some("recruiter")
        );
        let raw: Value = serde_json::from_str(&order.raw_json).expect("raw json");
        assert_eq!(raw["passthrough"], json!({"x": 1}));
    }

    #[test]
    fn result_body_maps_values() {
        let result = AssessmentResult {
            score: Some(Score {
                label: None,
                value: Some("87".into()),
                min: Some("0".into()),
                max: Some("100".into()),
            }),
            status: Some(ResultStatus {
                value: ResultValue::UnmappedValue("suspended".into()),
                source_value: None,
            }),
            result_url: Some("https://vendor.example/r/1".into()),
            start_date: None,
            submission_date: None,
            summary: None,
            attachments: vec![],
            candidate_profile_url: None,
        };
        let body =
            serde_json::to_value(result_body(result, Some(json!({"k": "v"})))).expect("json");
        assert_eq!(
            body,
            json!({
                "score": {"value": "87", "min": "0", "max": "100"},
                "result": {"value": "unmapped_value", "source_value": "suspended"},
                "result_url": "https://vendor.example/r/1",
                "passthrough": {"k": "v"}
            })
        );
    }

    #[test]
    fn package_json_sets_remote_id_and_tests() {
        let p = Package {
            id: "p1".into(),
            name: "Basic".into(),
            description: None,
            tests: vec![PackageTest {
                id: "t1".into(),
                name: "Criminal".into(),
                description: None,
            }],
        };
        let json = serde_json::to_value(package_json(p)).expect("json");
        assert_eq!(json["remote_id"], "p1");
        assert_eq!(json["tests"][0]["remote_id"], "t1");
    }
}
