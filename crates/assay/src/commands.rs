//! What each subcommand does. `main` parses flags and calls [`run`].

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;
use tokio::net::TcpListener;

use crate::app::{App, AppOptions};
use crate::cli::{Cli, Command, ConfigArgs, OrdersCommand, PluginCommand, shutdown_signal};
use crate::reload;
use crate::telemetry;
use assay_runtime::{Runtime, RuntimeOptions};
use assay_store::{OrderDetail, OrderFilter, OrderId, SqliteStore, StoreReader, render};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _log_writer = telemetry::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(&args).await,
        #[cfg(feature = "emulator")]
        Command::Emulate(args) => crate::emulate::run(&args).await,
        #[cfg(feature = "emulator")]
        Command::Send(cmd) => crate::send::run(cmd).await,
        #[cfg(feature = "emulator")]
        Command::Demo(args) => crate::demo::run(&args).await,
        Command::Dev(args) => crate::dev::run(&args).await,
        Command::Orders(cmd) => orders(cmd).await,
        Command::Plugin(PluginCommand::Inspect { file }) => inspect(&file).await,
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "assay", &mut script);
            print(&script)
        }
    }
}

/// Writes `bytes` to standard output. A reader that went away (`assay … | head`) is an
/// error `main` ends on quietly ([`is_broken_pipe`]), never a panic as `println!` would.
fn print(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Whether `error` is standard output closed by its reader: the conventional end of
/// `assay … | head`, to exit on without a message.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let host = start_watching(args, args.load()?, args.overrides()).await?;
    host.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Binds `config`'s listen address and starts a host that reloads plugins and the
/// configuration file of `args` (read again with `overrides`) when they change.
pub(crate) async fn start_watching(
    args: &ConfigArgs,
    config: crate::config::Config,
    overrides: crate::config::Overrides,
) -> anyhow::Result<App> {
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let admin_listener = match config.server.admin_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding server.admin_listen {addr}"))?,
        ),
        None => None,
    };
    let options = AppOptions {
        metrics: telemetry::init_metrics(),
        config_source: Some((
            args.config_path(),
            reload::config_loader(args.config_path(), overrides),
        )),
        watch: true,
        admin_listener,
    };
    App::start(config, listener, options).await
}

async fn orders(cmd: OrdersCommand) -> anyhow::Result<()> {
    // Retry writes (through a host or into the file); the others read the file.
    let reader = |config: &ConfigArgs| -> anyhow::Result<StoreReader> {
        let path = store_path(config)?;
        SqliteStore::open_read_only(&path)
            .with_context(|| format!("reading the store {}", path.display()))
    };
    let text = match cmd {
        OrdersCommand::List {
            config,
            product,
            state,
            limit,
            json,
        } => {
            let filter = OrderFilter {
                product: product
                    .map(|p| crate::redrive::known_product(&config, p))
                    .transpose()?,
                state: state
                    .as_deref()
                    .map(crate::redrive::parse_state)
                    .transpose()?,
                limit,
                ..Default::default()
            };
            let orders = reader(&config)?.list_orders(filter).await?;
            if json {
                serde_json::to_string_pretty(&orders)? + "\n"
            } else {
                render::order_table(&orders)
            }
        }
        OrdersCommand::Retry(args) => return crate::redrive::retry(&args).await,
        OrdersCommand::Show { config, id, json } => {
            let reader = reader(&config)?;
            let detail = find_order(&reader, &id).await?;
            if json {
                serde_json::to_string_pretty(&detail)? + "\n"
            } else {
                render::order_detail(&detail)
            }
        }
    };
    print(text.as_bytes())
}

/// The order `id` names: Assay's order number, or else StackOne's order id (which must name
/// one order across products).
async fn find_order(reader: &StoreReader, id: &str) -> anyhow::Result<OrderDetail> {
    if let Ok(n) = id.parse::<i64>()
        && let Some(detail) = reader.get_order(OrderId(n)).await?
    {
        return Ok(detail);
    }
    let filter = OrderFilter {
        order_id: Some(id.to_owned()),
        limit: 10,
        ..Default::default()
    };
    let matches = reader.list_orders(filter).await?;
    match matches.as_slice() {
        [] => anyhow::bail!("no order {id} in {}", reader.path().display()),
        [one] => reader
            .get_order(one.id)
            .await?
            .with_context(|| format!("order {} vanished from {}", one.id, reader.path().display())),
        several => anyhow::bail!(
            "StackOne order id {id} names orders of several products; show one by its ID:\n{}",
            render::order_table(several).trim_end()
        ),
    }
}

/// The store's path from the configuration file, without resolving its secrets (the operator
/// reading orders need not have them).
pub(crate) fn store_path(args: &ConfigArgs) -> anyhow::Result<std::path::PathBuf> {
    if let Some(p) = &args.store {
        return Ok(p.clone());
    }
    if let Ok(p) = std::env::var("ASSAY_STORE_PATH")
        && !p.is_empty()
    {
        return Ok(p.into());
    }
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    let configured = value
        .get("store")
        .and_then(|s| s.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or(crate::config::DEFAULT_STORE_PATH);
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    Ok(base.join(configured))
}

async fn inspect(file: &std::path::Path) -> anyhow::Result<()> {
    let runtime = Runtime::new(RuntimeOptions {
        pooling: false,
        cache_dir: None,
        ..RuntimeOptions::default()
    })?;
    let i = runtime.inspect(file).await?;
    let kinds: Vec<&str> = i
        .metadata
        .kinds
        .iter()
        .map(|k| assay_wire::order_kind::OrderKind::from(*k).as_str())
        .collect();
    use std::fmt::Write as _;
    let mut text = String::new();
    writeln!(text, "file        {}", file.display())?;
    writeln!(text, "sha256      {}", i.sha256)?;
    writeln!(
        text,
        "plugin      {} {}",
        i.metadata.name, i.metadata.version
    )?;
    writeln!(text, "about       {}", i.metadata.description)?;
    writeln!(text, "serves      {}", kinds.join(", "))?;
    writeln!(text, "contract    assay:plugin@{}", i.contract_version)?;
    if i.metadata.settings.is_empty() {
        writeln!(text, "settings    none declared")?;
    } else {
        writeln!(text, "settings")?;
        let width = i
            .metadata
            .settings
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        for s in &i.metadata.settings {
            let need = if s.required { "required" } else { "optional" };
            let secret = if s.secret { "secret" } else { "" };
            writeln!(
                text,
                "  {:width$}  {need:8}  {secret:6}  {}",
                s.name, s.description
            )?;
        }
    }
    writeln!(text, "exports     {}", i.exports.join("\n            "))?;
    writeln!(text, "imports     {}", i.imports.join("\n            "))?;
    print(text.as_bytes())
}
