//! The plugin contract (`wit/plugin.wit`), one module per WIT version: the only place where
//! WIT becomes Rust. [`latest`] is the version new plugins target and the host's own types
//! come from; older versions stay loadable beside it.

pub mod v0_1_0;

pub use v0_1_0 as latest;

/// The WIT package of the plugin contract.
pub const PACKAGE: &str = "assay:plugin";
