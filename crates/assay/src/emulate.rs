//! `assay emulate`: StackOne played against a running host, with the keys and secrets of the
//! host's own configuration.

use std::io::Write as _;

use anyhow::Context as _;
use assay_emulator::{EmulateOptions, EmulatedProduct};
use assay_wire::order_kind::OrderKind;

use crate::cli::EmulateArgs;

/// Lists each product's packages, sends one order per product, waits for the results and
/// prints what the recruiter would see.
pub async fn run(args: &EmulateArgs) -> anyhow::Result<()> {
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
    assay_emulator::run_emulate(&options, &mut out).await?;
    out.flush()?;
    Ok(())
}

/// The emulator keeps its own order-kind type on purpose (it checks the host from outside).
fn emulator_kind(kind: OrderKind) -> assay_emulator::OrderKind {
    match kind {
        OrderKind::Assessment => assay_emulator::OrderKind::Assessment,
        OrderKind::BackgroundCheck => assay_emulator::OrderKind::BackgroundCheck,
    }
}
