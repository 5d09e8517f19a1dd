//! Hot reload: one task watches the plugins folder and the configuration, and swaps in new
//! product generations without dropping a request.
//!
//! - The watcher (`notify`) watches *folders*, not files: editors and `mv` replace files, and a
//!   watch on the old inode would go quiet. Events are filtered down to the paths that matter.
//!   A plugins folder missing at start is waited for: its parent is watched until the folder
//!   appears, then the folder, and every plugin file is looked at once it has settled.
//! - Each changed path settles on its own timer ([`SETTLE`]): a path is handled once no event
//!   has touched it for that long, so a file being written is not read half-way; under
//!   constant churn it is handled anyway after [`MAX_SETTLE`].
//! - A new generation is built completely (read, compile or load from the artifact cache,
//!   link, check `metadata`) before one atomic swap of the product table. Requests in flight
//!   finish on the table they started with; the old plugin is freed when its last call ends.
//! - A plugin file that fails to build leaves the previous generation serving; the error is
//!   logged, counted and shown by `/readyz` and `/admin/status`. A deleted plugin file makes
//!   its product answer 503 naming the missing file.
//! - A changed configuration (or a secret file it reads) is validated as a whole first: an
//!   invalid file changes nothing. Products added, removed or changed take effect at once;
//!   `server.listen`, `server.admin_listen`, `store.path`, `store.url`,
//!   `store.delivery_lease_ms` and `store.max_batch` need a restart, which the log says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Overrides};
use crate::debounce::Debouncer;
use crate::products::{self, Product, ProductTable, Products};
use assay_runtime::Runtime;
use assay_wire::metric;

pub use crate::debounce::{MAX_SETTLE, SETTLE};

/// Loads the configuration again; the closure carries the path, overrides and environment.
pub type ConfigLoader = Arc<dyn Fn() -> Result<Config, crate::config::ConfigError> + Send + Sync>;

/// Builds a [`ConfigLoader`] for `path` with `overrides` and the process environment.
pub fn config_loader(path: PathBuf, overrides: Overrides) -> ConfigLoader {
    Arc::new(move || Config::load(&path, &overrides, crate::config::process_env))
}

/// An active watch: dropping it stops the events.
pub struct Watching {
    _watcher: notify::RecommendedWatcher,
    events: mpsc::UnboundedReceiver<PathBuf>,
    /// The plugins folder when it did not exist at start: its parent is watched until it
    /// appears, then the folder itself.
    awaiting: Option<PathBuf>,
}

/// What the reload task works on.
pub struct Reloader {
    /// The runtime that compiles plugins.
    pub runtime: Arc<Runtime>,
    /// The products in force.
    pub products: Products,
    /// Re-reads the configuration; `None` when the host was started from a configuration
    /// value rather than a file (then only plugins are watched).
    pub loader: Option<(PathBuf, ConfigLoader)>,
    /// Counts the batches of settled changes handled (applied or refused): what tests wait on
    /// instead of sleeping through the settle time.
    pub handled: Arc<watch::Sender<u64>>,
}

