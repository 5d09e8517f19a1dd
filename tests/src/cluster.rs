//! Several real `assay` processes on one PostgreSQL store, as behind a load balancer, with
//! the StackOne emulator and the demo vendor in this process, each reached through a
//! [`Gate`] the test can hold shut: a request a host sent is then on the wire but unanswered,
//! which is how a test kills a host mid-fulfilment or mid-delivery on purpose.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use assay_emulator::vendor::RunningVendor;
use assay_emulator::{OrderWebhook, RunningEmulator};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::harness::{Secrets, Stage, secret_vars};

/// The variable the hosts' `store.url = "env:T_DATABASE_URL"` names.
pub const DATABASE_URL_VAR: &str = "T_DATABASE_URL";

/// What a [`Gate`] does with a request whose client went away while the gate was shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    /// Sends it on when the gate opens (it was on the wire; the answer goes nowhere).
    Forward,
    /// Drops it (the dead client's request never arrived).
    Drop,
}

/// A TCP relay on loopback in front of `upstream` that the test can shut: while shut, bytes
/// a client sends wait in the gate (answers still flow back). Connections already open wait
/// too, so a client's pooled connection cannot slip past.
pub struct Gate {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    waiting: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Starts an open gate in front of `upstream`.
    pub async fn start(upstream: SocketAddr, orphans: Orphans) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let (open, gate) = watch::channel(true);
        let waiting = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&waiting);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let gate = gate.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(relay(client, upstream, gate, counter, orphans));
            }
        });
        Gate {
            addr,
            open,
            waiting,
            task,
        }
    }

    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the gate: what clients send from now on waits.
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    /// Opens the gate: what waited goes on.
    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Connections with bytes waiting at the shut gate.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut open: watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
    orphans: Orphans,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut server_read, mut server_write) = server.into_split();
    let (mut client_read, mut client_write) = client.split();
    let upward = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !*open.borrow() {
                waiting.fetch_add(1, Ordering::SeqCst);
                // While shut, watch for the client going away.
                let mut gone = false;
                let mut more = Vec::new();
                loop {
                    let mut probe = [0u8; 4096];
                    tokio::select! {
                        changed = open.wait_for(|o| *o) => {
                            if changed.is_err() { gone = true; }
                            break;
                        }
                        read = client_read.read(&mut probe), if !gone => match read {
                            Ok(0) | Err(_) => gone = true,
                            Ok(k) => more.extend_from_slice(&probe[..k]),
                        },
                    }
                    if gone && orphans == Orphans::Drop {
                        break;
                    }
                }
                waiting.fetch_sub(1, Ordering::SeqCst);
                if gone && orphans == Orphans::Drop {
                    return;
                }
                if gone {
                    // Wait for the gate to open, then send what the dead client had sent.
                    let _ = open.wait_for(|o| *o).await;
                }
                if server_write.write_all(&buf[..n]).await.is_err()
                    || server_write.write_all(&more).await.is_err()
                {
                    return;
                }
                if gone {
                    return;
                }
                continue;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downward = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    // A forwarded orphan's answer must still be read for the upstream to finish it.
    tokio::join!(upward, downward);
}

/// One host of a [`Cluster`]: a child process.
pub struct ClusterHost {
    child: Option<Child>,
    /// `http://{listen}`.
    pub url: String,
    /// Its standard error: JSON log lines.
    pub log: PathBuf,
    config: PathBuf,
}

