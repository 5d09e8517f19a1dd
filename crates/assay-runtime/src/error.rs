//! Errors of starting the runtime, loading a plugin and calling it. Causes stay sources, so
//! whoever prints the chain (`{:#}` through anyhow) shows them and code can inspect them.

use std::path::PathBuf;
use std::time::Duration;

use super::types::PluginError;
use crate::contract::PACKAGE;
use assay_wire::secret::Redactor;

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// wasmtime refused the engine's configuration.
    #[error("cannot build the wasmtime engine")]
    Engine(#[source] wasmtime::Error),
    /// The host's imports could not be linked.
    #[error("cannot link the host's imports")]
    Link(#[source] wasmtime::Error),
    /// The thread that advances the epoch could not start.
    #[error("cannot start the epoch ticker")]
    Ticker(#[source] std::io::Error),
    /// The threads plugin calls run on could not start.
    #[error("cannot start the plugin call threads")]
    CallPool(#[source] std::io::Error),
    /// The threads that optimise plugins in the background could not start.
    #[error("cannot start the plugin optimiser's threads")]
    Optimiser(#[source] std::io::Error),
}

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
    #[error("{path}: the component does not compile")]
    Compile {
        /// The file.
        path: PathBuf,
        /// The compiler's error.
        #[source]
        source: wasmtime::Error,
    },
    /// The component asks for something the host does not give (another world).
    #[error("{path}: the component imports something the host does not provide")]
    Imports {
        /// The file.
        path: PathBuf,
        /// The linker's error, naming the import.
        #[source]
        source: wasmtime::Error,
    },
    /// The component was built against a version of the `assay:plugin` contract this host
    /// does not load.
    #[error(
        "{path}: the plugin was built against {PACKAGE}@{found}; this host speaks {}: rebuild \
         it with the matching SDK",
        versions(.supported)
    )]
    ContractVersion {
        /// The file.
        path: PathBuf,
        /// The contract version the plugin uses.
        found: String,
        /// The contract versions the host loads ([`crate::contract::SUPPORTED_VERSIONS`]).
        supported: &'static [&'static str],
    },
    /// The component lacks the product export or one of its functions.
    #[error("{path}: the component does not export `{export}` completely: {reason}")]
    Exports {
        /// The file.
        path: PathBuf,
        /// The product export of the plugin's contract version.
        export: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The component's product export does not fit the bindings of its contract version.
    #[error("{path}: the component's `{export}` does not match the contract")]
    Bindings {
        /// The file.
        path: PathBuf,
        /// The product export of the plugin's contract version.
        export: &'static str,
        /// What the bindings refused.
        #[source]
        source: wasmtime::Error,
    },
    /// The `metadata` call failed.
    #[error("{path}: invalid plugin metadata: `metadata` failed")]
    MetadataCall {
        /// The file.
        path: PathBuf,
        /// How the call failed.
        #[source]
        source: CallErrorKind,
    },
    /// `metadata` returned something unusable.
    #[error("{path}: invalid plugin metadata: {reason}")]
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// `assay:plugin@0.2.0, assay:plugin@0.1.0`.
fn versions(supported: &[&str]) -> String {
    let named: Vec<String> = supported.iter().map(|v| format!("{PACKAGE}@{v}")).collect();
    named.join(", ")
}

/// Why a plugin call failed. Carries the product and the plugin's `name@version`.
#[derive(Debug)]
pub struct CallError {
    /// The product whose plugin was called.
    pub product: String,
    /// The plugin's `name@version`.
    pub plugin: String,
    /// What went wrong.
    pub kind: CallErrorKind,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "product `{}`, plugin {}: {}",
            self.product, self.plugin, self.kind
        )
    }
}

/// The message already says what `kind` says; the chain goes on with what caused `kind`.
impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.kind.source()
    }
}

