//! A whole deployment on loopback: the real host (embedded store, both example plugins), the
//! StackOne emulator and the demo vendor, with fresh secrets. Tests drive it like StackOne
//! and the vendor would.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assay::app::{App, AppOptions};
use assay::config::{Config, Overrides};
use assay::reload::ConfigLoader;
use assay_emulator::vendor::{DemoVendor, RunningVendor};
use assay_emulator::{
    self as emulator, Emulator, OrderBuilder, OrderKind, OrderWebhook, RunningEmulator,
};
use assay_wire::secret::Secret;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::fixtures::{example_plugin_path, install_plugin};

/// How long tests wait for something that should happen in well under a second.
pub const WAIT: Duration = Duration::from_secs(20);

/// The secrets of one deployment.
#[derive(Clone)]
pub struct Secrets {
    /// StackOne's webhook signing secret.
    pub whsec: Secret,
    /// A second signing secret, for rotation (`env:T_WHSEC2`).
    pub whsec2: Secret,
    /// The package-list API key StackOne sends.
    pub package_key: Secret,
    /// The StackOne API key the host delivers results with.
    pub stackone_key: Secret,
    /// The admin token.
    pub admin: Secret,
    /// The vendor API token.
    pub vendor_token: Secret,
    /// The vendor's callback signing secret.
    pub vendor_secret: Secret,
}

/// A running deployment.
pub struct Deployment {
    /// The host.
    pub host: App,
    /// StackOne.
    pub stackone: RunningEmulator,
    /// The vendor.
    pub vendor: RunningVendor,
    /// Secrets in use.
    pub secrets: Secrets,
    /// Store, plugins and configuration live here.
    pub dir: TempDir,
    config_text: String,
}

fn fresh(label: &str) -> Secret {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Secret::new(format!("{label}-{}-{nanos}", std::process::id()))
}

impl Deployment {
    /// Starts everything with both example products.
    pub async fn start() -> Deployment {
        Self::start_with(|_| {}).await
    }

    /// Starts everything; `edit` may change the configuration text before it is loaded.
    pub async fn start_with(edit: impl FnOnce(&mut String)) -> Deployment {
        Self::start_inner(edit, false, &[]).await
    }

    /// Starts everything with other builds of the products' plugins: each `(product, file)`
    /// replaces `product`'s example plugin (e.g. the TypeScript build of `codetest`).
    /// Compiled plugins are cached in `cache_dir`, which tests share so that a large plugin is
    /// compiled once per run.
    pub async fn start_with_plugins(plugins: &[(&str, &Path)], cache_dir: &Path) -> Deployment {
        Self::start_with_plugins_edited(plugins, cache_dir, |_| {}).await
    }

    /// As [`Deployment::start_with_plugins`]; `edit` may then change the configuration text
    /// before it is loaded (e.g. a setting the other build needs).
    pub async fn start_with_plugins_edited(
        plugins: &[(&str, &Path)],
        cache_dir: &Path,
        edit: impl FnOnce(&mut String),
    ) -> Deployment {
        let cache = format!("cache_dir = \"{}\"\n", cache_dir.display());
        let edit = move |text: &mut String| {
            *text = text.replacen("[plugins]\n", &format!("[plugins]\n{cache}"), 1);
            edit(text);
        };
        Self::start_inner(edit, false, plugins).await
    }

    /// Starts everything with an admin listener of its own (`server.admin_listen`) on
    /// another loopback port: [`Deployment::admin_url`].
    pub async fn start_with_admin_listener(edit: impl FnOnce(&mut String)) -> Deployment {
        Self::start_inner(edit, true, &[]).await
    }

