//! The load generator: `wrk` (Debian's package, never installed by the benchmark), driven by a Lua script that replays a file of
//! pre-signed requests, so every webhook is a new event with a valid signature.
//!
//! wrk runs closed-loop: each of its `c` connections sends the next request when the previous
//! one is answered, so "concurrency c" is `c` requests in flight. Latency percentiles are
//! wrk's own histogram. Requests answered 4xx/5xx, and connect/read/write/timeout errors, are
//! counted as failed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// The environment variable naming the wrk program (a name looked up on the PATH, or a path);
/// default `wrk`. A path that does not exist tries the smoke run as on a machine without wrk.
pub const PROGRAM_VAR: &str = "ASSAY_WRK";
/// What to install when wrk is missing.
pub const INSTALL: &str = "apt-get install wrk";

/// The script: each line of the requests file is `<path>\t<signature>\t<body>`; of `n` wrk
/// threads, thread `k` sends lines `k, k+n, k+2n, …` in order and starts over at its end
/// (counted in `wrapped`, so a run that ran out of distinct events is detected).
const SCRIPT: &str = r#"
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads, auth = args[1], tonumber(args[2]), args[3]
  requests = {}
  local lines = {}
  for line in io.lines(file) do
    lines[#lines + 1] = line
  end
  -- Each thread takes its share of the lines; with fewer lines than threads (one package
  -- list request), every thread takes them all: a thread with nothing to send would hold
  -- its connections idle until the host closes them at its head deadline.
  for i, line in ipairs(lines) do
    if #lines < nthreads or (i - 1) % nthreads == tid then
      local path, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { ["Content-Type"] = "application/json", ["x-stackone-signature"] = sig }
      if auth ~= nil and auth ~= "" then headers["Authorization"] = auth end
      requests[#requests + 1] = wrk.format("POST", path, headers, body)
    end
  end
  next_index = 1
  wrapped = 0
end

function request()
  local r = requests[next_index]
  next_index = next_index + 1
  if next_index > #requests then
    next_index = 1
    wrapped = wrapped + 1
  end
  return r
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, t in ipairs(threads) do wrapped = wrapped + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    "ASSAY-WRK requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d max_us=%d wrapped=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, wrapped))
end
"#;

/// One request of a requests file.
pub struct Signed<'a> {
    /// Path and query, e.g. `/v1/products/p0/webhooks`.
    pub path: &'a str,
    /// The `x-stackone-signature` value.
    pub signature: &'a str,
    /// The body: one line of JSON.
    pub body: &'a str,
}

/// Writes a requests file for [`Wrk::run`].
pub fn write_requests<'a>(
    path: &Path,
    requests: impl IntoIterator<Item = Signed<'a>>,
) -> anyhow::Result<usize> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut n = 0;
    for r in requests {
        anyhow::ensure!(
            !r.body.contains(['\n', '\t']),
            "a request body must be one line without tabs"
        );
        writeln!(out, "{}\t{}\t{}", r.path, r.signature, r.body)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    /// Requests completed (answered or failed).
    pub requests: u64,
    /// The run's length.
    pub duration: Duration,
    /// Requests answered 4xx/5xx plus socket errors and timeouts.
    pub failed: u64,
    /// The failures as wrk counts them: connect, read, write, status (4xx/5xx), timeout.
    pub failures: [u64; 5],
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// How many times a thread ran out of requests and started over.
    pub wrapped: u64,
    /// CPU time the server under test used during the run (user + system, all threads);
    /// set by the caller, which knows the server.
    pub server_cpu: Duration,
}

impl Load {
    /// The server's CPU time per completed request.
    pub fn cpu_per_request(&self) -> Duration {
        Duration::from_secs_f64(self.server_cpu.as_secs_f64() / self.requests.max(1) as f64)
    }

    /// Completed requests per second.
    pub fn per_sec(&self) -> f64 {
        self.requests as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// What one run is: where, how many connections, how long.
pub struct Run<'a> {
    /// `http://127.0.0.1:PORT`.
    pub base_url: &'a str,
    /// The requests file.
    pub requests: &'a Path,
    /// The `Authorization` header for every request, if any.
    pub authorization: Option<&'a str>,
    /// Connections, i.e. requests in flight.
    pub connections: usize,
    /// Whole seconds (wrk's resolution).
    pub seconds: u64,
}

/// A located `wrk` and the directory its script is written to.
#[derive(Clone)]
pub struct Wrk {
    program: PathBuf,
    script: PathBuf,
}

impl Wrk {
    /// Finds wrk ([`PROGRAM_VAR`], else `wrk` on the PATH) and writes the script into `dir`;
    /// `None` when it is not installed. Never installs anything.
    pub fn locate(dir: &Path) -> anyhow::Result<Option<Wrk>> {
        let name = std::env::var_os(PROGRAM_VAR).unwrap_or_else(|| "wrk".into());
        let Some(program) = find_program(Path::new(&name)) else {
            return Ok(None);
        };
        let script = dir.join("assay-bench.lua");
        std::fs::write(&script, SCRIPT).with_context(|| format!("writing {}", script.display()))?;
        Ok(Some(Wrk { program, script }))
    }

    /// `wrk debian/4.1.0 …`: the first line `wrk -v` prints.
    pub fn version(&self) -> String {
        Command::new(&self.program)
            .arg("-v")
            .output()
            .ok()
            .and_then(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr);
                text.lines()
                    .next()
                    .map(|l| l.split(" Copyright").next().unwrap_or(l).trim().to_owned())
            })
            .unwrap_or_else(|| "wrk".into())
    }

    /// Runs wrk once and parses what the script printed.
    pub fn run(&self, run: &Run<'_>) -> anyhow::Result<Load> {
        // One wrk thread per core the machine has, capped by the connections; this machine
        // size (2 cores) means wrk and the server under test share the cores.
        let threads = run.connections.clamp(1, 2);
        let output = Command::new(&self.program)
            .arg(format!("-t{threads}"))
            .arg(format!("-c{}", run.connections))
            .arg(format!("-d{}s", run.seconds))
            .arg("--timeout")
            .arg("10s")
            .arg("-s")
            .arg(&self.script)
            .arg(run.base_url)
            .arg("--")
            .arg(run.requests)
            .arg(threads.to_string())
            .arg(run.authorization.unwrap_or(""))
            .output()
            .with_context(|| format!("running {}", self.program.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "wrk failed ({}): {}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        parse(&stdout).with_context(|| format!("reading wrk's output:\n{stdout}"))
    }
}

fn parse(stdout: &str) -> anyhow::Result<Load> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ASSAY-WRK "))
        .context("no ASSAY-WRK line")?;
    let field = |name: &str| -> anyhow::Result<u64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .with_context(|| format!("no {name}="))?
            .parse()
            .with_context(|| format!("{name} is not a number"))
    };
    let failures = [
        field("connect")?,
        field("read")?,
        field("write")?,
        field("status")?,
        field("timeout")?,
    ];
    Ok(Load {
        failures,
        requests: field("requests")?,
        duration: Duration::from_micros(field("duration_us")?),
        failed: field("connect")?
            + field("read")?
            + field("write")?
            + field("status")?
            + field("timeout")?,
        p50: Duration::from_micros(field("p50_us")?),
        p99: Duration::from_micros(field("p99_us")?),
        wrapped: field("wrapped")?,
        server_cpu: Duration::ZERO,
    })
}

/// `program` itself if it is a path (more than a bare name), else the first match on the PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}
