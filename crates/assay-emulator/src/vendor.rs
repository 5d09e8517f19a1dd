//! A demo vendor: the REST APIs the example plugins `codetest` and `backcheck` call, with
//! in-memory state, on a real socket.
//!
//! `assay demo` and the integration tests use it as "the vendor's system". It speaks exactly
//! the APIs documented in `plugins/codetest/src/lib.rs` and `plugins/backcheck/src/lib.rs`;
//! the JSON shapes are in [`codetest`] and [`backcheck`].
//!
//! | method | path | product |
//! |---|---|---|
//! | `GET` | `/api/tests` | CodeTest: the tests ([`codetest::TESTS`]) |
//! | `POST` | `/api/invitations` | CodeTest: invite a candidate (idempotent) |
//! | `GET` | `/api/invitations/{id}` | CodeTest: an invitation |
//! | `GET` | `/v1/packages` | BackCheck: the packages and their checks ([`backcheck::PACKAGES`]) |
//! | `POST` | `/v1/checks` | BackCheck: start a check (idempotent) |
//! | `GET` | `/v1/checks/{id}` | BackCheck: a check and its status |
//! | `GET` | `/take/{id}`, `/reports/{id}` | pages: the candidate's test, the recruiter's report |
//! | `POST` | `/oauth/token` | OAuth2 client credentials: a short-lived access token |
//!
//! `/oauth/token` takes `grant_type=client_credentials`, `client_id` and `client_secret` (the
//! vendor's API token) as a form or a JSON object and answers
//! `{"access_token": "at-N", "token_type": "Bearer", "expires_in": S}` (S from
//! [`DemoVendor::set_token_lifetime`], 3600 by default); a wrong secret is 401
//! `invalid_client`. [`DemoVendor::token_requests`] counts the requests: it is how a test sees
//! that a plugin caches its token.
//!
//! API calls need `Authorization: Bearer <token>` (a wrong or missing token is 401); pages
//! don't. A create call is idempotent: the same `Idempotency-Key` header, or the same
//! `reference` field (StackOne's order id), answers the existing invitation or check with 200
//! instead of 201.
//!
//! A test or the demo drives the vendor's side:
//!
//! - [`DemoVendor::invitations`], [`DemoVendor::checks`] and [`DemoVendor::calls`] show what
//!   the plugins did, request bodies included;
//! - [`DemoVendor::complete_invitation`] is the candidate finishing a test: the vendor POSTs
//!   the signed `attempt.completed` event to the invitation's `callback_url` and returns the
//!   HTTP status the host answered ([`DemoVendor::send_attempt_event`] can sign it wrongly);
//! - [`DemoVendor::set_check_status`] moves a check along; the next poll sees it;
//!   [`DemoVendor::push_check_status`] also pushes the change to the check's `callback_url`;
//! - [`DemoVendor::fail_next`] makes the next API calls answer an error status.
//!
//! ```ignore
//! let vendor = DemoVendor::new(Secret::new("token"), Secret::new("whsec")).start().await?;
//! // … point the products' `base_url` setting at vendor.base_url() …
//! let invitation = vendor.invitations().remove(0);
//! assert_eq!(vendor.complete_invitation(&invitation.id, 45, 50).await?, 200);
//! vendor.stop().await;
//! ```

pub mod backcheck;
pub mod codetest;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use self::backcheck::{BACKCHECK_SIGNATURE_HEADER, Check};
pub use self::codetest::{CODETEST_SIGNATURE_HEADER, CallbackSignature, Invitation};
use assay_wire::http_server::{self, Body, json_response};
use assay_wire::secret::Secret;

/// The header a client names its idempotency key in.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// One API call the vendor received (pages are not recorded).
#[derive(Debug, Clone, Serialize)]
pub struct ApiCall {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The path and query, e.g. `/api/invitations`.
    pub path: String,
    /// The `Idempotency-Key` header, if sent.
    pub idempotency_key: Option<String>,
    /// The request body as JSON; `null` when empty, a string when not JSON.
    pub body: Value,
    /// The status the vendor answered.
    pub status: u16,
}

