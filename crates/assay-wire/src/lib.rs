//! What crosses the wire between StackOne, a vendor and Assay, with no plugin runtime and no
//! store in its build graph: the host, the StackOne emulator and the demo vendor all speak it.
//!
//! # Layout
//!
//! - [`secret`]: the [`secret::Secret`] type that keeps keys and tokens out of logs.
//! - [`signature`]: StackOne's `x-stackone-signature` (HMAC-SHA256), signing and checking.
//! - [`basic_auth`]: Basic authentication of the Package's List Endpoint.
//! - [`order_kind`]: assessment or background check, and the result endpoint each uses.
//! - [`metric`]: the name of every metric the crates record, with its labels.
//! - [`origin`]: `scheme://host[:port]`, parsed once for `allowed_hosts` and `cors_origins`.
//! - [`stackone`]: StackOne's wire formats as serde types.
//! - [`order`]: the order object of a webhook, parsed leniently and checked.
//! - [`route`]: the host's routes, a pure function of method and path.
//! - [`callback`]: a vendor's callback as the plugin is handed it, and the plugin's response
//!   headers as the vendor gets them.
//! - [`http_server`]: the hyper accept loop with connection cap and graceful drain, which the
//!   host's edge, the emulator and the demo vendor share. It lives here rather than in a crate
//!   of its own because it is the one piece of HTTP plumbing every side of the wire needs.
//!
//! Everything the fuzz targets (`fuzz/`, RELIABILITY.md "Fuzzing") exercise is here or in
//! `assay-config`, neither of which builds wasmtime: the instrumented fuzz build stays small
//! enough for CI to run every target.

pub mod basic_auth;
pub mod callback;
pub mod http_server;
pub mod metric;
pub mod order;
pub mod order_kind;
pub mod origin;
pub mod route;
pub mod secret;
pub mod signature;
pub mod stackone;
