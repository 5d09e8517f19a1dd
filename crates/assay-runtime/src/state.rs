//! What a plugin's `Store` holds for one call: WASI without any ambient authority, the
//! filtered `wasi:http`, the memory limiter, and what the `assay:plugin/host` imports of every
//! contract version do.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, ResourceLimiterAsync, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::answer_size::truncate_at_char;
use super::bulkhead::MemoryBudget;
use super::capture::OutputCapture;
use super::keyvalue::ProductState;
use super::outbound::Outbound;
use super::pool::LaneMemo;
use crate::ProductContext;
use crate::contract::latest::host::LogLevel;
use assay_wire::secret::{Redactor, Secret};

/// Longest log message kept from a plugin; longer ones are cut.
pub const MAX_LOG_MESSAGE: usize = 4096;
/// Most fields kept on one plugin log line.
pub const MAX_LOG_FIELDS: usize = 32;
/// Longest field name or value kept on a plugin log line; longer ones are cut.
pub const MAX_LOG_FIELD_CHARS: usize = 1024;

/// The per-call state of a plugin's store.
pub struct StoreState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Outbound,
    limiter: Limiter,
    /// The product, for log lines.
    product: Arc<str>,
    /// `name@version` of the plugin, for log lines.
    plugin: Arc<str>,
    settings: Arc<BTreeMap<String, Secret>>,
    /// The product's state between calls (`wasi:keyvalue`).
    keyvalue: Arc<ProductState>,
    stdout: OutputCapture,
    stderr: OutputCapture,
    /// Scrubs the product's secrets from log lines and printed output.
    redactor: Arc<Redactor>,
}

impl StoreState {
    /// A fresh state: no preopened directories, no environment, no arguments, no sockets, an
    /// empty stdin, and stdout/stderr captured for the log.
    /// `ctx` gives the product's settings, state, limits and redactor; `plugin` is the
    /// plugin's `name@version` for log lines; `budget` the memory all calls share.
    pub fn new(ctx: &ProductContext, plugin: Arc<str>, budget: Arc<MemoryBudget>) -> Self {
        let hooks = Outbound {
            product: Arc::clone(&ctx.product),
            allowed: Arc::clone(&ctx.allowed_hosts),
            denied: Arc::default(),
        };
        let stdout = OutputCapture::new();
        let stderr = OutputCapture::new();
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(ctx.memory_limit_bytes).unwrap_or(usize::MAX))
            .instances(64)
            .tables(64)
            .memories(16)
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            limiter: Limiter {
                inner: limits,
                refused: false,
                budget,
                product: Arc::clone(&ctx.product),
                charged: 0,
                budget_refused: false,
                lane: Arc::clone(ctx.calls.lane()),
            },
            product: Arc::clone(&ctx.product),
            plugin,
            settings: Arc::clone(&ctx.settings),
            keyvalue: Arc::clone(&ctx.state),
            stdout,
            stderr,
            redactor: Arc::clone(&ctx.redactor),
        }
    }

    /// The limiter, for `Store::limiter_async`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiterAsync {
        &mut self.limiter
    }

    /// The shared budget's size, if a growth was refused because the budget was spent.
    pub fn budget_hit(&self) -> Option<u64> {
        self.limiter
            .budget_refused
            .then(|| self.limiter.budget.limit())
    }

    /// Why the host refused the call's first refused outbound request, if it refused one.
    pub fn denied_request(&self) -> Option<&str> {
        self.hooks.denied.get().map(String::as_str)
    }

    /// The bytes of linear memory the call holds (charged to the budget until dropped).
    pub fn memory_charged(&self) -> u64 {
        self.limiter.charged
    }

    /// Whether a memory or table growth was refused during the call.
    pub fn limit_hit(&self) -> bool {
        self.limiter.refused
    }

    /// Writes what the plugin printed to stdout/stderr to the debug log.
    pub fn flush_stdio(&self) {
        for (stream, capture) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (bytes, dropped) = capture.take();
            if !bytes.is_empty() {
                tracing::debug!(
                    product = %self.product,
                    plugin = %self.plugin,
                    stream,
                    dropped_bytes = dropped,
                    output = %self.redactor.redact(&String::from_utf8_lossy(&bytes)),
                    "plugin output"
                );
            }
        }
    }
}

/// `StoreLimits`, remembering whether it refused something so the caller can tell a memory
/// limit from another trap.
struct Limiter {
    inner: StoreLimits,
    refused: bool,
    /// The process's budget, and what this call has charged to it (given back on drop).
    budget: Arc<MemoryBudget>,
    product: Arc<str>,
    charged: u64,
    budget_refused: bool,
    /// The product's lane, which paces its growths while it runs long (see `pool`).
    lane: Arc<LaneMemo>,
}

impl Drop for Limiter {
    fn drop(&mut self) {
        self.budget.release(&self.product, self.charged);
    }
}

