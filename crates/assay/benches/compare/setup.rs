//! What every scenario starts from: the example plugin, secrets, a configuration for `assay
//! serve`, the StackOne emulator and the demo vendor, and pre-signed requests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use assay_emulator::vendor::{DemoVendor, RunningVendor, codetest::TESTS};
use assay_emulator::{Emulator, OrderBuilder, OrderKind, Package, RunningEmulator};
use assay_wire::secret::Secret;

use crate::wrk::{self, Signed};

/// Secrets of the benchmark deployment, handed to `assay serve` as environment variables.
pub const STACKONE_KEY: &str = "bench-stackone-key";
pub const WEBHOOK_SECRET: &str = "bench-webhook-secret";
pub const LIST_KEY: &str = "bench-package-list-key";
pub const VENDOR_TOKEN: &str = "bench-vendor-token";
pub const VENDOR_SECRET: &str = "bench-vendor-webhook-secret";
/// The variable a PostgreSQL deployment's `store.url` names.
pub const DATABASE_URL_VAR: &str = "BENCH_DATABASE_URL";

/// The environment `assay serve` gets: the secrets its configuration names.
pub fn host_env() -> Vec<(String, String)> {
    [
        ("BENCH_STACKONE_KEY", STACKONE_KEY),
        ("BENCH_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("BENCH_LIST_KEY", LIST_KEY),
        ("BENCH_VENDOR_TOKEN", VENDOR_TOKEN),
        ("BENCH_VENDOR_SECRET", VENDOR_SECRET),
        // The production default, stated so a caller's RUST_LOG cannot change the figures.
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The example plugin `codetest`, built from source by the benchmark (as `assay demo` does).
pub fn build_codetest() -> anyhow::Result<Vec<u8>> {
    let root = repo_root();
    let files = assay::plugin_build::build(
        &root.join("plugins").join("Cargo.toml"),
        &root.join("plugins").join("target"),
        &["codetest"],
    )
    .context("building the example plugin codetest")?;
    let file = files.first().context("the build named no file")?;
    std::fs::read(file).with_context(|| format!("reading {}", file.display()))
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/assay sits two folders below the repository's root")
        .to_path_buf()
}

/// `component` with a custom section holding `n`: new bytes, so the artifact cache misses and
/// loading it includes a compile, as a new plugin version would.
pub fn variant(component: &[u8], n: u64) -> Vec<u8> {
    let name = b"assay-bench";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&n.to_le_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // under 128: one LEB128 byte
    out.extend_from_slice(&section);
    out
}

/// The package catalogue the products list (CodeTest's tests, answered from the plugin's
/// `packages` setting so the figures are Assay's cost, not a vendor's).
pub fn catalogue() -> String {
    let entries: Vec<_> = TESTS
        .iter()
        .map(|t| serde_json::json!({"id": t.id, "name": t.title, "description": t.description}))
        .collect();
    serde_json::Value::from(entries).to_string()
}

/// A deployment directory for one `assay serve`.
pub struct Deployment {
    /// The directory: config.toml, plugins/, data/assay.db (out of the watched folder, as in
    /// the default layout), cache/, logs/assay.log.
    pub dir: PathBuf,
    /// The address `assay serve` listens on.
    pub addr: SocketAddr,
}

/// What a deployment's configuration says.
pub struct Layout<'a> {
    /// Products `p0`…: each has its own plugin file.
    pub products: usize,
    /// How many of them, from `p0`, let the host cache their package list (the plugin's
    /// default freshness); the others set `packages_max_age_s = "0"`, so every package list
    /// runs the plugin, as every one did before contract 0.2.0.
    pub cached: usize,
    /// `store.max_batch`; `None` keeps the default.
    pub max_batch: Option<usize>,
    /// PostgreSQL instead of SQLite: `store.url = "env:BENCH_DATABASE_URL"`, the URL given to
    /// [`Deployment::serve_on`].
    pub postgres: bool,
    /// StackOne (the emulator) and the vendor.
    pub stackone_url: &'a str,
    pub vendor_url: &'a str,
}

impl Layout<'static> {
    /// `products` products whose StackOne and vendor are nowhere (port 9, discard): for
    /// scenarios that only list packages or start.
    pub fn offline(products: usize) -> Self {
        Layout {
            products,
            cached: 0,
            max_batch: None,
            postgres: false,
            stackone_url: "http://127.0.0.1:9",
            vendor_url: "http://127.0.0.1:9",
        }
    }
}

impl Deployment {
    /// Creates `dir` with a configuration and one plugin file per product (variant `i` of
    /// `plugin` for product `p{i}`, so no two products share compiled code).
    pub fn create(dir: PathBuf, plugin: &[u8], layout: &Layout<'_>) -> anyhow::Result<Self> {
        let addr = crate::process::free_addr()?;
        std::fs::create_dir_all(dir.join("plugins"))?;
        std::fs::create_dir_all(dir.join("logs"))?;
        for i in 0..layout.products {
            std::fs::write(
                dir.join("plugins").join(format!("p{i}.wasm")),
                variant(plugin, i as u64),
            )?;
        }
        let deployment = Deployment { dir, addr };
        std::fs::write(deployment.config_path(), deployment.config_text(layout))?;
        Ok(deployment)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// The host's log. Not in `dir`, which the host watches for configuration changes:
    /// every line written there would wake its watcher.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("logs").join("assay.log")
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.join("plugins")
    }

    /// Starts `assay serve` on this deployment; returns it and its time from spawn to ready.
    pub async fn serve(&self) -> anyhow::Result<(crate::process::Server, std::time::Duration)> {
        self.serve_on(None).await
    }

    /// [`Deployment::serve`], with `database_url` as the PostgreSQL URL of a deployment whose
    /// layout says `postgres`.
    pub async fn serve_on(
        &self,
        database_url: Option<&str>,
    ) -> anyhow::Result<(crate::process::Server, std::time::Duration)> {
        let mut env = host_env();
        if let Some(url) = database_url {
            env.push((DATABASE_URL_VAR.to_owned(), url.to_owned()));
        }
        crate::process::Server::assay(&self.config_path(), self.addr, &env, &self.log_path()).await
    }

    fn config_text(&self, layout: &Layout<'_>) -> String {
        let host = format!("http://{}", self.addr);
        let mut text = format!(
            "[server]\nlisten = \"{addr}\"\n\
             [store]\n{store}\n{batch}\
             [stackone]\nbase_url = \"{stackone}\"\napi_key = \"env:BENCH_STACKONE_KEY\"\n\
             [plugins]\ndir = \"plugins\"\ncache_dir = \"cache\"\n",
            addr = self.addr,
            store = if layout.postgres {
                format!("url = \"env:{DATABASE_URL_VAR}\"")
            } else {
                "path = \"data/assay.db\"".to_owned()
            },
            batch = layout
                .max_batch
                .map(|n| format!("max_batch = {n}\n"))
                .unwrap_or_default(),
            stackone = layout.stackone_url,
        );
        for i in 0..layout.products {
            text.push_str(&format!(
                "[products.p{i}]\nplugin = \"p{i}.wasm\"\nkind = \"assessment\"\n\
                 webhook_secrets = [\"env:BENCH_WEBHOOK_SECRET\"]\n\
                 package_list_keys = [\"env:BENCH_LIST_KEY\"]\n\
                 allowed_hosts = [\"{vendor}\"]\n\
                 [products.p{i}.settings]\npackages = '{catalogue}'\nbase_url = \"{vendor}\"\n\
                 api_token = \"env:BENCH_VENDOR_TOKEN\"\nwebhook_secret = \"env:BENCH_VENDOR_SECRET\"\n\
                 callback_url = \"{host}/v1/products/p{i}/callbacks/attempts\"\n{cache}",
                vendor = layout.vendor_url,
                catalogue = catalogue(),
                cache = if i < layout.cached {
                    ""
                } else {
                    "packages_max_age_s = \"0\"\n"
                },
            ));
        }
        text
    }
}

/// The emulator and the demo vendor, in this process.
pub struct Peers {
    pub emulator: RunningEmulator,
    pub vendor: RunningVendor,
}

impl Peers {
    pub async fn start() -> anyhow::Result<Peers> {
        let emulator = Emulator::new(vec![Secret::new(STACKONE_KEY)])
            .start()
            .await
            .context("starting the StackOne emulator")?;
        let vendor = DemoVendor::new(Secret::new(VENDOR_TOKEN), Secret::new(VENDOR_SECRET))
            .start()
            .await
            .context("starting the demo vendor")?;
        Ok(Peers { emulator, vendor })
    }
}

/// The Package's List request StackOne sends: body, signature, Basic auth.
pub struct ListRequest {
    pub body: String,
    pub signature: String,
    pub authorization: String,
}

pub fn list_request() -> ListRequest {
    let body = serde_json::json!({"account_id": "456551489512493414", "provider": "recruitee"})
        .to_string();
    ListRequest {
        signature: assay_wire::signature::sign(body.as_bytes(), &Secret::new(WEBHOOK_SECRET)),
        authorization: assay_wire::basic_auth::header_value(&Secret::new(LIST_KEY)),
        body,
    }
}

/// The package list request, as a one-line requests file for wrk.
pub fn write_list_requests(path: &Path, product: &str) -> anyhow::Result<()> {
    let request = list_request();
    let route = format!("/v1/products/{product}/packages");
    wrk::write_requests(
        path,
        [Signed {
            path: &route,
            signature: &request.signature,
            body: &request.body,
        }],
    )?;
    Ok(())
}

/// An order webhook for `product`, as StackOne sends it.
pub fn order(run_id: &str, sequence: u64) -> assay_emulator::OrderWebhook {
    let test = &TESTS[0];
    OrderBuilder::new(
        OrderKind::Assessment,
        Package {
            id: Some(test.id.to_owned()),
            name: Some(test.title.to_owned()),
            description: Some(test.description.to_owned()),
            ..Package::default()
        },
    )
    .run_id(run_id)
    .sequence(sequence)
    .build()
}

/// `count` distinct, signed order webhooks for `product` (ids from `run_id`), as a requests
/// file for wrk. Returns the body size of one.
pub fn write_webhook_requests(
    path: &Path,
    product: &str,
    run_id: &str,
    count: u64,
) -> anyhow::Result<usize> {
    let secret = Secret::new(WEBHOOK_SECRET);
    let route = format!("/v1/products/{product}/webhooks");
    let webhooks: Vec<(String, String)> = (0..count)
        .map(|n| {
            let webhook = order(run_id, n);
            let body = String::from_utf8(webhook.body.to_vec()).expect("JSON is UTF-8");
            (assay_wire::signature::sign(body.as_bytes(), &secret), body)
        })
        .collect();
    let size = webhooks.first().map_or(0, |(_, b)| b.len());
    wrk::write_requests(
        path,
        webhooks.iter().map(|(signature, body)| Signed {
            path: &route,
            signature,
            body,
        }),
    )?;
    Ok(size)
}
