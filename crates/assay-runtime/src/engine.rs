//! The process's one wasmtime [`Engine`] and its epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Instances the pooling allocator keeps slots for (concurrent plugin calls). Plugin calls
/// mostly wait on vendor APIs, so a 2-core host runs far more at once than it has cores; past
/// this many, instantiation fails and the call is retried later.
pub const POOL_INSTANCES: u32 = 256;
/// The largest linear memory a pooled instance may grow to: the largest memory limit the
/// configuration accepts (`products.NAME.memory_limit_mb`). Slots are only reserved address
/// space; each call's own limit is enforced by its store's limiter.
pub const POOL_MAX_MEMORY: usize = (*crate::MEMORY_LIMIT_MB_RANGE.end() as usize) << 20;

/// Builds the engine: component model, async, epoch interruption, copy-on-write memory
/// images, and the pooling allocator when `pooling` is set.
pub fn build(pooling: bool) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .parallel_compilation(true);
    if pooling {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 4)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .total_stacks(POOL_INSTANCES)
            .max_memory_size(POOL_MAX_MEMORY)
            // Reset only the pages a call dirtied (Linux PAGEMAP_SCAN, where the kernel has it)
            // and keep them resident: the next call then takes no page faults on them.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(POOL_KEEP_RESIDENT)
            .table_keep_resident(POOL_KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// How much of a pooled memory or table is kept resident (and reset in place) between calls.
pub const POOL_KEEP_RESIDENT: usize = 4 << 20;

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own, until dropped.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts ticking `engine`.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        // A weak handle: the ticker must not keep the engine alive.
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("assay-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
