//! A throw-away PostgreSQL server for tests, started from the machine's own binaries.
//!
//! [`PgServer::start`] finds `initdb`, `pg_ctl`, `postgres` and `pg_isready` (on `PATH`, then
//! in the newest `/usr/lib/postgresql/*/bin`, where Debian's `postgresql` package puts them),
//! creates a cluster in a new temporary folder and starts it on a free loopback port with its
//! Unix socket in that folder. PostgreSQL refuses to run as root, and tests here run as root:
//! then the folder is given to the `postgres` system user (which Debian's package creates) and
//! every server binary runs as that user through `setpriv`.
//!
//! The server is owned by a small shell (`sh`) whose standard input is a pipe from this
//! process. When the pipe closes, because the [`PgServer`] is dropped or because the test
//! process ended in any way (even `kill -9`), the shell stops the server with
//! `pg_ctl stop -m fast`, kills it if that fails, and removes the folder. That is what lets
//! [`shared`] keep one server in a `static` (never dropped) without leaving a server behind.
//!
//! Without the binaries, [`shared`] prints [`NOT_INSTALLED`] and returns `None` so the test
//! can return early, unless `ASSAY_REQUIRE_ALL=1` (set by `.ci/run`): then it panics with that
//! line, so a CI machine without PostgreSQL fails instead of passing on skipped tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a test prints (or, with `ASSAY_REQUIRE_ALL=1`, panics with) where PostgreSQL is not
/// installed.
pub const NOT_INSTALLED: &str = "skipped: PostgreSQL not installed (apt-get install postgresql)";

/// How long [`PgServer::start`] waits for the new server to accept connections.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);

/// How often readiness is polled.
const READY_POLL: Duration = Duration::from_millis(25);

/// How long dropping a [`PgServer`] waits for its shell to stop the server and clean up.
pub const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// The superuser of the throw-away cluster (trust authentication on loopback only).
pub const USER: &str = "assay";

/// How a throw-away server is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct PgServerOptions {
    /// PostgreSQL's `fsync`. Off by default: the server is thrown away, and tests of
    /// durability across a crash of the machine are not possible with it anyway. The store
    /// still runs with `synchronous_commit = on`, so commits wait for the WAL write.
    pub fsync: bool,
}

/// A running throw-away server; stopped and removed when dropped.
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    // Closing this pipe tells the shell to stop the server and remove `dir`.
    stdin: Option<ChildStdin>,
    shell: Child,
    databases: AtomicU64,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    fsync: bool,
}

/// The server binaries a throw-away server needs, all from one directory.
const BINARIES: [&str; 4] = ["initdb", "pg_ctl", "postgres", "pg_isready"];

/// The directory holding `initdb` and friends, if PostgreSQL is installed: the first
/// directory on `PATH` that has all of `BINARIES`, else the newest
/// `/usr/lib/postgresql/<version>/bin`. (Debian puts only some of them, as wrappers, on
/// `PATH`; a mix from two directories could be two versions.)
pub fn find_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| BINARIES.iter().all(|b| dir.join(b).is_file());
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| complete(dir)));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                complete(&bin).then_some((version, bin))
            })
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// The server shared by every test of this test binary, started on first use; `None` where
/// PostgreSQL is not installed and `ASSAY_REQUIRE_ALL` is not `1` (the first call prints
/// [`NOT_INSTALLED`] to the process's standard error).
///
/// # Panics
///
/// If the binaries are missing and `ASSAY_REQUIRE_ALL=1`, or if the server cannot start.
pub fn shared() -> Option<&'static PgServer> {
    static SERVER: OnceLock<Option<PgServer>> = OnceLock::new();
    let require_all = std::env::var("ASSAY_REQUIRE_ALL").as_deref() == Ok("1");
    let server = SERVER.get_or_init(|| {
        if find_binaries().is_none() {
            if !require_all {
                // Once per test binary, and past the test harness's capture of `eprintln!`
                // (which hides the output of passing tests), so the skip is seen.
                let _ = writeln!(std::io::stderr(), "{NOT_INSTALLED}");
            }
            return None;
        }
        Some(PgServer::start(PgServerOptions::default()).unwrap_or_else(|e| panic!("{e}")))
    });
    if server.is_none() && require_all {
        panic!("{NOT_INSTALLED}");
    }
    server.as_ref()
}

impl PgServer {
    /// Creates a cluster in a new temporary folder and starts it; see the [module docs](self).
    pub fn start(options: PgServerOptions) -> Result<PgServer, String> {
        let bin = find_binaries().ok_or_else(|| NOT_INSTALLED.to_owned())?;
        let dir = tempfile::Builder::new()
            .prefix("assay-pg-")
            .tempdir()
            .map_err(|e| format!("cannot create a folder for PostgreSQL: {e}"))?
            .keep();
        let started = Self::start_in(&bin, &dir, options);
        if started.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        started
    }

