//! Errors of loading a plugin and of calling it.

use std::path::PathBuf;
use std::time::Duration;

use super::types::PluginError;

/// Why a plugin file could not be loaded. Always names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read the file")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a WebAssembly component (a core module, or not WebAssembly at all).
    #[error("{path}: not a WebAssembly component: {reason}")]
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// What the file is instead.
        reason: String,
    },
    /// The component is invalid or failed to compile.
    #[error("{path}: the component does not compile: {reason}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// The compiler's message.
        reason: String,
    },
    /// The component asks for something the host does not give (another world).
    #[error("{path}: the component imports something the host does not provide: {reason}")]
    Imports {
        /// The file.
        path: PathBuf,
        /// Which import.
        reason: String,
    },
    /// The component was built against another version of the `assay:plugin` contract.
    #[error(
        "{path}: the plugin was built against assay:plugin@{found}; this host speaks \
         assay:plugin@{supported}: rebuild it with the matching SDK"
    )]
    ContractVersion {
        /// The file.
        path: PathBuf,
        /// The contract version the plugin uses.
        found: String,
        /// The contract version the host speaks.
        supported: &'static str,
    },
    /// The component lacks the product export or one of its functions.
    #[error(
        "{path}: the component does not export `assay:plugin/product@0.1.0` completely: {reason}"
    )]
    Exports {
        /// The file.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// `metadata` failed or returned something unusable.
    #[error("{path}: invalid plugin metadata: {reason}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Why a plugin call failed. Carries the product and the plugin's `name@version`.
#[derive(Debug, thiserror::Error)]
#[error("product `{product}`, plugin {plugin}: {kind}")]
pub struct CallError {
    /// The product whose plugin was called.
    pub product: String,
    /// The plugin's `name@version`.
    pub plugin: String,
    /// What went wrong.
    pub kind: CallErrorKind,
}

/// The ways a plugin call fails.
#[derive(Debug, thiserror::Error)]
pub enum CallErrorKind {
    /// The plugin returned one of its own errors.
    #[error("{}", describe_plugin_error(.0))]
    Plugin(PluginError),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access…).
    #[error("the plugin trapped: {0}")]
    Trap(String),
    /// The call ran past its deadline.
    #[error("the plugin ran past its deadline of {0:?}")]
    Timeout(Duration),
    /// The plugin tried to use more memory than its limit.
    #[error("the plugin exceeded its memory limit of {0} bytes")]
    MemoryLimit(u64),
    /// A fresh instance could not be created.
    #[error("could not instantiate the plugin: {0}")]
    Instantiate(String),
    /// The plugin returned more than the host accepts from one call.
    #[error("the plugin's answer is too large: about {size} bytes, the limit is {limit}")]
    AnswerTooLarge {
        /// The answer's approximate size in bytes.
        size: usize,
        /// The limit ([`super::MAX_ANSWER_BYTES`]).
        limit: usize,
    },
}

impl CallError {
    /// The plugin's own error, if that is what failed.
    pub fn plugin_error(&self) -> Option<&PluginError> {
        match &self.kind {
            CallErrorKind::Plugin(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the call ran past its deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, CallErrorKind::Timeout(_))
    }

    /// Whether trying again later may succeed: the vendor's passing failures, and the
    /// runtime's failures (a fixed plugin may be reloaded meanwhile; callers cap attempts).
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            CallErrorKind::Plugin(PluginError::UpstreamRetryable(_)) => true,
            CallErrorKind::Plugin(_) => false,
            CallErrorKind::Trap(_)
            | CallErrorKind::Timeout(_)
            | CallErrorKind::MemoryLimit(_)
            | CallErrorKind::Instantiate(_)
            | CallErrorKind::AnswerTooLarge { .. } => true,
        }
    }

    /// The plugin's retry hint, if it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            CallErrorKind::Plugin(PluginError::UpstreamRetryable(r)) => {
                r.retry_after_ms.map(Duration::from_millis)
            }
            _ => None,
        }
    }
}

fn describe_plugin_error(e: &PluginError) -> String {
    match e {
        PluginError::InvalidInput(m) => format!("invalid input: {m}"),
        PluginError::Unauthorized(m) => format!("unauthorized: {m}"),
        PluginError::NotFound(m) => format!("not found: {m}"),
        PluginError::UpstreamRetryable(r) => match r.retry_after_ms {
            Some(ms) => format!("vendor unavailable (retry after {ms} ms): {}", r.message),
            None => format!("vendor unavailable: {}", r.message),
        },
        PluginError::Permanent(m) => format!("permanent failure: {m}"),
    }
}
