//! The plugin runtime: wasmtime with the component model, running product plugins that
//! target the `assay:plugin/plugin` world (`wit/plugin.wit`).
//!
//! - One [`Runtime`] per process: one engine (async, epoch interruption, pooling allocator,
//!   copy-on-write memory images), one linker, the artifact cache, the epoch ticker.
//! - [`Runtime::load`] reads a `.wasm`, compiles it off the async threads (or loads the cached
//!   artifact), links it once into an `InstancePre`, and calls `metadata` to validate it.
//! - Each call of a [`Plugin`] gets a fresh `Store` and instance with a deadline (epoch
//!   callback plus an outer timeout), a memory limit, the product's settings, logging into
//!   `tracing`, and outbound HTTP filtered by the product's `allowed_hosts`
//!   ([`outbound`]). A plugin gets no preopened directories, environment, arguments or sockets.
//!
//! # Layout
//!
//! - `bindings`: the one `bindgen!` of the contract.
//! - `engine`: the engine and its epoch ticker.
//! - `cache`: compiled artifacts on disk.
//! - `state`: what a call's store holds, and the `assay:plugin/host` imports.
//! - `plugin`: a loaded plugin and its calls.
//! - [`outbound`]: the outbound HTTP filter.
//! - `error`: load and call errors.

mod bindings;
mod cache;
mod engine;
mod error;
pub mod outbound;
mod plugin;
mod state;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

pub use cache::LoadSource;
pub use engine::{EPOCH_TICK, POOL_INSTANCES};
pub use error::{CallError, CallErrorKind, LoadError};
pub use outbound::AllowedHost;
pub use plugin::Plugin;

use crate::secret::Secret;

/// The contract's types, as the rest of the host uses them.
pub mod types {
    pub use super::bindings::assay::plugin::types::*;
}

/// The default deadline of one plugin call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default memory limit of one plugin call.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// The deadline of the `metadata` call made while loading.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The export every plugin must have, with the contract version the host speaks.
pub const PRODUCT_EXPORT: &str = "assay:plugin/product@0.1.0";

/// What every call of one product runs with.
#[derive(Debug, Clone)]
pub struct ProductContext {
    /// The product's name.
    pub product: Arc<str>,
    /// The product's settings, secrets included.
    pub settings: Arc<BTreeMap<String, Secret>>,
    /// Where the plugin may send HTTP requests.
    pub allowed_hosts: Arc<[AllowedHost]>,
    /// The deadline of one call.
    pub timeout: Duration,
    /// The memory limit of one call, in bytes.
    pub memory_limit_bytes: u64,
}

impl ProductContext {
    /// A context with no settings, no outbound HTTP and the default limits.
    pub fn new(product: impl Into<Arc<str>>) -> Self {
        Self {
            product: product.into(),
            settings: Arc::new(BTreeMap::new()),
            allowed_hosts: Arc::from(Vec::new()),
            timeout: DEFAULT_TIMEOUT,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// How to build the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Use the pooling allocator (fast instantiation); off means on-demand allocation.
    pub pooling: bool,
    /// Where compiled artifacts are cached; `None` compiles every load.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            pooling: true,
            cache_dir: None,
        }
    }
}

