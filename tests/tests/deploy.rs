//! Running under systemd (`Type=notify`): the host sends `READY=1` to `NOTIFY_SOCKET` once it
//! serves, checked with a real unix datagram socket.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use assay_tests::process::HostProcess;

use crate::ASSAY;

#[tokio::test]
async fn the_host_tells_systemd_it_is_ready_once_it_serves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
    socket
        .set_nonblocking(true)
        .expect("a socket read never blocks the runtime");
    let host =
        HostProcess::start_with_env(Path::new(ASSAY), &[("NOTIFY_SOCKET", path.as_os_str())]).await;
    // `start` returned once /readyz answered 200; the datagram is sent before the host serves
    // requests, so it is in the socket already (or arrives within the deadline).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 256];
    let message = loop {
        match socket.recv(&mut buf) {
            Ok(n) => break String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no READY=1 within 10 s:\n{}",
                    host.log_text()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reading the notify socket: {e}"),
        }
    };
    assert_eq!(message, "READY=1");
    // Logs are written by a thread of their own: the line may follow the datagram.
    while !host.log_text().contains("told systemd the host is ready") {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line about readiness:\n{}",
            host.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");

/// `deploy/assay.service` passes `systemd-analyze verify`, with `ExecStart` pointed at the
/// binary under test (the unit's own path exists only once installed).
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(format!("{DEPLOY}/assay.service")).expect("the unit");
    assert!(unit.contains("\nType=notify\n"), "{unit}");
    let Ok(probe) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        assert!(
            !assay_tests::browser::require_all(),
            "ASSAY_REQUIRE_ALL=1 and systemd-analyze is missing: apt-get install systemd"
        );
        println!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let local = unit.replace("/usr/local/bin/assay", ASSAY);
    assert_ne!(local, unit, "the unit runs /usr/local/bin/assay");
    let path = dir.path().join("assay.service");
    std::fs::write(&path, local).expect("write the unit");
    let verified = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .expect("run systemd-analyze");
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}

/// `deploy/Containerfile` parses as a Dockerfile: every instruction is one Docker knows, the
/// first is `FROM`, each `COPY --from` names an earlier stage, and the image runs `serve`.
/// (No container runtime runs here, so this is a parse, not a build.)
#[test]
fn the_containerfile_parses() {
    const INSTRUCTIONS: [&str; 18] = [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
    ];
    let text = std::fs::read_to_string(format!("{DEPLOY}/Containerfile")).expect("the file");
    // Logical lines: comments and blank lines dropped, `\` continuations joined.
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "a continuation runs off the end");
    let mut stages = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        assert!(
            INSTRUCTIONS.contains(&keyword),
            "unknown instruction: {line}"
        );
        assert!(
            i > 0 || keyword == "FROM",
            "the first instruction is FROM: {line}"
        );
        if keyword == "FROM"
            && let Some((_, name)) = rest.split_once(" AS ")
        {
            stages.push(name.trim().to_owned());
        }
        if let Some(stage) = rest.strip_prefix("--from=") {
            let stage = stage.split_whitespace().next().unwrap_or("");
            assert!(
                stages.iter().any(|s| s == stage),
                "no stage {stage}: {line}"
            );
        }
        if matches!(keyword, "CMD" | "ENTRYPOINT" | "VOLUME") {
            serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|e| panic!("{keyword} is not a JSON array ({e}): {line}"));
        }
    }
    let run = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("CMD "))
        .expect("a CMD");
    assert!(run.contains("\"serve\""), "{run}");
}

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The variables the README's "Running it for real" exports.
fn readme_variables() -> std::collections::BTreeSet<String> {
    let readme = std::fs::read_to_string(format!("{ROOT}/README.md")).expect("README");
    let section = readme
        .split("## Running it for real")
        .nth(1)
        .and_then(|s| s.split("```sh").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("the section's shell block");
    section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_owned()))
        .collect()
}

/// The README names exactly the variables `config.toml` reads, and a host started with
/// exactly those set (and nothing else from the environment) serves.
#[tokio::test]
async fn the_readme_lists_every_variable_the_example_config_reads_and_it_starts() {
    let config = std::fs::read_to_string(format!("{ROOT}/config.toml")).expect("config.toml");
    let read: std::collections::BTreeSet<String> = config
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .flat_map(|l| l.split("\"env:").skip(1))
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect();
    let listed = readme_variables();
    assert_eq!(listed, read, "README's variables vs config.toml's");
    assert_eq!(read.len(), 10, "{read:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("plugins dir");
    for name in ["codetest", "backcheck"] {
        assay_tests::fixtures::install_plugin(
            &plugins,
            name,
            &assay_tests::fixtures::example_plugin_path(name),
        )
        .expect("install the example plugin");
    }
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let mut command = tokio::process::Command::new(ASSAY);
    command
        .env_clear()
        .args(["serve", "--config", &format!("{ROOT}/config.toml")])
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--store")
        .arg(dir.path().join("data/assay.db"))
        .arg("--plugins-dir")
        .arg(&plugins)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for name in &listed {
        command.env(name, format!("test-value-of-{name}"));
    }
    let mut child = command.spawn().expect("start assay serve");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt as _;
                let _ = e.read_to_string(&mut err).await;
            }
            panic!("assay exited with {status} before it was ready:\n{err}");
        }
        assert!(std::time::Instant::now() < deadline, "not ready in 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().await.expect("stop the host");
}

/// The probe behind `assay check`: with nothing set, `assay serve` named one missing variable
/// per start (the README's setup took a start per variable to get right); `assay check` names
/// every one the README lists, in one run, each with its fix.
#[tokio::test]
async fn assay_check_names_every_variable_the_readme_lists_in_one_run() {
    let out = tokio::process::Command::new(ASSAY)
        .env_clear()
        .args(["check", "--config", &format!("{ROOT}/config.toml")])
        .output()
        .await
        .expect("run assay check");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let named: std::collections::BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("✗ secret "))
        .filter_map(|l| l.split("(env:").nth(1))
        .filter_map(|rest| rest.split(')').next().map(str::to_owned))
        .collect();
    assert_eq!(named, readme_variables(), "{text}");
    for name in &named {
        assert!(
            text.contains(&format!("fix: set {name} in the host's environment")),
            "{text}"
        );
    }
}
