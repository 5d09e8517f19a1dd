//! Order webhooks shaped like StackOne's: an envelope around an order object.
//!
//! The order object follows `AtsCreateCandidatesAssessmentsRequestDto` /
//! `AtsCreateBackgroundCheckOrderRequestDto`. The envelope fields come from StackOne's example
//! code; where the order sits in it is not documented, so [`OrderPlacement`] lets tests try
//! each place the host must look.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::package::Package;
use super::schema;
use super::timestamp::iso8601;

/// The event StackOne sends for a new order.
pub const ORDER_CREATED_EVENT: &str = "ats_assessments.created";
/// The linked-account id used when none is chosen (the one in StackOne's guide).
pub const DEFAULT_ACCOUNT_ID: &str = "456551489512493414";
/// The ATS the emulated recruiter works in.
pub const DEFAULT_PROVIDER: &str = "recruitee";
/// StackOne's API base, written into `results_update_url` unless the emulator's own is set.
pub const STACKONE_API_BASE: &str = "https://api.stackone.com";

/// Which of StackOne's two order families an order belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// An assessment (a test the candidate takes).
    Assessment,
    /// A background check.
    BackgroundCheck,
}

impl OrderKind {
    /// The segment of StackOne's unified API path: `assessments` or `background_checks`.
    pub fn path_segment(self) -> &'static str {
        match self {
            Self::Assessment => "assessments",
            Self::BackgroundCheck => "background_checks",
        }
    }

    /// The path of the result update of order `order_id`, as the host must PATCH it.
    pub fn result_path(self, order_id: &str) -> String {
        format!(
            "/unified/ats/{}/orders/{order_id}/result",
            self.path_segment()
        )
    }

    /// The OpenAPI component of the result update body.
    pub fn result_request_component(self) -> &'static str {
        match self {
            Self::Assessment => schema::ASSESSMENT_RESULT_REQUEST,
            Self::BackgroundCheck => schema::BACKGROUND_CHECK_RESULT_REQUEST,
        }
    }

    /// The OpenAPI component of the order object.
    pub fn order_component(self) -> &'static str {
        match self {
            Self::Assessment => schema::ASSESSMENT_ORDER,
            Self::BackgroundCheck => schema::BACKGROUND_CHECK_ORDER,
        }
    }

    /// The envelope's `record_type` (not documented by StackOne; a plausible name).
    pub fn record_type(self) -> &'static str {
        match self {
            Self::Assessment => "assessment_order",
            Self::BackgroundCheck => "background_check_order",
        }
    }
}

impl fmt::Display for OrderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Assessment => "assessment",
            Self::BackgroundCheck => "background_check",
        })
    }
}

/// An order kind name that is neither `assessment` nor `background_check`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown order kind {0:?} (expected assessment or background_check)")]
pub struct UnknownOrderKind(pub String);

impl FromStr for OrderKind {
    type Err = UnknownOrderKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "assessment" | "assessments" => Ok(Self::Assessment),
            "background_check" | "background_checks" => Ok(Self::BackgroundCheck),
            other => Err(UnknownOrderKind(other.to_owned())),
        }
    }
}

/// Where the order object sits in the webhook envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderPlacement {
    /// In `data` (what the host looks at first).
    #[default]
    Data,
    /// In `event_data`.
    EventData,
    /// Merged into the envelope itself.
    TopLevel,
}

/// A built order webhook: the exact bytes to send, and what they describe.
#[derive(Debug, Clone)]
pub struct OrderWebhook {
    /// StackOne's order id: the `{id}` of the result update.
    pub order_id: String,
    /// Assessment or background check.
    pub kind: OrderKind,
    /// The linked account; the host must send it back as `x-account-id`.
    pub account_id: String,
    /// The envelope's `event`.
    pub event: String,
    /// The package the recruiter picked.
    pub package: Package,
    /// The candidate's full name, for the recruiter view.
    pub candidate_name: String,
    /// The order object, wherever it sits in the envelope.
    pub order: Value,
    /// The serialized envelope. Sending it twice is a duplicate delivery, byte for byte.
    pub body: Bytes,
}

/// Process-wide order counter: ids are deterministic within a run and never repeat in it.
static NEXT_SEQUENCE: AtomicU64 = AtomicU64::new(1);

/// Sample people, picked by the order's sequence number.
const CANDIDATES: [(&str, &str); 6] = [
    ("Ada", "Lovelace"),
    ("Grace", "Hopper"),
    ("Katherine", "Johnson"),
    ("Alan", "Turing"),
    ("Hedy", "Lamarr"),
    ("Edsger", "Dijkstra"),
];
const JOBS: [&str; 3] = [
    "Backend Engineer",
    "Data Analyst",
    "Site Reliability Engineer",
];

