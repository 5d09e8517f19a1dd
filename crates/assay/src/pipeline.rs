//! The order path after the edge: every step reads and writes the store, so a crash at any
//! point only delays an order.
//!
//! # Layout
//!
//! - [`worker`]: runs `fulfil-order` for committed orders, with retries, each product within
//!   its own slots.
//! - [`poller`]: runs `poll-results` on each product's schedule.
//! - [`results`]: plugin results into the outbox.
//! - [`relay`]: the outbox relay that PATCHes results to StackOne.
//! - [`claim_loop`]: the claim-and-run loop the worker and the relay share.
//! - [`backoff`]: retry delays with jitter, and `Retry-After`.

pub mod backoff;
pub mod claim_loop;
pub mod poller;
pub mod relay;
pub mod results;
pub mod worker;

pub use worker::{DEFAULT_PRODUCT_FULFILMENTS, FULFIL_CONCURRENCY};
