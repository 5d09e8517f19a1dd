//! The HTTP edge: everything StackOne, vendors and operators send to Assay.
//!
//! Authentication (Basic auth, signature, token) happens on the raw body before any parsing;
//! every error becomes a response in one place, [`error::EdgeError::into_response`].
//!
//! - [`route`]: the routes, a pure function of method and path.
//! - [`service`]: dispatch, body limits, request metrics.
//! - [`stackone_routes`]: the Package's List Endpoint and the order webhooks.
//! - [`callbacks`]: the vendor's system calling the plugin.
//! - [`operator`]: health, readiness, metrics, the admin views.
//! - [`plugin_errors`]: failed plugin calls as responses.
//! - [`error`]: the one mapping from errors to responses.

pub mod callbacks;
pub mod error;
pub mod operator;
pub mod plugin_errors;
pub mod route;
pub mod service;
pub mod stackone_routes;

pub use service::Edge;
