//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! # Layout
//!
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.
//! - [`signature`]: StackOne's `x-stackone-signature` (HMAC-SHA256), signing and checking.
//! - [`config`]: `config.toml`, `ASSAY_*` variables and flags, loaded into a checked
//!   [`config::Config`].
//! - [`basic_auth`]: Basic authentication of the Package's List Endpoint.

pub mod basic_auth;
pub mod config;
pub mod secret;
pub mod signature;