/// An injected failure: the status and the `Retry-After` seconds to send with it.
#[derive(Clone, Copy)]
struct Failure {
    status: StatusCode,
    retry_after_secs: Option<u64>,
}

#[derive(Default)]
struct State {
    invitations: Vec<Invitation>,
    checks: Vec<Check>,
    failures: VecDeque<Failure>,
    calls: Vec<ApiCall>,
    /// Authenticated API calls answered, injected failures included.
    authorized_calls: usize,
    /// Requests to `/oauth/token`, granted or not.
    token_requests: usize,
    /// When each token was granted.
    tokens_granted_at: Vec<std::time::Instant>,
    /// `expires_in` of the tokens granted, in seconds.
    token_lifetime_secs: u64,
}

struct Inner {
    token: Secret,
    webhook_secret: Secret,
    /// `http://{addr}` once serving; links in answers (test pages, reports) start with it.
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

    /// `http://{addr}`: the products' `base_url` setting and `allowed_hosts` entry.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until its connections are drained.
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

/// Locks `m`; a panic elsewhere while holding it leaves plain data that is still usable.
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

    /// The invitations made so far, oldest first.
    pub fn invitations(&self) -> Vec<Invitation> {
        lock(&self.inner.state).invitations.clone()
    }

    /// The checks started so far, oldest first.
    pub fn checks(&self) -> Vec<Check> {
        lock(&self.inner.state).checks.clone()
    }

