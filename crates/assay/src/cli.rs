//! The command line: `assay serve | emulate | demo | dev | orders | store migrate|copy | plugin inspect |
//! completions`
//! (`emulate` and `demo` only with the `emulator` feature).
//!
//! Flags override `ASSAY_*` environment variables, which override the configuration file.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Overrides, SecretRef};
use crate::telemetry::LogFormat;

/// Assay: StackOne assessment and background-check integrations, with WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "assay", version, long_version = crate::build_info::LONG_VERSION.as_str(), about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty, env = "ASSAY_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve StackOne and the vendors' callbacks.
    Serve(ConfigArgs),
    /// Play StackOne against a running host: list packages, send one order per product,
    /// receive the results and show what the recruiter would see.
    #[cfg(feature = "emulator")]
    Emulate(EmulateArgs),
    /// Send one request as StackOne would, signed with a product's configured secrets, to a
    /// running host, and print the answer (like `stripe trigger`).
    #[cfg(feature = "emulator")]
    #[command(subcommand)]
    Send(SendCommand),
    /// The whole story on this machine: builds the example plugins, starts the host with an
    /// embedded store, the StackOne emulator and a demo vendor, and sends one order per product.
    #[cfg(feature = "emulator")]
    Demo(DemoArgs),
    /// The plugin author's loop: serve, rebuild each product's `source` crate when it changes,
    /// and hot-swap the new plugin;
    #[cfg_attr(
        feature = "emulator",
        doc = "results go to a local StackOne emulator, which prints them."
    )]
    #[cfg_attr(
        not(feature = "emulator"),
        doc = "results go to the configured `stackone.base_url` (this build has no emulator)."
    )]
    Dev(ConfigArgs),
    /// Check a configuration and, with `--url`, a running host against StackOne's testing
    /// checklist; each line passes or says how to fix it. Exit code 0 only when all pass.
    Check(CheckArgs),
    /// Read the orders in the store (works while a host is serving).
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Store tools: migrate the schema, copy a SQLite store into PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Plugin tools.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print a completion script for a shell, e.g. `assay completions bash > /etc/bash_completion.d/assay`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The configuration file and its overrides.
#[derive(Debug, Args, Clone)]
pub struct ConfigArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "config.toml", env = "ASSAY_CONFIG")]
    pub config: PathBuf,
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The SQLite file (overrides `store.path`).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// The plugins folder (overrides `plugins.dir`).
    #[arg(long)]
    pub plugins_dir: Option<PathBuf>,
    /// StackOne's API base URL (overrides `stackone.base_url`).
    #[arg(long)]
    pub stackone_base_url: Option<String>,
    /// StackOne API key, as `env:NAME` or `file:PATH` (overrides `stackone.api_key`).
    #[arg(long)]
    pub stackone_api_key: Option<SecretRef>,
    /// Admin token, as `env:NAME` or `file:PATH` (overrides `server.admin_token`).
    #[arg(long)]
    pub admin_token: Option<SecretRef>,
}

impl ConfigArgs {
    /// The configuration file as an absolute path, so the watcher recognises it.
    pub fn config_path(&self) -> PathBuf {
        std::path::absolute(&self.config).unwrap_or_else(|_| self.config.clone())
    }

    /// The flags as configuration overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            store_path: self.store.clone(),
            plugins_dir: self.plugins_dir.clone(),
            stackone_base_url: self.stackone_base_url.clone(),
            stackone_api_key: self.stackone_api_key.clone(),
            admin_token: self.admin_token.clone(),
        }
    }

    /// Loads the configuration with these overrides and the process environment.
    pub fn load(&self) -> anyhow::Result<Config> {
        Config::load(&self.config_path(), &self.overrides(), config::process_env)
            .with_context(|| format!("loading the configuration {}", self.config.display()))
    }
}

/// `assay emulate`.
#[cfg(feature = "emulator")]
#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// The host's configuration: the emulator uses its products' keys and secrets, as StackOne
    /// would have them.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The host's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub host: String,
    /// Where the emulated StackOne API listens (the host's `stackone.base_url` must point here).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub emulator_listen: SocketAddr,
    /// Only these products (default: all).
    #[arg(long = "product")]
    pub products: Vec<String>,
}

/// `assay demo`.
#[cfg(feature = "emulator")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Stop after the story instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
    /// Skip building the example plugins (use the `.wasm` files already in `plugins/`).
    #[arg(long)]
    pub no_build: bool,
    /// The repository root (where `plugins/` is).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

