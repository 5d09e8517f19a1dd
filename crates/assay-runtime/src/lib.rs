//! The plugin runtime: wasmtime with the component model, running product plugins that
//! target the `assay:plugin/plugin` world (`wit/plugin.wit`).
//!
//! - One [`Runtime`] per process: one engine (async, epoch interruption, pooling allocator,
//!   copy-on-write memory images), one linker, the artifact cache, the epoch ticker.
//! - [`Runtime::load`] reads a `.wasm`, compiles it off the async threads (or loads the cached
//!   artifact), links it once into an `InstancePre` with the bindings of the contract version
//!   the component exports, and calls `metadata` to validate it.
//! - Each call of a [`Plugin`] gets a fresh `Store` and instance with a deadline (epoch
//!   callback plus an outer timeout), a memory limit, the product's settings, logging into
//!   `tracing`, and outbound HTTP filtered by the product's `allowed_hosts`
//!   ([`outbound`]). A plugin gets no preopened directories, environment, arguments or sockets.
//!   Every call, `metadata` included, runs in a `plugin_call` span and is timed in
//!   [`assay_wire::metric::PLUGIN_CALL_SECONDS`], its instantiation in
//!   [`assay_wire::metric::PLUGIN_INSTANTIATE_SECONDS`].
//!
//! # Layout
//!
//! - [`contract`]: the plugin contract, one module per WIT version (the only `bindgen!`),
//!   the enum over versions the loader picks from, and the exports a call can name.
//! - `engine`: the engines and their epoch ticker.
//! - [`tiering`]: Winch first for large plugins, Cranelift's code swapped in when ready.
//! - `cache`: compiled artifacts on disk, the least recently used evicted past a bound.
//! - `loader`: checking a plugin file, finding its contract version, compiling and linking it.
//! - `inspect`: describing a plugin file.
//! - [`keyvalue`]: the state a product keeps between calls (`wasi:keyvalue`, contract 0.2.0).
//! - `state`: what a call's store holds, and what the `assay:plugin/host` imports do.
//! - `capture`: the plugin's stdout and stderr.
//! - `plugin`: a loaded plugin and its one call path (deadline, limits, span, metric).
//! - `answer_size`: how big an answer is.
//! - [`outbound`]: the outbound HTTP filter.
//! - `error`: start, load and call errors.

mod answer_size;
mod bulkhead;
mod cache;
mod capture;
pub mod contract;
mod engine;
mod error;
mod inspect;
pub mod keyvalue;
mod loader;
pub mod outbound;
mod plugin;
mod pool;
mod state;
pub mod tiering;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use answer_size::{MAX_PLUGIN_ERROR_MESSAGE, truncate_at_char};
pub use bulkhead::{CallSlots, DEFAULT_MAX_CONCURRENT_CALLS, MemoryBudget};
pub use cache::{LoadSource, MAX_CACHED_ARTIFACTS};
pub use capture::MAX_STDIO_BYTES;
pub use engine::{Compiler, EPOCH_TICK, POOL_INSTANCES, POOL_KEEP_RESIDENT, POOL_MAX_MEMORY};
pub use error::{CallError, CallErrorKind, LoadError, StartError};
pub use inspect::Inspection;
pub use outbound::{AllowedHost, AllowedHostError};
pub use plugin::{DEADLINE_GRACE, MAX_TRAP_MESSAGE, Plugin};
pub use pool::{
    CALL_THREAD_NICE, GROWTH_BURST, GROWTH_PACE, LONG_LANE_NICE, LaneMemo, QUICK_CALLS_TO_RETURN,
    QUICK_LANE_BUDGET,
};
pub use state::{MAX_LOG_FIELD_CHARS, MAX_LOG_FIELDS, MAX_LOG_MESSAGE};
pub use tiering::{CompilerChoice, TIERED_MIN_BYTES};

use assay_wire::secret::{Redactor, Secret};

/// The contract's types, as the rest of the host uses them.
pub mod types {
    pub use crate::contract::latest::types::*;
}