    async fn start_inner(
        edit: impl FnOnce(&mut String),
        admin: bool,
        plugins: &[(&str, &Path)],
    ) -> Deployment {
        // Logs show up for failing tests (the test runner captures them otherwise).
        assay::telemetry::init_test_logging();
        let admin = match admin {
            true => Some(TcpListener::bind("127.0.0.1:0").await.expect("bind admin")),
            false => None,
        };
        let admin_addr = admin.as_ref().map(|l| l.local_addr().expect("admin addr"));
        let stage = Stage::new(|text| {
            if let Some(addr) = admin_addr {
                *text = with_admin_listen(text, addr);
            }
            edit(text);
        })
        .await;
        for (product, file) in plugins {
            install_plugin(&stage.dir.path().join("plugins"), product, file)
                .unwrap_or_else(|e| panic!("install {}: {e}", file.display()));
        }
        let host = start_host(
            &stage.config_text,
            stage.dir.path(),
            &stage.secrets,
            stage.listener,
            admin,
        )
        .await;
        Deployment {
            host,
            stackone: stage.stackone,
            vendor: stage.vendor,
            secrets: stage.secrets,
            dir: stage.dir,
            config_text: stage.config_text,
        }
    }

    /// The host's base URL.
    pub fn url(&self) -> String {
        self.host.base_url()
    }

    /// The admin listener's base URL; panics when the deployment has none.
    pub fn admin_url(&self) -> String {
        self.host
            .admin_url()
            .expect("started with start_with_admin_listener")
    }

    /// Stops the host and starts a new one on the same address, store and plugins, as after a
    /// crash or a deploy.
    pub async fn restart(mut self) -> Deployment {
        let addr = self.host.addr();
        let admin_addr = self.host.admin_addr();
        self.host.shutdown().await.expect("no background task died");
        let listener = TcpListener::bind(addr)
            .await
            .expect("rebind the same address");
        let admin = match admin_addr {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .expect("rebind the admin address"),
            ),
            None => None,
        };
        self.host = start_host(
            &self.config_text,
            self.dir.path(),
            &self.secrets,
            listener,
            admin,
        )
        .await;
        self
    }

    /// An order webhook for `product`'s first package, as StackOne would send it.
    pub async fn order(&self, product: &str, sequence: u64) -> OrderWebhook {
        order_for(
            &self.url(),
            &self.stackone,
            &self.secrets,
            product,
            sequence,
        )
        .await
    }

    /// Sends `webhook` as StackOne would; returns the host's status.
    pub async fn send(&self, product: &str, webhook: &OrderWebhook) -> u16 {
        send_as_stackone(&self.url(), &self.stackone, &self.secrets, product, webhook).await
    }

    /// A Package's List request for `product` with `body`, authenticated and signed as
    /// StackOne sends it; the caller sends it.
    pub fn package_list_request(
        &self,
        client: &reqwest::Client,
        product: &str,
        body: &'static [u8],
    ) -> reqwest::RequestBuilder {
        client
            .post(format!("{}/v1/products/{product}/packages", self.url()))
            .header(
                "authorization",
                assay_wire::basic_auth::header_value(&self.secrets.package_key),
            )
            .header(
                "x-stackone-signature",
                assay_wire::signature::sign(body, &self.secrets.whsec),
            )
            .body(body)
    }

    /// Waits until `check` holds, polling (the state lives in other tasks and processes).
    pub async fn eventually<T>(&self, what: &str, check: impl FnMut() -> Option<T>) -> T {
        poll(check)
            .await
            .unwrap_or_else(|| panic!("timed out waiting for {what}"))
    }

    /// Waits until the async `check` yields a value.
    pub async fn eventually_async<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `GET /admin/orders/{id}` with the admin token: the order's JSON, or `None` while the
    /// host does not have it (or cannot answer).
    pub async fn order_detail(&self, id: &str) -> Option<serde_json::Value> {
        reqwest::Client::new()
            .get(format!("{}/admin/orders/{id}", self.url()))
            .bearer_auth(self.secrets.admin.expose())
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    /// Waits until order `id` has a dead letter, and returns its JSON.
    pub async fn dead_lettered(&self, id: &str) -> serde_json::Value {
        self.eventually_async("a dead letter", || async {
            let detail = self.order_detail(id).await?;
            (!detail["dead_letters"].as_array()?.is_empty()).then_some(detail)
        })
        .await
    }

    /// Sends order `sequence` of `product` with StackOne scripted to refuse its first result
    /// (422, `message`), waits for the dead letter, and returns the order and Assay's number
    /// of it: a dead letter to retry.
    pub async fn dead_letter(
        &self,
        product: &str,
        sequence: u64,
        message: &str,
    ) -> (OrderWebhook, i64) {
        let order = self.order(product, sequence).await;
        self.stackone.script(
            assay_emulator::ScriptTarget::Order(order.order_id.clone()),
            assay_emulator::ScriptedResponse::unprocessable(message),
        );
        assert_eq!(self.send(product, &order).await, 200);
        let detail = self.dead_lettered(&order.order_id).await;
        let id = detail["summary"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no order number in {detail}"));
        (order, id)
    }

    /// Waits until StackOne accepted a result of `order_id`, and returns its `result.value`.
    pub async fn accepted_value(&self, order_id: &str) -> Option<String> {
        let delivered = self
            .stackone
            .wait_for_accepted(order_id, WAIT)
            .await
            .unwrap_or_else(|e| panic!("no result of {order_id} reached StackOne: {e:?}"));
        let json = delivered.json?;
        json["result"]["value"].as_str().map(str::to_owned)
    }

    /// The configuration file the host reads (and watches).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// The plugins folder the host watches.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// The path of the store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("assay.db")
    }
}

