//! A demo vendor: the REST APIs the example plugins `codetest` and `backcheck` call, with
//! in-memory state, on a real socket.
//!
//! The README's demo and the integration tests use it as "the vendor's system". It speaks
//! exactly the APIs documented in `plugins/codetest/src/lib.rs` and
//! `plugins/backcheck/src/lib.rs`:
//!
//! | method | path | product |
//! |---|---|---|
//! | `GET` | `/api/tests` | CodeTest: the tests |
//! | `POST` | `/api/invitations` | CodeTest: invite a candidate (idempotent by `reference`) |
//! | `GET` | `/v1/packages` | BackCheck: the packages and their checks |
//! | `POST` | `/v1/checks` | BackCheck: start a check (idempotent by `reference`) |
//! | `GET` | `/v1/checks/{id}` | BackCheck: a check's status |
//! | `GET` | `/take/{id}`, `/reports/{id}` | the candidate's test page, the recruiter's report |
//!
//! API calls need `Authorization: Bearer <token>`. A test or the demo drives the candidate's
//! side: [`DemoVendor::complete_invitation`] makes the vendor POST a signed callback (the
//! `x-codetest-signature` HMAC the plugin checks), [`DemoVendor::set_check_status`] moves a
//! check along, and [`DemoVendor::fail_next`] makes the next calls fail.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http_server::{self, Body};
use crate::secret::Secret;

/// The header CodeTest signs its callbacks in.
pub const CODETEST_SIGNATURE_HEADER: &str = "x-codetest-signature";

/// An invitation CodeTest sent to a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Invitation {
    /// The vendor's id.
    pub id: String,
    /// The test.
    pub test_id: String,
    /// StackOne's order id, as the plugin sent it.
    pub reference: String,
    /// The candidate's name.
    pub candidate_name: String,
    /// The candidate's e-mail.
    pub candidate_email: String,
    /// Where results are sent.
    pub callback_url: String,
    /// The candidate's test link.
    pub test_url: String,
    /// Whether the candidate finished.
    pub completed: bool,
}

/// A background check BackCheck runs.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The vendor's id.
    pub id: String,
    /// The package.
    pub package_id: String,
    /// StackOne's order id, as the plugin sent it.
    pub reference: String,
    /// The candidate's e-mail.
    pub candidate_email: String,
    /// `pending`, `processing`, `clear`, `consider`, `suspended`, `canceled` or `expired`.
    pub status: String,
    /// The report, once there is one.
    pub report_url: Option<String>,
}

#[derive(Default)]
struct State {
    invitations: Vec<Invitation>,
    checks: Vec<Check>,
    failures: VecDeque<(StatusCode, Option<u64>)>,
    api_calls: usize,
}

struct Inner {
    token: Secret,
    webhook_secret: Secret,
    base_url: Mutex<String>,
    state: Mutex<State>,
    client: reqwest::Client,
}

/// A handle on the demo vendor; clones share one state.
#[derive(Clone)]
pub struct DemoVendor {
    inner: Arc<Inner>,
}

/// A running demo vendor. Derefs to [`DemoVendor`]; dropping it stops the server.
pub struct RunningVendor {
    vendor: DemoVendor,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::ops::Deref for RunningVendor {
    type Target = DemoVendor;
    fn deref(&self) -> &DemoVendor {
        &self.vendor
    }
}

impl RunningVendor {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningVendor {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DemoVendor {
    /// A vendor whose API takes `token` and who signs callbacks with `webhook_secret`.
    pub fn new(token: Secret, webhook_secret: Secret) -> Self {
        Self {
            inner: Arc::new(Inner {
                token,
                webhook_secret,
                base_url: Mutex::new(String::new()),
                state: Mutex::new(State::default()),
                client: reqwest::Client::new(),
            }),
        }
    }

