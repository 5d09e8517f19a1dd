//! # Writing an Assay plugin
//!
//! Assay connects an assessment or background-check product to StackOne's partner APIs. The
//! Assay host does everything that is the same for every vendor: it answers StackOne, checks
//! StackOne's signatures, stores every order durably before acknowledging it, retries, and
//! delivers results. A *plugin* is the part that differs per product, compiled to a
//! WebAssembly component: which packages exist, how an order starts a test in the vendor's
//! system, and how the vendor's answers become results. This crate is all a plugin needs.
//!
//! It targets the contract `assay:plugin@0.2.0` (`wit/plugin.wit`). The host keeps serving
//! plugins built for 0.1.0 unchanged; rebuilding one with this crate moves it to 0.2.0.
//!
//! ## The five exports
//!
//! A plugin is a type implementing [`Plugin`], exported with [`export!`]:
//!
//! | export | the host calls it | you return |
//! |---|---|---|
//! | [`Plugin::metadata`] | once, when it loads the file (no HTTP allowed here) | name, version, the order kinds you serve, the [settings you read](#declared-settings) |
//! | [`Plugin::list_packages`] | when a recruiter opens "send test" in the ATS (StackOne asks the host), unless the host's cache still answers | a [`PackageList`]: your tests, or your check packages with their `tests`, and a [freshness hint](#caching-the-package-list) |
//! | [`Plugin::fulfil_order`] | after StackOne's order webhook was stored: a recruiter sent a package to a candidate | your id for it, the candidate's test link, a first result |
//! | [`Plugin::handle_callback`] | when your system calls `/v1/products/{product}/callbacks/{path}` on the host | a [`CallbackOutcome`]: the HTTP response and results, or [unknown](#callbacks-you-dont-recognise) |
//! | [`Plugin::poll_results`] | every `poll_interval_s`, with the orders still waiting, if that is configured | results |
//!
//! ## A whole plugin
//!
//! A new crate in your own repository, a library of type `cdylib`. This crate needs nothing
//! else of Assay's checkout: it carries the contract it binds to (its `wit/` folder, an exact
//! copy of the repository's `wit/`) and inherits nothing from the workspace it sits in, so a
//! path or a git dependency works from any folder:
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
//! # From Assay's repository (the URL you clone it from), pinned to the commit (`rev`) or
//! # `tag` of the host you deploy; Cargo finds the crate by its name, in `plugins/sdk`.
//! assay-plugin-sdk = { git = "https://github.com/your-org/assay", rev = "<commit>" }
//! # or from a clone next to your repository:
//! # assay-plugin-sdk = { path = "../assay/plugins/sdk" }
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
//! ```toml
//! # rust-toolchain.toml: rustup installs the toolchain and the plugin target on first use
//! [toolchain]
//! channel = "1.95"
//! targets = ["wasm32-wasip2"]
//! ```
//!
//! Take the SDK from the Assay version you run, or an older one: a host serves plugins built
//! for its own contract version and every version before it, not a newer one.
//!
//! The plugin itself, `src/lib.rs` (this is `examples/quiz.rs` of this crate, which is
//! compiled with it):
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
//! [`settings::require`] turns a missing setting into a [`PluginError::Misconfigured`] that
//! names the key, so the operator knows what to add; [`settings::parse`] and
//! [`settings::json`] do the same for a value that does not parse.
//!
//! ## Declared settings
//!
//! [`PluginMetadata::settings`] lists every setting the plugin reads, built with
//! [`SettingSpec::required`], [`SettingSpec::optional`], [`SettingSpec::secret`] (a required
//! credential) and [`SettingSpec::optional_secret`]:
//!
//! ```ignore
//! settings: vec![
//!     SettingSpec::required("base_url", "The Quiz API, e.g. https://api.quiz.example"),
//!     SettingSpec::secret("api_token", "Bearer token for the Quiz API"),
//!     SettingSpec::optional("pass_threshold", "Percent needed to pass; default 70"),
//! ],
//! ```
//!
//! The host checks each product's `[products.NAME.settings]` against this list when it loads
//! the configuration and the plugin. A required key that is missing, or a secret written
//! literally instead of as an `env:` or `file:` reference, is refused then, with a message
//! naming the product, the key and the line of the configuration file: the operator learns it
//! at once, not from the first failing order. On a reload, a configuration or a plugin that
//! fails the check is refused and the old generation keeps serving. Only mark `required` what
//! every deployment must set; a key that only some calls need is optional, and those calls
//! still fail with [`PluginError::Misconfigured`] when it is missing.
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
//! ## Caching the package list
//!
//! StackOne asks for the list every time a recruiter opens "send test". A [`PackageList`]
//! carries a [`Freshness`] hint that lets the host answer from its cache instead of calling
//! your plugin (and your API) each time:
//!
//! ```ignore
//! // Fresh for five minutes; for an hour more if your API is down.
//! Ok(PackageList::fresh_for(packages, Duration::from_secs(300), Duration::from_secs(3600)))
//! ```
//!
//! - For **max-age** after the call, the host answers that account's requests from its cache,
//!   and refreshes the entry in the background before it goes stale, so requests do not wait.
//! - For **stale-if-error** after that, the host calls your plugin again, and only if the call
//!   fails does it answer with the old list, saying so in the `x-assay-cache: stale` response
//!   header (`hit` and `miss` mark the other answers).
//! - The cache is per product and per StackOne account (and ATS provider): a list is never
//!   served to another account. A reload of the plugin or of the product's settings starts
//!   with an empty cache.
//!
//! [`PackageList::uncached`] (no hint) makes the host call the plugin every time: right for a
//! list that differs per call, and while you are developing.
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
//! ## When an order fails for good
//!
//! An order must not stay "Pending" in the recruiter's ATS. When `fulfil-order` fails in a way
//! retrying will not fix, the host parks the order and sends StackOne a final result for it:
//!
//! - [`PluginError::Permanent`] (and `invalid-input`, `unauthorized`, `not-found`): a `failed`
//!   result with your message as its source value, so write the message for the recruiter
//!   ("CodeTest has no test ct-go", not a stack of causes). [`http::Response::error_for_status`]
//!   turns a vendor's 422 into `Permanent` with the vendor's own message.
//! - [`PluginError::Cancelled`]: the vendor cancelled the order; a `cancelled` result with your
//!   message.
//! - [`PluginError::Misconfigured`]: not final. The order is retried with backoff like a
//!   retryable error, since the operator can fix the settings and reload meanwhile; the
//!   package list and callbacks are answered 503 naming the product.
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
//! body. For a bad signature, return a response (401) with no results
//! ([`CallbackOutcome::reply`]) rather than an error: an error becomes a host-chosen status
//! (see below) that would tell the caller the wrong thing. Results go with
//! [`CallbackOutcome::with_results`]. The host stores your results durably *before* it sends
//! your response, so a 2xx means your system never needs to send again; if storing fails, the
//! caller gets a 503 and should retry.
//!
//! ## Callbacks you don't recognise
//!
//! A genuine callback can still name something that is not yours: a session your plugin never
//! created, another account's check, an id your vendor answers 404 for. Return
//! [`CallbackOutcome::unknown`] with the reason:
//!
//! ```ignore
//! Err(PluginError::NotFound(_)) => return Ok(CallbackOutcome::unknown(format!("no session {id}"))),
//! ```
//!
//! The host answers 404 with the reason, counts and logs it, stores nothing, and your system
//! should not send it again. Where your plugin cannot tell, return the results and let the
//! host judge: it answers 503 with `Retry-After` only for results naming an order it has
//! received whose fulfilment is not recorded yet (your system called back before the host
//! stored `fulfil-order`'s answer), so the callback comes again once it can be placed. When
//! every result names an order it cannot place and none of the product's orders is waiting
//! for its fulfilment to be recorded, it declines the callback with a 404 as if you had.
//!
//! ## Polling
//!
//! If your system cannot call back, set `poll_interval_s` and implement
//! [`Plugin::poll_results`]: it gets up to 100 [`PendingOrder`]s still waiting for a final
//! result. Return a result for each order that has reached a final status, and nothing for the
//! others: returning a progress result on every poll would deliver it to StackOne again each
//! time. (Remembering what you reported in [`state`] is no substitute: a restart clears it.)
//!
//! ## State between calls
//!
//! [`state`] keeps keys and values between calls, over the standard `wasi:keyvalue/store`:
//! typically a vendor access token, fetched once and reused until it nears its expiry
//! ([`state::TokenCache`] does that, including the OAuth2 client-credentials grant).
//!
//! ```ignore
//! state::set_for("upload-url", url.as_bytes(), Duration::from_secs(600))?;
//! let cached: Option<Vec<u8>> = state::get("upload-url")?;
//! ```
//!
//! Each product has its own keys, at most 1 MiB of them, held in the host's memory: a host
//! restart clears them, and so does a change of the product's settings (a token fetched with
//! old credentials never outlives them); a plugin reload keeps them. The host never logs them
//! and no other product can see them. Treat them as a cache of what you can fetch again.
//! Everything else about a call is unchanged: it still runs in a fresh instance.
//!
//! ## Errors, and what the host does with each
//!
//! Return a [`PluginError`]; the host decides from the case, never from the message (which
//! goes to its log and, for orders, to the operator's view and to StackOne's final result).
//!
//! | error | `fulfil-order` | `list-packages` and `handle-callback` answer | `poll-results` |
//! |---|---|---|---|
//! | [`PluginError::UpstreamRetryable`] | retried with backoff, not before `retry_after_ms`, up to 12 attempts | 503 with `Retry-After` | logged; the next poll asks again |
//! | [`PluginError::Misconfigured`] | retried with backoff (a settings reload can fix it) | 503 naming the product | logged |
//! | [`PluginError::InvalidInput`] | the order is parked as failed; StackOne gets `failed` | 400 | logged |
//! | [`PluginError::Unauthorized`] | parked; StackOne gets `failed`; the operator must fix the credentials | 502 | logged |
//! | [`PluginError::NotFound`] | parked; StackOne gets `failed` | 404 | logged |
//! | [`PluginError::Permanent`] | parked; StackOne gets `failed` with your message | 502 | logged |
//! | [`PluginError::Cancelled`] | parked; StackOne gets `cancelled` with your message | 502 | logged |
//! | a panic, a trap, the deadline or the memory limit | retried like a retryable error | 502 or 504 | logged |
//!
//! [`http::Response::error_for_status`] maps your vendor API's statuses onto these, and
//! [`http`]'s transport errors are already mapped.
//!
//! ## The sandbox
//!
//! - Every call runs in a **fresh instance**: statics do not survive between calls; only what
//!   you put in [`state`] does.
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
//! host ([`settings`], [`log`], [`http`], [`state`]) only work inside the host. End to end,
//! run your plugin in `assay dev`, or see the host's integration tests, which drive the
//! example plugins against a demo vendor.

