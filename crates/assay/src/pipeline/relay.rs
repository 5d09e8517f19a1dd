//! The outbox relay: delivers stored results to StackOne.
//!
//! It claims due outbox rows from the [`Store`], PATCHes each to
//! `{base}/unified/ats/{assessments|background_checks}/orders/{id}/result` with
//! `Authorization: Basic base64(api_key + ":")` and `x-account-id`, and records the outcome:
//!
//! | StackOne answers | the relay |
//! |---|---|
//! | 2xx | marks the row delivered |
//! | 408, 429, 5xx, a timeout or a connection error | retries with [`DELIVERY_BACKOFF`], never sooner than `Retry-After` |
//! | any other 4xx | dead-letters the row with StackOne's message: a person must act |
//!
//! A 429 or 503 with `Retry-After` speaks for StackOne, not for one result: it pauses every
//! delivery to that base URL with that API key ([`Pauses`]) until the time has passed. A row
//! claimed meanwhile is not sent; it is put back, due when the pause ends (this counts as one
//! of its attempts, at most once per pause).
//!
//! A retryable failure that persists for [`MAX_DELIVERY_ATTEMPTS`] is dead-lettered too, so a
//! result never retries forever unseen. Because rows are claimed with a lease, a relay that
//! dies mid-delivery leaves the row to be claimed again after a restart (or by another host
//! sharing a PostgreSQL store, once the lease ends).
//!
//! # A lost lease never sends
//!
//! Several hosts may share the outbox. A row's lease ([`DELIVERY_LEASE`]) is the only thing
//! that keeps the others off it, so a relay sends a claimed row only while the lease surely
//! outlasts the PATCH: within its [`send_window`] of asking for the claim, measured on the
//! monotonic clock, with [`LEASE_MARGIN`] left for the hosts' clocks disagreeing. A relay
//! that stalled past that leaves the row alone; once the lease ends, any host claims it
//! afresh with a higher attempt number (the fencing token), and the stale claim's outcomes are
//! refused by the store (`StoreError::LeaseLost`), except "delivered", which is a fact whoever
//! reports it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::pipeline::backoff::{DELIVERY_BACKOFF, parse_retry_after};
use crate::pipeline::claim_loop::{ClaimLoop, record_outcome};
use assay_store::{OutboxDelivery, Store, StoreError, Timestamp};
use assay_wire::basic_auth;
use assay_wire::metric;
use assay_wire::secret::{Redactor, Secret};
use assay_wire::stackone::{BaseUrl, ErrorBody};

/// How many results are delivered at once.
pub const DELIVERY_CONCURRENCY: usize = 16;
/// How long a claimed row is exclusive to this relay by default (`store.delivery_lease_ms`);
/// longer than one delivery can take.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// The longest timeout of one PATCH, connection included (a quarter of a shorter lease).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a claim's send window keeps from its lease's end, beyond the PATCH's timeout (a
/// quarter of a shorter lease). It covers the clocks of the hosts sharing a store disagreeing
/// (leases are stamped by the claimer's clock and judged by the next claimer's).
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// The timeout of one PATCH under a `lease`: [`DELIVERY_TIMEOUT`], or a quarter of the lease
/// if that is shorter.
pub fn delivery_timeout(lease: Duration) -> Duration {
    DELIVERY_TIMEOUT.min(lease / 4)
}

/// How long after asking for a claim leased for `lease` the relay may still send its PATCH:
/// the lease less the PATCH's timeout and [`LEASE_MARGIN`] (a quarter each at most). Past it
/// the row is left alone until its lease ends and any host claims it again, so a relay that
/// stalled (a paused VM, a stopped process, a starved runtime) never sends a result another
/// host may have taken over meanwhile: a PATCH started within the window ends, by its
/// timeout, before the lease does.
pub fn send_window(lease: Duration) -> Duration {
    lease
        .saturating_sub(delivery_timeout(lease))
        .saturating_sub(LEASE_MARGIN.min(lease / 4))
}

/// After this many failed attempts a retryable failure is dead-lettered.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 25;

/// Where and with which key a product's results go.
#[derive(Debug, Clone)]
pub struct Target {
    /// StackOne's API base URL, e.g. `https://api.stackone.com`.
    pub base_url: BaseUrl,
    /// The StackOne API key of the product's project.
    pub api_key: Secret,
}