impl ClusterHost {
    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything it logged, in whole lines.
    pub fn log_text(&self) -> String {
        crate::process::whole_lines(std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// Several hosts sharing one PostgreSQL database, one StackOne and one vendor.
pub struct Cluster {
    /// The hosts, by index.
    pub hosts: Vec<ClusterHost>,
    /// StackOne (reached through [`Cluster::stackone_gate`]).
    pub stackone: RunningEmulator,
    /// The vendor (reached through [`Cluster::vendor_gate`]).
    pub vendor: RunningVendor,
    /// What stands between the hosts and StackOne; orphans are dropped.
    pub stackone_gate: Gate,
    /// What stands between the hosts and the vendor; orphans are sent on.
    pub vendor_gate: Gate,
    /// Secrets in use.
    pub secrets: Secrets,
    /// Plugins, configurations and logs.
    pub dir: TempDir,
    binary: PathBuf,
    database_url: String,
}

impl Cluster {
    /// Starts `n` hosts of `binary` on `database_url` with both example products; `store`
    /// is added to each host's `[store]` table. The first host starts alone (it migrates the
    /// database and compiles the plugins into the shared cache), then the others together.
    pub async fn start(binary: &Path, database_url: &str, n: usize, store: &str) -> Cluster {
        let stage = Stage::new(|_| {}).await;
        let template_addr = stage.listener.local_addr().expect("addr");
        drop(stage.listener);
        let vendor_gate = Gate::start(stage.vendor.addr(), Orphans::Forward).await;
        let stackone_gate = Gate::start(stage.stackone.addr(), Orphans::Drop).await;
        let store_line = format!(
            "path = \"{}\"\n",
            stage.dir.path().join("assay.db").display()
        );
        assert!(
            stage.config_text.contains(&store_line),
            "{}",
            stage.config_text
        );
        let template = stage
            .config_text
            .replace(
                &store_line,
                &format!("url = \"env:{DATABASE_URL_VAR}\"\n{store}"),
            )
            .replace(&stage.vendor.base_url(), &vendor_gate.base_url())
            .replace(&stage.stackone.base_url(), &stackone_gate.base_url())
            .replace(
                "[plugins]\n",
                &format!(
                    "[plugins]\ncache_dir = \"{}\"\n",
                    stage.dir.path().join("cache").display()
                ),
            );
        let mut cluster = Cluster {
            hosts: Vec::new(),
            stackone: stage.stackone,
            vendor: stage.vendor,
            stackone_gate,
            vendor_gate,
            secrets: stage.secrets,
            dir: stage.dir,
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
        };
        for i in 0..n {
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port");
            let config = cluster.dir.path().join(format!("config-{i}.toml"));
            let text = template.replace(&template_addr.to_string(), &addr.to_string());
            std::fs::write(&config, text).expect("write the configuration");
            cluster.hosts.push(ClusterHost {
                child: None,
                url: format!("http://{addr}"),
                log: cluster.dir.path().join(format!("host-{i}.log")),
                config,
            });
            cluster.spawn(i);
            if i == 0 {
                cluster.wait_ready(0).await;
            }
        }
        for i in 1..n {
            cluster.wait_ready(i).await;
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&host.log)
            .expect("log file");
        let mut command = Command::new(&self.binary);
        command
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&host.config)
            .env("RUST_LOG", "info")
            .env(DATABASE_URL_VAR, &self.database_url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (name, value) in secret_vars(&self.secrets) {
            command.env(name, value.expose());
        }
        host.child = Some(command.spawn().expect("start assay serve"));
    }

    /// Waits until host `i` answers `/readyz` 200.
    pub async fn wait_ready(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        let child = host.child.as_mut().expect("host runs");
        crate::process::wait_ready(&host.url, child, &host.log, &format!("host {i}")).await;
    }

    /// Kills host `i` with SIGKILL and reaps it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.hosts[i].child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// Starts host `i` again (same configuration and port) and waits until it is ready.
    pub async fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_ready(i).await;
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) host `i`: a frozen host claims nothing.
    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.hosts[i].pid().expect("host runs");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// CodeTest order webhooks numbered `sequences`, for the first package host `via` lists
    /// (read once).
    pub async fn codetest_orders(
        &self,
        via: usize,
        sequences: std::ops::RangeInclusive<u64>,
    ) -> Vec<OrderWebhook> {
        let page = assay_emulator::fetch_packages(
            &self.hosts[via].url,
            "codetest",
            assay_emulator::order::DEFAULT_ACCOUNT_ID,
            assay_emulator::order::DEFAULT_PROVIDER,
            &self.secrets.package_key,
            &self.secrets.whsec,
        )
        .await
        .expect("packages");
        let package = page.data.first().cloned().expect("a package");
        sequences
            .map(|n| {
                assay_emulator::OrderBuilder::new(
                    assay_emulator::OrderKind::Assessment,
                    package.clone(),
                )
                .sequence(n)
                .stackone_base_url(self.stackone.base_url())
                .build()
            })
            .collect()
    }

    /// Sends `webhook` to host `i` as StackOne would; the status, or `None` when the host
    /// could not be reached or did not answer.
    pub async fn send(&self, i: usize, product: &str, webhook: &OrderWebhook) -> Option<u16> {
        self.stackone
            .send_order(
                &self.hosts[i].url,
                product,
                webhook,
                &self.secrets.whsec,
                None,
            )
            .await
            .ok()
            .map(|s| s.as_u16())
    }

    /// Every host's log, for a failing assertion.
    pub fn logs(&self) -> String {
        self.hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("--- host {i}\n{}", h.log_text()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            // SIGKILL ends a frozen (SIGSTOP) host too.
            self.kill(i);
        }
    }
}