    /// Every API call received so far, oldest first, with its body and answer.
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.inner.state).calls.clone()
    }

    /// How many authenticated API calls were answered (injected failures included).
    pub fn api_calls(&self) -> usize {
        lock(&self.inner.state).authorized_calls
    }

    /// How many requests `/oauth/token` answered, granted or not.
    pub fn token_requests(&self) -> usize {
        lock(&self.inner.state).token_requests
    }

    /// When each token `/oauth/token` granted was granted, oldest first.
    pub fn tokens_granted_at(&self) -> Vec<std::time::Instant> {
        lock(&self.inner.state).tokens_granted_at.clone()
    }

    /// The `expires_in` of the tokens `/oauth/token` grants from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.inner.state).token_lifetime_secs = secs;
    }

    /// The next `n` authenticated API calls answer `status` (with `Retry-After:
    /// retry_after_secs` when given) instead of doing anything. Like a careless vendor API,
    /// the error body echoes the request's `Authorization` header, as written, in base64 and in
    /// hex, so tests can check that the host scrubs the token from everything it keeps.
    pub fn fail_next(&self, n: usize, status: StatusCode, retry_after_secs: Option<u64>) {
        let failure = Failure {
            status,
            retry_after_secs,
        };
        lock(&self.inner.state)
            .failures
            .extend(std::iter::repeat_n(failure, n));
    }

    /// Moves check `id` to `status` (one of [`backcheck::CHECK_STATUSES`], or any other text
    /// to play a status the plugin does not know); the next poll sees it. A status past
    /// processing gets a report link and a completion time. Returns whether the check exists.
    pub fn set_check_status(&self, id: &str, status: &str) -> bool {
        let base = self.base();
        let mut state = lock(&self.inner.state);
        match state.checks.iter_mut().find(|c| c.id == id) {
            Some(check) => {
                check.move_to(status, &base);
                true
            }
            None => false,
        }
    }

    /// The candidate finished invitation `id` scoring `score` of `max_score`: the vendor POSTs
    /// the signed `attempt.completed` event to the invitation's callback URL and returns the
    /// status the host answered. Errors only when there is no such invitation or the host
    /// cannot be reached.
    pub async fn complete_invitation(
        &self,
        id: &str,
        score: u32,
        max_score: u32,
    ) -> anyhow::Result<StatusCode> {
        self.send_attempt_event(id, score, max_score, CallbackSignature::Valid)
            .await
    }

    /// Like [`DemoVendor::complete_invitation`], signing the callback as `signature` says: to
    /// see that the plugin refuses a forged or unsigned callback. Every answer is recorded on
    /// the invitation ([`Invitation::callback_statuses`]); a 2xx marks it completed.
    pub async fn send_attempt_event(
        &self,
        id: &str,
        score: u32,
        max_score: u32,
        signature: CallbackSignature,
    ) -> anyhow::Result<StatusCode> {
        let base = self.base();
        let (url, event) = {
            let state = lock(&self.inner.state);
            let invitation = state
                .invitations
                .iter()
                .find(|i| i.id == id)
                .ok_or_else(|| anyhow::anyhow!("the demo vendor has no invitation {id}"))?;
            (
                invitation.callback_url.clone(),
                invitation.completion_event(score, max_score, &base),
            )
        };
        let status = self
            .post_signed(&url, CODETEST_SIGNATURE_HEADER, &event, signature)
            .await?;
        let mut state = lock(&self.inner.state);
        if let Some(invitation) = state.invitations.iter_mut().find(|i| i.id == id) {
            invitation.callback_statuses.push(status.as_u16());
            if status.is_success() {
                invitation.completed = true;
            }
        }
        Ok(status)
    }

    /// Moves check `id` to `status` like [`DemoVendor::set_check_status`], then pushes the
    /// signed `check.updated` event to the check's `callback_url` and returns the status the
    /// host answered (recorded in [`Check::callback_statuses`]). Errors when there is no such
    /// check, it was created without a `callback_url`, or the host cannot be reached.
    pub async fn push_check_status(
        &self,
        id: &str,
        status: &str,
        signature: CallbackSignature,
    ) -> anyhow::Result<StatusCode> {
        let base = self.base();
        let (url, event) = {
            let mut state = lock(&self.inner.state);
            let check = state
                .checks
                .iter_mut()
                .find(|c| c.id == id)
                .ok_or_else(|| anyhow::anyhow!("the demo vendor has no check {id}"))?;
            let url = check
                .callback_url
                .clone()
                .ok_or_else(|| anyhow::anyhow!("check {id} was created without a callback_url"))?;
            check.move_to(status, &base);
            (url, check.update_event())
        };
        let answer = self
            .post_signed(&url, BACKCHECK_SIGNATURE_HEADER, &event, signature)
            .await?;
        if let Some(check) = lock(&self.inner.state)
            .checks
            .iter_mut()
            .find(|c| c.id == id)
        {
            check.callback_statuses.push(answer.as_u16());
        }
        Ok(answer)
    }

    /// POSTs `event` to `url`, signed in `signature_header` as `signature` says.
    async fn post_signed(
        &self,
        url: &str,
        signature_header: &str,
        event: &Value,
        signature: CallbackSignature,
    ) -> anyhow::Result<StatusCode> {
        let body = event.to_string();
        let mut request = self
            .inner
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(sig) = signature.header_value(&self.inner.webhook_secret, body.as_bytes()) {
            request = request.header(signature_header, sig);
        }
        Ok(request.body(body).send().await?.status())
    }

    fn base(&self) -> String {
        lock(&self.inner.base_url).clone()
    }

    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": "unreadable body"}),
            );
        };
        let path = parts.uri.path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        if let (&Method::GET, [kind @ ("take" | "reports"), id]) =
            (&parts.method, segments.as_slice())
        {
            return page(kind, id);
        }
        if let (&Method::POST, ["oauth", "token"]) = (&parts.method, segments.as_slice()) {
            return self.token(&body);
        }
        let call = Call {
            method: &parts.method,
            segments: &segments,
            idempotency_key: parts
                .headers
                .get(IDEMPOTENCY_KEY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: &body,
        };
        let response = self.api(&parts.headers, &call);
        lock(&self.inner.state).calls.push(ApiCall {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or(path.clone(), |p| p.to_string()),
            idempotency_key: call.idempotency_key.clone(),
            body: body_json(&body),
            status: response.status().as_u16(),
        });
        response
    }

    /// Answers an API call: authentication, injected failures, then the products' routes.
    fn api(&self, headers: &HeaderMap, call: &Call<'_>) -> Response<Body> {
        if !self.authorized(headers) {
            return reply(StatusCode::UNAUTHORIZED, &json!({"error": "invalid token"}));
        }
        {
            let mut state = lock(&self.inner.state);
            state.authorized_calls += 1;
            if let Some(failure) = state.failures.pop_front() {
                let mut r = reply(failure.status, &careless_error_body(headers));
                if let Some(s) = failure.retry_after_secs {
                    r.headers_mut().insert(header::RETRY_AFTER, s.into());
                }
                return r;
            }
        }
        let base = self.base();
        let mut state = lock(&self.inner.state);
        codetest::route(&mut state.invitations, call, &base)
            .or_else(|| backcheck::route(&mut state.checks, call))
            .unwrap_or_else(|| reply(StatusCode::NOT_FOUND, &json!({"error": "no such endpoint"})))
    }

    /// `POST /oauth/token`: the client-credentials grant.
    fn token(&self, body: &Bytes) -> Response<Body> {
        let fields: Vec<(String, String)> = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned())))
                .collect(),
            _ => url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let mut state = lock(&self.inner.state);
        state.token_requests += 1;
        if get("grant_type") != Some("client_credentials") {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({"error": "unsupported_grant_type"}),
            );
        }
        let secret_ok = get("client_secret")
            .is_some_and(|s| bool::from(s.as_bytes().ct_eq(self.inner.token.expose().as_bytes())));
        if get("client_id").is_none() || !secret_ok {
            return reply(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_client"}),
            );
        }
        state.tokens_granted_at.push(std::time::Instant::now());
        let lifetime = if state.token_lifetime_secs == 0 {
            3600
        } else {
            state.token_lifetime_secs
        };
        reply(
            StatusCode::OK,
            &json!({
                "access_token": format!("at-{}", state.token_requests),
                "token_type": "Bearer",
                "expires_in": lifetime,
            }),
        )
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = format!("Bearer {}", self.inner.token.expose());
        headers
            .get(header::AUTHORIZATION)
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(expected.as_bytes())))
    }
}