impl Limiter {
    fn memory_allowed(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let mut ok = self.inner.memory_growing(current, desired, maximum)?;
        if ok {
            let delta = u64::try_from(desired.saturating_sub(current)).unwrap_or(u64::MAX);
            if self.budget.try_charge(&self.product, delta) {
                self.charged += delta;
            } else {
                self.budget_refused = true;
                ok = false;
            }
        }
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_allowed(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.table_growing(current, desired, maximum)?;
        self.refused |= !ok;
        Ok(ok)
    }
}

/// The future of one growth decision, boxed as the trait's `async_trait` signature has it.
type Decision<'a> = std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<bool>> + Send + 'a>>;

impl ResourceLimiterAsync for Limiter {
    fn memory_growing<'this, 'decision>(
        &'this mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Decision<'decision>
    where
        'this: 'decision,
        Self: 'decision,
    {
        Box::pin(async move {
            // A growth of a live memory (not its creation) of a product that runs long waits
            // for its turn first, so the budget is read as it is when the growth happens.
            if current > 0
                && let Some(wait) = self.lane.growth_wait()
            {
                tokio::time::sleep(wait).await;
            }
            self.memory_allowed(current, desired, maximum)
        })
    }

    fn table_growing<'this, 'decision>(
        &'this mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Decision<'decision>
    where
        'this: 'decision,
        Self: 'decision,
    {
        Box::pin(async move { self.table_allowed(current, desired, maximum) })
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl StoreState {
    /// A plugin's log line, into `tracing` with the product and plugin, cut to the limits.
    pub(crate) fn plugin_log(
        &self,
        level: LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) {
        let (message, fields) = bounded_log(message, fields);
        let (message, fields) = (
            self.redactor.redact(&message),
            self.redactor.redact(&fields),
        );
        let fields = &*fields;
        let (product, plugin) = (&*self.product, &*self.plugin);
        match level {
            LogLevel::Trace => tracing::trace!(product, plugin, fields, "{message}"),
            LogLevel::Debug => tracing::debug!(product, plugin, fields, "{message}"),
            LogLevel::Info => tracing::info!(product, plugin, fields, "{message}"),
            LogLevel::Warn => tracing::warn!(product, plugin, fields, "{message}"),
            LogLevel::Error => tracing::error!(product, plugin, fields, "{message}"),
        }
    }

    pub(crate) fn setting_value(&self, key: &str) -> Option<String> {
        self.settings.get(key).map(|s| s.expose().to_owned())
    }

    pub(crate) fn setting_names(&self) -> Vec<String> {
        self.settings.keys().cloned().collect()
    }

    /// The product's state between calls.
    pub(crate) fn product_state(&self) -> &ProductState {
        &self.keyvalue
    }

    /// The call's resources (buckets, HTTP bodies…).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The call's resources, to read.
    pub(crate) fn table_ref(&self) -> &ResourceTable {
        &self.table
    }
}

/// A plugin's log line cut to the limits: the message to [`MAX_LOG_MESSAGE`] bytes, at most
/// [`MAX_LOG_FIELDS`] fields of at most [`MAX_LOG_FIELD_CHARS`] bytes each, rendered as
/// `key=value` pairs (a field count beyond the limit is noted).
fn bounded_log(mut message: String, fields: Vec<(String, String)>) -> (String, String) {
    truncate_at_char(&mut message, MAX_LOG_MESSAGE);
    let total = fields.len();
    let mut rendered: Vec<String> = fields
        .into_iter()
        .take(MAX_LOG_FIELDS)
        .map(|(mut k, mut v)| {
            truncate_at_char(&mut k, MAX_LOG_FIELD_CHARS);
            truncate_at_char(&mut v, MAX_LOG_FIELD_CHARS);
            format!("{k}={v}")
        })
        .collect();
    if total > MAX_LOG_FIELDS {
        rendered.push(format!("(+{} more fields)", total - MAX_LOG_FIELDS));
    }
    (message, rendered.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_and_many_fields_are_cut() {
        let fields: Vec<(String, String)> = (0..MAX_LOG_FIELDS + 5)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_LOG_FIELD_CHARS * 2)))
            .collect();
        let (message, rendered) = bounded_log("m".repeat(MAX_LOG_MESSAGE * 3), fields);
        assert!(message.len() <= MAX_LOG_MESSAGE + '…'.len_utf8());
        assert_eq!(rendered.matches('=').count(), MAX_LOG_FIELDS);
        assert!(
            rendered.ends_with("(+5 more fields)"),
            "{}",
            &rendered[rendered.len() - 40..]
        );
        let longest = rendered.split(' ').map(str::len).max().unwrap_or(0);
        assert!(longest <= 2 * (MAX_LOG_FIELD_CHARS + '…'.len_utf8()) + 1);
    }

    #[test]
    fn short_lines_pass_unchanged() {
        let (message, rendered) = bounded_log("hello".into(), vec![("order".into(), "o-1".into())]);
        assert_eq!(
            (message.as_str(), rendered.as_str()),
            ("hello", "order=o-1")
        );
    }
}
