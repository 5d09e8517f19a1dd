//! The whole host, assembled: store, plugin runtime, products, edge, worker, relay, poller.
//!
//! [`App::start`] takes a loaded [`Config`] and a bound listener, so tests bind
//! `127.0.0.1:0`, and `main` binds the configured address. [`App::shutdown`] stops accepting,
//! lets requests and plugin calls in flight finish, and stops the background tasks; nothing
//! acknowledged is lost at any point, because everything acknowledged is in the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::{Mutex, OnceLock};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::edge::Edge;
use crate::edge::route::Listener;
use crate::pipeline::relay::{Relay, Target, Targets};
use crate::pipeline::{poller, worker::Worker};
use crate::products::{self, Products};
use crate::reload::{ConfigLoader, Reloader};
use assay_runtime::{Runtime, RuntimeOptions};
use assay_store::{PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, Wakeups};
use assay_wire::http_server;

/// How to start a host beyond its configuration.
pub struct AppOptions {
    /// Renders `/metrics`; `None` when no recorder is installed.
    pub metrics: Option<PrometheusHandle>,
    /// The configuration file and how to load it again, for hot reload of the configuration.
    pub config_source: Option<(std::path::PathBuf, ConfigLoader)>,
    /// Watch the plugins folder (and the configuration, if given) and reload on changes.
    pub watch: bool,
    /// The operator's listener (`server.admin_listen`, bound by the caller like the public
    /// one): `/metrics`, `/admin*` and `/readyz` with reasons move there
    /// ([`crate::edge::route::hidden`]).
    pub admin_listener: Option<TcpListener>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            metrics: None,
            config_source: None,
            watch: true,
            admin_listener: None,
        }
    }
}

/// How long a host whose background task died keeps answering (with `/readyz` red) before
/// it stops.
pub const FAILURE_GRACE: Duration = Duration::from_secs(2);

/// Why a host stopped on its own: a background task it depends on died.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the {task} task {reason}; the host stopped")]
pub struct TaskFailure {
    /// The task: `worker`, `relay`, `poller`, `reloader`, `edge` or `admin-edge`.
    pub task: &'static str,
    /// What happened: "panicked: …", "exited early" or "was aborted".
    pub reason: String,
}

/// The host's background tasks, owned and watched.
///
/// Every task gets the host's [`CancellationToken`] and is tracked by a [`TaskTracker`], so
/// shutdown waits for each one. A task that ends before shutdown (it returned, panicked or was
/// aborted) is a failure: it is logged, recorded for `/readyz` (which turns red), and after
/// [`FAILURE_GRACE`] cancels the whole host, whose [`App::run_until`] then returns the [`TaskFailure`] and `main` exits
/// non-zero, so a supervisor (systemd, Kubernetes) restarts it instead of a host serving
/// webhooks it never fulfils.
#[derive(Clone, Default)]
pub struct Supervisor {
    cancel: CancellationToken,
    tracker: TaskTracker,
    failure: Arc<OnceLock<TaskFailure>>,
    aborts: Arc<Mutex<Vec<(&'static str, AbortHandle)>>>,
}

impl Supervisor {
    /// Runs `task` (given the host's cancellation token) as the background task `name`.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.cancel.clone()));
        self.aborts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, handle.abort_handle()));
        let this = self.clone();
        self.tracker.spawn(async move {
            let reason = match handle.await {
                Ok(()) if this.cancel.is_cancelled() => return,
                Ok(()) => "exited early".to_owned(),
                Err(e) if e.is_panic() => format!("panicked: {}", panic_text(e.into_panic())),
                Err(_) => "was aborted".to_owned(),
            };
            if this.cancel.is_cancelled() {
                tracing::warn!(task = name, reason, "background task ended during shutdown");
                return;
            }
            tracing::error!(
                task = name,
                reason,
                "background task died; stopping the host"
            );
            let _ = this.failure.set(TaskFailure { task: name, reason });
            // `/readyz` is red from now on; a load balancer polling it takes the host out of
            // rotation during the grace period, before connections start being refused.
            tokio::select! {
                () = tokio::time::sleep(FAILURE_GRACE) => {}
                () = this.cancel.cancelled() => {}
            }
            this.cancel.cancel();
        });
    }

    /// The first task failure, if one happened.
    pub fn failure(&self) -> Option<&TaskFailure> {
        self.failure.get()
    }

    /// Aborts the background task `name` as if it had crashed, so tests (and a curious
    /// operator's debugger) can prove the host notices. Returns whether such a task runs.
    pub fn abort(&self, name: &str) -> bool {
        let aborts = self
            .aborts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut found = false;
        for (task, handle) in aborts.iter().filter(|(task, _)| *task == name) {
            tracing::warn!(task, "aborting a background task on request");
            handle.abort();
            found = true;
        }
        found
    }

    /// Fires once the host is stopping, by request or because a task died.
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Asks every task to stop, then waits until all have.
    async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// A running host.
