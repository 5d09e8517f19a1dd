//! # Writing an Assay plugin
//!
//! Assay connects an assessment or background-check product to StackOne's partner APIs. The
//! Assay host does everything that is the same for every vendor: it answers StackOne, checks
//! StackOne's signatures, stores every order durably before acknowledging it, retries, and
//! delivers results. A *plugin* is the part that differs per product, compiled to a
//! WebAssembly component: which packages exist, how an order starts a test in the vendor's
//! system, and how the vendor's answers become results. This crate is all a plugin needs.
//!
//! ## The five exports
//!
//! A plugin is a type implementing [`Plugin`], exported with [`export!`]:
//!
//! | export | the host calls it | you return |
//! |---|---|---|
//! | [`Plugin::metadata`] | once, when it loads the file (no HTTP allowed here) | name, version, the order kinds you serve |
//! | [`Plugin::list_packages`] | when a recruiter opens "send test" in the ATS (StackOne asks the host) | your tests, or your check packages with their `tests` |
//! | [`Plugin::fulfil_order`] | after StackOne's order webhook was stored: a recruiter sent a package to a candidate | your id for it, the candidate's test link, a first result |
//! | [`Plugin::handle_callback`] | when your system calls `/v1/products/{product}/callbacks/{path}` on the host | the HTTP response, and results |
//! | [`Plugin::poll_results`] | every `poll_interval_s`, with the orders still waiting, if that is configured | results |
//!
//! ## A whole plugin
//!
//! A new crate, a library of type `cdylib`:
//!
//! ```toml
//! # Cargo.toml
//! [package]
//! name = "quiz"
//! version = "0.1.0"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! assay-plugin-sdk = { path = "../sdk" }
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//!
//! [profile.release]
//! opt-level = "s"
//! lto = true
//! panic = "abort"
//! ```
//!
//! ```toml
//! # .cargo/config.toml: build for the plugin target by default
//! [build]
//! target = "wasm32-wasip2"
//! ```
//!
//! and `src/lib.rs` (this is `examples/quiz.rs` of this crate, which is compiled with it):
//!
#![doc = concat!("```ignore\n", include_str!("../examples/quiz.rs"), "```")]
//!
//! ## Build, install, run
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2      # the target needs `rustup target add wasm32-wasip2`
//! cp target/wasm32-wasip2/release/quiz.wasm /path/to/assay/plugins/
//! ```
//!
//! Then give the product a table in the host's configuration:
//!
//! ```toml
//! [products.quiz]
//! plugin = "quiz.wasm"                 # a file in [plugins] dir
//! kind = "assessment"                  # or "background_check"
//! webhook_secrets = ["env:QUIZ_STACKONE_SECRET"]
//! package_list_keys = ["env:QUIZ_PACKAGE_KEY"]
//! allowed_hosts = ["https://api.quiz.example"]
//! # poll_interval_s = 60               # only if your plugin polls
//! [products.quiz.settings]
//! base_url = "https://api.quiz.example"
//! api_token = "env:QUIZ_API_TOKEN"
//! webhook_secret = "env:QUIZ_WEBHOOK_SECRET"
//! callback_url = "https://assay.example.com/v1/products/quiz/callbacks/sessions"
//! ```
//!
//! The host watches its plugins folder: a new or replaced `.wasm` is compiled and swapped in
//! without a restart; calls in flight finish on the old version, and a file that does not load
//! leaves the old version serving (the host's `/readyz` and log say why). The host waits for
//! a file to settle before loading it; copying to a temporary name and renaming it into place
//! (as `plugins/build.sh` does) makes the switch atomic as well.
//! `assay plugin inspect quiz.wasm` shows what the host sees; `assay dev` rebuilds and
//! reloads your crate on every save, with a local StackOne emulator.
//!
//! ## Settings and secrets
//!
//! [`settings`] reads `[products.NAME.settings]`: base URLs, tokens, your own options. Values
//! written `env:NAME` or `file:/path` are resolved by the host, so secrets never sit in the
//! configuration file; the host never logs a setting value, and your plugin shouldn't either.
//! [`settings::require`] turns a missing setting into an [`PluginError::InvalidInput`] that
//! names the key, so the operator knows what to add.
//!
//! ## Outbound HTTP and `allowed_hosts`
//!
//! [`http`] is a small blocking client ([`http::Client`], [`http::Request`]). A request leaves
//! only if its scheme, host and port are in the product's `allowed_hosts`; internal addresses
//! (loopback, private networks) also need to be listed literally. Anything else fails with
//! [`PluginError::Permanent`] saying the host is not allowed. There is no filesystem, no
//! environment and no raw socket; the wall clock is `std::time::SystemTime`.
//!
//! ## `list-packages`
//!
//! Return what a recruiter can pick: for assessments one [`Package`] per test, for background
//! checks one per bundle with its checks in `tests`. The `id` you return comes back in orders
//! as `order.package.remote_id` (StackOne may also send its own `package.id`;
//! [`Order::package_id`] takes the first that is set). A vendor with a fixed catalogue can
//! answer from a setting without calling its API (both example plugins accept a `packages`
//! setting holding a JSON array).
//!
//! ## `fulfil-order` must be idempotent
//!
//! The host calls [`Plugin::fulfil_order`] at least once per order: again after a retryable
//! error, after a timeout, or after a crash between your vendor's answer and the host's commit.
//! So send StackOne's order id (`order.id`) to your system as an idempotency key or reference,
//! and have it answer the existing invitation when it has seen the id before. Return
//! [`Fulfilment::external_id`] (your id, which callbacks and polls refer to), the test link,
//! and usually a first result `initiated` with the link as `result_url`: the recruiter sees
//! it at once.
//!
//! ## Results
//!
//! An [`OrderResult`] names its order by [`OrderRef::OrderId`] (StackOne's `order.id`, if your
//! callback carries it back) or [`OrderRef::ExternalId`] (your `external_id`). The host turns
//! each [`AssessmentResult`] into StackOne's result update: the recruiter sees `result_url` as
//! an "Open" link and the score `value` as a percentage of `min`..`max`, all strings
//! ([`Score::percent`] builds one). Every field is optional; send what you know.
//!
//! `passed`, `failed`, `completed`, `expired` and `cancelled` are *final*: the order then stops
//! waiting, and `poll-results` no longer sees it. `initiated`, `in_progress` and
//! `unmapped_value` are progress: each is delivered, and a progress result that arrives after a
//! final one is dropped so it cannot overwrite it at StackOne. A later final result (a
//! corrected score) is delivered again.
//!
//! ## Callbacks
//!
//! Anyone on the internet can reach `/v1/products/{product}/callbacks/…`, so
//! [`Plugin::handle_callback`] checks your system's signature first ([`webhook`]) over the raw
//! body. For a bad signature, return a response (401) with no results rather than an error: an
//! error becomes a host-chosen status (see below) that would tell the caller the wrong thing.
//! The host stores your results durably *before* it sends your response, so a 2xx means your
//! system never needs to send again; if storing fails, the caller gets a 503 and should retry.
//!
//! ## Polling
//!
//! If your system cannot call back, set `poll_interval_s` and implement
//! [`Plugin::poll_results`]: it gets up to 100 [`PendingOrder`]s still waiting for a final
//! result. Keep no state (each call is a fresh instance): return a result for each order that
//! has reached a final status, and nothing for the others. Returning a progress result on
//! every poll would deliver it to StackOne again each time.
//!
//! ## Errors, and what the host does with each
//!
//! Return a [`PluginError`]; the host decides from the case, never from the message (which
//! goes to its log and, for orders, to the operator's view).
//!
//! | error | `fulfil-order` | `list-packages` and `handle-callback` answer | `poll-results` |
//! |---|---|---|---|
//! | [`PluginError::UpstreamRetryable`] | retried with backoff, not before `retry_after_ms`, up to 12 attempts | 503 with `Retry-After` | logged; the next poll asks again |
//! | [`PluginError::InvalidInput`] | the order is parked as failed | 400 | logged |
//! | [`PluginError::Unauthorized`] | parked; the operator must fix the credentials | 502 | logged |
//! | [`PluginError::NotFound`] | parked | 404 | logged |
//! | [`PluginError::Permanent`] | parked | 502 | logged |
//! | a panic, a trap, the deadline or the memory limit | retried like a retryable error | 502 or 504 | logged |
//!
//! [`http::Response::error_for_status`] maps your vendor API's statuses onto these, and
//! [`http`]'s transport errors are already mapped.
//!
//! ## The sandbox
//!
//! - Every call runs in a **fresh instance**: statics do not survive between calls.
//! - A call has a **deadline** (`timeout_ms`, 10 s by default) and a **memory limit**
//!   (`memory_limit_mb`, 64 MiB by default); running past either fails that call only.
//! - **Logs** ([`log`]) go to the host's log, tagged with the product and your version.
//!   Anything printed to stdout or stderr is captured too (the first 64 KiB of each per
//!   call), but use [`log`].
//! - An **answer** (the packages, fulfilment, callback response or results a call returns)
//!   larger than 16 MiB, counting its text and data, fails the call.
//!
//! ## Testing
//!
//! Keep the mapping from your vendor's answers to results in plain functions: they compile
//! for your machine too and can be unit-tested with
//! `cargo test --target x86_64-unknown-linux-gnu` (or your machine's target). Calls into the
//! host ([`settings`], [`log`], [`http`]) only work inside the host. End to end, run your
//! plugin in `assay dev`, or see the host's integration tests, which drive the example
//! plugins against a demo vendor.