/// Looks up a product's [`Target`]; `None` when the product is not configured (any more).
/// A closure rather than a config snapshot, so a configuration reload takes effect at once.
pub type Targets = Arc<dyn Fn(&str) -> Option<Target> + Send + Sync>;

/// The outbox relay. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    store: Arc<dyn Store>,
    targets: Targets,
    client: reqwest::Client,
    wake: Arc<Notify>,
    pauses: Arc<Pauses>,
    lease: Duration,
}

/// Until when StackOne asked each endpoint and key to wait, keyed by a digest of the base URL
/// and the API key (the key itself is not kept twice).
#[derive(Debug, Default)]
pub struct Pauses {
    until: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Pauses {
    fn key(target: &Target) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(target.base_url.to_string().as_bytes());
        digest.update([0]);
        digest.update(target.api_key.expose().as_bytes());
        digest.finalize().into()
    }

    /// How long deliveries to `target` must still wait, if they must.
    pub fn remaining(&self, target: &Target) -> Option<Duration> {
        let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let key = Self::key(target);
        let left = until.get(&key)?.checked_duration_since(Instant::now());
        if left.is_none() {
            until.remove(&key);
        }
        left.filter(|d| !d.is_zero())
    }

    /// Pauses deliveries to `target` for `wait` (a longer pause in force stays).
    pub fn pause(&self, target: &Target, wait: Duration) {
        let end = Instant::now() + wait;
        let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = until.entry(Self::key(target)).or_insert(end);
        *entry = (*entry).max(end);
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered(u16),
    /// Not sent: StackOne asked this endpoint and key to wait this much longer.
    Paused(Duration),
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    DeadLetter {
        status: Option<u16>,
        message: String,
    },
}

impl Relay {
    /// A relay over `store`, delivering with the keys `targets` gives.
    pub fn new(store: Arc<dyn Store>, targets: Targets) -> Result<Self, reqwest::Error> {
        // Each PATCH sets its own timeout (`delivery_timeout`); this is only the ceiling.
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .user_agent(concat!("assay/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            targets,
            client,
            wake: Arc::new(Notify::new()),
            pauses: Arc::new(Pauses::default()),
            lease: DELIVERY_LEASE,
        })
    }

