//! What each subcommand does. `main` parses flags and calls [`run`].

use std::io::Write as _;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::{Host, HostOptions};
use crate::cli::{
    Cli, Command, ConfigArgs, EmulateArgs, OrdersCommand, PluginCommand, shutdown_signal,
};
use crate::emulator::{self, EmulateOptions, EmulatedProduct};
use crate::reload;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::{OrderFilter, OrderId, StoreReader};
use crate::telemetry;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(&args).await,
        Command::Emulate(args) => emulate(&args).await,
        Command::Demo(args) => crate::demo::run(&args).await,
        Command::Dev(args) => crate::dev::run(&args).await,
        Command::Orders(cmd) => orders(cmd).await,
        Command::Plugin(PluginCommand::Inspect { file }) => inspect(&file).await,
    }
}

async fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let options = HostOptions {
        metrics: telemetry::init_metrics(),
        config_source: Some((
            args.config_path(),
            reload::config_loader(args.config_path(), args.overrides()),
        )),
        watch: true,
    };
    let host = Host::start(config, listener, options).await?;
    host.run_until(shutdown_signal()).await;
    Ok(())
}

async fn emulate(args: &EmulateArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let key = config
        .products
        .values()
        .map(|p| p.stackone_api_key.clone())
        .collect::<Vec<_>>();
    let mut options =
        EmulateOptions::new(args.host.trim_end_matches('/'), args.emulator_listen, key);
    for (name, product) in &config.products {
        if !args.products.is_empty() && !args.products.contains(name) {
            continue;
        }
        let api_key = product
            .package_list_keys
            .first()
            .cloned()
            .with_context(|| format!("product `{name}` has no package_list_keys"))?;
        let signing_secret = product
            .webhook_secrets
            .first()
            .cloned()
            .with_context(|| format!("product `{name}` has no webhook_secrets"))?;
        options.products.push(EmulatedProduct {
            name: name.clone(),
            kind: emulator_kind(product.kind),
            api_key,
            signing_secret,
            token: product.webhook_token.clone(),
        });
    }
    let mut out = std::io::stdout();
    emulator::run_emulate(&options, &mut out).await?;
    out.flush()?;
    Ok(())
}

/// The emulator keeps its own order-kind type on purpose (it checks the host from outside).
pub fn emulator_kind(kind: crate::order_kind::OrderKind) -> emulator::OrderKind {
    match kind {
        crate::order_kind::OrderKind::Assessment => emulator::OrderKind::Assessment,
        crate::order_kind::OrderKind::BackgroundCheck => emulator::OrderKind::BackgroundCheck,
    }
}

async fn orders(cmd: OrdersCommand) -> anyhow::Result<()> {
    let (config, show) = match &cmd {
        OrdersCommand::List { config, .. } => (config, None),
        OrdersCommand::Show { config, id } => (config, Some(id.clone())),
    };
    let path = store_path(config)?;
    let reader = StoreReader::open(&path)
        .with_context(|| format!("reading the store {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    match (cmd, show) {
        (OrdersCommand::List { product, limit, .. }, _) => {
            let orders = reader
                .list_orders(OrderFilter {
                    product,
                    limit,
                    ..Default::default()
                })
                .await?;
            writeln!(out, "{}", render_orders(&orders))?;
        }
        (OrdersCommand::Show { .. }, Some(id)) => {
            let by_number = match id.parse::<i64>() {
                Ok(n) => reader.get_order(OrderId(n)).await?,
                Err(_) => None,
            };
            let detail = match by_number {
                Some(d) => Some(d),
                None => match reader
                    .list_orders(OrderFilter {
                        order_id: Some(id.clone()),
                        limit: 1,
                        ..Default::default()
                    })
                    .await?
                    .first()
                {
                    Some(o) => reader.get_order(o.id).await?,
                    None => None,
                },
            };
            let detail = detail.with_context(|| format!("no order {id} in {}", path.display()))?;
            writeln!(out, "{}", serde_json::to_string_pretty(&detail)?)?;
        }
        (OrdersCommand::Show { .. }, None) => unreachable!("show always has an id"),
    }
    Ok(())
}

/// The store's path from the configuration file, without resolving its secrets (the operator
/// reading orders need not have them).
fn store_path(args: &ConfigArgs) -> anyhow::Result<std::path::PathBuf> {
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

/// A plain-text table of orders.
pub fn render_orders(orders: &[crate::store::OrderSummary]) -> String {
    let mut rows = vec![[
        "#".to_owned(),
        "product".into(),
        "StackOne order".into(),
        "state".into(),
        "candidate".into(),
        "external id".into(),
        "last result".into(),
    ]];
    for o in orders {
        rows.push([
            o.id.to_string(),
            o.product.clone(),
            o.order_id.clone(),
            serde_json::to_value(o.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            o.candidate_label.clone().unwrap_or_default(),
            o.external_id.clone().unwrap_or_default(),
            o.last_result.clone().unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    if orders.is_empty() {
        text.push_str("(no orders)\n");
    }
    text
}

async fn inspect(file: &std::path::Path) -> anyhow::Result<()> {
    let runtime = Runtime::new(RuntimeOptions {
        pooling: false,
        cache_dir: None,
    })?;
    let i = runtime.inspect(file).await?;
    let kinds: Vec<&str> = i
        .metadata
        .kinds
        .iter()
        .map(|k| crate::order_kind::OrderKind::from(*k).as_str())
        .collect();
    println!("file        {}", file.display());
    println!("sha256      {}", i.sha256);
    println!("plugin      {} {}", i.metadata.name, i.metadata.version);
    println!("about       {}", i.metadata.description);
    println!("serves      {}", kinds.join(", "));
    println!(
        "contract    assay:plugin@{}",
        i.contract_version.as_deref().unwrap_or("?")
    );
    println!("exports     {}", i.exports.join("\n            "));
    println!("imports     {}", i.imports.join("\n            "));
    Ok(())
}
