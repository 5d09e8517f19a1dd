//! The real `assay` binary in a process of its own: for what one process has only once (the
//! global metrics recorder, the log subscriber, stdout and exit codes), which tests sharing the
//! test binary's process cannot observe alone.
//!
//! The binary is `assay-under-test`, built by this package from the host's own `main.rs`
//! (`tests/Cargo.toml`): cargo hands a package's integration tests only the binaries of that
//! package, and a thin `main` compiled twice is the same program. Its path reaches the tests
//! at compile time only (`tests/main.rs`, `ASSAY`), so the helpers here take it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assay_emulator::vendor::RunningVendor;
use assay_emulator::{OrderWebhook, RunningEmulator};
use tempfile::TempDir;

use crate::harness::{
    Secrets, Stage, WAIT, order_for, poll, secret_vars, send_as_stackone, with_admin_listen,
};

/// `assay serve --log-format json` in a child process, with the StackOne emulator and the
/// demo vendor in this one. The child is killed when this is dropped.
pub struct HostProcess {
    child: Child,
    binary: PathBuf,
    /// Variables set for the host besides the secrets (kept for [`HostProcess::restart`]).
    env: Vec<(String, std::ffi::OsString)>,
    url: String,
    admin_url: Option<String>,
    /// The child's standard error: its JSON log lines.
    pub log: PathBuf,
    /// StackOne.
    pub stackone: RunningEmulator,
    /// The vendor.
    pub vendor: RunningVendor,
    /// Secrets in use.
    pub secrets: Secrets,
    /// Store, plugins, configuration and log live here.
    pub dir: TempDir,
}

impl HostProcess {
    /// Starts `binary` as the host with both example products and waits until `/readyz`
    /// answers 200.
    pub async fn start(binary: &Path) -> HostProcess {
        Self::start_inner(binary, false, &[]).await
    }

    /// Like [`HostProcess::start`], with `env` set for the host as well.
    pub async fn start_with_env(binary: &Path, env: &[(&str, &std::ffi::OsStr)]) -> HostProcess {
        Self::start_inner(binary, false, env).await
    }

    /// Like [`HostProcess::start`], with `server.admin_listen` on another loopback port:
    /// [`HostProcess::admin_url`].
    pub async fn start_with_admin_listener(binary: &Path) -> HostProcess {
        Self::start_inner(binary, true, &[]).await
    }

    async fn start_inner(
        binary: &Path,
        admin: bool,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> HostProcess {
        // The child binds the addresses itself; a port stays free between reading it here
        // and the child binding it in practice (nothing else on loopback binds chosen ports).
        let admin_addr = match admin {
            true => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind admin");
                Some(l.local_addr().expect("admin addr"))
            }
            false => None,
        };
        let stage = Stage::new(|text| {
            if let Some(addr) = admin_addr {
                *text = with_admin_listen(text, addr);
            }
        })
        .await;
        let addr = stage.listener.local_addr().expect("addr");
        drop(stage.listener);
        let config = stage.dir.path().join("config.toml");
        std::fs::write(&config, &stage.config_text).expect("write the configuration");
        let log = stage.dir.path().join("host.log");
        let env: Vec<(String, std::ffi::OsString)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let child = spawn(binary, &config, &log, &stage.secrets, &env);
        let mut host = HostProcess {
            child,
            binary: binary.to_owned(),
            env,
            url: format!("http://{addr}"),
            admin_url: admin_addr.map(|a| format!("http://{a}")),
            log,
            stackone: stage.stackone,
            vendor: stage.vendor,
            secrets: stage.secrets,
            dir: stage.dir,
        };
        host.wait_ready().await;
        host
    }

    /// Kills the host with SIGKILL, as a crash or the OOM killer would: no shutdown runs.
    pub fn kill(&mut self) {
        // `Child::kill` sends SIGKILL on Unix.
        self.child.kill().expect("kill the host");
        self.child.wait().expect("reap the host");
    }

    /// Starts the host again on the same configuration, store and address (after
    /// [`HostProcess::kill`]) and waits until it is ready; its log goes on in the same file.
    pub async fn restart(&mut self) {
        let config = self.dir.path().join("config.toml");
        self.child = spawn(&self.binary, &config, &self.log, &self.secrets, &self.env);
        self.wait_ready().await;
    }

    /// The path of the host's store.
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("assay.db")
    }

    async fn wait_ready(&mut self) {
        let log = self.log.clone();
        wait_ready(&self.url, &mut self.child, &log, "assay").await;
    }

    /// The host's base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The admin listener's base URL; panics when the host has none.
    pub fn admin_url(&self) -> String {
        self.admin_url
            .clone()
            .expect("started with start_with_admin_listener")
    }

    /// Everything the host logged so far, in whole lines (its log writer writes lines in
    /// batches, at most `BATCH_WINDOW` after they were logged).
    pub fn log_text(&self) -> String {
        whole_lines(std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits until the host's log holds `needle`, for at most [`WAIT`]; whether it did.
    pub async fn wait_for_log(&self, needle: &str) -> bool {
        poll(|| self.log_text().contains(needle).then_some(()))
            .await
            .is_some()
    }

    /// An order webhook for `product`'s first package, as StackOne would send it.
    pub async fn order(&self, product: &str, sequence: u64) -> OrderWebhook {
        order_for(&self.url, &self.stackone, &self.secrets, product, sequence).await
    }

    /// Lists `product`'s packages and sends one order for the first, as StackOne would, and
    /// waits until the first result reaches StackOne.
    pub async fn order_through(&self, product: &str, sequence: u64) {
        let order = self.order(product, sequence).await;
        assert_eq!(self.send(product, &order).await, 200);
        self.stackone
            .wait_for_accepted(&order.order_id, WAIT)
            .await
            .expect("the first result reaches StackOne");
    }

    /// Sends `webhook` as StackOne would; returns the host's status.
    pub async fn send(&self, product: &str, webhook: &OrderWebhook) -> u16 {
        send_as_stackone(&self.url, &self.stackone, &self.secrets, product, webhook).await
    }
}

/// Waits until the host `child` serving at `url` answers `/readyz` 200; panics, with its log,
/// if it exits first or takes longer than [`WAIT`]. `who` names it in the message.
pub(crate) async fn wait_ready(url: &str, child: &mut Child, log: &Path, who: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    let log_text = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{who} exited with {status} before it was ready:\n{}",
                log_text()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{who} not ready in {WAIT:?}:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `assay serve --log-format json --config CONFIG` with the secrets and `env` in its
/// environment, standard error appended to `log`.
fn spawn(
    binary: &Path,
    config: &Path,
    log: &Path,
    secrets: &Secrets,
    env: &[(String, std::ffi::OsString)],
) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut command = Command::new(binary);
    command
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (name, value) in secret_vars(secrets) {
        command.env(name, value.expose());
    }
    command.envs(env.iter().cloned());
    command.spawn().expect("start assay serve")
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `text` up to its last line break: a log being written may end in half a line.
pub(crate) fn whole_lines(mut text: String) -> String {
    text.truncate(text.rfind('\n').map_or(0, |end| end + 1));
    text
}