    /// Serves on `listener` in a background task.
    pub fn start_on(&self, listener: TcpListener) -> std::io::Result<RunningVendor> {
        let addr = listener.local_addr()?;
        *lock(&self.inner.base_url) = format!("http://{addr}");
        let (stop, stopped) = oneshot::channel::<()>();
        let vendor = self.clone();
        let task = tokio::spawn(http_server::serve(
            listener,
            move |request, _peer| {
                let vendor = vendor.clone();
                async move { vendor.handle(request).await }
            },
            async {
                let _ = stopped.await;
            },
        ));
        Ok(RunningVendor {
            vendor: self.clone(),
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Binds `127.0.0.1:0` and serves.
    pub async fn start(&self) -> std::io::Result<RunningVendor> {
        self.start_on(TcpListener::bind("127.0.0.1:0").await?)
    }

    /// The invitations made so far.
    pub fn invitations(&self) -> Vec<Invitation> {
        lock(&self.inner.state).invitations.clone()
    }

    /// The checks started so far.
    pub fn checks(&self) -> Vec<Check> {
        lock(&self.inner.state).checks.clone()
    }

    /// How many authenticated API calls were answered (failures included).
    pub fn api_calls(&self) -> usize {
        lock(&self.inner.state).api_calls
    }

    /// The next `n` API calls answer `status` (with `Retry-After` when given).
    pub fn fail_next(&self, n: usize, status: StatusCode, retry_after_secs: Option<u64>) {
        let mut state = lock(&self.inner.state);
        state
            .failures
            .extend(std::iter::repeat_n((status, retry_after_secs), n));
    }

    /// Moves check `id` to `status`; the next poll sees it. Returns whether the check exists.
    pub fn set_check_status(&self, id: &str, status: &str) -> bool {
        let base = lock(&self.inner.base_url).clone();
        let mut state = lock(&self.inner.state);
        match state.checks.iter_mut().find(|c| c.id == id) {
            Some(check) => {
                check.status = status.to_owned();
                if status != "pending" && status != "processing" {
                    check.report_url = Some(format!("{base}/reports/{id}"));
                }
                true
            }
            None => false,
        }
    }

    /// The candidate finished invitation `id` with `score` of `max_score`: the vendor POSTs the
    /// signed `attempt.completed` event to the invitation's callback URL and returns the
    /// status the host answered.
    pub async fn complete_invitation(
        &self,
        id: &str,
        score: u32,
        max_score: u32,
    ) -> anyhow::Result<StatusCode> {
        let callback_url = {
            let mut state = lock(&self.inner.state);
            let inv = state
                .invitations
                .iter_mut()
                .find(|i| i.id == id)
                .ok_or_else(|| anyhow::anyhow!("no invitation {id}"))?;
            inv.completed = true;
            inv.callback_url.clone()
        };
        let base = lock(&self.inner.base_url).clone();
        let now = httpdate_now();
        let body = json!({
            "event": "attempt.completed",
            "invitation_id": id,
            "score": score,
            "max_score": max_score,
            "started_at": now,
            "submitted_at": now,
            "report_url": format!("{base}/reports/{id}"),
        })
        .to_string();
        let signature = sign_hex(&self.inner.webhook_secret, body.as_bytes());
        let response = self
            .inner
            .client
            .post(callback_url)
            .header(CODETEST_SIGNATURE_HEADER, signature)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        Ok(response.status())
    }

    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": "unreadable body"}),
                );
            }
        };
        let path = parts.uri.path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let (&Method::GET, ["take" | "reports", id]) = (&parts.method, segments.as_slice()) {
            return html_page(segments[0], id);
        }
        if !self.authorized(&parts.headers) {
            return reply(StatusCode::UNAUTHORIZED, &json!({"error": "invalid token"}));
        }
        {
            let mut state = lock(&self.inner.state);
            state.api_calls += 1;
            if let Some((status, retry_after)) = state.failures.pop_front() {
                let mut r = reply(status, &json!({"error": "injected failure"}));
                if let Some(s) = retry_after {
                    r.headers_mut().insert(header::RETRY_AFTER, s.into());
                }
                return r;
            }
        }
        match (&parts.method, segments.as_slice()) {
            (&Method::GET, ["api", "tests"]) => reply(
                StatusCode::OK,
                &json!({"tests": [
                    {"id": "ct-rust", "title": "Rust backend engineer", "description": "90 minutes: async services, error handling, testing"},
                    {"id": "ct-sql", "title": "SQL fundamentals", "description": "30 minutes: joins, aggregates, indexes"},
                ]}),
            ),
            (&Method::POST, ["api", "invitations"]) => self.create_invitation(&body),
            (&Method::GET, ["v1", "packages"]) => reply(
                StatusCode::OK,
                &json!({"packages": [
                    {"id": "bc-standard", "name": "Standard screening", "description": "Identity, criminal record and employment history",
                     "checks": [{"id": "identity", "name": "Identity"}, {"id": "criminal", "name": "Criminal record"}, {"id": "employment", "name": "Employment history"}]},
                    {"id": "bc-basic", "name": "Basic screening", "description": "Identity and criminal record",
                     "checks": [{"id": "identity", "name": "Identity"}, {"id": "criminal", "name": "Criminal record"}]},
                ]}),
            ),
            (&Method::POST, ["v1", "checks"]) => self.create_check(&body),
            (&Method::GET, ["v1", "checks", id]) => {
                let state = lock(&self.inner.state);
                match state.checks.iter().find(|c| c.id == *id) {
                    Some(c) => reply(
                        StatusCode::OK,
                        &json!({"id": c.id, "status": c.status, "report_url": c.report_url, "completed_at": c.report_url.as_ref().map(|_| httpdate_now())}),
                    ),
                    None => reply(
                        StatusCode::NOT_FOUND,
                        &json!({"error": format!("no check {id}")}),
                    ),
                }
            }
            _ => reply(StatusCode::NOT_FOUND, &json!({"error": "no such endpoint"})),
        }
    }

