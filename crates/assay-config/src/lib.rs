//! The host's configuration: `config.toml`, `ASSAY_*` environment variables and flags.
//!
//! A crate of its own, with no plugin runtime and no store in its build graph (it needs only
//! `assay-wire`, serde and toml): the host re-exports it as `assay::config`, and the `config`
//! fuzz target (`fuzz/`, RELIABILITY.md "Fuzzing") builds it with coverage instrumentation in
//! minutes instead of compiling wasmtime. The limits it checks against that belong to the
//! plugin runtime or the worker are in [`limits`], which those re-export.
//!
//! Loading has two layers. The file is first deserialized as written (`raw`, strict: an
//! unknown key, a wrong type or a literal secret is an error naming the line). It is then
//! checked and resolved (`validate`) into [`Config`], the only form the rest of the host sees:
//! durations are [`Duration`]s, sizes are bytes, paths are anchored at the configuration
//! file's directory, secrets are [`Secret`]s, and each product's event map holds its defaults.
//!
//! Precedence, highest first: [`Overrides`] (filled from command-line flags), the `ASSAY_*`
//! environment variables, the file, the defaults below.
//!
//! # Reference
//!
//! Every key with its default. A *secret* is always a reference, never the value: `env:NAME`
//! reads the environment variable `NAME`, `file:PATH` reads a file (relative paths are relative
//! to the configuration file; one trailing newline is dropped). Secrets are resolved when the
//! configuration is loaded or reloaded; a missing variable or file is an error.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"        # address:port to bind             env ASSAY_LISTEN
//! # admin_listen = "127.0.0.1:9091" # the operator's own listener     env ASSAY_ADMIN_LISTEN
//!                                  # (read at start). Set: /metrics, /admin* and /readyz
//!                                  # with reasons are served there only, and the public
//!                                  # listener answers them 404 (its /readyz gives states
//!                                  # only). Not set: one listener serves everything and
//!                                  # /readyz's reasons carry file names, never paths
//! max_body_bytes = 1048576         # largest request body accepted (1 MiB); at least 1
//! request_timeout_ms = 30000       # whole-request deadline; 1 ms to 5 minutes
//! # Connections (read at start; a reload keeps the listener's). README, "Limits".
//! max_connections = 4096           # served at once; at the cap, idle ones are closed to
//!                                  # make room; 1 to 1048576
//! max_connections_per_client = 1024  # per client address, at most max_connections; behind
//!                                  # a proxy every client has its address: raise it there
//! request_head_timeout_ms = 10000  # from accept to a complete request head; 1 ms to 5 min
//! idle_timeout_ms = 60000          # a kept-alive connection with nothing in flight; for
//!                                  # HTTP/1 the head timeout bounds it too; 1 ms to 5 min
//! # admin_token = "env:ADMIN"      # secret; guards the status page   env ASSAY_ADMIN_TOKEN
//!                                  # (no token: the status page is off)
//!
//! [store]
//! path = "data/assay.db"           # the SQLite file                  env ASSAY_STORE_PATH
//! # url = "env:DATABASE_URL"       # secret; PostgreSQL instead of SQLite, for several hosts
//!                                  # sharing one database ("postgres://user:pw@host/db" or
//!                                  # "host=… dbname=…"); exclusive with path (and with
//!                                  # ASSAY_STORE_PATH / --store). README, "More than one host"
//! fulfil_lease_ms = 360000         # a claimed order is one worker's for this long: a host
//!                                  # that died mid-fulfilment leaves it to the others (or to
//!                                  # its restart) after it; longer than any plugin deadline;
//!                                  # 1 ms to 1 day
//! delivery_lease_ms = 120000       # the same for a result being delivered; a PATCH goes out
//!                                  # only while a quarter (at most 30 s) plus its timeout (a
//!                                  # quarter, at most 30 s) are left; 1 s to 1 day
//! max_batch = 256                  # most writes committed in one transaction (group
//!                                  # commit); 1 to 4096. 1 commits each write on its own:
//!                                  # slower, the benchmarks' baseline
//!
//! [stackone]
//! base_url = "https://api.stackone.com"  # http(s) URL        env ASSAY_STACKONE_BASE_URL
//! # api_key = "env:STACKONE_API_KEY"     # secret; for result updates
//!                                        #                    env ASSAY_STACKONE_API_KEY
//!                                        # required unless every product has stackone_api_key
//!
//! [plugins]
//! dir = "plugins"                  # the folder of .wasm files        env ASSAY_PLUGINS_DIR
//! # cache_dir = "data/artifact-cache"  # compiled plugins; default: artifact-cache beside
//!                                      # the store file
//! # memory_budget_mb = 6144        # memory all plugin calls may hold at once; read at
//!                                  # start; default a quarter of the machine's memory
//! # compiler = "tiered"            # "tiered": a plugin of 4 MB or more (JavaScript,
//!                                  # Python) serves at once from Winch's code and
//!                                  # switches to Cranelift's when compiled in the
//!                                  # background; "cranelift": Cranelift only; "winch":
//!                                  # Winch only. Read at start.
//!
//! [products.codetest]              # NAME: lowercase letters, digits and dashes, 1 to 63,
//!                                  # no dash first or last; it appears in URLs
//! plugin = "codetest.wasm"         # required; a file name in plugins.dir, or a path
//!                                  # (containing `/`), relative to this file; must end .wasm
//! kind = "assessment"              # required; "assessment" or "background_check"
//! webhook_secrets = ["env:WHSEC"]  # required; 1 or more secrets, distinct (two during rotation)
//! package_list_keys = []           # secrets accepted as Basic auth by the package list;
//!                                  # none: every package list request is refused
//! # webhook_token = "env:TOKEN"    # secret; if set, webhooks must carry ?token=<it>
//! cors_origins = []                # origins answered in CORS preflights, "https://host[:port]"
//! allowed_hosts = []               # outbound HTTP the plugin may use, "scheme://host[:port]";
//!                                  # empty: none at all
//! timeout_ms = 10000               # deadline of one plugin call; 1 ms to 5 minutes
//! memory_limit_mb = 64             # memory of one plugin call; 1 to 4096
//! max_concurrent_calls = 64        # plugin calls of this product at once; past it the edge
//!                                  # answers 503 + Retry-After; 1 to 256 (the whole pool)
//! max_concurrent_fulfilments = 8   # orders of this product fulfilled at once; its share of
//!                                  # the worker's 16 slots, 1 to 16; the products' orders
//!                                  # are claimed in turn, so one product's backlog or slow
//!                                  # plugin never holds the slots the others need
//! # stackone_api_key = "env:KEY"   # secret; this product's StackOne key instead of
//!                                  # stackone.api_key (products of several StackOne projects)
//! # poll_interval_s = 60           # run the plugin's poll-results this often, 1 s to 1 day;
//!                                  # not set: results come only through callbacks
//! # source = "plugins/codetest"    # the plugin's crate, for `assay dev`; relative to this file
//!
//! [products.codetest.events]       # event name -> order kind; merged over the defaults of
//! "ats_assessments.created" = "assessment"   # default_events(kind): this, with the product's kind
//!
//! [products.codetest.settings]     # free-form strings handed to the plugin, as secrets;
//! base_url = "https://vendor.example"  # a value starting with env: or file: is a reference
//! api_token = "env:VENDOR_TOKEN"
//! ```
//!
//! The configuration alone cannot know which settings a plugin needs: a 0.2.0 plugin declares
//! them, and the host (`assay::products::check_plugin`) holds `[products.NAME.settings]`
//! against the declaration once the plugin is loaded, with the places
//! [`ProductConfig::setting_sources`] recorded here.

