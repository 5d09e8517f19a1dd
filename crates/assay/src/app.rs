//! The whole host, assembled: store, plugin runtime, products, edge, worker, relay, poller.
//!
//! [`Host::start`] takes a loaded [`Config`] and a bound listener, so tests bind
//! `127.0.0.1:0`, and `main` binds the configured address. [`Host::shutdown`] stops accepting,
//! lets requests and plugin calls in flight finish, and stops the background tasks; nothing
//! acknowledged is lost at any point, because everything acknowledged is in the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::edge::Edge;
use crate::pipeline::relay::{Relay, Target, Targets};
use crate::pipeline::{poller, worker::Worker};
use crate::products::{self, Products};
use crate::reload::{ConfigLoader, Reloader};
use assay_runtime::{Runtime, RuntimeOptions};
use assay_store::{SqliteOptions, SqliteStore, Store};
use assay_wire::http_server;

/// How to start a host beyond its configuration.
pub struct HostOptions {
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The configuration file and how to load it again, for hot reload of the configuration.
    pub config_source: Option<(std::path::PathBuf, ConfigLoader)>,
    /// Watch the plugins folder (and the configuration, if given) and reload on changes.
    pub watch: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            metrics: None,
            config_source: None,
            watch: true,
        }
    }
}

/// A running host.
pub struct Host {
    addr: SocketAddr,
    /// The configuration in force; swapped by reloads.
    pub config: Arc<ArcSwap<Config>>,
    /// The products in force.
    pub products: Products,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// The edge (its server settings are swapped by reloads).
    pub edge: Arc<Edge>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Host {
    /// Opens the store, loads every product's plugin, and starts serving on `listener`.
    pub async fn start(
        config: Config,
        listener: TcpListener,
        options: HostOptions,
    ) -> anyhow::Result<Host> {
        let HostOptions {
            metrics,
            config_source,
            watch,
        } = options;
        let addr = listener
            .local_addr()
            .context("reading the listener's address")?;
        let store_path = config.store.path.clone();
        if let Some(parent) = store_path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let store_options = SqliteOptions {
            max_batch: config.store.max_batch,
            ..SqliteOptions::default()
        };
        let store =
            tokio::task::spawn_blocking(move || SqliteStore::open_with(&store_path, store_options))
                .await
                .context("opening the store")?
                .with_context(|| format!("opening the store at {}", config.store.path.display()))?;
        let store: Arc<dyn Store> = Arc::new(store);
        let runtime = Arc::new(
            Runtime::new(RuntimeOptions {
                cache_dir: Some(config.plugins.cache_dir.clone()),
                ..RuntimeOptions::default()
            })
            .context("starting the plugin runtime")?,
        );
        let products = Products::new(products::load_all(&runtime, &config).await);
        let config = Arc::new(ArcSwap::from_pointee(config));

        let relay = Relay::new(
            Arc::clone(&store),
            targets(Arc::clone(&config), products.clone()),
        )
        .context("building the HTTP client for StackOne")?;
        let worker = Worker::new(Arc::clone(&store), products.clone(), relay.waker());
        let edge = Arc::new(Edge {
            server: ArcSwap::from_pointee(config.load().server.clone()),
            products: products.clone(),
            store: Arc::clone(&store),
            worker: worker.waker(),
            relay: relay.waker(),
            metrics,
        });

        let (stop, stopped) = watch::channel(false);
        let until_stopped = move || {
            let mut rx = stopped.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        let mut tasks = JoinSet::new();
        tasks.spawn(relay.clone().run(until_stopped()));
        tasks.spawn(worker.run(until_stopped()));
        tasks.spawn(poller::run(
            Arc::clone(&store),
            products.clone(),
            relay.waker(),
            until_stopped(),
        ));
        let handler_edge = Arc::clone(&edge);
        tasks.spawn(http_server::serve(
            listener,
            move |request, _peer| Arc::clone(&handler_edge).handle(request),
            until_stopped(),
        ));
        if watch {
            let reloader = Reloader {
                runtime: Arc::clone(&runtime),
                config: Arc::clone(&config),
                products: products.clone(),
                edge: Arc::clone(&edge),
                loader: config_source,
            };
            match reloader.watch() {
                Ok(watching) => {
                    tasks.spawn(reloader.run(watching, until_stopped()));
                }
                Err(e) => {
                    tracing::error!(error = %e, "hot reload is off: the watcher could not start")
                }
            }
        }
        tracing::info!(%addr, products = products.snapshot().products.len(), "assay is serving");
        Ok(Host {
            addr,
            config,
            products,
            store,
            runtime,
            edge,
            stop,
            tasks,
        })
    }

    /// The address the edge listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes what is in flight, and stops the background tasks.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
        tracing::info!("assay stopped");
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

/// Where each product's results go: the StackOne base URL and the product's key (its own, or
/// the host-wide one, which the configuration already resolved into `stackone_api_key`).
fn targets(config: Arc<ArcSwap<Config>>, products: Products) -> Targets {
    Arc::new(move |name: &str| {
        let product = products.get(name)?;
        Some(Target {
            base_url: config.load().stackone.base_url.clone(),
            api_key: product.config.stackone_api_key.clone(),
        })
    })
}