/// `assay orders`.
#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// List recent orders.
    List {
        /// The configuration (for `store.url` or `store.path`).
        #[command(flatten)]
        config: ConfigArgs,
        /// Only this product (one the configuration has).
        #[arg(long)]
        product: Option<String>,
        /// Only orders in this state: received, fulfilling, awaiting_result, result_received,
        /// result_delivered, failed or dead_lettered.
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Put a failed order, or an order's dead-lettered result, back in the queue. Its
    /// history (attempts, errors, dead letters) is kept and shown by `orders show`.
    Retry(RetryArgs),
    /// Show one order: its events, results and dead letters.
    Show {
        /// The configuration (for `store.url` or `store.path`).
        #[command(flatten)]
        config: ConfigArgs,
        /// Assay's order number or StackOne's order id.
        id: String,
        /// Print JSON (with the webhook envelopes) instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `assay store`.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Apply the schema migrations the configured store (`store.url` or `store.path`) lacks
    /// and print its schema version; a store newer than this build is refused. Hosts also
    /// migrate when they start (one at a time, under a lock): this is for doing it first.
    Migrate {
        /// The configuration (for `store.url` or `store.path`).
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Copy a single host's SQLite store (orders, events, outbox, dead letters) into the
    /// PostgreSQL database of the configuration's `store.url`, ids kept, in one transaction.
    /// Running it again copies nothing new; a database other hosts already wrote to is
    /// refused. Prints the counts it verified. Stop the host first (its store is locked).
    Copy {
        /// `sqlite:PATH`: the store to copy.
        #[arg(long)]
        from: String,
        /// `postgres`: the configuration's `store.url`.
        #[arg(long)]
        to: String,
        /// The configuration (for `store.url`).
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Which product, and which host, `assay send` talks to.
#[derive(Debug, Args, Clone)]
pub struct SendTarget {
    /// The configuration (the product's secrets, and the default host address).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The product (one the configuration has).
    #[arg(long)]
    pub product: String,
    /// The host's base URL, e.g. `http://127.0.0.1:8080` (default: `server.listen`).
    #[arg(long)]
    pub url: Option<String>,
}

/// `assay send`.
#[derive(Debug, Subcommand)]
pub enum SendCommand {
    /// The product's package list, as StackOne asks for it (Basic auth and signature), checked
    /// against StackOne's schema.
    Packages(SendTarget),
    /// A signed order webhook for the product's first package, marked as a test order.
    Order {
        /// The product and host.
        #[command(flatten)]
        target: SendTarget,
        /// Then follow the order (through the admin views, with the configured admin token)
        /// until its first result is delivered to StackOne.
        #[arg(long)]
        follow: bool,
        /// How long `--follow` waits, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// A vendor's callback to the product's callback route, signed as the plugin SDK's
    /// `webhook` helpers check it: hex HMAC-SHA256 of the raw body, keyed with one of the
    /// product's settings, in a header.
    Callback(CallbackArgs),
}

/// `assay send callback`.
#[derive(Debug, Args, Clone)]
pub struct CallbackArgs {
    /// The product and host.
    #[command(flatten)]
    pub target: SendTarget,
    /// The route after `callbacks/`, e.g. `attempts`.
    #[arg(long)]
    pub path: String,
    /// The body: JSON text, or `@FILE` to read it from a file.
    #[arg(long)]
    pub data: String,
    /// The header the signature goes in (default: `x-PRODUCT-signature`).
    #[arg(long)]
    pub signature_header: Option<String>,
    /// The product setting holding the secret the vendor signs with.
    #[arg(long, default_value = "webhook_secret")]
    pub signature_setting: String,
    /// Send it without a signature (to see the plugin refuse it).
    #[arg(long, conflicts_with = "signature_header")]
    pub unsigned: bool,
}

/// Where `assay orders retry` sends its redrive.
#[derive(Debug, Args, Clone)]
pub struct RetryArgs {
    /// The configuration (for `store.url` or `store.path`, and `server.admin_token` with `--url`).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Assay's order number (the ID column of `assay orders list`).
    pub id: i64,
    /// A running host's operator address (`server.admin_listen`, or `listen` without one),
    /// e.g. `http://127.0.0.1:9091`: the retry goes through it, with the configured admin
    /// token. Without it the store file is changed directly, which only works while no host
    /// serves from it.
    #[arg(long)]
    pub url: Option<String>,
}

/// `assay check`.
#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The configuration to check.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A running host's base URL (e.g. `http://127.0.0.1:8080`): also run StackOne's testing
    /// checklist against it (package list, CORS, a test order and its result).
    #[arg(long)]
    pub url: Option<String>,
    /// The provider whose connector meta describes the result payload.
    #[arg(long, default_value = "recruitee")]
    pub provider: String,
    /// Check only these products (repeatable; default: all).
    #[arg(long = "product")]
    pub products: Vec<String>,
    /// How long each test order may take to reach StackOne, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// The languages `assay plugin new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLanguage {
    /// Rust, with the Rust SDK.
    Rust,
    /// TypeScript (or JavaScript), with the TypeScript SDK and componentize-js.
    #[value(alias = "typescript", alias = "js", alias = "javascript")]
    Ts,
    /// Python, with the Python SDK and componentize-py.
    #[value(alias = "py")]
    Python,
}

impl From<PluginLanguage> for crate::scaffold::Language {
    fn from(lang: PluginLanguage) -> Self {
        match lang {
            PluginLanguage::Rust => Self::Rust,
            PluginLanguage::Ts => Self::TypeScript,
            PluginLanguage::Python => Self::Python,
        }
    }
}

/// `assay plugin`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print a plugin's metadata, contract version and exports; fails for a bad file.
    Inspect {
        /// The `.wasm` file.
        file: PathBuf,
    },
    /// Write a new plugin project, with the SDK and the contract this binary serves, into a
    /// folder of its own (no Assay checkout needed).
    New {
        /// The plugin's name (lower-case letters, digits, `-`, `_`).
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value_t = PluginLanguage::Rust)]
        lang: PluginLanguage,
        /// Where to write it (default: a folder called NAME here); new or empty.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