/// An authenticated API call, as the products' routes see it.
struct Call<'a> {
    method: &'a Method,
    /// The path split at `/`, without the leading one.
    segments: &'a [&'a str],
    idempotency_key: Option<String>,
    body: &'a Bytes,
}

impl Call<'_> {
    /// The body as a JSON object, if it is one.
    fn json_object(&self) -> Option<Value> {
        serde_json::from_slice::<Value>(self.body)
            .ok()
            .filter(Value::is_object)
    }
}

/// The answer to a create call whose body is not a JSON object.
fn not_an_object() -> Response<Body> {
    reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": "the body must be a JSON object"}),
    )
}

/// The body of a recorded call: JSON if it parses, else the text.
fn body_json(body: &Bytes) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A string field of a JSON body by pointer (`/candidate/email`).
fn field(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn reply(status: StatusCode, body: &Value) -> Response<Body> {
    json_response(status, body)
}

/// The candidate's test page or the recruiter's report: enough for a browser in the demo.
fn page(kind: &str, id: &str) -> Response<Body> {
    let title = if kind == "take" {
        "Your coding test"
    } else {
        "Report"
    };
    // Ids come from the URL: keep only characters the vendor's own ids use, so the page
    // never echoes markup.
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let mut r = Response::new(Body::from(format!(
        "<!doctype html><title>{title}</title><h1>{title}</h1><p>{id}</p>"
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Now as RFC 3339 (UTC, milliseconds).
fn now() -> String {
    crate::timestamp::now()
}

#[cfg(test)]
mod tests;

/// The body of an injected failure: an error that echoes the request's credentials.
fn careless_error_body(headers: &HeaderMap) -> Value {
    use base64::Engine as _;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let message = format!(
        "injected failure (the request had authorization={authorization} base64={} hex={})",
        base64::engine::general_purpose::STANDARD.encode(authorization),
        hex::encode(authorization),
    );
    json!({ "error": message })
}
