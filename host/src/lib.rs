//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! # Layout
//!
//! - [`app`]: the whole host assembled: [`app::Host::start`] on a listener.
//! - [`config`]: `config.toml`, `ASSAY_*` variables and flags, loaded into a checked
//!   [`config::Config`].
//! - [`order_kind`]: assessment or background check.
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.
//! - [`signature`]: StackOne's `x-stackone-signature` (HMAC-SHA256), signing and checking.
//! - [`basic_auth`]: Basic authentication of the Package's List Endpoint.
//! - [`http_server`]: the hyper accept loop with connection cap and graceful drain.
//! - [`edge`]: the HTTP edge: routing, authentication, error responses.
//! - [`stackone`]: StackOne's wire formats as serde types.
//! - [`backoff`]: retry delays with jitter, and `Retry-After`.
//! - [`store`]: the durable store (SQLite, group commit) behind the [`store::Store`] trait.
//! - [`products`]: the product table (configuration, plugin, context), swapped atomically.
//! - [`worker`]: runs `fulfil-order` for committed orders, with retries.
//! - [`results`]: plugin results into the outbox.
//! - [`poller`]: runs `poll-results` on each product's schedule.
//! - [`claim_loop`]: the claim-and-run loop the worker and the relay share.
//! - [`relay`]: the outbox relay that PATCHes results to StackOne.
//! - [`runtime`]: the wasmtime plugin runtime: loading, sandboxed calls, outbound HTTP filter.
//! - [`reload`]: hot reload of plugins and configuration.
//! - [`plugin_build`]: building plugin crates and installing the `.wasm`.
//! - [`demo`]: `assay demo`, the whole story on loopback, and the demo vendor.
//! - [`dev`]: `assay dev`, the plugin author's rebuild-and-reload loop.
//! - [`cli`], [`commands`]: the command line and what each subcommand does.
//! - [`telemetry`]: logging and metrics set-up.
//! - [`emulator`]: StackOne's side of the protocol, for the demo, `assay emulate` and the tests.

pub mod app;
pub mod backoff;
pub mod basic_auth;
pub mod claim_loop;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod dev;
pub mod edge;
pub mod emulator;
pub mod http_server;
pub mod order_kind;
pub mod plugin_build;
pub mod poller;
pub mod products;
pub mod relay;
pub mod reload;
pub mod results;
pub mod runtime;
pub mod secret;
pub mod signature;
pub mod stackone;
pub mod store;
pub mod telemetry;
pub mod worker;
