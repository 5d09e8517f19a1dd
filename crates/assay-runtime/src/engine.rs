//! The process's one wasmtime [`Engine`] and its epoch ticker.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Strategy,
};

/// How often the engine's epoch advances; deadlines are counted in these ticks, and a running
/// call yields to the others at each. 1 ms: a looping plugin holds a call thread at most that
/// long before the next call (a well-behaved product's, say) gets its turn; at 5 ms, eight
/// looping calls on two threads kept another product's call waiting 20 ms and more. The
/// ticker only runs while a call is in flight.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Instances the pooling allocator keeps slots for (concurrent plugin calls), defined with
/// the configuration that bounds `max_concurrent_calls` by it.
pub use assay_config::limits::POOL_INSTANCES;
/// The largest linear memory a pooled instance may grow to: the largest memory limit the
/// configuration accepts (`products.NAME.memory_limit_mb`). Slots are only reserved address
/// space; each call's own limit is enforced by its store's limiter.
pub const POOL_MAX_MEMORY: usize = (*crate::MEMORY_LIMIT_MB_RANGE.end() as usize) << 20;

/// The code generator an engine compiles plugins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compiler {
    /// Cranelift: optimising, the code every call should run; seconds for a large component.
    Cranelift,
    /// Winch: a baseline compiler, one pass per function with no optimisation, several times
    /// faster to compile and slower to run (see `tiering`).
    Winch,
}

impl Compiler {
    /// `cranelift` or `winch`, as logs and the status page say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cranelift => "cranelift",
            Self::Winch => "winch",
        }
    }
}

impl std::fmt::Display for Compiler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds an engine compiling with `compiler`: component model, async, epoch interruption,
/// copy-on-write memory images, and the pooling allocator when `pooling` is set.
pub fn build(pooling: bool, compiler: Compiler, keep_resident: usize) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.strategy(match compiler {
        Compiler::Cranelift => Strategy::Cranelift,
        Compiler::Winch => Strategy::Winch,
    });
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
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(keep_resident);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// How much of a pooled memory or table is kept resident (and reset in place) between calls.
pub const POOL_KEEP_RESIDENT: usize = 4 << 20;

/// Advances the engines' epochs every [`EPOCH_TICK`] on a thread of its own, until dropped,
/// but only while a plugin call runs: an idle host's ticker thread is parked, so it does not
/// wake the machine 200 times a second for nothing. Deadlines do not depend on the tick count
/// (the epoch callback compares the clock), so pausing loses nothing.
pub struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    /// Calls in flight; the thread ticks while this is above zero.
    busy: AtomicUsize,
    thread: OnceLock<Thread>,
}

impl Ticker {
    /// Starts the ticker of `engines`, parked until a call holds a [`Busy`].
    pub fn start(engines: &[&Engine]) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            thread: OnceLock::new(),
        });
        // Weak handles: the ticker must not keep an engine alive.
        let weak: Vec<_> = engines.iter().map(|e| e.weak()).collect();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("assay-epoch".into())
            .spawn(move || {
                while !state.stop.load(Ordering::Acquire) {
                    if state.busy.load(Ordering::Acquire) == 0 {
                        // `unpark` before `park` returns at once, so a call starting between
                        // the check and here is not missed.
                        std::thread::park();
                        continue;
                    }
                    std::thread::sleep(EPOCH_TICK);
                    let mut alive = false;
                    for engine in weak.iter().filter_map(|w| w.upgrade()) {
                        engine.increment_epoch();
                        alive = true;
                    }
                    if !alive {
                        break;
                    }
                }
            })?;
        let _ = shared.thread.set(thread.thread().clone());
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// A handle that plugins keep to mark their calls busy.
    pub fn handle(&self) -> TickerHandle {
        TickerHandle(Arc::clone(&self.shared))
    }
}

/// Marks calls busy on a [`Ticker`]; cheap to clone.
#[derive(Clone)]
pub struct TickerHandle(Arc<Shared>);

impl TickerHandle {
    /// The ticker runs until the returned guard is dropped (and every other guard).
    pub fn busy(&self) -> Busy {
        if self.0.busy.fetch_add(1, Ordering::AcqRel) == 0
            && let Some(thread) = self.0.thread.get()
        {
            thread.unpark();
        }
        Busy(Arc::clone(&self.0))
    }
}

impl std::fmt::Debug for TickerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TickerHandle")
            .field("busy", &self.0.busy.load(Ordering::Relaxed))
            .finish()
    }
}

/// A call in flight: keeps the epoch ticking until dropped.
pub struct Busy(Arc<Shared>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn epoch_moves(engine: &Engine, within: Duration) -> bool {
        // The epoch is not readable from outside; a store's deadline is. A store whose
        // deadline is one tick away has it pass only if the ticker advances.
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        // (module (func (export "f") (loop (br 0)))), in binary: the engine takes no text.
        const LOOP: &[u8] = &[
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
            0x03, 0x02, 0x01, 0x00, // function 0 of type 0
            0x07, 0x05, 0x01, 0x01, b'f', 0x00, 0x00, // export "f"
            0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
        ];
        let module = wasmtime::Module::new(engine, LOOP).expect("module");
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).expect("instance");
        let f = instance
            .get_typed_func::<(), ()>(&mut store, "f")
            .expect("f");
        let started = Instant::now();
        // With epoch interruption on, the loop traps once the epoch passes the deadline.
        std::thread::scope(|scope| {
            let handle = scope.spawn(move || f.call(&mut store, ()).is_err());
            while !handle.is_finished() && started.elapsed() < within {
                std::thread::sleep(EPOCH_TICK);
            }
            if handle.is_finished() {
                handle.join().unwrap_or(false)
            } else {
                engine.increment_epoch(); // release the loop so the scope can end
                let _ = handle.join();
                false
            }
        })
    }

    #[test]
    fn the_ticker_runs_only_while_a_call_is_busy() {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).expect("engine");
        let ticker = Ticker::start(&[&engine]).expect("ticker");
        assert!(
            !epoch_moves(&engine, EPOCH_TICK * 20),
            "an idle ticker does not advance the epoch"
        );
        let busy = ticker.handle().busy();
        assert!(
            epoch_moves(&engine, Duration::from_secs(5)),
            "a busy ticker advances the epoch"
        );
        drop(busy);
    }
}