// The runtime's limits the configuration is checked against are defined with it, in
// `assay-config` (which needs no wasmtime), and used from here.
pub use assay_config::limits::{DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, MEMORY_LIMIT_MB_RANGE};
/// The deadline of the `metadata` call made while loading.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// The WIT package of the plugin contract.
pub const CONTRACT_PACKAGE: &str = contract::PACKAGE;
/// The newest version of the plugin contract this host speaks (`wit/plugin.wit`).
pub const CONTRACT_VERSION: &str = contract::latest::VERSION;
/// The export every plugin of the newest contract version has.
pub const PRODUCT_EXPORT: &str = contract::latest::PRODUCT_EXPORT;
/// The largest answer (approximate bytes of text and data) the host accepts from one call.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

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
    /// The state the product's calls keep between them (`wasi:keyvalue`): the same for every
    /// call of the product, a new one when its settings change.
    pub state: Arc<keyvalue::ProductState>,
    /// Scrubs the product's secrets from what its calls log and from their errors, which the
    /// host logs, stores and may send to StackOne.
    pub redactor: Arc<Redactor>,
    /// The bound of the product's concurrent calls, shared by its generations while the
    /// bound stays the same.
    pub calls: Arc<CallSlots>,
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
            state: Arc::new(keyvalue::ProductState::default()),
            redactor: Arc::new(Redactor::default()),
            calls: Arc::new(CallSlots::default()),
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
    /// How many artifacts the cache keeps, the most recently used.
    pub cache_max_artifacts: usize,
    /// Memory all plugin calls may hold at once, in bytes ([`MemoryBudget`]).
    pub memory_budget_bytes: u64,
    /// Which compiler makes the plugins' code ([`tiering`]).
    pub compiler: CompilerChoice,
    /// Under [`CompilerChoice::Tiered`], components at least this large start on Winch.
    pub tiered_min_bytes: usize,
    /// How much of a pooled instance's memory stays resident between calls
    /// ([`POOL_KEEP_RESIDENT`] by default).
    pub pool_keep_resident_bytes: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            pooling: true,
            cache_dir: None,
            cache_max_artifacts: MAX_CACHED_ARTIFACTS,
            memory_budget_bytes: MemoryBudget::default_limit(),
            compiler: CompilerChoice::default(),
            tiered_min_bytes: TIERED_MIN_BYTES,
            pool_keep_resident_bytes: POOL_KEEP_RESIDENT,
        }
    }
}