    fn authorized(&self, headers: &http::HeaderMap) -> bool {
        let expected = format!("Bearer {}", self.inner.token.expose());
        headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(expected.as_bytes())))
    }

    fn create_invitation(&self, body: &Bytes) -> Response<Body> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": "body is not JSON"}),
            );
        };
        let field = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let (Some(test_id), Some(reference), Some(email), Some(callback_url)) = (
            field("/test_id"),
            field("/reference"),
            field("/candidate/email"),
            field("/callback_url"),
        ) else {
            return reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"error": "test_id, reference, candidate.email and callback_url are required"}),
            );
        };
        let base = lock(&self.inner.base_url).clone();
        let mut state = lock(&self.inner.state);
        if let Some(existing) = state.invitations.iter().find(|i| i.reference == reference) {
            return reply(
                StatusCode::OK,
                &json!({"id": existing.id, "test_url": existing.test_url, "status": "sent"}),
            );
        }
        let id = format!("inv-{}", state.invitations.len() + 1);
        let test_url = format!("{base}/take/{id}");
        state.invitations.push(Invitation {
            id: id.clone(),
            test_id,
            reference,
            candidate_name: field("/candidate/name").unwrap_or_default(),
            candidate_email: email,
            callback_url,
            test_url: test_url.clone(),
            completed: false,
        });
        reply(
            StatusCode::CREATED,
            &json!({"id": id, "test_url": test_url, "status": "sent"}),
        )
    }

    fn create_check(&self, body: &Bytes) -> Response<Body> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": "body is not JSON"}),
            );
        };
        let field = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let (Some(package_id), Some(reference), Some(email)) = (
            field("/package_id"),
            field("/reference"),
            field("/candidate/email"),
        ) else {
            return reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"error": "package_id, reference and candidate.email are required"}),
            );
        };
        let mut state = lock(&self.inner.state);
        if let Some(existing) = state.checks.iter().find(|c| c.reference == reference) {
            return reply(
                StatusCode::OK,
                &json!({"id": existing.id, "status": existing.status, "report_url": existing.report_url}),
            );
        }
        let id = format!("chk-{}", state.checks.len() + 1);
        state.checks.push(Check {
            id: id.clone(),
            package_id,
            reference,
            candidate_email: email,
            status: "pending".into(),
            report_url: None,
        });
        reply(
            StatusCode::CREATED,
            &json!({"id": id, "status": "pending", "report_url": null}),
        )
    }
}

fn reply(status: StatusCode, body: &Value) -> Response<Body> {
    crate::edge::error::json_response(status, body)
}

fn html_page(kind: &str, id: &str) -> Response<Body> {
    let title = if kind == "take" {
        "Your coding test"
    } else {
        "Report"
    };
    let mut r = Response::new(Body::from(format!(
        "<!doctype html><title>{title}</title><h1>{title}</h1><p>{id}</p>"
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn sign_hex(secret: &Secret, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Now as RFC 3339 (UTC, seconds).
fn httpdate_now() -> String {
    crate::store::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests;
