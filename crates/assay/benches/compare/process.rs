//! The servers under test, each in a process of its own so their memory is their own: the
//! `assay` binary (`assay serve`), and the bare hyper baseline (this benchmark binary started
//! again with [`BARE_ROLE`]).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The environment variable that makes this binary the bare baseline server; its value is the
/// file holding the JSON answer.
pub const BARE_ROLE: &str = "ASSAY_BENCH_BARE_ANSWER";
/// The environment variable holding the bare server's listen address.
pub const BARE_LISTEN: &str = "ASSAY_BENCH_BARE_LISTEN";

/// A free loopback port (the OS picks it; the listener is closed before the server binds).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A running server process; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
}

impl Server {
    /// Starts `assay serve --config <config> --listen <addr>` with `env`, its log in `log`,
    /// and waits until `/readyz` answers 200. Returns the server and the time from spawn to
    /// ready.
    pub async fn assay(
        config: &Path,
        addr: SocketAddr,
        env: &[(String, String)],
        log: &Path,
    ) -> anyhow::Result<(Server, Duration)> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_assay"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(addr.to_string())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting assay serve")?;
        let mut server = Server {
            child,
            base_url: format!("http://{addr}"),
        };
        server.wait_ready("/readyz", log).await?;
        Ok((server, started.elapsed()))
    }

    /// Starts the bare hyper server answering every request with the bytes of `answer`.
    pub async fn bare(answer: &Path, log: &Path) -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let log_file = std::fs::File::create(log)?;
        let child = Command::new(std::env::current_exe()?)
            .env(BARE_ROLE, answer)
            .env(BARE_LISTEN, addr.to_string())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting the bare server")?;
        let mut server = Server {
            child,
            base_url: format!("http://{addr}"),
        };
        server.wait_ready("/", log).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, path: &str, log: &Path) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before it was ready; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            let ready = client
                .get(format!("{}{path}", self.base_url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the server was not ready within 60 s; its log: {}",
                    log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Starts `perf record` on this process, writing `<dir>/<name>.data`, until
    /// [`Profile::stop`].
    pub fn profile(&self, dir: &Path, name: &str) -> anyhow::Result<Profile> {
        std::fs::create_dir_all(dir)?;
        Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "499",
                "--call-graph",
                "dwarf,16384",
            ])
            .arg("-p")
            .arg(self.child.id().to_string())
            .arg("-o")
            .arg(dir.join(format!("{name}.data")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Profile)
            .context("starting perf record (ASSAY_BENCH_PROFILE needs perf on the PATH)")
    }

    /// CPU time the process has used so far, user and system, all threads.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        Ok(proc_stat(self.child.id())?.cpu)
    }

    /// Resident memory now and its peak so far (`VmRSS`, `VmHWM`), in bytes.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading /proc/<pid>/status (the memory figures need Linux)")?;
        let kib = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .map(|k: u64| k * 1024)
                .with_context(|| format!("no {name} in /proc/<pid>/status"))
        };
        Ok(Memory {
            resident: kib("VmRSS:")?,
            peak: kib("VmHWM:")?,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `perf record`.
pub struct Profile(Child);

impl Profile {
    /// Stops recording (SIGINT, as Ctrl-C would) and waits until perf has written its file.
    pub fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .context("stopping perf record")?;
        self.0.wait()?;
        Ok(())
    }
}

/// What `/proc/<pid>/stat` says of a process: its parent and the CPU time it has used so far
/// (user and system, all threads).
pub struct ProcStat {
    pub parent: u32,
    pub cpu: Duration,
}

/// Reads `/proc/<pid>/stat` (Linux).
pub fn proc_stat(pid: u32) -> anyhow::Result<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc/<pid>/stat (the CPU figures need Linux)")?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // the 3rd field of the line, the parent the 4th, utime the 14th, stime the 15th.
    let rest = stat
        .rsplit_once(')')
        .context("no `)` in /proc/<pid>/stat")?
        .1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let number = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("short /proc/<pid>/stat")
    };
    Ok(ProcStat {
        parent: u32::try_from(number(1)?)?,
        cpu: Duration::from_secs_f64((number(11)? + number(12)?) as f64 / clock_ticks()),
    })
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Now.
    pub resident: u64,
    /// The most so far.
    pub peak: u64,
}

/// The bare baseline: hyper's HTTP/1 server on a multi-threaded tokio runtime (as Assay's),
/// reading each request's body and answering the same JSON bytes Assay answers. No auth, no
/// signature, no plugin, no store: the floor of what any Rust HTTP service costs here.
pub fn run_bare(answer: &Path, listen: &str) -> anyhow::Result<()> {
    use http_body_util::{BodyExt, Full};
    use hyper::body::{Bytes, Incoming};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;

    let answer = Bytes::from(std::fs::read(answer)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let answer = answer.clone();
                    async move {
                        request.into_body().collect().await?;
                        let mut response = Response::new(Full::new(answer));
                        response.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