mod address;
mod error;
pub mod limits;
mod raw;
mod secret_ref;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::limits::CompilerChoice;
use assay_wire::origin::AllowedHost;
use assay_wire::secret::Secret;
use assay_wire::stackone::BaseUrl;

pub use assay_wire::http_server::ConnectionLimits;
pub use assay_wire::order_kind::OrderKind;
pub use error::{ConfigError, Location};
pub use secret_ref::{ENV_PREFIX, FILE_PREFIX, SecretRef, SecretRefError};

/// Default of `server.listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default of `server.max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default of `server.request_timeout_ms`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest `server.request_timeout_ms`.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Largest `server.max_connections`.
pub const MAX_CONNECTIONS_LIMIT: usize = 1 << 20;
/// Longest `server.request_head_timeout_ms` and `server.idle_timeout_ms`.
pub const MAX_CONNECTION_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default of `store.path`, relative to the configuration file.
pub const DEFAULT_STORE_PATH: &str = "data/assay.db";
/// Default of `store.fulfil_lease_ms`.
pub const DEFAULT_FULFIL_LEASE: Duration = Duration::from_secs(360);
/// Default of `store.delivery_lease_ms`.
pub const DEFAULT_DELIVERY_LEASE: Duration = Duration::from_secs(120);
/// Longest `store.fulfil_lease_ms` and `store.delivery_lease_ms`: one day.
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default of `stackone.base_url`.
pub const DEFAULT_STACKONE_BASE_URL: &str = "https://api.stackone.com";
/// Default of `plugins.dir`, relative to the configuration file.
pub const DEFAULT_PLUGINS_DIR: &str = "plugins";
/// Name of the default `plugins.cache_dir`, in the store file's directory.
pub const DEFAULT_CACHE_DIR_NAME: &str = "artifact-cache";
/// Default of `products.NAME.timeout_ms`: the runtime's default deadline.
pub const DEFAULT_PLUGIN_TIMEOUT: Duration = limits::DEFAULT_TIMEOUT;
/// Longest `products.NAME.timeout_ms`.
pub const MAX_PLUGIN_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Default of `products.NAME.memory_limit_mb`: the runtime's default memory limit.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = limits::DEFAULT_MEMORY_LIMIT >> 20;
/// Accepted values of `products.NAME.memory_limit_mb`: the runtime's pool reserves the top.
pub use limits::MEMORY_LIMIT_MB_RANGE;
/// Largest `plugins.memory_budget_mb`: 1 TiB.
pub const MAX_MEMORY_BUDGET_MB: u64 = 1 << 20;
/// Longest `products.NAME.poll_interval_s`: one day.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest product name.
pub const MAX_PRODUCT_NAME_LEN: usize = 63;
/// The StackOne event of a new order ([`default_events`]).
pub const ORDER_CREATED_EVENT: &str = "ats_assessments.created";

