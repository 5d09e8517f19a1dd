//! Tiered compilation: a large plugin serves at once from baseline code, and its optimised
//! code replaces it when ready.
//!
//! A JavaScript or Python plugin carries its language's engine (SpiderMonkey, CPython): a
//! component of 10 to 40 MB that Cranelift takes 10 to 25 seconds to compile on a 2-core
//! machine. Winch, wasmtime's baseline compiler, makes runnable code of the same component
//! several times faster and that code runs slower per call (BENCHMARKS.md, "Plugins per
//! language"). With [`CompilerChoice::Tiered`], the runtime loads a component at least
//! [`RuntimeOptions::tiered_min_bytes`](crate::RuntimeOptions) large whose optimised artifact
//! is not yet cached with Winch, serves it, and queues it on the optimiser:
//!
//! - one thread, compiling one plugin at a time, in the order they were loaded, with
//!   Cranelift's parallel compilation on a pool of its own whose threads run at
//!   [`OPTIMISER_NICE`], so the host's requests and the plugins' calls go first when the cores
//!   are short;
//! - the artifact goes into the cache by content hash, as any compile's does, so the next start
//!   (or a rename of the same bytes) loads optimised code directly: a warm start is as fast for
//!   a JavaScript plugin as for a Rust one;
//! - the optimised code is linked and swapped into the [`Plugin`] itself: every product and
//!   table generation holding the plugin gets it, calls in flight finish on the code they
//!   started with, and a plugin already replaced (by a reload) is skipped, not compiled.
//!
//! A component Winch cannot compile (a proposal it lacks, such as tail calls) is compiled by
//! Cranelift at once, as without tiering. Smaller components go straight to Cranelift too:
//! a Rust plugin of a few hundred KB compiles in well under a second.
//!
//! Winch runs on x86-64 only; elsewhere the runtime starts with Cranelift alone and says so.

use std::path::Path;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Weak};
use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::cache::ArtifactCache;
use crate::contract::{Pre, Version};
use crate::engine::Compiler;
use crate::loader::compile_now;
use crate::plugin::{Plugin, Tier};
use crate::pool::set_nice;
use crate::state::StoreState;

pub use assay_config::limits::CompilerChoice;

/// Components at least this large are loaded by Winch first under
/// [`CompilerChoice::Tiered`]. The smallest JavaScript plugin is about 10 MB; Rust plugins are
/// well under 1 MB, and Cranelift compiles a 4 MB component in about a second here.
pub const TIERED_MIN_BYTES: usize = 4 << 20;

/// The nice value of the threads optimising plugins in the background: below the plugin
/// call threads ([`crate::CALL_THREAD_NICE`]), since a call waits on its code and nothing
/// waits on an optimisation.
pub const OPTIMISER_NICE: i32 = 19;

/// An engine with its linker and artifact cache: the baseline compiler's, or the optimising
/// one the optimiser compiles with.
pub(crate) struct Toolchain {
    pub engine: Engine,
    pub linker: Arc<Linker<StoreState>>,
    pub cache: Option<ArtifactCache>,
}

/// One plugin to optimise.
struct Job {
    plugin: Weak<Plugin>,
    version: Version,
    bytes: Arc<Vec<u8>>,
    queued: Instant,
}

/// The background thread that compiles baseline plugins with Cranelift and swaps the code
/// in. It ends when the runtime is dropped; a compile in progress then finishes first, on
/// its own thread, without holding the runtime's shutdown.
pub(crate) struct Optimiser {
    queue: Sender<Job>,
}

impl Optimiser {
    /// Starts the thread and its compile pool.
    pub fn start(optimising: Toolchain) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("assay-optimise-{i}"))
            .start_handler(|_| set_nice(OPTIMISER_NICE, "the optimiser"))
            .build()
            .map_err(std::io::Error::other)?;
        let (queue, jobs) = channel::<Job>();
        std::thread::Builder::new()
            .name("assay-optimiser".into())
            .spawn(move || {
                set_nice(OPTIMISER_NICE, "the optimiser");
                for job in jobs {
                    optimise(&optimising, &pool, job);
                }
            })?;
        Ok(Self { queue })
    }

    /// Queues `plugin`, loaded from `bytes` by the baseline compiler.
    pub fn queue(&self, plugin: &Arc<Plugin>, bytes: Arc<Vec<u8>>) {
        let job = Job {
            plugin: Arc::downgrade(plugin),
            version: plugin.caller.tier.load().pre.version(),
            bytes,
            queued: Instant::now(),
        };
        if self.queue.send(job).is_err() {
            tracing::warn!(
                plugin = plugin.label(),
                "the optimiser thread is gone; the plugin keeps its baseline code"
            );
        }
    }
}

fn optimise(with: &Toolchain, pool: &rayon::ThreadPool, job: Job) {
    // Replaced or unloaded while queued: nobody would run the optimised code.
    let Some(plugin) = job.plugin.upgrade() else {
        return;
    };
    let (label, path, hash) = (
        plugin.label().to_owned(),
        plugin.path().to_owned(),
        plugin.content_hash,
    );
    // The job does not keep the plugin alive while it compiles.
    drop(plugin);
    let started = Instant::now();
    let compiled =
        pool.install(|| compile_now(&with.engine, with.cache.as_ref(), &hash, &job.bytes));
    let compile_ms = started.elapsed().as_millis();
    let tier = compiled.and_then(|(component, source)| {
        let pre = with.linker.instantiate_pre(&component)?;
        Ok(Tier {
            pre: Pre::new(job.version, pre)?,
            component,
            compiler: Compiler::Cranelift,
            source,
        })
    });
    let Some(plugin) = job.plugin.upgrade() else {
        tracing::debug!(plugin = label, path = %path.display(), compile_ms, "plugin optimised after it was replaced; the artifact is cached");
        return;
    };
    match tier {
        Ok(tier) => {
            plugin.caller.tier.store(Arc::new(tier));
            tracing::info!(
                plugin = label,
                path = %path.display(),
                compile_ms,
                since_load_ms = job.queued.elapsed().as_millis(),
                "plugin optimised: calls now run Cranelift's code"
            );
        }
        Err(e) => {
            tracing::warn!(plugin = label, path = %path.display(), error = format_args!("{e:#}"), "plugin could not be optimised; it keeps serving from the baseline compiler's code");
        }
    }
}

/// Whether the optimised artifact of `hash` is in `cache`.
pub(crate) fn optimised_cached(cache: Option<&ArtifactCache>, hash: &[u8]) -> bool {
    cache.is_some_and(|c| c.path_for(hash).is_file())
}

/// For log lines: where a baseline load was refused.
pub(crate) fn refused(path: &Path, error: &wasmtime::Error) {
    tracing::info!(path = %path.display(), reason = format_args!("{error:#}"), "the baseline compiler cannot compile this plugin; compiling it with Cranelift");
}
