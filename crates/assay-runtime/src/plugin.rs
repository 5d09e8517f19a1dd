//! A loaded plugin and its calls: a fresh instance per call, with a deadline and a memory
//! limit, so no state leaks from one order to the next and one bad call fails alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tracing::Instrument;
use wasmtime::{Store, UpdateDeadline};

use super::answer_size::{
    AnswerSize, map_plugin_error_message, truncate_at_char, truncate_plugin_error,
};
use super::bulkhead::MemoryBudget;
use super::engine::{Compiler, TickerHandle};
use super::error::{CallError, CallErrorKind};
use super::pool::CallPool;
use super::state::StoreState;
use super::types::{
    CallbackOutcome, CallbackRequest, Fulfilment, Order, OrderResult, PackageList, PackageQuery,
    PendingOrder, PluginError, PluginMetadata,
};
use super::{LoadSource, MAX_ANSWER_BYTES, ProductContext};
use crate::contract::{
    Export, FulfilOrder, HandleCallback, Instance, ListPackages, Metadata, PollResults, Pre,
};
use assay_wire::metric;

/// Longest trap or instantiation message kept in a [`CallError`] (a wasm backtrace can be
/// long).
pub const MAX_TRAP_MESSAGE: usize = 2048;

/// Extra time the outer timeout gives the epoch deadline before it gives up on the call.
pub const DEADLINE_GRACE: Duration = Duration::from_millis(250);

/// A plugin, compiled and linked, ready to be instantiated for each call.
pub struct Plugin {
    pub(super) caller: Caller,
    pub(super) metadata: PluginMetadata,
    pub(super) content_hash: [u8; 32],
    pub(super) path: PathBuf,
}

/// The plugin's code as one compiler made it. A plugin loaded by the baseline compiler gets
/// the optimised tier swapped in when it is ready (`tiering`); a call takes the tier in place
/// when it starts and keeps it to its end.
pub(super) struct Tier {
    pub(super) pre: Pre,
    pub(super) component: wasmtime::component::Component,
    pub(super) compiler: Compiler,
    pub(super) source: LoadSource,
}

/// What one call of a plugin needs, owned, so the call can run on the [`CallPool`].
#[derive(Clone)]
pub(super) struct Caller {
    /// The code calls run; replaced once when a baseline tier is optimised.
    pub(super) tier: Arc<ArcSwap<Tier>>,
    /// `name@version`, for log lines and errors.
    pub(super) label: Arc<str>,
    /// Keeps the engine's epoch ticking while a call of this plugin runs.
    pub(super) ticker: TickerHandle,
    /// The memory budget all calls share.
    pub(super) budget: Arc<MemoryBudget>,
    /// Where plugin code runs.
    pub(super) pool: Arc<CallPool>,
    /// What the pooling allocator keeps resident of a memory between calls: a store that
    /// charged more ends on the reclaim thread.
    pub(super) keep_resident: usize,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("label", &self.caller.label)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The error a deadline callback raises; recognised when classifying a failed call.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

impl Plugin {
    /// What the plugin said about itself.
    pub fn metadata(&self) -> &PluginMetadata {
        &self.metadata
    }

    /// `name@version`.
    pub fn label(&self) -> &str {
        &self.caller.label
    }

    /// SHA-256 of the `.wasm` file.
    pub fn content_hash(&self) -> &[u8] {
        &self.content_hash
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the code its calls run now was compiled or loaded from the artifact cache.
    pub fn source(&self) -> LoadSource {
        self.caller.tier.load().source
    }

    /// The compiler that made the code its calls run now: [`Compiler::Winch`] until a
    /// plugin loaded by the baseline compiler is optimised (`tiering`).
    pub fn compiler(&self) -> Compiler {
        self.caller.tier.load().compiler
    }

    /// The compiled component (for inspection).
    pub fn component(&self) -> wasmtime::component::Component {
        self.caller.tier.load().component.clone()
    }

    /// The `assay:plugin` contract version it was built against (`0.1.0`).
    pub fn contract_version(&self) -> &'static str {
        self.caller.tier.load().pre.version().as_str()
    }

    /// `metadata`, in a fresh instance like every call (loading calls it once).
    pub(super) async fn metadata_call(
        &self,
        ctx: &ProductContext,
    ) -> Result<PluginMetadata, CallError> {
        self.call(ctx, Metadata).await
    }