/// Overrides `server.listen` (`address:port`).
pub const ENV_LISTEN: &str = "ASSAY_LISTEN";
/// Overrides `server.admin_listen` (`address:port`).
pub const ENV_ADMIN_LISTEN: &str = "ASSAY_ADMIN_LISTEN";
/// Overrides `store.path`.
pub const ENV_STORE_PATH: &str = "ASSAY_STORE_PATH";
/// Overrides `plugins.dir`.
pub const ENV_PLUGINS_DIR: &str = "ASSAY_PLUGINS_DIR";
/// Overrides `stackone.base_url`.
pub const ENV_STACKONE_BASE_URL: &str = "ASSAY_STACKONE_BASE_URL";
/// Overrides `stackone.api_key`; a secret reference like the file's.
pub const ENV_STACKONE_API_KEY: &str = "ASSAY_STACKONE_API_KEY";
/// Overrides `server.admin_token`; a secret reference like the file's.
pub const ENV_ADMIN_TOKEN: &str = "ASSAY_ADMIN_TOKEN";

/// The loaded configuration: checked, defaults filled, paths anchored, secrets resolved.
///
/// `Debug` is safe to log: every secret prints as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[server]`
    pub server: ServerConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[stackone]`
    pub stackone: StackOneConfig,
    /// `[plugins]`
    pub plugins: PluginsConfig,
    /// `[products.NAME]`, by name.
    pub products: BTreeMap<String, ProductConfig>,
    /// Every file read for a `file:` secret, so that the reload task can watch them too.
    pub secret_files: BTreeSet<PathBuf>,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Where the operator's listener is, if it has one of its own (read at start).
    pub admin_listen: Option<SocketAddr>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Deadline of one request.
    pub request_timeout: Duration,
    /// The token of the operator's status page; `None` turns the page off.
    pub admin_token: Option<Secret>,
    /// Deadlines and caps of the listener's connections, read at start.
    pub connections: ConnectionLimits,
}

/// `[store]`: the embedded database, or the PostgreSQL database several hosts share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The SQLite file. When [`StoreConfig::url`] is set it is not opened; it then only
    /// anchors the default `plugins.cache_dir` (its default, `data/assay.db`, puts the cache
    /// in `data/artifact-cache`).
    pub path: PathBuf,
    /// The PostgreSQL connection URL (`store.url`, a secret: it may carry a password). Set:
    /// the store is PostgreSQL and `path` is not used for it.
    pub url: Option<Secret>,
    /// How long a claimed order is exclusive to the worker that claimed it
    /// (`store.fulfil_lease_ms`): a host that dies mid-fulfilment leaves its orders to the
    /// other hosts after this.
    pub fulfil_lease: Duration,
    /// How long a claimed result is exclusive to the relay that claimed it
    /// (`store.delivery_lease_ms`); the relay's PATCH timeout and send window derive from it
    /// (`assay::pipeline::relay`).
    pub delivery_lease: Duration,
    /// The most writes committed in one transaction (`store.max_batch`).
    pub max_batch: usize,
}

/// `[stackone]`: StackOne's API, where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOneConfig {
    /// The API's base URL (`https://api.stackone.com`), checked when loaded.
    pub base_url: BaseUrl,
    /// The host-wide API key; each product's effective key is
    /// [`ProductConfig::stackone_api_key`].
    pub api_key: Option<Secret>,
}