/// Builds an order webhook with a sample candidate, job and hiring team.
#[derive(Debug, Clone)]
pub struct OrderBuilder {
    kind: OrderKind,
    package: Package,
    sequence: u64,
    run_id: String,
    account_id: String,
    provider: String,
    event: String,
    placement: OrderPlacement,
    stackone_base_url: String,
    passthrough: Option<Value>,
    at: Option<SystemTime>,
}

impl OrderBuilder {
    /// An order of `kind` for `package`, numbered from the process-wide counter.
    pub fn new(kind: OrderKind, package: Package) -> Self {
        Self {
            kind,
            package,
            sequence: NEXT_SEQUENCE.fetch_add(1, Ordering::Relaxed),
            run_id: "emu".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            provider: DEFAULT_PROVIDER.into(),
            event: ORDER_CREATED_EVENT.into(),
            placement: OrderPlacement::Data,
            stackone_base_url: STACKONE_API_BASE.into(),
            passthrough: None,
            at: None,
        }
    }

    /// Sets the sequence number the ids derive from (for byte-for-byte reproducible orders).
    pub fn sequence(mut self, sequence: u64) -> Self {
        self.sequence = sequence;
        self
    }

    /// Sets the prefix of every id, so orders of separate runs against one store differ.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// Sets the linked-account id.
    pub fn account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// Sets the ATS provider key.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }

    /// Sets the envelope's `event` (default [`ORDER_CREATED_EVENT`]).
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.event = event.into();
        self
    }

    /// Sets where the order object sits in the envelope.
    pub fn placement(mut self, placement: OrderPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// Sets the API base written into `results_update_url` (the emulator's own address).
    pub fn stackone_base_url(mut self, base: impl Into<String>) -> Self {
        self.stackone_base_url = base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Sets the order's `passthrough` object.
    pub fn passthrough(mut self, passthrough: Value) -> Self {
        self.passthrough = Some(passthrough);
        self
    }

    /// Sets the instant written as `event_date` and `sent_at` (default: when built).
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The order id [`build`](Self::build) will give.
    pub fn order_id(&self) -> String {
        format!("{}-ord-{:05}", self.run_id, self.sequence)
    }

    /// Serializes the webhook.
    pub fn build(self) -> OrderWebhook {
        let n = self.sequence;
        let run = &self.run_id;
        let order_id = self.order_id();
        let (first, last) = CANDIDATES[(n % CANDIDATES.len() as u64) as usize];
        let job_title = JOBS[(n % JOBS.len() as u64) as usize];
        // The ATS moves the application to the stage the order belongs to.
        let application_status = match self.kind {
            OrderKind::Assessment => "assessment",
            OrderKind::BackgroundCheck => "background_check",
        };
        let recruiter = json!({
            "user_id": format!("{run}-usr-1"), "remote_user_id": "8301",
            "first_name": "Riley", "last_name": "Morgan",
            "email": "riley.morgan@ats.example", "role": "Recruiter",
        });
        let manager = json!({
            "user_id": format!("{run}-usr-2"), "remote_user_id": "8302",
            "first_name": "Sam", "last_name": "Patel",
            "email": "sam.patel@ats.example", "role": "Hiring Manager",
        });
        let mut package = json!({
            "id": self.package.id, "remote_id": self.package.remote_id.clone().or(self.package.id.clone()),
            "name": self.package.name, "description": self.package.description,
        });
        if self.kind == OrderKind::BackgroundCheck {
            package["tests"] = json!(self.package.tests.clone().unwrap_or_default());
        }
        let order = json!({
            "id": order_id,
            "remote_id": format!("{run}-r-{n}"),
            "package": package,
            "application": {
                "id": format!("{run}-app-{n}"), "remote_id": format!("{}", 7_000_000 + n),
                "application_status": { "value": application_status, "source_value": "Sent to partner" },
            },
            "job": {
                "id": format!("{run}-job-{n}"), "remote_id": format!("{}", 5_000_000 + n),
                "title": job_title, "hiring_team": [recruiter, manager],
            },
            "candidate": {
                "id": format!("{run}-cand-{n}"), "remote_id": format!("{}", 9_000_000 + n),
                "first_name": first, "last_name": last,
                "emails": [{ "type": "personal", "value": format!("{}.{}+{n}@candidate.example", first.to_lowercase(), last.to_lowercase()) }],
                "profile_url": format!("https://ats.example/candidates/{run}-{n}"),
            },
            "requester": recruiter,
            "results_update_url": format!("{}{}", self.stackone_base_url, self.kind.result_path(&order_id)),
            "passthrough": self.passthrough,
        });
        let when = iso8601(self.at.unwrap_or_else(SystemTime::now));
        let mut envelope = Map::new();
        envelope.insert("event".into(), json!(self.event));
        envelope.insert("account_id".into(), json!(self.account_id));
        envelope.insert("provider".into(), json!(self.provider));
        envelope.insert("record_type".into(), json!(self.kind.record_type()));
        envelope.insert("record_id".into(), json!(order_id));
        envelope.insert("event_date".into(), json!(when));
        envelope.insert("sent_at".into(), json!(when));
        match self.placement {
            OrderPlacement::Data => {
                envelope.insert("data".into(), order.clone());
            }
            OrderPlacement::EventData => {
                envelope.insert("event_data".into(), order.clone());
            }
            OrderPlacement::TopLevel => {
                if let Value::Object(fields) = &order {
                    envelope.extend(fields.clone());
                }
            }
        }
        let body = Bytes::from(Value::Object(envelope).to_string());
        OrderWebhook {
            order_id,
            kind: self.kind,
            account_id: self.account_id,
            event: self.event,
            package: self.package,
            candidate_name: format!("{first} {last}"),
            order,
            body,
        }
    }
}

/// A run id unlikely to repeat: the current time in milliseconds, base 36.
pub fn fresh_run_id() -> String {
    let mut n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    format!("run{}", digits.iter().rev().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package() -> Package {
        Package {
            id: Some("pkg-1".into()),
            name: Some("Backend skills".into()),
            ..Package::default()
        }
    }

    #[test]
    fn order_is_valid_for_both_kinds() {
        for kind in [OrderKind::Assessment, OrderKind::BackgroundCheck] {
            let webhook = OrderBuilder::new(kind, package()).build();
            let envelope: Value = serde_json::from_slice(&webhook.body).expect("json");
            assert_eq!(envelope["data"], webhook.order);
            assert_eq!(envelope["event"], ORDER_CREATED_EVENT);
            assert_eq!(envelope["record_id"], webhook.order_id.as_str());
            assert_eq!(
                schema::validate(kind.order_component(), &webhook.order),
                Vec::<String>::new()
            );
            let url = webhook.order["results_update_url"].as_str().expect("url");
            assert!(url.ends_with(&kind.result_path(&webhook.order_id)), "{url}");
            assert_eq!(
                webhook.order["package"].get("tests").is_some(),
                kind == OrderKind::BackgroundCheck
            );
        }
    }

    #[test]
    fn ids_are_unique_and_reproducible() {
        let a = OrderBuilder::new(OrderKind::Assessment, package()).build();
        let b = OrderBuilder::new(OrderKind::Assessment, package()).build();
        assert_ne!(a.order_id, b.order_id);
        assert_ne!(a.order["candidate"]["id"], b.order["candidate"]["id"]);
        let at = UNIX_EPOCH;
        let one = OrderBuilder::new(OrderKind::Assessment, package())
            .sequence(7)
            .at(at)
            .build();
        let two = OrderBuilder::new(OrderKind::Assessment, package())
            .sequence(7)
            .at(at)
            .build();
        assert_eq!(one.body, two.body);
        let other_run = OrderBuilder::new(OrderKind::Assessment, package())
            .sequence(7)
            .run_id("x")
            .build();
        assert_ne!(one.order_id, other_run.order_id);
    }

    #[test]
    fn placements() {
        let build = |p| {
            let w = OrderBuilder::new(OrderKind::Assessment, package())
                .placement(p)
                .build();
            let v: Value = serde_json::from_slice(&w.body).expect("json");
            (w, v)
        };
        let (w, v) = build(OrderPlacement::EventData);
        assert_eq!(v["event_data"], w.order);
        assert!(v.get("data").is_none());
        let (w, v) = build(OrderPlacement::TopLevel);
        assert_eq!(v["id"], w.order["id"]);
        assert_eq!(v["candidate"], w.order["candidate"]);
        assert_eq!(v["event"], ORDER_CREATED_EVENT);
    }

    #[test]
    fn kind_names() {
        assert_eq!(
            "background_check".parse::<OrderKind>(),
            Ok(OrderKind::BackgroundCheck)
        );
        assert_eq!(
            OrderKind::Assessment.to_string().parse::<OrderKind>(),
            Ok(OrderKind::Assessment)
        );
        assert!("quiz".parse::<OrderKind>().is_err());
        assert_eq!(
            OrderKind::BackgroundCheck.result_path("o1"),
            "/unified/ats/background_checks/orders/o1/result"
        );
    }
}
