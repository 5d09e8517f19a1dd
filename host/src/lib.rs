//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! # Layout
//!
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.
//! - [`signature`]: StackOne's `x-stackone-signature` (HMAC-SHA256), signing and checking.
//! - [`basic_auth`]: Basic authentication of the Package's List Endpoint.
//! - [`emulator`]: a stand-in for StackOne (package fetch, signed orders, result PATCHes).

pub mod basic_auth;
pub mod emulator;
pub mod secret;
pub mod signature;
