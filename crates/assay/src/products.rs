//! The products a host serves: each one's configuration, plugin and call context.
//!
//! The table is immutable and shared through an [`ArcSwap`]: a request takes a snapshot
//! ([`Products::get`]) and finishes on it even if a reload swaps in a new table meanwhile, so
//! requests in flight end on the generation they started with. A product whose plugin failed
//! to load stays in the table with its error, so its routes answer 503 naming the problem
//! instead of 404.
//!
//! A plugin says which order kinds it serves and (contract 0.2.0 on) which settings it reads;
//! [`check_plugin`] holds the product's `kind` and `[settings]` against them whenever a
//! product is built (at start, on a plugin reload, on a configuration reload), and a product
//! that fails the check is not served by that plugin: at start its routes answer 503 with the
//! reason, on a reload the previous generation keeps serving.
//!
//! Each product keeps two things across calls: its package list cache (per `Product` value,
//! so any reload starts it afresh) and its plugin state ([`ProductContext::state`], which
//! [`context_for`] carries over to the next generation unless the settings changed).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::config::{Config, ProductConfig};
use crate::package_cache::PackageCache;
use assay_runtime::keyvalue::ProductState;
use assay_runtime::{CallSlots, Plugin, ProductContext, Runtime};
use assay_wire::metric;
use assay_wire::secret::Redactor;

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
    /// The package lists this generation may answer again without the plugin.
    pub packages: Arc<PackageCache>,
}

impl Product {
    /// The plugin's `name@version`, or `-` when none is loaded.
    pub fn plugin_label(&self) -> String {
        match &self.plugin {
            Ok(p) => format!("{}@{}", p.metadata().name, p.metadata().version),
            Err(_) => "-".to_owned(),
        }
    }

