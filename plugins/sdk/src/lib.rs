//! # Writing an Assay plugin
//!
//! An Assay plugin is the product-specific part of a StackOne integration, compiled to a
//! WebAssembly component. The Assay host does everything that is the same for every vendor:
//! it answers StackOne, checks signatures, stores every order durably, retries, and delivers
//! results. Your plugin answers five questions about *your* product:
//!
//! | export | the host calls it | you return |
//! |---|---|---|
//! | [`Plugin::metadata`] | once, when the plugin is loaded | name, version, the order kinds you serve |
//! | [`Plugin::list_packages`] | when a recruiter opens "send test" | your tests or check packages |
//! | [`Plugin::fulfil_order`] | when a recruiter sends a test to a candidate | your id for it, the test link, a first result |
//! | [`Plugin::handle_callback`] | when your system calls `/v1/products/{product}/callbacks/…` | an HTTP response and results |
//! | [`Plugin::poll_results`] | on the product's schedule, with the orders still waiting | results |
//!
//! ## A minimal plugin
//!
//! ```toml
//! # Cargo.toml
//! [lib]
//! crate-type = ["cdylib"]
//! [dependencies]
//! assay-plugin-sdk = { path = "../sdk" }
//! ```
//!
//! ```ignore
//! use assay_plugin_sdk::*;
//!
//! struct Quiz;
//!
//! impl Plugin for Quiz {
//!     fn metadata() -> PluginMetadata {
//!         PluginMetadata {
//!             name: "quiz".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Ten-minute quizzes".into(),
//!             kinds: vec![OrderKind::Assessment],
//!         }
//!     }
//!     fn list_packages(_q: PackageQuery) -> Result<Vec<Package>, PluginError> {
//!         let base = settings::require("base_url")?;
//!         let tests: Vec<serde_json::Value> = http::Request::get(format!("{base}/tests"))
//!             .bearer(&settings::require("api_token")?)
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         Ok(tests.iter().map(|t| Package { id: t["id"].to_string(), name: t["name"].to_string(), description: None, tests: vec![] }).collect())
//!     }
//!     fn fulfil_order(order: Order) -> Result<Fulfilment, PluginError> { /* create an invitation */ unimplemented!() }
//!     fn handle_callback(req: CallbackRequest) -> Result<CallbackOutcome, PluginError> { /* verify, map */ unimplemented!() }
//!     fn poll_results(_pending: Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError> { Ok(vec![]) }
//! }
//!
//! export!(Quiz);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (a `.cargo/config.toml` with
//! `[build] target = "wasm32-wasip2"` saves typing), copy `target/wasm32-wasip2/release/quiz.wasm`
//! into the host's plugins folder, and name it in the host's configuration:
//!
//! ```toml
//! [products.quiz]
//! plugin = "quiz.wasm"
//! kind = "assessment"
//! allowed_hosts = ["https://api.quiz.example"]
//! [products.quiz.settings]
//! base_url = "https://api.quiz.example"
//! api_token = "env:QUIZ_TOKEN"
//! ```
//!
//! The host picks up a new or changed file without a restart; `assay plugin inspect quiz.wasm`
//! shows what the host sees.
//!
//! ## Rules of the sandbox
//!
//! - Every call runs in a **fresh instance**: keep no state in statics between calls. Anything
//!   you need later goes to your vendor system (keyed by StackOne's order id) or comes back in a
//!   callback.
//! - A call has a **deadline** (`timeout_ms`, 10 s by default) and a **memory limit**
//!   (`memory_limit_mb`, 64 by default). Running past either fails that call only.
//! - **HTTP** goes only to the product's `allowed_hosts`; anything else fails with
//!   [`PluginError::Permanent`] explaining that the host is not allowed. There is no
//!   filesystem, no environment and no raw sockets.
//! - **Settings** ([`settings`]) come from `[products.NAME.settings]`; they may hold secrets and
//!   the host never logs them. Don't log them either.
//! - **Logs** ([`log`]) go to the host's log, tagged with the product and your plugin's version.
//!
//! ## Orders and results
//!
//! [`Plugin::fulfil_order`] may be called more than once for the same order (after a timeout or
//! a retryable error), so make it **idempotent**: send `order.id` to your system as a reference
//! or idempotency key, and return the existing invitation when it is already there.
//!
//! A result names its order with [`OrderRef::OrderId`] (StackOne's id, `order.id`) or
//! [`OrderRef::ExternalId`] (the `external_id` you returned from `fulfil_order`), whichever
//! your callback carries. The host turns each [`AssessmentResult`] into StackOne's result
//! update: the recruiter sees `result_url` as an "Open" link and the score as a percentage of
//! `min`..`max` (all strings) next to the package name.
//!
//! ## Errors
//!
//! | you return | the host |
//! |---|---|
//! | [`PluginError::UpstreamRetryable`] | retries later with backoff, not before `retry_after_ms` |
//! | [`PluginError::InvalidInput`] | parks the order as failed (or answers 400 on the package list) |
//! | [`PluginError::Unauthorized`] | parks the order; the operator must fix your credentials |
//! | [`PluginError::NotFound`] | parks the order (404 on the package list) |
//! | [`PluginError::Permanent`] | parks the order as failed with your message |
//!
//! [`http::Response::error_for_status`] maps your vendor API's HTTP statuses onto these.