    /// `list-packages`.
    pub async fn list_packages(
        &self,
        ctx: &ProductContext,
        query: PackageQuery,
    ) -> Result<PackageList, CallError> {
        self.call(ctx, ListPackages(query)).await
    }

    /// `fulfil-order`.
    pub async fn fulfil_order(
        &self,
        ctx: &ProductContext,
        order: Order,
    ) -> Result<Fulfilment, CallError> {
        self.call(ctx, FulfilOrder(order)).await
    }

    /// `handle-callback`.
    pub async fn handle_callback(
        &self,
        ctx: &ProductContext,
        request: CallbackRequest,
    ) -> Result<CallbackOutcome, CallError> {
        self.call(ctx, HandleCallback(request)).await
    }

    /// `poll-results`.
    pub async fn poll_results(
        &self,
        ctx: &ProductContext,
        pending: Vec<PendingOrder>,
    ) -> Result<Vec<OrderResult>, CallError> {
        self.call(ctx, PollResults(pending)).await
    }

    /// The one way into a plugin, so no export can miss any of it: a fresh instance, the
    /// deadline (the epoch callback, and an outer timeout [`DEADLINE_GRACE`] later for a call
    /// waiting in a host import, where epochs do not reach), the memory limit, the answer's
    /// size check, the `plugin_call` span the plugin's own log lines nest in, and the call's
    /// duration in [`metric::PLUGIN_CALL_SECONDS`] (its instantiation's in
    /// [`metric::PLUGIN_INSTANTIATE_SECONDS`]). Both are recorded here, on the caller's thread,
    /// not on the pool's.
    async fn call<E: Export + 'static>(
        &self,
        ctx: &ProductContext,
        export: E,
    ) -> Result<E::Answer, CallError> {
        let span = tracing::info_span!(
            "plugin_call",
            product = %ctx.product,
            export = E::NAME,
            plugin = %self.caller.label,
            contract = self.contract_version(),
        );
        let started = Instant::now();
        let (caller, job_ctx) = (self.caller.clone(), ctx.clone());
        let job = async move { caller.call(&job_ctx, export).await }.instrument(span.clone());
        // The deadline again, one grace later, on the caller's thread: a call on the long or
        // idle lane whose threads get no core (the host busy with its own work) still answers
        // its caller in time; it runs on until it notices, holding its slot and its memory.
        let run = self.caller.pool.run(job, ctx.calls.lane()).instrument(span);
        let (answer, instantiating) = tokio::time::timeout(ctx.timeout + 2 * DEADLINE_GRACE, run)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let timeout = self.caller.error(ctx, CallErrorKind::Timeout(ctx.timeout));
                (Err(timeout), None)
            });
        let outcome = if answer.is_ok() { "ok" } else { "error" };
        let product = ctx.product.to_string();
        if let Some(instantiating) = instantiating {
            metrics::histogram!(metric::PLUGIN_INSTANTIATE_SECONDS, "product" => product.clone())
                .record(instantiating.as_secs_f64());
        }
        metrics::histogram!(metric::PLUGIN_CALL_SECONDS, "product" => product, "call" => E::NAME, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        answer
    }
}

impl Caller {
    /// The call itself, on the pool: the product's call slot, a fresh instance, the deadline.
    /// With its answer, the time instantiating took, if the call got that far.
    async fn call<E: Export>(
        &self,
        ctx: &ProductContext,
        export: E,
    ) -> (Result<E::Answer, CallError>, Option<Duration>) {
        // Past the product's bound the call fails at once: the pool's instance slots stay
        // free for the other products (see `bulkhead`).
        let Some(slot) = ctx.calls.try_take() else {
            let busy = self.error(ctx, CallErrorKind::Busy(ctx.calls.limit()));
            return (Err(busy), None);
        };
        let ticking = self.ticker.busy();
        let started = Instant::now();
        let instantiated = self.instantiate(ctx).await;
        let instantiating = Some(started.elapsed());
        let (mut store, instance) = match instantiated {
            Ok(instantiated) => instantiated,
            Err(e) => return (Err(e), instantiating),
        };
        let called = tokio::time::timeout(
            ctx.timeout + DEADLINE_GRACE,
            export.call(&instance, &mut store),
        )
        .await;
        let answer = self.finish(ctx, &store, called);
        drop(ticking);
        // Giving a big memory back to the kernel is one long system call: not on the pool's
        // threads, where other calls wait (see `pool`). The slot goes with the store, so the
        // product's bound also counts calls whose memory is still being given back.
        if store.data().memory_charged() > self.keep_resident as u64 {
            self.pool.reclaim((store, slot));
        }
        (answer, instantiating)
    }

