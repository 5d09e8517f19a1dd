//! The products a host serves: each one's configuration, plugin and call context.
//!
//! The table is immutable and shared through an [`ArcSwap`]: a request takes a snapshot
//! ([`Products::get`]) and finishes on it even if a reload swaps in a new table meanwhile, so
//! requests in flight end on the generation they started with. A product whose plugin failed
//! to load stays in the table with its error, so its routes answer 503 naming the problem
//! instead of 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::{Config, ProductConfig};
use assay_runtime::{Plugin, ProductContext, Runtime};
use assay_wire::metric;

/// One product: its configuration, its plugin (or why it has none), its call context.
#[derive(Debug)]
pub struct Product {
    /// The product's configuration.
    pub config: ProductConfig,
    /// The context every plugin call of this product runs with.
    pub context: ProductContext,
    /// The loaded plugin, or the reason it is not loaded (shown to operators).
    pub plugin: Result<Arc<Plugin>, String>,
    /// Counts the plugins this product has had; 1 for the first.
    pub generation: u64,
    /// The last reload's failure while an older generation keeps serving.
    pub last_error: Option<String>,
}

impl Product {
    /// The plugin's `name@version`, or `-` when none is loaded.
    pub fn plugin_label(&self) -> String {
        match &self.plugin {
            Ok(p) => format!("{}@{}", p.metadata().name, p.metadata().version),
            Err(_) => "-".to_owned(),
        }
    }
}

/// One generation of the host: the configuration in force and the products built from it,
/// swapped as one, so a request never sees the server settings of one configuration and the
/// products of another.
#[derive(Debug)]
pub struct ProductTable {
    /// The configuration this generation was built from.
    pub config: Arc<Config>,
    /// The products, by name.
    pub products: BTreeMap<String, Arc<Product>>,
}

/// The shared, swappable product table.
#[derive(Debug, Clone)]
pub struct Products {
    table: Arc<ArcSwap<ProductTable>>,
    /// Counts swaps, so tasks that follow the table (the poller) wait for a change instead of
    /// re-reading it on a timer.
    swaps: Arc<watch::Sender<u64>>,
}

impl Products {
    /// A table to start with.
    pub fn new(table: ProductTable) -> Self {
        Self {
            table: Arc::new(ArcSwap::from_pointee(table)),
            swaps: Arc::new(watch::Sender::new(0)),
        }
    }

    /// The product `name` in the current table.
    pub fn get(&self, name: &str) -> Option<Arc<Product>> {
        self.table.load().products.get(name).cloned()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.table.load().config)
    }

    /// A snapshot of the whole table.
    pub fn snapshot(&self) -> Arc<ProductTable> {
        self.table.load_full()
    }

    /// Replaces the table atomically.
    pub fn swap(&self, table: ProductTable) {
        self.table.store(Arc::new(table));
        self.swaps.send_modify(|n| *n += 1);
    }

    /// Sees every later [`Products::swap`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.swaps.subscribe()
    }
}

/// The call context of a product: what the configuration parsed, shared with every call.
pub fn context_for(config: &ProductConfig) -> ProductContext {
    ProductContext {
        product: Arc::from(config.name.as_str()),
        settings: Arc::new(config.settings.clone()),
        allowed_hosts: config.allowed_hosts.clone().into(),
        timeout: config.timeout,
        memory_limit_bytes: config.memory_limit_bytes as u64,
    }
}

/// Loads every product of `config`. A plugin that fails to load is recorded with its error;
/// loading goes on with the other products.
pub async fn load_all(runtime: &Runtime, config: Arc<Config>) -> ProductTable {
    // Concurrently: a cold start compiles every plugin, and compiles overlap well (each is
    // partly single-threaded: parsing, validation, linking, writing the artifact).
    let loaded =
        futures::future::join_all(config.products.iter().map(|(name, product)| async move {
            (name.clone(), Arc::new(load_one(runtime, product, 1).await))
        }))
        .await;
    ProductTable {
        config,
        products: loaded.into_iter().collect(),
    }
}

/// Loads one product's plugin.
pub async fn load_one(runtime: &Runtime, config: &ProductConfig, generation: u64) -> Product {
    let context = context_for(config);
    let plugin = match runtime.load(&config.plugin).await {
        Ok(plugin) => {
            let m = plugin.metadata();
            tracing::info!(product = config.name, plugin = %config.plugin.display(), name = m.name, version = m.version, generation, "plugin loaded");
            Ok(plugin)
        }
        Err(e) => {
            // The whole chain: the compiler's or linker's reason is a source of `e`.
            let error = format!("{:#}", anyhow::Error::new(e));
            tracing::error!(product = config.name, plugin = %config.plugin.display(), error, "plugin failed to load");
            metrics::counter!(metric::PLUGIN_LOAD_FAILURES_TOTAL, "product" => config.name.clone())
                .increment(1);
            Err(error)
        }
    };
    Product {
        config: config.clone(),
        context,
        plugin,
        generation,
        last_error: None,
    }
}

/// Whether `path` still holds the bytes `plugin` was loaded from.
pub fn unchanged(plugin: &Plugin, path: &std::path::Path) -> bool {
    use sha2::Digest as _;
    match std::fs::read(path) {
        Ok(bytes) => sha2::Sha256::digest(&bytes).as_slice() == plugin.content_hash(),
        Err(_) => false,
    }
}