/// `[plugins]`: where plugin files are and where their compiled forms are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginsConfig {
    /// The folder of `.wasm` files the host loads and watches.
    pub dir: PathBuf,
    /// The folder of compiled artifacts.
    pub cache_dir: PathBuf,
    /// Memory all plugin calls may hold at once, in bytes.
    pub memory_budget_bytes: u64,
    /// Which compiler makes the plugins' code (`assay_runtime::tiering`).
    pub compiler: CompilerChoice,
}

/// `[products.NAME]`: one product served by one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductConfig {
    /// The product's name, as in its URLs.
    pub name: String,
    /// The plugin file.
    pub plugin: PathBuf,
    /// The product's order kind.
    pub kind: OrderKind,
    /// Secrets that may sign StackOne's webhooks (1 or more; several during rotation).
    pub webhook_secrets: Vec<Secret>,
    /// Keys accepted as Basic auth by the package list endpoint (none: all refused).
    pub package_list_keys: Vec<Secret>,
    /// The `?token=` webhooks must carry, if set.
    pub webhook_token: Option<Secret>,
    /// Origins answered in CORS preflights, serialized as browsers send them
    /// (`https://app.example.com`, default ports dropped).
    pub cors_origins: Vec<String>,
    /// Outbound HTTP origins the plugin may reach, parsed when loaded into what the outbound
    /// filter matches against.
    pub allowed_hosts: Vec<AllowedHost>,
    /// Deadline of one plugin call.
    pub timeout: Duration,
    /// Memory limit of one plugin call, in bytes.
    pub memory_limit_bytes: usize,
    /// Plugin calls of the product at once.
    pub max_concurrent_calls: usize,
    /// Orders of the product the worker fulfils at once (its share of the worker's slots).
    pub max_concurrent_fulfilments: usize,
    /// StackOne event name to order kind: [`default_events`] with the file's entries over it.
    pub events: BTreeMap<String, OrderKind>,
    /// The StackOne API key for this product's results: its own or `stackone.api_key`.
    pub stackone_api_key: Secret,
    /// How often to call the plugin's `poll-results`; `None`: never.
    pub poll_interval: Option<Duration>,
    /// The plugin's crate, for `assay dev`.
    pub source: Option<PathBuf>,
    /// The plugin's settings; every value is handed over as a secret.
    pub settings: BTreeMap<String, Secret>,
    /// Where each setting was written and whether as a literal, to check them against the
    /// settings a plugin declares (a secret must not be a literal).
    pub setting_sources: BTreeMap<String, SettingSource>,
    /// Where `[products.NAME]` is, for errors about a setting that is missing.
    pub defined_at: Location,
}

