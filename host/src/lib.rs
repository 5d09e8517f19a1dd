//! Assay: a host for StackOne assessment and background-check partner integrations.
//!
//! # Layout
//!
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.
//! - [`store`]: the durable store of events, orders and results ([`store::Store`], SQLite
//!   backend with group commit).

pub mod secret;
pub mod store;