/// The process's plugin runtime.
pub struct Runtime {
    /// Cranelift's engine: every plugin's code ends up here, but under [`CompilerChoice::Winch`].
    engine: Engine,
    linker: Arc<Linker<state::StoreState>>,
    cache: Option<cache::ArtifactCache>,
    /// Winch's engine, under [`CompilerChoice::Tiered`] and [`CompilerChoice::Winch`].
    baseline: Option<tiering::Toolchain>,
    /// Optimises what `baseline` loaded, under [`CompilerChoice::Tiered`].
    optimiser: Option<tiering::Optimiser>,
    compiler: CompilerChoice,
    tiered_min_bytes: usize,
    /// What the pool keeps resident of an instance's memory between calls.
    keep_resident: usize,
    ticker: engine::Ticker,
    budget: Arc<MemoryBudget>,
    pool: Arc<pool::CallPool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, the linker and the ticker. Falls back to on-demand allocation if
    /// the pooling allocator cannot reserve its memory.
    pub fn new(options: RuntimeOptions) -> Result<Self, StartError> {
        let keep = options.pool_keep_resident_bytes;
        let (engine, pooling) = build_engine(options.pooling, Compiler::Cranelift, keep)?;
        let linker = Arc::new(new_linker(&engine)?);
        let cache_for = |engine: &Engine| {
            options
                .cache_dir
                .clone()
                .map(|dir| cache::ArtifactCache::new(dir, engine, options.cache_max_artifacts))
        };
        let cache = cache_for(&engine);
        let mut compiler = options.compiler;
        let baseline = match compiler {
            CompilerChoice::Cranelift => None,
            CompilerChoice::Tiered | CompilerChoice::Winch => {
                match engine::build(pooling, Compiler::Winch, keep) {
                    Ok(engine) => Some(tiering::Toolchain {
                        linker: Arc::new(new_linker(&engine)?),
                        cache: cache_for(&engine),
                        engine,
                    }),
                    // Winch is x86-64 only.
                    Err(e) => {
                        tracing::warn!(
                            error = format_args!("{e:#}"),
                            "the baseline compiler is unavailable here; plugins are compiled by Cranelift alone"
                        );
                        compiler = CompilerChoice::Cranelift;
                        None
                    }
                }
            }
        };
        let optimiser = match compiler {
            CompilerChoice::Tiered => Some(
                tiering::Optimiser::start(tiering::Toolchain {
                    engine: engine.clone(),
                    linker: Arc::clone(&linker),
                    cache: cache.clone(),
                })
                .map_err(StartError::Optimiser)?,
            ),
            _ => None,
        };
        let mut engines = vec![&engine];
        engines.extend(baseline.as_ref().map(|b| &b.engine));
        let ticker = engine::Ticker::start(&engines).map_err(StartError::Ticker)?;
        Ok(Self {
            engine,
            linker,
            cache,
            baseline,
            optimiser,
            compiler,
            tiered_min_bytes: options.tiered_min_bytes,
            keep_resident: keep,
            ticker,
            budget: Arc::new(MemoryBudget::new(options.memory_budget_bytes)),
            pool: pool::CallPool::new().map_err(StartError::CallPool)?,
        })
    }

    /// The optimising (Cranelift) engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Which compiler makes the plugins' code: the configured choice, or Cranelift where
    /// Winch is unavailable.
    pub fn compiler(&self) -> CompilerChoice {
        self.compiler
    }

    /// The memory budget every call of every plugin shares.
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }
}

/// Builds an engine with the pooling allocator when asked, falling back to on-demand
/// allocation when it cannot reserve its memory; says which it got.
fn build_engine(
    pooling: bool,
    compiler: Compiler,
    keep: usize,
) -> Result<(Engine, bool), StartError> {
    match engine::build(pooling, compiler, keep) {
        Ok(e) => Ok((e, pooling)),
        Err(e) if pooling => {
            tracing::warn!(
                error = format_args!("{e:#}"),
                "pooling allocator unavailable; using on-demand allocation"
            );
            Ok((
                engine::build(false, compiler, keep).map_err(StartError::Engine)?,
                false,
            ))
        }
        Err(e) => Err(StartError::Engine(e)),
    }
}

/// A linker with WASI, `wasi:http` and the contract's host imports, for `engine`.
fn new_linker(engine: &Engine) -> Result<Linker<state::StoreState>, StartError> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(StartError::Link)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(StartError::Link)?;
    contract::add_to_linker(&mut linker).map_err(StartError::Link)?;
    Ok(linker)
}

impl From<assay_wire::callback::CallbackRequest> for types::CallbackRequest {
    fn from(r: assay_wire::callback::CallbackRequest) -> Self {
        Self {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r
                .headers
                .into_iter()
                .map(|(name, value)| types::Header { name, value })
                .collect(),
            body: r.body,
        }
    }
}

impl From<types::OrderKind> for assay_wire::order_kind::OrderKind {
    fn from(k: types::OrderKind) -> Self {
        match k {
            types::OrderKind::Assessment => Self::Assessment,
            types::OrderKind::BackgroundCheck => Self::BackgroundCheck,
        }
    }
}

impl From<assay_wire::order_kind::OrderKind> for types::OrderKind {
    fn from(k: assay_wire::order_kind::OrderKind) -> Self {
        match k {
            assay_wire::order_kind::OrderKind::Assessment => Self::Assessment,
            assay_wire::order_kind::OrderKind::BackgroundCheck => Self::BackgroundCheck,
        }
    }
}