/// Where a setting of `[products.NAME.settings]` was written, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingSource {
    /// Written as plain text rather than an `env:` or `file:` reference.
    pub literal: bool,
    /// Its place in the file.
    pub at: Location,
}

/// The event map of a product of `kind` whose configuration has no `events` entries.
///
/// StackOne announces a new order with `ats_assessments.created`, for assessments and, as far
/// as is documented, background checks alike (PROTOCOL.md, "Webhooks"): the event becomes an
/// order of the product's own kind. Entries of `[products.NAME.events]` are added over these.
pub fn default_events(kind: OrderKind) -> BTreeMap<String, OrderKind> {
    BTreeMap::from([(ORDER_CREATED_EVENT.to_owned(), kind)])
}

/// Whether `name` may name a product: 1 to [`MAX_PRODUCT_NAME_LEN`] lowercase ASCII letters,
/// digits and dashes, no dash first or last (it is a URL path segment).
pub fn is_valid_product_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_PRODUCT_NAME_LEN
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Values that win over the file and the `ASSAY_*` variables; `main` fills them from flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `server.listen`.
    pub listen: Option<SocketAddr>,
    /// `store.path`; a relative path is relative to the working directory.
    pub store_path: Option<PathBuf>,
    /// `plugins.dir`; a relative path is relative to the working directory.
    pub plugins_dir: Option<PathBuf>,
    /// `stackone.base_url`.
    pub stackone_base_url: Option<String>,
    /// `stackone.api_key`, a reference: a flag's value is visible to every local user.
    pub stackone_api_key: Option<SecretRef>,
    /// `server.admin_token`, a reference.
    pub admin_token: Option<SecretRef>,
}

/// Looks `name` up in the process environment: the `env` argument of [`Config::load`] in
/// production. Variables that are not valid Unicode count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Reads and loads the configuration file at `path`.
    ///
    /// `env` looks up environment variables, both the `ASSAY_*` overrides and `env:`
    /// references: [`process_env`] in production, a map in tests. Relative paths in the file
    /// are anchored at the file's directory, made absolute so that they survive a change of
    /// working directory. Errors name the file as `path` spells it.
    pub fn load(
        path: &Path,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let absolute = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = absolute.parent().unwrap_or(Path::new("/"));
        validate::load(
            &text,
            &path.display().to_string(),
            base_dir,
            overrides,
            &env,
        )
    }

    /// Loads configuration `text` as if it were the file at `path`: errors name `path`, and
    /// relative paths are anchored at `path`'s directory (kept relative if it is relative).
    pub fn from_str_with(
        text: &str,
        path: &Path,
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let base_dir = path.parent().unwrap_or(Path::new(""));
        validate::load(text, &path.display().to_string(), base_dir, overrides, &env)
    }

    /// The product called `name`.
    pub fn product(&self, name: &str) -> Option<&ProductConfig> {
        self.products.get(name)
    }
}