pub struct App {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    /// The generation in force (configuration and products); swapped by reloads.
    pub products: Products,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// The edge (its server settings are swapped by reloads).
    pub edge: Arc<Edge>,
    /// The background tasks.
    pub supervisor: Supervisor,
    reloads: Arc<watch::Sender<u64>>,
}

impl App {
    /// Opens the store, loads every product's plugin, and starts serving on `listener`.
    pub async fn start(
        config: Config,
        listener: TcpListener,
        options: AppOptions,
    ) -> anyhow::Result<App> {
        let AppOptions {
            metrics,
            config_source,
            watch,
            admin_listener,
        } = options;
        let addr = listener
            .local_addr()
            .context("reading the listener's address")?;
        let admin_addr = admin_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .context("reading the admin listener's address")?;
        let store = open_store(&config).await?;
        let runtime = Arc::new(
            Runtime::new(RuntimeOptions {
                cache_dir: Some(config.plugins.cache_dir.clone()),
                memory_budget_bytes: config.plugins.memory_budget_bytes,
                compiler: config.plugins.compiler,
                ..RuntimeOptions::default()
            })
            .context("starting the plugin runtime")?,
        );
        let products = Products::new(products::load_all(&runtime, Arc::new(config)).await);

        let delivery_lease = products.config().store.delivery_lease;
        let relay = Relay::new(Arc::clone(&store), targets(products.clone()))
            .context("building the HTTP client for StackOne")?
            .with_lease(delivery_lease);
        let worker = Worker::new(Arc::clone(&store), products.clone(), relay.waker());
        let supervisor = Supervisor::default();
        let edge = Arc::new(Edge {
            products: products.clone(),
            store: Arc::clone(&store),
            wake_worker: worker.waker(),
            wake_relay: relay.waker(),
            metrics,
            supervisor: supervisor.clone(),
            admin_split: admin_listener.is_some(),
        });

        if let Some(wakeups) = store.wakeups() {
            let (orders, outbox) = (worker.waker(), relay.waker());
            supervisor.spawn("wakeups", |cancel| {
                forward_wakeups(wakeups, orders, outbox, cancel)
            });
        }
        supervisor.spawn("relay", |cancel| relay.clone().run(cancel));
        supervisor.spawn("worker", |cancel| worker.run(cancel));
        let (poll_store, poll_products, poll_wake) =
            (Arc::clone(&store), products.clone(), relay.waker());
        supervisor.spawn("poller", |cancel| {
            poller::run(poll_store, poll_products, poll_wake, cancel)
        });
        let limits = products.config().server.connections;
        let serve = |name, listener, side| {
            let edge = Arc::clone(&edge);
            supervisor.spawn(name, move |cancel: CancellationToken| {
                http_server::serve_with(
                    listener,
                    move |request, _peer| Arc::clone(&edge).handle(request, side),
                    cancel.cancelled_owned(),
                    limits,
                )
            });
        };
        serve("edge", listener, Listener::Public);
        if let Some(admin_listener) = admin_listener {
            serve("admin-edge", admin_listener, Listener::Admin);
        }
        let reloads = Arc::new(watch::Sender::new(0));
        if watch {
            let reloader = Reloader {
                runtime: Arc::clone(&runtime),
                products: products.clone(),
                loader: config_source,
                handled: Arc::clone(&reloads),
            };
            match reloader.watch() {
                Ok(watching) => {
                    supervisor.spawn("reloader", |cancel| reloader.run(watching, cancel));
                }
                Err(e) => {
                    tracing::error!(error = %e, "hot reload is off: the watcher could not start")
                }
            }
        }
        if let Some(admin) = admin_addr {
            tracing::info!(%admin, "the operator's routes are served on the admin listener only");
        }
        tracing::info!(%addr, products = products.snapshot().products.len(), "assay is serving");
        crate::sd_notify::ready();
        Ok(App {
            addr,
            admin_addr,
            products,
            store,
            runtime,
            edge,
            supervisor,
            reloads,
        })
    }

