//! What a plugin's `Store` holds for one call: WASI without any ambient authority, the
//! filtered `wasi:http`, the memory limiter and the `assay:plugin/host` imports.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::assay::plugin::host::{Host, LogLevel};
use super::outbound::Outbound;
use crate::secret::Secret;

/// Longest log message kept from a plugin; longer ones are cut.
pub const MAX_LOG_MESSAGE: usize = 4096;
/// Most fields kept on one plugin log line.
pub const MAX_LOG_FIELDS: usize = 32;
/// Most bytes of stdout and of stderr kept from one call.
pub const MAX_STDIO_BYTES: usize = 64 * 1024;

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
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl StoreState {
    /// A fresh state: no preopened directories, no environment, no arguments, no sockets, an
    /// empty stdin, and stdout/stderr captured for the log.
    pub fn new(
        product: Arc<str>,
        plugin: Arc<str>,
        settings: Arc<BTreeMap<String, Secret>>,
        hooks: Outbound,
        memory_limit: u64,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let stderr = MemoryOutputPipe::new(MAX_STDIO_BYTES);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(memory_limit).unwrap_or(usize::MAX))
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
            },
            product,
            plugin,
            settings,
            stdout,
            stderr,
        }
    }

    /// The limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.limiter
    }

    /// Whether a memory or table growth was refused during the call.
    pub fn limit_hit(&self) -> bool {
        self.limiter.refused
    }

    /// Writes what the plugin printed to stdout/stderr to the debug log.
    pub fn flush_stdio(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                tracing::debug!(product = %self.product, plugin = %self.plugin, stream, output = %String::from_utf8_lossy(&bytes), "plugin output");
            }
        }
    }
}

/// `StoreLimits`, remembering whether it refused something so the caller can tell a memory
/// limit from another trap.
struct Limiter {
    inner: StoreLimits,
    refused: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.memory_growing(current, desired, maximum)?;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.inner.table_growing(current, desired, maximum)?;
        self.refused |= !ok;
        Ok(ok)
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

impl Host for StoreState {
    fn log(
        &mut self,
        level: LogLevel,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_LOG_MESSAGE {
            let mut cut = MAX_LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let fields: Vec<String> = fields
            .iter()
            .take(MAX_LOG_FIELDS)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let fields = fields.join(" ");
        let (product, plugin) = (&*self.product, &*self.plugin);
        match level {
            LogLevel::Trace => tracing::trace!(product, plugin, fields, "{message}"),
            LogLevel::Debug => tracing::debug!(product, plugin, fields, "{message}"),
            LogLevel::Info => tracing::info!(product, plugin, fields, "{message}"),
            LogLevel::Warn => tracing::warn!(product, plugin, fields, "{message}"),
            LogLevel::Error => tracing::error!(product, plugin, fields, "{message}"),
        }
        Ok(())
    }

    fn setting(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.settings.get(&key).map(|s| s.expose().to_owned()))
    }

    fn setting_keys(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.settings.keys().cloned().collect())
    }
}
