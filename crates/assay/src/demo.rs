//! `assay demo`: Assay's main job, end to end, on one machine.
//!
//! It builds the example plugins from source, starts a demo vendor ([`assay_emulator::vendor`]), the host with
//! its embedded store, and the StackOne emulator, all on loopback ports of their own. Then it
//! plays the story: StackOne lists each product's packages, a recruiter orders the first one
//! for a sample candidate, the host fulfils the order through the plugin, the candidate
//! finishes (the demo vendor calls back, or the check is polled), and the result reaches
//! StackOne, which shows what the recruiter would see. The host keeps serving until Ctrl-C.
//!
//! Everything it writes goes under `target/assay-demo/`, fresh each run: the store, the
//! plugins, and its configuration (`config.toml`, with each secret in a file of `secrets/`),
//! so `assay check --config target/assay-demo/config.toml --url …` can check the running demo.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::{App, AppOptions};
use crate::cli::{DemoArgs, shutdown_signal};
use crate::config::{Config, Overrides};
use crate::plugin_build;
use crate::telemetry;
use assay_emulator::vendor::{self, DemoVendor};
use assay_emulator::{EmulateOptions, EmulatedProduct, Emulator};
use assay_wire::secret::Secret;

/// The example products, as `(name, kind)`.
pub const PRODUCTS: [(&str, &str); 2] = [
    ("codetest", "assessment"),
    ("backcheck", "background_check"),
];
/// The folder of the demo's secret files, beside its configuration.
pub const SECRETS_DIR: &str = "secrets";
/// How long the demo's simulated candidate takes to finish a test or a check.
pub const CANDIDATE_DELAY: Duration = Duration::from_millis(800);

/// Runs the demo.
pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("finding {}", args.root.display()))?;
    let work = root.join("target").join("assay-demo");
    let _ = std::fs::remove_dir_all(&work);
    let plugins_dir = work.join("plugins");
    std::fs::create_dir_all(&plugins_dir)
        .with_context(|| format!("creating {}", plugins_dir.display()))?;
    install_plugins(&root, &plugins_dir, args.no_build).await?;

    let secret = || Secret::new(hex::encode(rand::random::<[u8; 16]>()));
    let (vendor_token, vendor_secret, stackone_key) = (secret(), secret(), secret());
    let product_secrets: Vec<(Secret, Secret)> =
        PRODUCTS.iter().map(|_| (secret(), secret())).collect();

    let vendor = DemoVendor::new(vendor_token.clone(), vendor_secret.clone())
        .start()
        .await
        .context("starting the demo vendor")?;
    let host_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the host")?;
    let emulator_listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the emulator")?;
    let host_addr = host_listener.local_addr()?;
    let emulator_addr = emulator_listener.local_addr()?;

    let config_text = config_text(
        &work,
        &plugins_dir,
        &format!("http://{emulator_addr}"),
        &vendor.base_url(),
        &format!("http://{host_addr}"),
    );
    // The secrets go into files beside the configuration (`file:` references), so the
    // configuration on disk is complete: `assay check`, `assay send` and `assay orders` read it
    // as they would a production one.
    let mut secrets = vec![
        ("DEMO_STACKONE_KEY".to_owned(), stackone_key.clone()),
        ("DEMO_VENDOR_TOKEN".to_owned(), vendor_token.clone()),
        ("DEMO_VENDOR_SECRET".to_owned(), vendor_secret.clone()),
        ("DEMO_ADMIN_TOKEN".to_owned(), secret()),
    ];
    for ((name, _), (whsec, key)) in PRODUCTS.iter().zip(&product_secrets) {
        secrets.push((format!("DEMO_{}_WHSEC", name.to_uppercase()), whsec.clone()));
        secrets.push((format!("DEMO_{}_KEY", name.to_uppercase()), key.clone()));
    }
    write_secrets(&work.join(SECRETS_DIR), &secrets)?;
    let config_path = work.join("config.toml");
    std::fs::write(&config_path, &config_text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let config = Config::load(&config_path, &Overrides::default(), |_| None)
        .context("the demo configuration")?;
    let host = App::start(
        config,
        host_listener,
        AppOptions {
            metrics: telemetry::init_metrics(),
            ..AppOptions::default()
        },
    )
    .await?;
    println!(
        "Assay serving on {} (store {}, plugins {})",
        host.base_url(),
        work.join("assay.db").display(),
        plugins_dir.display()
    );
    println!("Demo vendor on {}", vendor.base_url());

    let candidate = tokio::spawn(play_candidate(Arc::new(vendor)));
    let stackone = Emulator::new(vec![stackone_key]);
    // Unlike StackOne, the demo's StackOne takes results of orders it did not send itself, so
    // the test orders of `assay check --url` and `assay send order` complete here too.
    stackone.set_reject_unknown_orders(false);
    let emulator = stackone
        .start_on(emulator_listener)
        .context("starting the StackOne emulator")?;
    println!("StackOne emulator on {}", emulator.base_url());
    let mut options = EmulateOptions::new(host.base_url(), emulator_addr, vec![]);
    for ((name, kind), (whsec, key)) in PRODUCTS.iter().zip(product_secrets) {
        options.products.push(EmulatedProduct {
            name: (*name).to_owned(),
            kind: kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
            api_key: key,
            signing_secret: whsec,
            token: None,
        });
    }
    let mut out = std::io::stdout();
    let story = assay_emulator::run_story(&emulator, &options, &mut out).await;
    out.flush()?;
    match story {
        Ok(_) => println!("\nEvery order reached its final result."),
        Err(e) => {
            candidate.abort();
            host.shutdown().await?;
            return Err(e).context("the demo story did not finish");
        }
    }
    if !args.exit {
        println!(
            "\nAssay keeps serving on {}: try `curl {}/readyz`, or check the setup with\n  \
             assay check --config {} --url {}\nCtrl-C to stop.",
            host.base_url(),
            host.base_url(),
            config_path.display(),
            host.base_url()
        );
        shutdown_signal().await;
    }
    // The vendor and its candidates stay while the host serves: orders sent to it later
    // (`assay send order`, `assay check --url`) are fulfilled and finished too.
    candidate.abort();
    let _ = emulator.stop().await;
    host.shutdown().await?;
    Ok(())
}