mod callback;
mod error;
pub mod http;
pub mod log;
mod order;
mod package_list;
mod result;
pub mod settings;
pub mod state;
pub mod webhook;

/// The generated bindings of the contract (`wit/plugin.wit`, `assay:plugin@0.2.0`). Plugins
/// rarely need them directly: the types are re-exported at the crate root.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        // The vendored copy (`wit/` of this crate, identical to the repository's `wit/`), so
        // the crate builds wherever it is checked out or copied.
        path: "wit",
        // Both contract versions are in one WIT resolve (0.1.0 under `wit/deps`), so the world
        // names its version, and the package's modules are named with it (`plugin0_2_0`).
        world: "assay:plugin/plugin@0.2.0",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_plugin",
        default_bindings_module: "assay_plugin_sdk::bindings",
    });
}

pub use bindings::assay::plugin0_2_0::types::*;
/// The trait a plugin implements: one function per export of the contract.
pub use bindings::exports::assay::plugin0_2_0::product::Guest as Plugin;

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
    pub list_packages: fn(PackageQuery) -> Result<PackageList, PluginError>,
    /// [`Plugin::fulfil_order`].
    pub fulfil_order: fn(Order) -> Result<Fulfilment, PluginError>,
    /// [`Plugin::handle_callback`].
    pub handle_callback: fn(CallbackRequest) -> Result<CallbackOutcome, PluginError>,
    /// [`Plugin::poll_results`].
    pub poll_results: fn(Vec<PendingOrder>) -> Result<Vec<OrderResult>, PluginError>,
}