impl Reloader {
    /// Starts watching the plugins folder, the configuration's folder and the folders of
    /// secret files. Call it before serving, so no change made after start-up is missed.
    pub fn watch(&self) -> notify::Result<Watching> {
        let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && changes_content(&event.kind)
                {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
            })?;
        let mut watched = Vec::new();
        let config = self.products.config();
        let plugins = &config.plugins.dir;
        let awaiting = match (plugins.is_dir(), plugins.parent()) {
            (false, Some(parent)) if parent.is_dir() => {
                tracing::warn!(dir = %plugins.display(), "the plugins folder does not exist; its products load when it appears");
                watch_dir(&mut watcher, parent, &mut watched)?;
                Some(plugins.clone())
            }
            _ => {
                watch_dir(&mut watcher, plugins, &mut watched)?;
                None
            }
        };
        if let Some((path, _)) = &self.loader
            && let Some(dir) = path.parent()
        {
            watch_dir(&mut watcher, dir, &mut watched)?;
        }
        for secret in &config.secret_files {
            if let Some(dir) = secret.parent() {
                let _ = watch_dir(&mut watcher, dir, &mut watched);
            }
        }
        tracing::info!(dirs = ?watched, "watching for plugin and configuration changes");
        let store = &config.store.path;
        if config.store.url.is_none()
            && let Some(dir) = store.parent()
            && watched.iter().any(|w| same_dir(w, dir))
        {
            // The kernel reports every write of the database and its WAL to the watcher,
            // which wakes for each one: measurable CPU under load (BENCHMARKS.md).
            tracing::warn!(store = %store.display(), dir = %dir.display(), "the store is in a watched folder, so every write wakes the reload watcher: put it in a folder of its own (the default is data/assay.db)");
        }
        Ok(Watching {
            _watcher: watcher,
            events: rx,
            awaiting,
        })
    }

    /// Reloads on the changes `watching` reports until `cancel` fires. Sleeps while nothing
    /// changed: the debouncer's next due time is its only timer.
    pub async fn run(self, watching: Watching, cancel: CancellationToken) {
        let Watching {
            _watcher: mut watcher,
            events: mut rx,
            mut awaiting,
        } = watching;
        let mut pending = Debouncer::default();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                event = rx.recv() => {
                    let Some(path) = event else { break };
                    if let Some(dir) = awaiting.as_ref().filter(|d| same_file(d, &path) && d.is_dir()) {
                        // Files may have been put in before the watch below starts: every
                        // plugin file is looked at once the folder has settled.
                        match watcher.watch(dir, RecursiveMode::NonRecursive) {
                            Ok(()) => {
                                tracing::info!(dir = %dir.display(), "the plugins folder appeared; watching it");
                                let now = Instant::now();
                                for product in self.products.config().products.values() {
                                    pending.touch(product.plugin.clone(), now);
                                }
                                awaiting = None;
                            }
                            Err(e) => tracing::error!(dir = %dir.display(), error = %e, "the plugins folder appeared but cannot be watched"),
                        }
                        continue;
                    }
                    if self.relevant(&path) {
                        pending.touch(path, Instant::now());
                    }
                }
                () = pending.wait() => {
                    let settled = pending.take_due(Instant::now());
                    if !settled.is_empty() {
                        self.apply(settled).await;
                        self.handled.send_modify(|n| *n += 1);
                    }
                }
            }
        }
        drop(watcher);
    }

    fn relevant(&self, path: &Path) -> bool {
        let config = self.products.config();
        let is_config = self
            .loader
            .as_ref()
            .is_some_and(|(p, _)| same_file(p, path));
        let is_secret = config.secret_files.iter().any(|s| same_file(s, path));
        let is_plugin = config.products.values().any(|p| same_file(&p.plugin, path));
        is_config || is_secret || is_plugin
    }

    /// Handles a batch of settled paths: the configuration first (it may change which plugin
    /// files matter), then plugin files.
    pub async fn apply(&self, settled: Vec<PathBuf>) {
        let config_changed = settled.iter().any(|p| {
            self.loader.as_ref().is_some_and(|(c, _)| same_file(c, p))
                || self
                    .products
                    .config()
                    .secret_files
                    .iter()
                    .any(|s| same_file(s, p))
        });
        if config_changed {
            self.reload_config().await;
            return; // a configuration reload re-reads every plugin file as well
        }
        let current = self.products.snapshot();
        let config = Arc::clone(&current.config);
        let mut next: BTreeMap<String, Arc<Product>> = current.products.clone();
        let mut changed = false;
        for (name, product) in &config.products {
            if !settled.iter().any(|p| same_file(&product.plugin, p)) {
                continue;
            }
            let previous = current.products.get(name);
            next.insert(
                name.clone(),
                Arc::new(self.rebuild(product, previous).await),
            );
            changed = true;
        }
        if changed {
            self.products.swap(ProductTable {
                config: Arc::clone(&current.config),
                products: next,
            });
        }
    }

    /// Builds a product's next generation from its plugin file, or keeps the previous one
    /// serving when the file is broken.
    async fn rebuild(
        &self,
        config: &crate::config::ProductConfig,
        previous: Option<&Arc<Product>>,
    ) -> Product {
        let generation = previous.map_or(1, |p| p.generation + 1);
        let started = Instant::now();
        if !config.plugin.exists() {
            let message = format!("plugin file {} is missing", config.plugin.display());
            tracing::error!(
                product = config.name,
                reason = message,
                "product unavailable"
            );
            metrics::counter!(metric::RELOADS_TOTAL, "product" => config.name.clone(), "outcome" => "missing").increment(1);
            let mut fresh =
                products::load_one(&self.runtime, config, generation, previous.map(|p| &**p)).await;
            fresh.plugin = Err(message);
            return fresh;
        }
        let fresh =
            products::load_one(&self.runtime, config, generation, previous.map(|p| &**p)).await;
        match (&fresh.plugin, previous) {
            (Ok(_), _) => {
                metrics::counter!(metric::RELOADS_TOTAL, "product" => config.name.clone(), "outcome" => "ok").increment(1);
                metrics::histogram!(metric::RELOAD_SECONDS).record(started.elapsed().as_secs_f64());
                tracing::info!(
                    product = config.name,
                    generation,
                    took_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "new plugin generation serving"
                );
                fresh
            }
            (Err(e), Some(old)) if old.plugin.is_ok() => {
                metrics::counter!(metric::RELOADS_TOTAL, "product" => config.name.clone(), "outcome" => "failed").increment(1);
                tracing::error!(
                    product = config.name,
                    error = e,
                    generation = old.generation,
                    "new plugin failed to load; the previous generation keeps serving"
                );
                Product::kept_after(old, e.clone())
            }
            (Err(_), _) => {
                metrics::counter!(metric::RELOADS_TOTAL, "product" => config.name.clone(), "outcome" => "failed").increment(1);
                fresh
            }
        }
    }

    /// Re-reads and validates the configuration; swaps products and server settings.
    pub async fn reload_config(&self) {
        let Some((path, loader)) = &self.loader else {
            return;
        };
        let new = match loader() {
            Ok(c) => c,
            Err(e) => {
                metrics::counter!(metric::CONFIG_RELOADS_TOTAL, "outcome" => "invalid")
                    .increment(1);
                tracing::error!(file = %path.display(), error = %e, "configuration change refused; nothing changed");
                return;
            }
        };
        let old = self.products.config();
        if new.server.listen != old.server.listen {
            tracing::warn!(old = %old.server.listen, new = %new.server.listen, "server.listen changed: restart assay to apply it");
        }
        if new.server.admin_listen != old.server.admin_listen {
            tracing::warn!(old = ?old.server.admin_listen, new = ?new.server.admin_listen, "server.admin_listen changed: restart assay to apply it");
        }
        if new.store.max_batch != old.store.max_batch {
            tracing::warn!(
                old = old.store.max_batch,
                new = new.store.max_batch,
                "store.max_batch changed: restart assay to apply it"
            );
        }
        if new.store.delivery_lease != old.store.delivery_lease {
            tracing::warn!(
                old_ms = old.store.delivery_lease.as_millis(),
                new_ms = new.store.delivery_lease.as_millis(),
                "store.delivery_lease_ms changed: restart assay to apply it"
            );
        }
        if new.store.url != old.store.url {
            tracing::warn!("store.url changed: restart assay to apply it");
        }
        if new.store.path != old.store.path {
            tracing::warn!(old = %old.store.path.display(), new = %new.store.path.display(), "store.path changed: restart assay to apply it");
        }
        let current = self.products.snapshot();
        let mut next = BTreeMap::new();
        for (name, product) in &new.products {
            let previous = current.products.get(name);
            let rebuilt = match previous {
                // The same plugin file with the same bytes: keep the compiled plugin, take the
                // new settings, secrets and limits if the plugin accepts the settings.
                Some(old)
                    if old.config.plugin == product.plugin
                        && old
                            .plugin
                            .as_ref()
                            .is_ok_and(|p| products::unchanged(p, &product.plugin)) =>
                {
                    let plugin = old.plugin.as_ref().map(Arc::clone).ok();
                    match plugin.map(|p| products::check_plugin(product, &p)) {
                        Some(Err(e)) => {
                            tracing::error!(
                                product = name,
                                error = e,
                                "configuration change refused for this product; the previous generation keeps serving"
                            );
                            metrics::counter!(metric::RELOADS_TOTAL, "product" => name.clone(), "outcome" => "failed").increment(1);
                            Product::kept_after(old, e)
                        }
                        _ if old.config == *product => Product {
                            config: product.clone(),
                            context: old.context.clone(),
                            plugin: old.plugin.clone(),
                            generation: old.generation,
                            last_error: None,
                            packages: Arc::clone(&old.packages),
                        },
                        _ => Product {
                            config: product.clone(),
                            context: products::context_for(product, Some(old)),
                            plugin: old.plugin.clone(),
                            generation: old.generation,
                            last_error: None,
                            packages: Arc::default(),
                        },
                    }
                }
                _ => self.rebuild(product, previous).await,
            };
            next.insert(name.clone(), Arc::new(rebuilt));
        }
        for gone in current
            .products
            .keys()
            .filter(|k| !new.products.contains_key(*k))
        {
            tracing::info!(product = gone, "product removed by the configuration");
        }
        // One swap: configuration, server settings and products change together.
        self.products.swap(ProductTable {
            config: Arc::new(new),
            products: next,
        });
        metrics::counter!(metric::CONFIG_RELOADS_TOTAL, "outcome" => "ok").increment(1);
        tracing::info!(file = %path.display(), "configuration reloaded");
    }
}