    /// Counts the batches of file changes the reloader has handled, applied or refused: a
    /// test that changes a file waits for this to move instead of sleeping.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }

    /// The address the edge listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the admin listener listens on, when one runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// `http://{admin address}`, when an admin listener runs.
    pub fn admin_url(&self) -> Option<String> {
        self.admin_addr.map(|a| format!("http://{a}"))
    }

    /// Stops accepting, finishes what is in flight, and stops the background tasks. Returns the
    /// task failure that had stopped the host already, if one had.
    pub async fn shutdown(self) -> Result<(), TaskFailure> {
        self.supervisor.stop().await;
        tracing::info!("assay stopped");
        match self.supervisor.failure() {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    /// Runs until `signal` completes or a background task dies, then shuts down. A dead task
    /// is the error, so the process exits non-zero.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), TaskFailure> {
        tokio::select! {
            () = signal => tracing::info!("shutting down"),
            () = self.supervisor.cancelled() => {}
        }
        self.shutdown().await
    }
}

/// Opens the configured store: PostgreSQL when `store.url` is set (migrated under an advisory
/// lock, one host at a time), else the SQLite file at `store.path` (its folder created).
/// Errors name the store (the database as `host:port/database`, never the URL's password).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(url) = &config.store.url {
        let options = PostgresOptions {
            max_batch: config.store.max_batch,
            ..PostgresOptions::default()
        };
        let store = PostgresStore::connect_with(url.expose(), options)
            .await
            .context("opening the PostgreSQL store (store.url)")?;
        tracing::info!(database = store.target(), "the store is PostgreSQL");
        return Ok(Arc::new(store));
    }
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
    Ok(Arc::new(store))
}

/// Wakes this host's worker and relay when any host sharing the store added work
/// ([`Store::wakeups`]): the two loops then wait on their next due time *or* a wake-up, and
/// never poll. A wake-up only makes a loop look again; missing none matters, since the
/// store's listener bumps both counters after every reconnect. The poller needs none: it
/// asks the vendor on each product's `poll_interval_s`, and reads whatever orders await a
/// result in the shared store when it does (every host polls; a result found twice is not
/// queued twice).
async fn forward_wakeups(
    wakeups: Wakeups,
    worker: Arc<tokio::sync::Notify>,
    relay: Arc<tokio::sync::Notify>,
    cancel: CancellationToken,
) {
    let Wakeups {
        mut orders,
        mut outbox,
    } = wakeups;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = orders.changed() => match changed {
                Ok(()) => worker.notify_one(),
                // The store's listener is gone (the store is being dropped): nothing more
                // will come, and the supervisor reports the task's end.
                Err(_) => return,
            },
            changed = outbox.changed() => match changed {
                Ok(()) => relay.notify_one(),
                Err(_) => return,
            },
        }
    }
}

/// Where each product's results go: the StackOne base URL and the product's key (its own, or
/// the host-wide one, which the configuration already resolved into `stackone_api_key`), both
/// read from one generation.
fn targets(products: Products) -> Targets {
    Arc::new(move |name: &str| {
        let generation = products.snapshot();
        let product = generation.products.get(name)?;
        Some(Target {
            base_url: generation.config.stackone.base_url.clone(),
            api_key: product.config.stackone_api_key.clone(),
        })
    })
}