/// What a host is started in: a folder with both example plugins, fresh secrets, the vendor,
/// StackOne, a bound listener and the configuration text naming them all.
pub(crate) struct Stage {
    pub(crate) dir: TempDir,
    pub(crate) secrets: Secrets,
    pub(crate) vendor: RunningVendor,
    pub(crate) stackone: RunningEmulator,
    pub(crate) listener: TcpListener,
    pub(crate) config_text: String,
}

impl Stage {
    pub(crate) async fn new(edit: impl FnOnce(&mut String)) -> Stage {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugins dir");
        for name in ["codetest", "backcheck"] {
            install_plugin(&plugins, name, &example_plugin_path(name)).expect("install plugin");
        }
        let secrets = Secrets {
            whsec: fresh("whsec"),
            whsec2: fresh("whsec2"),
            package_key: fresh("pk"),
            stackone_key: fresh("so"),
            admin: fresh("admin"),
            vendor_token: fresh("vt"),
            vendor_secret: fresh("vs"),
        };
        let vendor = DemoVendor::new(secrets.vendor_token.clone(), secrets.vendor_secret.clone())
            .start()
            .await
            .expect("vendor");
        let stackone = Emulator::new(vec![secrets.stackone_key.clone()])
            .start()
            .await
            .expect("emulator");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind host");
        let addr = listener.local_addr().expect("addr");
        let mut config_text =
            config_text(dir.path(), &stackone.base_url(), &vendor.base_url(), addr);
        edit(&mut config_text);
        Stage {
            dir,
            secrets,
            vendor,
            stackone,
            listener,
            config_text,
        }
    }
}