    fn start_in(bin: &Path, dir: &Path, options: PgServerOptions) -> Result<PgServer, String> {
        let run_as = server_user()?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot give {} to the postgres user: {e}", dir.display()))?;
        }
        let data = dir.join("data");
        let as_user = |program: &str| server_command(bin, run_as, program);
        let out = as_user("initdb")
            .args([
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .args(["--username", USER, "-D"])
            .arg(&data)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.join("initdb").display()))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        let fsync = if options.fsync { "on" } else { "off" };
        let log = dir.join("server.log");
        // The prefix that runs a server binary as the server's user, for the shell.
        let prefix = match run_as {
            Some((uid, gid)) => format!("setpriv --reuid={uid} --regid={gid} --clear-groups --"),
            None => String::new(),
        };
        let script = format!(
            r#"{prefix} "$1/postgres" -D "$2/data" -p {port} -k "$2" -c listen_addresses=127.0.0.1 \
                 -c fsync={fsync} -c max_connections=200 >"$2/server.log" 2>&1 &
               pid=$!
               read -r _ignored || true
               {prefix} "$1/pg_ctl" -D "$2/data" stop -m fast -w -t 20 >/dev/null 2>&1 \
                 || kill -KILL "$pid" 2>/dev/null
               wait "$pid" 2>/dev/null
               rm -rf "$2""#
        );
        let shell = Command::new("sh")
            .args(["-c", &script, "assay-pg"])
            .arg(bin)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the shell that runs PostgreSQL: {e}"))?;
        let mut server = PgServer {
            port,
            dir: dir.to_owned(),
            stdin: None,
            shell,
            databases: AtomicU64::new(0),
            bin: bin.to_owned(),
            run_as,
            fsync: options.fsync,
        };
        server.stdin = server.shell.stdin.take();
        server.wait_ready(bin, &log)?;
        Ok(server)
    }

    /// Polls `pg_isready` until the server accepts connections, the shell exits, or
    /// [`READY_DEADLINE`] passes.
    fn wait_ready(&mut self, bin: &Path, log: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_DEADLINE;
        let log_text = || std::fs::read_to_string(log).unwrap_or_default();
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-U", USER, "-d", "postgres"])
                .args(["-p", &self.port.to_string()])
                .status()
                .map_err(|e| format!("cannot run pg_isready: {e}"))?;
            if ready.success() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.shell.try_wait() {
                return Err(format!(
                    "PostgreSQL exited before it was ready ({status}): {}",
                    log_text()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "PostgreSQL on port {} was not ready within {READY_DEADLINE:?}: {}",
                    self.port,
                    log_text()
                ));
            }
            std::thread::sleep(READY_POLL);
        }
    }

    /// Stops the server (`pg_ctl stop -m fast`: every connection is closed) and keeps its
    /// data, for a test of what the hosts do while their database is gone;
    /// [`PgServer::resume`] starts it again on the same port.
    pub fn pause(&self) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "30"])
    }

    /// Starts the server [`PgServer::pause`] stopped, on the same port and data, and waits
    /// until it accepts connections. When dropped, the server is stopped as usual.
    pub fn resume(&self) -> Result<(), String> {
        let fsync = if self.fsync { "on" } else { "off" };
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server-resumed.log");
        self.pg_ctl(&[
            "start",
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "-l",
            &log.display().to_string(),
        ])
    }

    /// Runs `pg_ctl -D <data> ARGS` as the server's user.
    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut cmd = server_command(&self.bin, self.run_as, "pg_ctl");
        let out = cmd
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", pg_ctl.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {} failed ({}): {}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The folder holding the cluster, its socket and `server.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A connection string for `database` (no password: trust on loopback).
    pub fn url(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={USER} dbname={database}",
            self.port
        )
    }

    /// Creates a new empty database and returns its connection string. Names are unique per
    /// server, so tests sharing one server never see each other's data.
    pub async fn create_database(&self) -> Result<String, String> {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        let url = self.url("postgres");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("cannot connect to the test server: {e}"))?;
        let driver = tokio::spawn(conn);
        let created = client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| format!("cannot create database {name}: {e}"));
        drop(client);
        let _ = driver.await;
        created.map(|()| self.url(&name))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Closing the pipe is the shell's cue to stop the server and remove the folder.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let deadline = Instant::now() + STOP_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.shell.try_wait() {
                return;
            }
            std::thread::sleep(READY_POLL);
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// `bin/program` run as the server's user (`run_as`, through `setpriv`) if given, with no
/// standard input.
fn server_command(bin: &Path, run_as: Option<(u32, u32)>, program: &str) -> Command {
    let mut cmd = match run_as {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.args([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".into(),
                "--".into(),
            ]);
            c.arg(bin.join(program));
            c
        }
        None => Command::new(bin.join(program)),
    };
    cmd.stdin(Stdio::null());
    cmd
}

/// The `postgres` user's uid and gid when running as root (PostgreSQL refuses root), else
/// `None`.
fn server_user() -> Result<Option<(u32, u32)>, String> {
    let id = |args: &[&str]| -> Result<u32, String> {
        let out = Command::new("id")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`id {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("`id {}` printed no number: {e}", args.join(" ")))
    };
    if id(&["-u"])? != 0 {
        return Ok(None);
    }
    let user = |args: &[&str]| {
        id(args).map_err(|e| {
            format!(
                "PostgreSQL refuses to run as root, and there is no postgres user to run it as \
                 (Debian's postgresql package creates one): {e}"
            )
        })
    };
    Ok(Some((
        user(&["-u", "postgres"])?,
        user(&["-g", "postgres"])?,
    )))
}

/// A loopback port free right now. Another process could take it before the server binds
/// it; the server then fails to start and says so in its log.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_starts_serves_and_is_removed_when_dropped() {
        if find_binaries().is_none() {
            // `shared` prints the skip line, or panics under ASSAY_REQUIRE_ALL=1.
            assert!(shared().is_none());
            return;
        }
        let server = PgServer::start(PgServerOptions::default()).expect("start");
        let dir = server.dir().to_owned();
        assert!(dir.join("data").is_dir());
        let url = server.create_database().await.expect("create database");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT current_setting('fsync'), current_user", &[])
            .await
            .expect("query");
        assert_eq!(
            (row.get::<_, String>(0), row.get::<_, String>(1)),
            ("off".to_owned(), USER.to_owned())
        );
        drop(client);
        drop(server);
        assert!(!dir.exists(), "{} must be removed", dir.display());
    }
}