/// The ways a plugin call fails.
#[derive(Debug, thiserror::Error)]
pub enum CallErrorKind {
    /// The plugin returned one of its own errors.
    #[error("{}", describe_plugin_error(.0))]
    Plugin(PluginError),
    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access…).
    #[error("the plugin trapped: {message}")]
    Trap {
        /// The trap and its wasm backtrace, cut to [`crate::MAX_TRAP_MESSAGE`].
        message: String,
        /// wasmtime's error, whole.
        #[source]
        source: wasmtime::Error,
    },
    /// The call ran past its deadline.
    #[error("the plugin ran past its deadline of {0:?}")]
    Timeout(Duration),
    /// The plugin tried to use more memory than its limit.
    #[error("the plugin exceeded its memory limit of {0} bytes")]
    MemoryLimit(u64),
    /// The product already had its bound of calls in flight
    /// (`products.NAME.max_concurrent_calls`); nothing was run.
    #[error("the product already has its {0} concurrent plugin calls in flight")]
    Busy(usize),
    /// The memory all plugin calls share (`plugins.memory_budget_mb`) was in use by others.
    #[error("the plugins' shared memory budget of {} MiB is in use", .0 >> 20)]
    MemoryBudget(u64),
    /// A fresh instance could not be created.
    #[error("could not instantiate the plugin: {message}")]
    Instantiate {
        /// Why, cut to [`crate::MAX_TRAP_MESSAGE`].
        message: String,
        /// wasmtime's error, whole.
        #[source]
        source: wasmtime::Error,
    },
    /// The plugin returned more than the host accepts from one call.
    #[error("the plugin's answer is too large: about {size} bytes, the limit is {limit}")]
    AnswerTooLarge {
        /// The answer's approximate size in bytes.
        size: usize,
        /// The limit ([`super::MAX_ANSWER_BYTES`]).
        limit: usize,
    },
}

impl CallErrorKind {
    /// Scrubs secrets from every message the plugin or the trap wrote; the host logs and
    /// stores them, and a plugin's message may become a result's `source_value` at StackOne.
    pub fn redact(&mut self, redactor: &Redactor) {
        match self {
            CallErrorKind::Plugin(
                PluginError::InvalidInput(m)
                | PluginError::Unauthorized(m)
                | PluginError::NotFound(m)
                | PluginError::Permanent(m)
                | PluginError::Misconfigured(m)
                | PluginError::Cancelled(m),
            ) => redactor.redact_in_place(m),
            CallErrorKind::Plugin(PluginError::UpstreamRetryable(r)) => {
                redactor.redact_in_place(&mut r.message)
            }
            CallErrorKind::Trap { message, .. } | CallErrorKind::Instantiate { message, .. } => {
                redactor.redact_in_place(message)
            }
            CallErrorKind::Timeout(_)
            | CallErrorKind::MemoryLimit(_)
            | CallErrorKind::Busy(_)
            | CallErrorKind::MemoryBudget(_)
            | CallErrorKind::AnswerTooLarge { .. } => {}
        }
    }
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
            CallErrorKind::Plugin(
                PluginError::UpstreamRetryable(_) | PluginError::Misconfigured(_),
            ) => true,
            CallErrorKind::Plugin(_) => false,
            CallErrorKind::Trap { .. }
            | CallErrorKind::Timeout(_)
            | CallErrorKind::MemoryLimit(_)
            | CallErrorKind::Busy(_)
            | CallErrorKind::MemoryBudget(_)
            | CallErrorKind::Instantiate { .. }
            | CallErrorKind::AnswerTooLarge { .. } => true,
        }
    }

    /// Whether the call was refused or cut short for lack of room the host keeps for others
    /// (the product's call bound, the shared memory budget): answered 503, not the plugin's
    /// fault.
    pub fn is_overloaded(&self) -> bool {
        matches!(
            self.kind,
            CallErrorKind::Busy(_) | CallErrorKind::MemoryBudget(_)
        )
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
        PluginError::Misconfigured(m) => format!("misconfigured: {m}"),
        PluginError::Cancelled(m) => format!("cancelled by the vendor: {m}"),
    }
}