pub mod http;
pub mod log;
pub mod settings;
pub mod webhook;

/// The generated bindings of the contract (`wit/plugin.wit`). Plugins rarely need them
/// directly: the types are re-exported at the crate root.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "assay:plugin/plugin",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "assay_plugin_sdk::bindings",
    });
}

pub use bindings::assay::plugin::types::*;
/// The trait a plugin implements: one function per export of the contract.
pub use bindings::exports::assay::plugin::product::Guest as Plugin;

/// Exports `$product` (a type implementing [`Plugin`]) as the plugin's implementation.
#[macro_export]
macro_rules! export {
    ($product:ident) => {
        $crate::bindings::export_plugin!($product);
    };
}

impl PluginError {
    /// A retryable error without a retry hint.
    pub fn retryable(message: impl Into<String>) -> Self {
        PluginError::UpstreamRetryable(RetryableFailure {
            message: message.into(),
            retry_after_ms: None,
        })
    }
}

impl CallbackResponse {
    /// A response with `status` and a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        CallbackResponse {
            status,
            headers: vec![Header {
                name: "content-type".into(),
                value: b"application/json".to_vec(),
            }],
            body: body.to_string().into_bytes(),
        }
    }
}

impl CallbackRequest {
    /// The value of header `name` (case-insensitive), if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(&h.value).ok())
    }
}

impl Order {
    /// The vendor's package id: `package.remote_id` if StackOne sent it, else `package.id`.
    pub fn package_id(&self) -> Option<&str> {
        self.package
            .remote_id
            .as_deref()
            .or(self.package.id.as_deref())
    }

    /// The candidate's first e-mail address.
    pub fn candidate_email(&self) -> Option<&str> {
        self.candidate.emails.first().map(|e| e.value.as_str())
    }

    /// The candidate's full name, as far as StackOne sent it.
    pub fn candidate_name(&self) -> String {
        [
            self.candidate.first_name.as_deref(),
            self.candidate.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }
}

impl AssessmentResult {
    /// A result with only a status; fill in the rest with struct update syntax.
    pub fn status(value: ResultValue, source_value: Option<String>) -> Self {
        AssessmentResult {
            score: None,
            status: Some(ResultStatus {
                value,
                source_value,
            }),
            result_url: None,
            start_date: None,
            submission_date: None,
            summary: None,
            attachments: vec![],
            candidate_profile_url: None,
        }
    }
}
