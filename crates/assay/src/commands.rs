//! What each subcommand does. `main` parses flags and calls [`run`].

use std::io::Write as _;

use anyhow::Context as _;
use clap::CommandFactory as _;
use tokio::net::TcpListener;

use crate::app::{App, AppOptions};
use crate::cli::{
    Cli, Command, ConfigArgs, OrdersCommand, PluginCommand, StoreCommand, shutdown_signal,
};
use crate::reload;
use crate::telemetry;
use assay_runtime::{Runtime, RuntimeOptions};
use assay_store::{
    OrderDetail, OrderFilter, OrderId, OrderSummary, PostgresStore, SqliteStore, Store as _,
    StoreError, StoreReader, render,
};
use assay_wire::secret::Secret;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _log_writer = telemetry::init_logging(cli.log_format)?;
    match cli.command {
        Command::Serve(args) => serve(&args).await,
        #[cfg(feature = "emulator")]
        Command::Emulate(args) => crate::emulate::run(&args).await,
        #[cfg(feature = "emulator")]
        Command::Send(cmd) => crate::send::run(cmd).await,
        #[cfg(feature = "emulator")]
        Command::Demo(args) => crate::demo::run(&args).await,
        Command::Dev(args) => crate::dev::run(&args).await,
        Command::Check(args) => crate::check::run(&args).await,
        Command::Orders(cmd) => orders(cmd).await,
        Command::Store(StoreCommand::Migrate { config }) => migrate(&config).await,
        Command::Store(StoreCommand::Copy { from, to, config }) => {
            copy_store(&from, &to, &config).await
        }
        Command::Plugin(PluginCommand::Inspect { file }) => inspect(&file).await,
        Command::Plugin(PluginCommand::New { name, lang, dir }) => {
            let dir = dir.unwrap_or_else(|| std::path::PathBuf::from(&name));
            let language = crate::scaffold::Language::from(lang);
            let written = crate::scaffold::new_plugin(language, &name, &dir)?;
            println!(
                "wrote the plugin project {name} to {} ({} files); build it with\n  cd {}\n  {}",
                dir.display(),
                written.len(),
                dir.display(),
                language.build_commands().replace('\n', "\n  ")
            );
            Ok(())
        }
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
    // Retry writes (through a host or into the store); the others read the store.
    async fn reader(config: &ConfigArgs) -> anyhow::Result<OrderReader> {
        OrderReader::open(store_location(config)?).await
    }
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
            let orders = reader(&config).await?.list_orders(filter).await?;
            if json {
                serde_json::to_string_pretty(&orders)? + "\n"
            } else {
                render::order_table(&orders)
            }
        }
        OrdersCommand::Retry(args) => return crate::redrive::retry(&args).await,
        OrdersCommand::Show { config, id, json } => {
            let reader = reader(&config).await?;
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
async fn find_order(reader: &OrderReader, id: &str) -> anyhow::Result<OrderDetail> {
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
        [] => anyhow::bail!("no order {id} in {}", reader.name()),
        [one] => reader
            .get_order(one.id)
            .await?
            .with_context(|| format!("order {} vanished from {}", one.id, reader.name())),
        several => anyhow::bail!(
            "StackOne order id {id} names orders of several products; show one by its ID:\n{}",
            render::order_table(several).trim_end()
        ),
    }
}

/// Which store the configuration names, found without resolving any other secret (the
/// operator reading orders need not have the products' keys).
pub(crate) enum StoreLocation {
    /// The SQLite file.
    Sqlite(std::path::PathBuf),
    /// PostgreSQL, at this URL (`store.url`, resolved).
    Postgres(Secret),
}