/// Writes each secret to a file of its own (readable by this user only) in `dir`.
fn write_secrets(dir: &Path, secrets: &[(String, Secret)]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, value) in secrets {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        file.write_all(value.expose().as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Builds the example plugins from source (or takes the `.wasm` files already in
/// `plugins/`) and installs them into `dest`.
async fn install_plugins(root: &Path, dest: &Path, no_build: bool) -> anyhow::Result<()> {
    let names: Vec<&str> = PRODUCTS.iter().map(|(n, _)| *n).collect();
    let files = if no_build {
        names
            .iter()
            .map(|n| root.join("plugins").join(format!("{n}.wasm")))
            .collect::<Vec<_>>()
    } else {
        println!(
            "Building the example plugins (cargo build --release --target {})…",
            plugin_build::WASM_TARGET
        );
        let manifest = root.join("plugins").join("Cargo.toml");
        let target = root.join("plugins").join("target");
        let names = names.clone();
        tokio::task::spawn_blocking(move || plugin_build::build(&manifest, &target, &names))
            .await??
    };
    for (name, file) in names.iter().zip(files) {
        plugin_build::install(&file, dest, &format!("{name}.wasm"))?;
    }
    Ok(())
}

/// The demo's configuration: both example products, secrets as `file:` references into
/// [`SECRETS_DIR`].
fn config_text(work: &Path, plugins: &Path, stackone: &str, vendor: &str, host: &str) -> String {
    let vendor_host = vendor.to_owned();
    let mut text = format!(
        r#"[server]
listen = "{listen}"
admin_token = "file:secrets/DEMO_ADMIN_TOKEN"
[store]
path = "{store}"
[stackone]
base_url = "{stackone}"
api_key = "file:secrets/DEMO_STACKONE_KEY"
[plugins]
dir = "{plugins}"
"#,
        listen = host.trim_start_matches("http://"),
        store = work.join("assay.db").display(),
        plugins = plugins.display(),
    );
    for (name, kind) in PRODUCTS {
        let upper = name.to_uppercase();
        let poll = if kind == "background_check" {
            "poll_interval_s = 1\n"
        } else {
            ""
        };
        text.push_str(&format!(
            r#"
[products.{name}]
plugin = "{name}.wasm"
kind = "{kind}"
webhook_secrets = ["file:secrets/DEMO_{upper}_WHSEC"]
package_list_keys = ["file:secrets/DEMO_{upper}_KEY"]
allowed_hosts = ["{vendor_host}"]
{poll}[products.{name}.settings]
base_url = "{vendor_host}"
api_token = "file:secrets/DEMO_VENDOR_TOKEN"
webhook_secret = "file:secrets/DEMO_VENDOR_SECRET"
callback_url = "{host}/v1/products/{name}/callbacks/attempts"
"#
        ));
    }
    text
}

/// Plays the candidates: finishes each coding test with a score and clears each check, a
/// moment after the vendor received it.
async fn play_candidate(vendor: Arc<vendor::RunningVendor>) {
    let mut done = std::collections::HashSet::new();
    loop {
        tokio::time::sleep(CANDIDATE_DELAY).await;
        for inv in vendor.invitations() {
            if done.insert(inv.id.clone()) {
                match vendor.complete_invitation(&inv.id, 87, 100).await {
                    Ok(status) => println!(
                        "    candidate {} finished test {} (vendor callback answered {status})",
                        inv.candidate_name, inv.test_id
                    ),
                    Err(e) => println!("    candidate callback failed: {e:#}"),
                }
            }
        }
        for check in vendor.checks() {
            if check.status == "pending" && done.insert(check.id.clone()) {
                vendor.set_check_status(&check.id, "clear");
                println!("    background check {} came back clear", check.id);
            }
        }
    }
}