/// Polls `check` every 20 ms until it yields a value, for at most [`WAIT`].
pub async fn poll<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The variables the test configuration's `env:` secrets name, with their values.
pub fn secret_vars(s: &Secrets) -> [(&'static str, &Secret); 7] {
    [
        ("T_WHSEC", &s.whsec),
        ("T_WHSEC2", &s.whsec2),
        ("T_PKG", &s.package_key),
        ("T_STACKONE", &s.stackone_key),
        ("T_ADMIN", &s.admin),
        ("T_VENDOR_TOKEN", &s.vendor_token),
        ("T_VENDOR_SECRET", &s.vendor_secret),
    ]
}

/// An order webhook for `product`'s first package at the host at `url`.
pub(crate) async fn order_for(
    url: &str,
    stackone: &RunningEmulator,
    secrets: &Secrets,
    product: &str,
    sequence: u64,
) -> OrderWebhook {
    let kind = if product == "backcheck" {
        OrderKind::BackgroundCheck
    } else {
        OrderKind::Assessment
    };
    let page = emulator::fetch_packages(
        url,
        product,
        emulator::order::DEFAULT_ACCOUNT_ID,
        emulator::order::DEFAULT_PROVIDER,
        &secrets.package_key,
        &secrets.whsec,
    )
    .await
    .expect("packages");
    let package = page.data.first().cloned().expect("a package");
    OrderBuilder::new(kind, package)
        .sequence(sequence)
        .stackone_base_url(stackone.base_url())
        .build()
}

/// Sends `webhook` to the host at `url` as StackOne would; returns the host's status.
pub(crate) async fn send_as_stackone(
    url: &str,
    stackone: &RunningEmulator,
    secrets: &Secrets,
    product: &str,
    webhook: &OrderWebhook,
) -> u16 {
    stackone
        .send_order(url, product, webhook, &secrets.whsec, None)
        .await
        .expect("send order")
        .as_u16()
}

async fn start_host(
    config_text: &str,
    dir: &Path,
    secrets: &Secrets,
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
) -> App {
    let path = dir.join("config.toml");
    std::fs::write(&path, config_text).expect("write the configuration");
    let s = secrets.clone();
    let env = move |name: &str| {
        secret_vars(&s)
            .into_iter()
            .find(|(var, _)| *var == name)
            .map(|(_, v)| v.expose().to_owned())
    };
    let config =
        Config::load(&path, &Overrides::default(), env.clone()).expect("test configuration");
    let loader_path = path.clone();
    let loader: ConfigLoader =
        Arc::new(move || Config::load(&loader_path, &Overrides::default(), env.clone()));
    let options = AppOptions {
        config_source: Some((path, loader)),
        admin_listener,
        ..AppOptions::default()
    };
    App::start(config, listener, options)
        .await
        .expect("host starts")
}

/// `config` with `server.admin_listen = addr`.
pub(crate) fn with_admin_listen(config: &str, addr: SocketAddr) -> String {
    assert!(config.starts_with("[server]\n"), "{config}");
    config.replacen(
        "[server]\n",
        &format!("[server]\nadmin_listen = \"{addr}\"\n"),
        1,
    )
}

/// The configuration of a test deployment: both example products against the demo vendor.
pub(crate) fn config_text(dir: &Path, stackone: &str, vendor: &str, host: SocketAddr) -> String {
    let mut text = format!(
        "[server]\nlisten = \"{host}\"\nmax_body_bytes = 65536\nadmin_token = \"env:T_ADMIN\"\n\
         [store]\npath = \"{store}\"\n[stackone]\nbase_url = \"{stackone}\"\napi_key = \"env:T_STACKONE\"\n\
         [plugins]\ndir = \"{plugins}\"\n",
        store = dir.join("assay.db").display(),
        plugins = dir.join("plugins").display(),
    );
    for (name, kind, extra) in [
        ("codetest", "assessment", ""),
        ("backcheck", "background_check", "poll_interval_s = 1\n"),
    ] {
        text.push_str(&format!(
            "\n[products.{name}]\nplugin = \"{name}.wasm\"\nkind = \"{kind}\"\nwebhook_secrets = [\"env:T_WHSEC\"]\n\
             package_list_keys = [\"env:T_PKG\"]\ncors_origins = [\"https://ats.example\"]\nallowed_hosts = [\"{vendor}\"]\n{extra}\
             [products.{name}.settings]\nbase_url = \"{vendor}\"\napi_token = \"env:T_VENDOR_TOKEN\"\n\
             webhook_secret = \"env:T_VENDOR_SECRET\"\ncallback_url = \"http://{host}/v1/products/{name}/callbacks/attempts\"\n"
        ));
    }
    text
}