    /// The same relay claiming rows for `lease` (`store.delivery_lease_ms`) instead of
    /// [`DELIVERY_LEASE`]; the PATCH timeout and the send window follow it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Wakes the relay: call it after committing a result, so delivery starts at once.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// A handle that wakes the relay, for the parts that commit results.
    pub fn waker(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Delivers until `cancel` fires; deliveries in flight then finish.
    pub async fn run(self, cancel: CancellationToken) {
        let claimer = self.clone();
        let scheduler = self.clone();
        let lease = self.lease;
        ClaimLoop {
            name: "relay",
            concurrency: DELIVERY_CONCURRENCY,
            wake: Arc::clone(&self.wake),
            claim: move |n| {
                let store = Arc::clone(&claimer.store);
                async move {
                    // Taken before the lease starts (the store stamps it from `now`), so the
                    // send window is measured from no later than the lease's own start.
                    let asked = Instant::now();
                    let rows = store.claim_outbox(n, Timestamp::now(), lease).await?;
                    Ok(rows.into_iter().map(|row| (asked, row)).collect())
                }
            },
            next_due: move || {
                let store = Arc::clone(&scheduler.store);
                async move { store.next_delivery_due().await }
            },
        }
        .run(cancel, move |(asked, row)| {
            let relay = self.clone();
            async move { relay.deliver(asked, row).await }
        })
        .await;
    }

    /// Delivers one row claimed by a claim asked for at `asked`, and records the outcome. A
    /// claim older than its [`send_window`] is not sent (its lease may end while the PATCH is in
    /// flight, and another host may then hold the row); the row is left to its lease's end.
    async fn deliver(&self, asked: Instant, row: OutboxDelivery) {
        let started = Instant::now();
        if asked.elapsed() > send_window(self.lease) {
            tracing::warn!(
                product = row.product,
                order_id = row.order_id,
                claimed_s_ago = asked.elapsed().as_secs_f64(),
                "result not sent: its claim is too close to its lease's end; it is claimed \
                 again once the lease ends"
            );
            metrics::counter!(metric::DELIVERIES_TOTAL, "product" => row.product.clone(), "outcome" => "lease_too_old").increment(1);
            return;
        }
        let outcome = self.attempt(&row).await;
        let product = row.product.clone();
        let label = match &outcome {
            Outcome::Delivered(_) => "delivered",
            Outcome::Paused(_) => "paused",
            Outcome::Retry { .. } if row.claim.attempt >= MAX_DELIVERY_ATTEMPTS => "dead_letter",
            Outcome::Retry { .. } => "retry",
            Outcome::DeadLetter { .. } => "dead_letter",
        };
        metrics::counter!(metric::DELIVERIES_TOTAL, "product" => product.clone(), "outcome" => label).increment(1);
        metrics::histogram!(metric::DELIVERY_SECONDS, "product" => product.clone())
            .record(started.elapsed().as_secs_f64());
        let result = match outcome {
            Outcome::Delivered(status) => {
                tracing::info!(
                    product,
                    order_id = row.order_id,
                    result = row.result_value.as_deref(),
                    status,
                    "result delivered to StackOne"
                );
                // StackOne has it: recording that must outlast a short store outage, or the
                // row would be sent again once its lease ends.
                record_outcome(self.lease, || {
                    self.store.outbox_delivered(row.claim, status)
                })
                .await
            }
            Outcome::Paused(wait) => {
                tracing::debug!(
                    product,
                    order_id = row.order_id,
                    wait_s = wait.as_secs_f64(),
                    "StackOne asked to wait; the result goes when the pause ends"
                );
                let reason = format!(
                    "not sent: StackOne asked (Retry-After) to wait {:.1} s more",
                    wait.as_secs_f64()
                );
                self.store
                    .outbox_retry(row.claim, Timestamp::now().plus(wait), reason)
                    .await
            }
            Outcome::Retry { error, .. } if row.claim.attempt >= MAX_DELIVERY_ATTEMPTS => {
                let message = format!(
                    "gave up after {} attempts; last error: {error}",
                    row.claim.attempt
                );
                tracing::error!(
                    product,
                    order_id = row.order_id,
                    reason = message,
                    "result dead-lettered"
                );
                record_outcome(self.lease, || {
                    self.store
                        .outbox_dead_letter(row.claim, None, message.clone())
                })
                .await
            }
            Outcome::Retry { error, retry_after } => {
                let delay = DELIVERY_BACKOFF.delay(row.claim.attempt, retry_after);
                tracing::warn!(
                    product,
                    order_id = row.order_id,
                    attempt = row.claim.attempt,
                    error,
                    retry_in_s = delay.as_secs_f64(),
                    "result delivery will be retried"
                );
                let not_before = Timestamp::now().plus(delay);
                // The claim loop reads the retry's time from the store and sleeps until it.
                record_outcome(self.lease, || {
                    self.store
                        .outbox_retry(row.claim, not_before, error.clone())
                })
                .await
            }
            Outcome::DeadLetter { status, message } => {
                tracing::error!(
                    product,
                    order_id = row.order_id,
                    status,
                    reason = message,
                    "StackOne refused the result; dead-lettered"
                );
                record_outcome(self.lease, || {
                    self.store
                        .outbox_dead_letter(row.claim, status, message.clone())
                })
                .await
            }
        };
        if let Err(e) = result {
            // The lease expires and the row is claimed again: nothing is lost, at worst sent twice
            // (the PATCH is idempotent).
            log_store_error(&row, &e);
        }
    }

    async fn attempt(&self, row: &OutboxDelivery) -> Outcome {
        let Some(target) = (self.targets)(&row.product) else {
            return Outcome::Retry {
                error: format!(
                    "product `{}` is not configured; keeping the result until it is",
                    row.product
                ),
                retry_after: None,
            };
        };
        if let Some(wait) = self.pauses.remaining(&target) {
            return Outcome::Paused(wait);
        }
        let url = result_url(&target.base_url, row);
        let response = self
            .client
            .patch(url)
            .header(
                http::header::AUTHORIZATION,
                basic_auth::header_value(&target.api_key),
            )
            .header("x-account-id", &row.account_id)
            .header(http::header::CONTENT_TYPE, "application/json")
            .timeout(delivery_timeout(self.lease))
            .body(row.body_json.clone())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    error: describe_transport_error(&e),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = response.bytes().await.unwrap_or_default();
        // Rate limited or down for a while: every result to this endpoint and key waits.
        if let Some(wait) = retry_after.filter(|_| {
            status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
        }) {
            self.pauses.pause(&target, wait);
        }
        let mut outcome = classify(status, retry_after, &body);
        // StackOne's message is logged and stored; an answer that echoes the request must not
        // put the API key there.
        if let Outcome::Retry { error: text, .. } | Outcome::DeadLetter { message: text, .. } =
            &mut outcome
        {
            Redactor::new([&target.api_key]).redact_in_place(text);
        }
        outcome
    }
}

/// What a StackOne answer means for the row.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Outcome {
    if status.is_success() {
        return Outcome::Delivered(status.as_u16());
    }
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|e| e.describe())
        .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned());
    let message = format!("StackOne answered {status}: {message}");
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if retryable {
        Outcome::Retry {
            error: message,
            retry_after,
        }
    } else {
        Outcome::DeadLetter {
            status: Some(status.as_u16()),
            message,
        }
    }
}

