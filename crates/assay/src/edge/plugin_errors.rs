//! How a failed plugin call becomes an [`EdgeError`].
//!
//! The plugin's own error variants say what the caller should do; runtime failures (trap,
//! deadline, memory limit) are the vendor's bug and are reported as a bad gateway without
//! details. The full error, with product and plugin version, goes to the log.

use std::time::Duration;

use http::StatusCode;

use super::error::EdgeError;
use assay_runtime::CallError;
use assay_runtime::types::PluginError;

/// What the caller is asked to wait when a product's plugin says its settings are wrong: a
/// configuration reload, not the caller, fixes that.
const MISCONFIGURED_RETRY_AFTER: Duration = Duration::from_secs(60);
/// When a product at its bound of concurrent calls (or the plugins' memory budget) is worth
/// asking again: calls free their slots within a deadline, most much sooner.
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The edge error for a failed plugin call.
pub fn call_error(error: CallError) -> EdgeError {
    let cause = error.to_string();
    let upstream =
        |status: StatusCode, message: &str, retry_after: Option<Duration>| EdgeError::Upstream {
            status,
            message: message.to_owned(),
            cause: cause.clone(),
            retry_after,
        };
    match error.plugin_error() {
        Some(PluginError::InvalidInput(m)) => {
            EdgeError::BadRequest(format!("the product refused the request: {m}"))
        }
        Some(PluginError::NotFound(m)) => EdgeError::Upstream {
            status: StatusCode::NOT_FOUND,
            message: format!("not found: {m}"),
            cause,
            retry_after: None,
        },
        Some(PluginError::Unauthorized(_)) => upstream(
            StatusCode::BAD_GATEWAY,
            "the vendor refused the product's credentials",
            None,
        ),
        Some(PluginError::UpstreamRetryable(r)) => upstream(
            StatusCode::SERVICE_UNAVAILABLE,
            "the vendor is unavailable; try again later",
            Some(
                r.retry_after_ms
                    .map(Duration::from_millis)
                    .unwrap_or(Duration::from_secs(5)),
            ),
        ),
        Some(PluginError::Misconfigured(m)) => EdgeError::Unavailable {
            message: format!(
                "product `{}` is misconfigured and cannot answer until its operator fixes its settings",
                error.product
            ),
            cause: format!("{cause} ({m})"),
            retry_after: Some(MISCONFIGURED_RETRY_AFTER),
        },
        Some(PluginError::Permanent(_) | PluginError::Cancelled(_)) => upstream(
            StatusCode::BAD_GATEWAY,
            "the product failed to answer",
            None,
        ),
        None if error.is_overloaded() => EdgeError::Unavailable {
            message: format!(
                "product `{}` is at its bound of concurrent plugin calls; try again shortly",
                error.product
            ),
            cause,
            retry_after: Some(OVERLOADED_RETRY_AFTER),
        },
        None if error.is_timeout() => upstream(
            StatusCode::GATEWAY_TIMEOUT,
            "the product did not answer in time",
            None,
        ),
        None => upstream(
            StatusCode::BAD_GATEWAY,
            "the product failed to answer",
            None,
        ),
    }
}