/// Whether `a` and `b` name the same folder (compared canonically when both exist).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn watch_dir(
    watcher: &mut notify::RecommendedWatcher,
    dir: &Path,
    watched: &mut Vec<PathBuf>,
) -> notify::Result<()> {
    if watched.iter().any(|d| same_dir(d, dir)) {
        return Ok(());
    }
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    watched.push(dir.to_path_buf());
    Ok(())
}

/// Whether an event may have changed a file's content or existence. Reads (the host loading a
/// plugin, cargo checking sources) and metadata changes are not changes: reacting to them would
/// loop.
pub fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind};
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        _ => false,
    }
}

/// Whether two paths name the same file; event paths are absolute, configured ones too
/// (the configuration anchors them), but may differ in `.` segments.
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || (a.file_name() == b.file_name()
            && a.parent().and_then(|p| p.canonicalize().ok())
                == b.parent().and_then(|p| p.canonicalize().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    #[test]
    fn paths_settle_on_their_own_timers_with_a_cap() {
        let t0 = Instant::now();
        let mut pending = Debouncer::default();
        pending.touch(PathBuf::from("/p/a.wasm"), t0);
        // b keeps changing: last event is recent, but it started long ago.
        pending.touch(PathBuf::from("/p/b.wasm"), t0);
        pending.touch(
            PathBuf::from("/p/b.wasm"),
            t0 + MAX_SETTLE - Duration::from_millis(1),
        );
        pending.touch(PathBuf::from("/p/c.wasm"), t0 + SETTLE);
        let mut got = pending.take_due(t0 + SETTLE);
        got.sort();
        assert_eq!(got, [PathBuf::from("/p/a.wasm")]);
        let got = pending.take_due(t0 + MAX_SETTLE);
        assert_eq!(got.len(), 2, "b hit the cap and c settled: {got:?}");
        assert_eq!(pending.next_due(), None);
    }
}