    /// The previous generation, kept serving after a reload failed with `error`.
    pub fn kept_after(old: &Product, error: String) -> Product {
        Product {
            config: old.config.clone(),
            context: old.context.clone(),
            plugin: old.plugin.clone(),
            generation: old.generation,
            last_error: Some(error),
            packages: Arc::clone(&old.packages),
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
///
/// The plugin's state carries over from `previous` (the product's generation before a reload)
/// when the settings are the same; new settings start an empty state, so nothing fetched with
/// old credentials (a cached token, say) outlives them.
pub fn context_for(config: &ProductConfig, previous: Option<&Product>) -> ProductContext {
    let state = match previous {
        Some(old) if old.config.settings == config.settings => Arc::clone(&old.context.state),
        Some(_) => {
            tracing::info!(
                product = config.name,
                "settings changed: the plugin's state starts empty"
            );
            Arc::new(ProductState::default())
        }
        None => Arc::new(ProductState::default()),
    };
    // The bound holds across generations: calls of the old plugin still in flight count.
    let calls = match previous {
        Some(old) if old.context.calls.limit() == config.max_concurrent_calls => {
            Arc::clone(&old.context.calls)
        }
        _ => Arc::new(CallSlots::new(config.max_concurrent_calls)),
    };
    ProductContext {
        product: Arc::from(config.name.as_str()),
        settings: Arc::new(config.settings.clone()),
        allowed_hosts: config.allowed_hosts.clone().into(),
        timeout: config.timeout,
        memory_limit_bytes: config.memory_limit_bytes as u64,
        state,
        redactor: Arc::new(redactor_for(config)),
        calls,
    }
}

/// Scrubs every secret the product's configuration holds: its settings read through `env:` or
/// `file:` references (a literal setting is not secret: a plugin declaring one secret is
/// refused), its webhook secrets and token, its package list keys and its StackOne API key.
pub fn redactor_for(config: &ProductConfig) -> Redactor {
    let settings = config.settings.iter().filter_map(|(key, value)| {
        let literal = config.setting_sources.get(key).is_some_and(|s| s.literal);
        (!literal).then_some(value)
    });
    Redactor::new(
        settings
            .chain(&config.webhook_secrets)
            .chain(&config.package_list_keys)
            .chain(config.webhook_token.as_ref())
            .chain([&config.stackone_api_key]),
    )
}

/// Holds a loaded plugin against its product: the plugin serves the product's `kind`, and the
/// product's `[settings]` fit what the plugin declares (contract 0.2.0 on; a 0.1.0 plugin
/// declares none and its settings are not checked): every required setting present and not
/// empty, every secret written as an `env:` or `file:` reference. The error names the product,
/// the plugin, each problem and where in the configuration file to look. Settings the plugin
/// does not declare are allowed (it may read keys of its own choosing) and logged once, since
/// they are often typos. `assay check` reports the same problems.
pub fn check_plugin(config: &ProductConfig, plugin: &Plugin) -> Result<(), String> {
    let problems = plugin_problems(config, plugin);
    for key in config.settings.keys() {
        if !plugin.metadata().settings.iter().any(|s| &s.name == key) {
            tracing::warn!(
                product = config.name,
                setting = key,
                plugin = plugin.label(),
                "the plugin does not declare this setting; is it a typo?"
            );
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "product `{}`: {} does not fit it: {}",
        config.name,
        plugin.label(),
        problems.join("; ")
    ))
}

/// Each way `plugin` does not fit the product `config` ([`check_plugin`]), in words.
pub fn plugin_problems(config: &ProductConfig, plugin: &Plugin) -> Vec<String> {
    let metadata = plugin.metadata();
    let mut problems = Vec::new();
    let kinds: Vec<assay_wire::order_kind::OrderKind> =
        metadata.kinds.iter().map(|k| (*k).into()).collect();
    if !kinds.contains(&config.kind) {
        let serves: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        problems.push(format!(
            "the product's kind is `{}` but the plugin serves only {} (set kind = \"{}\" at {}, \
             or use a plugin that serves {})",
            config.kind.as_str(),
            serves.join(", "),
            serves.first().copied().unwrap_or("?"),
            config.defined_at,
            config.kind.as_str()
        ));
    }
    for spec in &metadata.settings {
        let value = config.settings.get(&spec.name);
        let source = config.setting_sources.get(&spec.name);
        match (value, source) {
            (Some(v), _) if spec.required && v.expose().is_empty() => problems.push(format!(
                "the setting `{}` is required and empty at {}",
                spec.name,
                source.map_or_else(|| config.defined_at.to_string(), |s| s.at.to_string())
            )),
            (Some(_), Some(s)) if spec.secret && s.literal => problems.push(format!(
                "the setting `{}` is a secret but is written as a literal at {}; write \
                 \"env:NAME\" or \"file:/path\" instead",
                spec.name, s.at
            )),
            (None, _) if spec.required => problems.push(format!(
                "the setting `{}` ({}) is required and missing from \
                 [products.{}.settings] (the product is at {})",
                spec.name, spec.description, config.name, config.defined_at
            )),
            _ => {}
        }
    }
    problems
}

/// Loads every product of `config`. A plugin that fails to load is recorded with its error;
/// loading goes on with the other products.
pub async fn load_all(runtime: &Runtime, config: Arc<Config>) -> ProductTable {
    // Concurrently: a cold start compiles every plugin, and compiles overlap well (each is
    // partly single-threaded: parsing, validation, linking, writing the artifact).
    let loaded =
        futures::future::join_all(config.products.iter().map(|(name, product)| async move {
            (
                name.clone(),
                Arc::new(load_one(runtime, product, 1, None).await),
            )
        }))
        .await;
    ProductTable {
        config,
        products: loaded.into_iter().collect(),
    }
}

/// Loads one product's plugin and checks the product against it ([`check_plugin`]); `previous` is
/// the generation it replaces, if any.
pub async fn load_one(
    runtime: &Runtime,
    config: &ProductConfig,
    generation: u64,
    previous: Option<&Product>,
) -> Product {
    let context = context_for(config, previous);
    let loaded = runtime
        .load(&config.plugin)
        .await
        // The whole chain: the compiler's or linker's reason is a source of the error.
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
        .and_then(|plugin| check_plugin(config, &plugin).map(|()| plugin));
    let plugin = match loaded {
        Ok(plugin) => {
            let m = plugin.metadata();
            tracing::info!(product = config.name, plugin = %config.plugin.display(), name = m.name, version = m.version, contract = plugin.contract_version(), compiler = %plugin.compiler(), generation, "plugin loaded");
            Ok(plugin)
        }
        Err(error) => {
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
        packages: Arc::default(),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Overrides;

    #[test]
    fn the_redactor_scrubs_every_secret_of_the_product_but_not_its_literal_settings() {
        let text = r#"
[stackone]
api_key = "env:STACKONE_KEY"

[products.codetest]
plugin = "codetest.wasm"
kind = "assessment"
webhook_secrets = ["env:WHSEC"]
package_list_keys = ["env:PACKAGE_KEY"]

[products.codetest.settings]
api_token = "env:VENDOR_TOKEN"
base_url = "https://api.codetest.example"
"#;
        let env = |name: &str| {
            Some(
                match name {
                    "STACKONE_KEY" => "sk-stackone-value",
                    "WHSEC" => "whsec-value-123",
                    "PACKAGE_KEY" => "package-key-456",
                    "VENDOR_TOKEN" => "vendor-token-789",
                    _ => return None,
                }
                .to_owned(),
            )
        };
        let config = Config::from_str_with(
            text,
            Path::new("/etc/assay/config.toml"),
            &Overrides::default(),
            env,
        )
        .expect("config");
        let redactor = redactor_for(config.product("codetest").expect("product"));
        let leaked = "sk-stackone-value whsec-value-123 package-key-456 vendor-token-789 \
                      from https://api.codetest.example";
        assert_eq!(
            redactor.redact(leaked),
            "[redacted] [redacted] [redacted] [redacted] from https://api.codetest.example"
        );
    }
}