mod callback;
mod error;
pub mod http;
pub mod log;
mod order;
mod result;
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

/// Exports `$product` (a type implementing [`Plugin`]) as the plugin's implementation. Write
/// it once, at the end of your crate's `lib.rs`.
///
/// Only a WebAssembly build exports anything: built for your own machine (to unit-test the
/// plugin's plain functions), the crate has no component exports, whose names native linkers
/// cannot handle.
#[macro_export]
macro_rules! export {
    ($product:ident) => {
        #[cfg(target_family = "wasm")]
        $crate::bindings::export_plugin!($product);
        /// The plugin's exports, for native builds (which export nothing): keeps them and
        /// everything they use checked and free of dead-code warnings.
        #[cfg(not(target_family = "wasm"))]
        #[doc(hidden)]
        pub const __ASSAY_PLUGIN_EXPORTS: $crate::NativeExports = $crate::NativeExports {
            metadata: <$product as $crate::Plugin>::metadata,
            list_packages: <$product as $crate::Plugin>::list_packages,
            fulfil_order: <$product as $crate::Plugin>::fulfil_order,
            handle_callback: <$product as $crate::Plugin>::handle_callback,
            poll_results: <$product as $crate::Plugin>::poll_results,
        };
    };
}

/// A plugin's exports as plain functions; what [`export!`] leaves behind in a native build.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct NativeExports {
    /// [`Plugin::metadata`].
    pub metadata: fn() -> PluginMetadata,
    /// [`Plugin::list_packages`].
    pub list_packages: fn(PackageQuery) -> Result<Vec<Package>, PluginError>,
    /// [`Plugin::fulfil_order`].
    pub fulfil_order: fn(Order) -> Result<Fulfilment, PluginError>,
    /// [`Plugin::handle_callback`].
    pub handle_callback: fn(CallbackRequest) -> Result<CallbackOutcome, PluginError>,
    /// [`Plugin::poll_results`].
    pub poll_results: fn(Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError>,
}
