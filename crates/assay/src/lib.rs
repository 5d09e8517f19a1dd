//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! This crate is the host itself (library and `assay` binary). The concepts it builds on are
//! crates of their own, each with no backward imports:
//!
//! - [`assay_wire`]: secrets, signatures, Basic auth, order kinds, StackOne's wire types and
//!   order object, the host's routes, the callback's headers, the HTTP serve loop.
//! - [`assay_config`]: `config.toml`, `ASSAY_*` variables and flags, loaded into a checked
//!   `Config`, and the runtime's and worker's limits it is checked against; re-exported here
//!   as [`config`].
//! - [`assay_runtime`]: the wasmtime embedding, the plugin contract per WIT version, the
//!   outbound HTTP filter, the artifact cache.
//! - [`assay_store`]: the `Store` trait, SQLite with group commit, the order state machine.
//! - `assay_emulator`: StackOne's side and the demo vendor (behind the default-on `emulator`
//!   feature: `assay demo`, `assay emulate`, the emulator of `assay dev`).
//!
//! # Layout
//!
//! - [`app`]: the whole host assembled: [`app::App::start`] on a listener.
//! - [`config`]: `config.toml`, `ASSAY_*` variables and flags, loaded into a checked
//!   [`config::Config`] (the `assay-config` crate).
//! - [`edge`]: the HTTP edge: routing, authentication, error responses.
//! - [`convert`]: the plugin contract's types to and from StackOne's wire types.
//! - [`products`]: the product table (configuration, plugin, context), swapped atomically,
//!   and the check of a product's kind and settings against what its plugin declares.
//! - [`package_cache`]: package lists a plugin allows to reuse, per generation and account.
//! - [`pipeline`]: the order path after the edge: fulfilment, polling, results, delivery.
//! - [`reload`]: hot reload of plugins and configuration.
//! - [`debounce`]: the one debouncer of file events, for reload and `assay dev`.
//! - [`plugin_build`]: building plugin crates and installing the `.wasm`.
//! - `demo`: `assay demo`, the whole story on loopback (with the `emulator` feature).
//! - `emulate`: `assay emulate`, StackOne played against a running host (with the `emulator`
//!   feature).
//! - `send`: `assay send packages|order|callback`, one request as StackOne or the vendor
//!   sends it (with the `emulator` feature).
//! - [`check`]: `assay check`, the configuration and deployment doctor.
//! - [`redrive`]: `assay orders retry`, a failed order or dead letter back in the queue.
//! - [`sd_notify`]: readiness for systemd's `Type=notify`.
//! - [`scaffold`]: `assay plugin new`, a plugin project with the SDK this binary carries.
//! - [`dev`]: `assay dev`, the plugin author's rebuild-and-reload loop.
//! - [`build_info`]: version, commit, contract and wasmtime versions of this build.
//! - [`cli`], [`commands`]: the command line and what each subcommand does.
//! - [`telemetry`]: logging and metrics set-up.

pub mod app;
pub mod build_info;
pub mod check;
pub mod cli;
pub mod commands;
pub use assay_config as config;
pub mod convert;
pub mod debounce;
#[cfg(feature = "emulator")]
pub mod demo;
pub mod dev;
pub mod edge;
#[cfg(feature = "emulator")]
pub mod emulate;
pub mod package_cache;
pub mod pipeline;
pub mod plugin_build;
pub mod products;
pub mod redrive;
pub mod reload;
pub mod scaffold;
pub mod sd_notify;
#[cfg(feature = "emulator")]
pub mod send;
pub mod telemetry;