/// The process's plugin runtime.
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<state::StoreState>>,
    cache: Option<cache::ArtifactCache>,
    _ticker: engine::Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, the linker and the ticker. Falls back to on-demand allocation if
    /// the pooling allocator cannot reserve its memory.
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = match engine::build(options.pooling) {
            Ok(e) => e,
            Err(e) if options.pooling => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                engine::build(false).map_err(wasm_error)?
            }
            Err(e) => return Err(wasm_error(e)),
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(wasm_error)?;
        bindings::assay::plugin::host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(wasm_error)?;
        let cache = options
            .cache_dir
            .map(|dir| cache::ArtifactCache::new(dir, &engine));
        let ticker = engine::Ticker::start(&engine)?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            cache,
            _ticker: ticker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads and validates the plugin at `path`.
    pub async fn load(&self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
        self.load_bytes(path, bytes).await
    }

    /// Loads and validates a plugin from its bytes; `path` names it in errors.
    pub async fn load_bytes(&self, path: &Path, bytes: Vec<u8>) -> Result<Arc<Plugin>, LoadError> {
        check_header(path, &bytes)?;
        let content_hash: [u8; 32] = Sha256::digest(&bytes).into();
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let compiled = tokio::task::spawn_blocking(move || match cache {
            Some(cache) => cache.load_or_compile(&engine, &content_hash, &bytes),
            None => Component::new(&engine, &bytes).map(|c| (c, LoadSource::Compiled)),
        })
        .await
        .map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let (component, source) = compiled.map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        self.link(path, component, content_hash, source).await
    }

    async fn link(
        &self,
        path: &Path,
        component: Component,
        content_hash: [u8; 32],
        source: LoadSource,
    ) -> Result<Arc<Plugin>, LoadError> {
        let exports_product = component
            .component_type()
            .exports(&self.engine)
            .any(|(name, _)| name == PRODUCT_EXPORT);
        if !exports_product {
            let found: Vec<String> = component
                .component_type()
                .exports(&self.engine)
                .map(|(n, _)| n.to_owned())
                .collect();
            return Err(LoadError::Exports {
                path: path.to_owned(),
                reason: format!("no `{PRODUCT_EXPORT}` export (exports: {})", list(&found)),
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports {
                path: path.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let pre = bindings::PluginPre::new(pre).map_err(|e| LoadError::Exports {
            path: path.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let mut plugin = Plugin {
            pre,
            metadata: types::PluginMetadata {
                name: String::new(),
                version: String::new(),
                description: String::new(),
                kinds: vec![],
            },
            label: Arc::from("unloaded"),
            content_hash,
            path: path.to_owned(),
            source,
            component,
        };
        let mut ctx = ProductContext::new("(loading)");
        ctx.timeout = METADATA_TIMEOUT;
        let metadata_error = |reason: String| LoadError::Metadata {
            path: path.to_owned(),
            reason,
        };
        let (mut store, instance) = plugin
            .instantiate(&ctx)
            .await
            .map_err(|e| metadata_error(e.to_string()))?;
        let metadata = tokio::time::timeout(
            METADATA_TIMEOUT,
            instance.assay_plugin_product().call_metadata(&mut store),
        )
        .await
        .map_err(|_| metadata_error("`metadata` did not return in time".into()))?
        .map_err(|e| metadata_error(format!("`metadata` failed: {e:#}")))?;
        if metadata.name.trim().is_empty() {
            return Err(metadata_error("the name is empty".into()));
        }
        if metadata.kinds.is_empty() {
            return Err(metadata_error("the plugin serves no order kind".into()));
        }
        plugin.label = Arc::from(format!("{}@{}", metadata.name, metadata.version));
        plugin.metadata = metadata;
        Ok(Arc::new(plugin))
    }
}

/// A plugin's description for `assay plugin inspect`.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// What the plugin says about itself.
    pub metadata: types::PluginMetadata,
    /// The `assay:plugin` contract version it was built against.
    pub contract_version: Option<String>,
    /// The component's exports.
    pub exports: Vec<String>,
    /// The component's imports.
    pub imports: Vec<String>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

impl Runtime {
    /// Loads `path` fully (as serving would) and describes it.
    pub async fn inspect(&self, path: &Path) -> Result<Inspection, LoadError> {
        let plugin = self.load(path).await?;
        let ty = plugin.component().component_type();
        let exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let contract_version = exports.iter().chain(imports.iter()).find_map(|n| {
            n.strip_prefix("assay:plugin/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, v)| v.to_owned())
        });
        Ok(Inspection {
            metadata: plugin.metadata().clone(),
            contract_version,
            exports,
            imports,
            sha256: hex::encode(plugin.content_hash()),
        })
    }
}

/// wasmtime has its own error type; the glue code speaks anyhow.
fn wasm_error(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:#}")
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Refuses files that are not components before handing them to the compiler, with a message
/// a plugin author can act on.
fn check_header(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let not = |reason: &str| LoadError::NotAComponent {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not("the file is not WebAssembly"));
    }
    match &bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(not(
            "it is a core WebAssembly module; build the plugin for the wasm32-wasip2 target",
        )),
        _ => Err(not("unknown WebAssembly version")),
    }
}

impl From<types::OrderKind> for crate::order_kind::OrderKind {
    fn from(k: types::OrderKind) -> Self {
        match k {
            types::OrderKind::Assessment => Self::Assessment,
            types::OrderKind::BackgroundCheck => Self::BackgroundCheck,
        }
    }
}

impl From<crate::order_kind::OrderKind> for types::OrderKind {
    fn from(k: crate::order_kind::OrderKind) -> Self {
        match k {
            crate::order_kind::OrderKind::Assessment => Self::Assessment,
            crate::order_kind::OrderKind::BackgroundCheck => Self::BackgroundCheck,
        }
    }
}