/// The store `args` name: `--store` or `ASSAY_STORE_PATH` (a SQLite file), else the file's
/// `store.url` (its secret reference resolved) or `store.path`.
pub(crate) fn store_location(args: &ConfigArgs) -> anyhow::Result<StoreLocation> {
    if let Some(p) = &args.store {
        return Ok(StoreLocation::Sqlite(p.clone()));
    }
    if let Ok(p) = std::env::var("ASSAY_STORE_PATH")
        && !p.is_empty()
    {
        return Ok(StoreLocation::Sqlite(p.into()));
    }
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    let store = value.get("store");
    let base = args.config.parent().unwrap_or(std::path::Path::new("."));
    if let Some(url) = store.and_then(|s| s.get("url")) {
        let reference: crate::config::SecretRef = url
            .as_str()
            .context("store.url must be a string")?
            .parse()
            .with_context(|| format!("store.url in {}", args.config.display()))?;
        let url = reference
            .resolve(base, &crate::config::process_env)
            .map_err(|problem| anyhow::anyhow!("store.url ({reference}): {problem}"))?;
        return Ok(StoreLocation::Postgres(url));
    }
    let configured = store
        .and_then(|s| s.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or(crate::config::DEFAULT_STORE_PATH);
    Ok(StoreLocation::Sqlite(base.join(configured)))
}

/// What `assay orders` reads: a SQLite file a host may be serving from (read-only, no lock),
/// or the PostgreSQL database hosts share.
enum OrderReader {
    Sqlite(StoreReader),
    Postgres(PostgresStore),
}

impl OrderReader {
    async fn open(location: StoreLocation) -> anyhow::Result<OrderReader> {
        Ok(match location {
            StoreLocation::Sqlite(path) => OrderReader::Sqlite(
                SqliteStore::open_read_only(&path)
                    .with_context(|| format!("reading the store {}", path.display()))?,
            ),
            StoreLocation::Postgres(url) => OrderReader::Postgres(
                PostgresStore::connect(url.expose())
                    .await
                    .context("reading the PostgreSQL store (store.url)")?,
            ),
        })
    }

    /// The store, for messages: the file, or `host:port/database`.
    fn name(&self) -> String {
        match self {
            OrderReader::Sqlite(r) => r.path().display().to_string(),
            OrderReader::Postgres(p) => p.target().to_owned(),
        }
    }

    async fn list_orders(&self, filter: OrderFilter) -> Result<Vec<OrderSummary>, StoreError> {
        match self {
            OrderReader::Sqlite(r) => r.list_orders(filter).await,
            OrderReader::Postgres(p) => p.list_orders(filter).await,
        }
    }

    async fn get_order(&self, id: OrderId) -> Result<Option<OrderDetail>, StoreError> {
        match self {
            OrderReader::Sqlite(r) => r.get_order(id).await,
            OrderReader::Postgres(p) => p.get_order(id).await,
        }
    }
}

/// `assay store migrate`: brings the configured store's schema to this build's version and
/// prints it. A store whose schema is newer than the build is refused, naming both versions.
async fn migrate(args: &ConfigArgs) -> anyhow::Result<()> {
    let line = match store_location(args)? {
        StoreLocation::Postgres(url) => {
            let version = PostgresStore::migrate(url.expose())
                .await
                .context("migrating the PostgreSQL store (store.url)")?;
            format!("PostgreSQL store at schema version {version}\n")
        }
        StoreLocation::Sqlite(path) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let opened = path.clone();
            tokio::task::spawn_blocking(move || SqliteStore::open(&opened))
                .await
                .context("opening the store")?
                .with_context(|| format!("migrating the store {}", path.display()))?;
            format!(
                "SQLite store {} at schema version {}\n",
                path.display(),
                assay_store::sqlite::SCHEMA_VERSION
            )
        }
    };
    print(line.as_bytes())
}

/// `assay store copy --from sqlite:PATH --to postgres`: see [`assay_store::postgres::copy_from_sqlite`].
async fn copy_store(from: &str, to: &str, args: &ConfigArgs) -> anyhow::Result<()> {
    let Some(source) = from.strip_prefix("sqlite:").filter(|p| !p.is_empty()) else {
        anyhow::bail!("--from must be sqlite:PATH, the SQLite store to copy; got `{from}`");
    };
    if to != "postgres" {
        anyhow::bail!("--to must be `postgres` (the configuration's store.url); got `{to}`");
    }
    let StoreLocation::Postgres(url) = store_location(args)? else {
        anyhow::bail!(
            "{} has no store.url: set it to the PostgreSQL database to copy into",
            args.config.display()
        );
    };
    let report = assay_store::postgres::copy_from_sqlite(source.as_ref(), url.expose())
        .await
        .with_context(|| format!("copying {from} into PostgreSQL"))?;
    use std::fmt::Write as _;
    let mut text = format!("copied sqlite:{source} into PostgreSQL {}\n", report.target);
    writeln!(
        text,
        "{:<14}{:>10}{:>12}{:>12}",
        "table", "in SQLite", "copied now", "verified"
    )?;
    for t in &report.tables {
        writeln!(
            text,
            "{:<14}{:>10}{:>12}{:>12}",
            t.table, t.source, t.copied, t.verified
        )?;
    }
    writeln!(text, "every row of the SQLite store is in PostgreSQL")?;
    print(text.as_bytes())
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
