//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! # Layout
//!
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.

pub mod secret;