    /// A fresh store and instance for one call, with its deadline and limits armed.
    async fn instantiate(
        &self,
        ctx: &ProductContext,
    ) -> Result<(Store<StoreState>, Instance), CallError> {
        let state = StoreState::new(ctx, Arc::clone(&self.label), Arc::clone(&self.budget));
        let tier = self.tier.load_full();
        let mut store = Store::new(tier.pre.engine(), state);
        store.limiter_async(|s| s.limiter());
        let deadline = Instant::now() + ctx.timeout;
        store.set_epoch_deadline(1);
        // Every tick: yield to other tasks, and stop the call once its deadline has passed.
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        match tier.pre.instantiate(&mut store).await {
            Ok(instance) => Ok((store, instance)),
            Err(e) => Err(self.error(ctx, classify(e, &store, ctx, Stage::Instantiate))),
        }
    }

    fn finish<T: AnswerSize>(
        &self,
        ctx: &ProductContext,
        store: &Store<StoreState>,
        called: Result<wasmtime::Result<Result<T, PluginError>>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        store.data().flush_stdio();
        match called {
            Ok(Ok(Ok(value))) => {
                let size = value.answer_size();
                if size > MAX_ANSWER_BYTES {
                    return Err(self.error(
                        ctx,
                        CallErrorKind::AnswerTooLarge {
                            size,
                            limit: MAX_ANSWER_BYTES,
                        },
                    ));
                }
                Ok(value)
            }
            // An engine inside the component (SpiderMonkey, CPython) may catch a refused
            // growth and return its own "out of memory" error. The host knows the cause: the
            // call is a memory failure (retryable once the limit is raised or the budget is
            // free again), not the permanent failure the plugin's error would make it.
            Ok(Ok(Err(_))) if let Some(budget) = store.data().budget_hit() => {
                Err(self.error(ctx, CallErrorKind::MemoryBudget(budget)))
            }
            Ok(Ok(Err(_))) if store.data().limit_hit() => {
                Err(self.error(ctx, CallErrorKind::MemoryLimit(ctx.memory_limit_bytes)))
            }
            Ok(Ok(Err(plugin_error))) => {
                let mut e = truncate_plugin_error(plugin_error);
                // The host's refusal goes with the plugin's words, whatever the SDK made of it.
                if let Some(reason) = store.data().denied_request() {
                    e = truncate_plugin_error(map_plugin_error_message(e, |m| {
                        format!("{m} (the host denied a request: {reason})")
                    }));
                }
                Err(self.error(ctx, CallErrorKind::Plugin(e)))
            }
            Ok(Err(e)) => Err(self.error(ctx, classify(e, store, ctx, Stage::Call))),
            Err(_) => Err(self.error(ctx, CallErrorKind::Timeout(ctx.timeout))),
        }
    }

    fn error(&self, ctx: &ProductContext, mut kind: CallErrorKind) -> CallError {
        kind.redact(&ctx.redactor);
        CallError {
            product: ctx.product.to_string(),
            plugin: self.label.to_string(),
            kind,
        }
    }
}

/// Tells a deadline and a memory limit from other traps.
fn classify(
    e: wasmtime::Error,
    store: &Store<StoreState>,
    ctx: &ProductContext,
    stage: Stage,
) -> CallErrorKind {
    if e.downcast_ref::<DeadlineExceeded>().is_some()
        || e.chain().any(|c| c.is::<DeadlineExceeded>())
    {
        return CallErrorKind::Timeout(ctx.timeout);
    }
    if let Some(budget) = store.data().budget_hit() {
        return CallErrorKind::MemoryBudget(budget);
    }
    if store.data().limit_hit() {
        return CallErrorKind::MemoryLimit(ctx.memory_limit_bytes);
    }
    // The whole chain: wasmtime puts the trap's kind below the backtrace.
    let mut message = format!("{e:#}");
    truncate_at_char(&mut message, MAX_TRAP_MESSAGE);
    match stage {
        Stage::Instantiate => CallErrorKind::Instantiate { message, source: e },
        Stage::Call => CallErrorKind::Trap { message, source: e },
    }
}

/// Where in a call an error came from.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Instantiate,
    Call,
}
