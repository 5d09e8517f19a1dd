//! Building [`PluginError`]s.
//!
//! The host decides what to do from the error's case alone (see the table in the crate docs),
//! so pick the case by what *should happen*: a passing failure is
//! [`PluginError::UpstreamRetryable`] and the call is tried again; anything retrying will not
//! fix stops, and for an order parks it and tells StackOne. A setting the operator must fix is
//! [`PluginError::Misconfigured`]: the host answers 503 and retries orders, since a
//! configuration reload can fix it. What an HTTP status of the vendor's API means is
//! [`crate::http::status_error`].

use std::time::Duration;

use crate::{PluginError, RetryableFailure};

impl PluginError {
    /// [`PluginError::InvalidInput`]: the order or request cannot be served as it is.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        PluginError::InvalidInput(message.into())
    }

    /// [`PluginError::Unauthorized`]: the vendor refused the product's credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        PluginError::Unauthorized(message.into())
    }

    /// [`PluginError::NotFound`]: something the call named does not exist at the vendor.
    pub fn not_found(message: impl Into<String>) -> Self {
        PluginError::NotFound(message.into())
    }

    /// [`PluginError::Permanent`]: retrying will not help. For an order, StackOne is sent a
    /// `failed` result with `message` as its source value, so write it for the recruiter.
    pub fn permanent(message: impl Into<String>) -> Self {
        PluginError::Permanent(message.into())
    }

    /// [`PluginError::Misconfigured`]: the product's settings are missing or wrong. Name the
    /// key, never its value.
    pub fn misconfigured(message: impl Into<String>) -> Self {
        PluginError::Misconfigured(message.into())
    }

    /// [`PluginError::Cancelled`]: the vendor cancelled the order. StackOne is sent a
    /// `cancelled` result with `message` as its source value.
    pub fn cancelled(message: impl Into<String>) -> Self {
        PluginError::Cancelled(message.into())
    }

    /// [`PluginError::UpstreamRetryable`] without a retry hint: the host's backoff decides.
    pub fn retryable(message: impl Into<String>) -> Self {
        PluginError::UpstreamRetryable(RetryableFailure {
            message: message.into(),
            retry_after_ms: None,
        })
    }

    /// [`PluginError::UpstreamRetryable`] asking the host to wait at least `after`.
    pub fn retryable_after(message: impl Into<String>, after: Duration) -> Self {
        PluginError::UpstreamRetryable(RetryableFailure {
            message: message.into(),
            retry_after_ms: Some(u64::try_from(after.as_millis()).unwrap_or(u64::MAX)),
        })
    }

    /// Whether the host will try the same work again by itself: a retryable failure, and
    /// (for orders, once the operator has had a chance to fix the settings) a misconfiguration.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PluginError::UpstreamRetryable(_) | PluginError::Misconfigured(_)
        )
    }

    /// The message, whatever the case.
    pub fn message(&self) -> &str {
        match self {
            PluginError::InvalidInput(m)
            | PluginError::Unauthorized(m)
            | PluginError::NotFound(m)
            | PluginError::Permanent(m)
            | PluginError::Misconfigured(m)
            | PluginError::Cancelled(m) => m,
            PluginError::UpstreamRetryable(r) => &r.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_after_carries_milliseconds() {
        let e = PluginError::retryable_after("busy", Duration::from_millis(1500));
        assert!(matches!(
            &e,
            PluginError::UpstreamRetryable(RetryableFailure {
                retry_after_ms: Some(1500),
                ..
            })
        ));
        assert!(e.is_retryable());
        assert_eq!(e.message(), "busy");
        let e = PluginError::retryable_after("busy", Duration::MAX);
        assert!(matches!(
            e,
            PluginError::UpstreamRetryable(RetryableFailure {
                retry_after_ms: Some(u64::MAX),
                ..
            })
        ));
    }

    #[test]
    fn only_retryable_and_configuration_errors_are_retried() {
        for e in [
            PluginError::invalid_input("a"),
            PluginError::unauthorized("b"),
            PluginError::not_found("c"),
            PluginError::permanent("d"),
            PluginError::cancelled("f"),
        ] {
            assert!(!e.is_retryable(), "{e:?}");
        }
        assert!(PluginError::retryable("e").is_retryable());
        assert!(PluginError::misconfigured("g").is_retryable());
        assert_eq!(PluginError::not_found("c").message(), "c");
        assert_eq!(PluginError::misconfigured("g").message(), "g");
        assert_eq!(PluginError::cancelled("f").message(), "f");
    }
}
