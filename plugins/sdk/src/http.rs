//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! ```ignore
//! use assay_plugin_sdk::{http, settings};
//!
//! let api = http::Client::new(settings::require("base_url")?)
//!     .bearer(&settings::require("api_token")?);
//! let invitation: Invitation = api
//!     .post("/api/invitations")
//!     .header("idempotency-key", &order.id)
//!     .json(&body)?
//!     .send()?
//!     .error_for_status()?
//!     .json()?;
//! ```
//!
//! [`Client`] holds what every call to one vendor API shares (base URL, token, timeout);
//! [`Request`] is one call. The request body is written and the response body read in chunks
//! through WASI streams; the call blocks the plugin until the whole answer is in, which is
//! what a plugin call wants: it has nothing else to do meanwhile.
//!
//! Every failure is already a [`PluginError`](crate::PluginError) the host knows how to handle:
//!
//! | what happened | the error |
//! |---|---|
//! | the host is not in the product's `allowed_hosts` (or is an internal address not listed) | [`Permanent`](crate::PluginError::Permanent), saying so |
//! | DNS, connection refused or reset, TLS, a timeout, a cut-off answer | [`UpstreamRetryable`](crate::PluginError::UpstreamRetryable) |
//! | the URL, a header or the body of the request is malformed, the answer is too large | [`Permanent`](crate::PluginError::Permanent) |
//! | a non-2xx status, once you call [`Response::error_for_status`] | see [`status_error`] |
//!
//! The host caps each call's timeouts (connect 5 s, first byte 15 s, between chunks 15 s) and
//! the response body (8 MiB); [`Request::timeout`] can only ask for less. The whole plugin call
//! also has a deadline (`timeout_ms`, 10 s by default), so keep the number of requests per
//! call small.

mod client;
mod request;
mod response;
mod transport;
mod url;

pub use client::Client;
pub use request::Request;
pub use response::{QUOTED_BODY_BYTES, Response, status_error};
pub use transport::transport_error;
pub use url::encode_component;
