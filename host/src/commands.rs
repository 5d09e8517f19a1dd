//! What each subcommand does. `main` parses flags and calls [`run`].

use std::io::Write as _;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::Host;
use crate::cli::{
    Cli, Command, ConfigArgs, EmulateArgs, OrdersCommand, PluginCommand, shutdown_signal,
};
use crate::emulator::{self, EmulateOptions, EmulatedProduct};
use crate::telemetry;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(&args).await,
        Command::Emulate(args) => emulate(&args).await,
        Command::Demo(args) => crate::demo::run(&args).await,
        Command::Orders(cmd) => orders(cmd).await,
        Command::Plugin(PluginCommand::Inspect { file }) => inspect(&file).await,
    }
}

async fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("binding {}", config.server.listen))?;
    let metrics = telemetry::init_metrics();
    let host = Host::start(config, listener, metrics).await?;
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
    let _ = cmd;
    anyhow::bail!("not yet wired")
}

async fn inspect(file: &std::path::Path) -> anyhow::Result<()> {
    let _ = file;
    anyhow::bail!("not yet wired")
}
