//! The HTTP edge: everything StackOne, vendors and operators send to Assay.
//!
//! Authentication (Basic auth, signature, token) happens on the raw body before any parsing;
//! every error becomes a response in one place, [`error::EdgeError::into_response`].

pub mod error;
pub mod route;