/// `{base}/unified/ats/{segment}/orders/{id}/result`, with the id percent-encoded.
fn result_url(base: &BaseUrl, row: &OutboxDelivery) -> url::Url {
    base.join([
        "unified",
        "ats",
        row.kind.api_segment(),
        "orders",
        &row.order_id,
        "result",
    ])
}

fn describe_transport_error(e: &reqwest::Error) -> String {
    // reqwest's Display omits the cause chain (connection refused, DNS failure…).
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn log_store_error(row: &OutboxDelivery, e: &StoreError) {
    tracing::error!(product = row.product, order_id = row.order_id, error = %e, "relay: could not record the delivery outcome");
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_store::{OrderId, OrderKind, OutboxClaim};

    fn row(kind: OrderKind, order_id: &str) -> OutboxDelivery {
        OutboxDelivery {
            claim: OutboxClaim { id: 1, attempt: 1 },
            order: OrderId(1),
            product: "p".into(),
            kind,
            account_id: "acc".into(),
            order_id: order_id.into(),
            body_json: "{}".into(),
            result_value: None,
            created_at: Timestamp::now(),
            lease_until: Timestamp::now(),
        }
    }

    #[test]
    fn urls_per_kind_with_encoded_ids() {
        let url = result_url(
            &BaseUrl::parse("https://api.stackone.com").expect("base"),
            &row(OrderKind::Assessment, "o-1"),
        );
        assert_eq!(
            url.as_str(),
            "https://api.stackone.com/unified/ats/assessments/orders/o-1/result"
        );
        let url = result_url(
            &BaseUrl::parse("http://127.0.0.1:9/base/").expect("base"),
            &row(OrderKind::BackgroundCheck, "a/b c"),
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/base/unified/ats/background_checks/orders/a%2Fb%20c/result"
        );
        // A base that cannot address a result never gets this far: the configuration refuses it.
        assert!(BaseUrl::parse("not a url").is_err());
    }

    #[test]
    fn classification_follows_the_protocol() {
        let after = Some(Duration::from_secs(2));
        assert_eq!(classify(StatusCode::OK, None, b""), Outcome::Delivered(200));
        for s in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(s).expect("status");
            assert!(
                matches!(classify(status, after, b""), Outcome::Retry { retry_after, .. } if retry_after == after),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 412, 422] {
            let status = StatusCode::from_u16(s).expect("status");
            assert!(
                matches!(classify(status, None, b""), Outcome::DeadLetter { status: Some(x), .. } if x == s),
                "{s}"
            );
        }
        let body = br#"{"statusCode":422,"message":"score.value must be a string","timestamp":"2026-01-01T00:00:00Z"}"#;
        match classify(StatusCode::UNPROCESSABLE_ENTITY, None, body) {
            Outcome::DeadLetter { message, .. } => {
                assert_eq!(
                    message,
                    "StackOne answered 422 Unprocessable Entity: score.value must be a string"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[cfg(test)]
mod delivery_tests;
