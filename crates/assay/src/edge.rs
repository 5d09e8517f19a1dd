//! The HTTP edge: everything StackOne, vendors and operators send to Assay.
//!
//! Authentication (Basic auth, signature, token) happens on the raw body before any parsing;
//! every error becomes a response in one place, [`error::EdgeError::into_response`].
//!
//! - [`route`]: the routes, a pure function of method and path (in `assay-wire`, re-exported).
//! - [`service`]: dispatch, body limits, request metrics.
//! - [`stackone_routes`]: the Package's List Endpoint and the order webhooks.
//! - [`callbacks`]: the vendor's system calling the plugin.
//! - [`operator`]: health, readiness, metrics, the status page, login, the admin views.
//! - [`readiness`]: each product's state and the host's, at the detail a listener allows.
//! - [`session`]: the operator's signed session cookie and the same-origin check of forms.
//! - [`status_page`]: the status page and the login form, rendered as HTML.
//! - [`html`]: escaping, the page shell, masking of candidate details.
//! - [`plugin_errors`]: failed plugin calls as responses.
//! - [`error`]: the one mapping from errors to responses.

pub mod callbacks;
pub mod error;
pub mod html;
pub mod operator;
pub mod plugin_errors;
pub mod readiness;
pub use assay_wire::route;
pub mod service;
pub mod session;
pub mod stackone_routes;
pub mod status_page;

pub use service::Edge;
