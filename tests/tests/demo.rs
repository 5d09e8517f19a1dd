//! The README's first command, `assay demo`, run as a vendor runs it (the real binary, the
//! example plugins), and `assay check` against the setup it leaves serving: every line ✓.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assay_tests::fixtures::example_plugin_path;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::ASSAY;

/// How long the story may take (compiling both plugins included).
const STORY: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_tells_its_story_and_assay_check_passes_every_line_against_it() {
    // A checkout's layout as far as `assay demo --no-build` reads it: plugins/NAME.wasm.
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("plugins")).expect("plugins");
    for name in ["codetest", "backcheck"] {
        std::fs::copy(
            example_plugin_path(name),
            root.path().join("plugins").join(format!("{name}.wasm")),
        )
        .expect("copy the example plugin");
    }
    let mut demo = Command::new(ASSAY)
        .args(["demo", "--no-build", "--root"])
        .arg(root.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start assay demo");
    let mut lines = BufReader::new(demo.stdout.take().expect("stdout")).lines();
    let deadline = Instant::now() + STORY;
    let mut told = Vec::new();
    let (config, url) = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the demo did not finish its story:\n{}", told.join("\n")))
            .expect("read the demo's output")
            .unwrap_or_else(|| panic!("the demo ended early:\n{}", told.join("\n")));
        told.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("assay check --config ") {
            let (config, url) = rest.split_once(" --url ").expect("config and url");
            break (PathBuf::from(config), url.to_owned());
        }
    };
    let story = told.join("\n");
    assert!(
        story.contains("Every order reached its final result."),
        "{story}"
    );
    assert!(
        config.starts_with(root.path().join("target").join("assay-demo")),
        "{story}"
    );
    let text = std::fs::read_to_string(&config).expect("the demo's configuration");
    assert!(
        !text.contains("env:") && text.contains("file:secrets/"),
        "every secret of the written configuration is a file: {text}"
    );

    let checked = Command::new(ASSAY)
        .args(["check", "--config"])
        .arg(&config)
        .args(["--url", &url])
        .output()
        .await
        .expect("run assay check");
    let out = String::from_utf8_lossy(&checked.stdout);
    let err = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{out}{err}");
    assert!(!out.contains('✗'), "{out}");
    for product in ["codetest", "backcheck"] {
        for expected in [
            "the package list answers with auth and signature, in StackOne's shape",
            "a signed order webhook is accepted",
            "the test order's first result reaches StackOne",
            "the result fits recruitee's connector meta",
        ] {
            let line = format!("✓ product `{product}`: {expected}");
            assert!(out.contains(&line), "no line {line:?}:\n{out}");
        }
    }

    // Ctrl-C ends it cleanly.
    let pid = demo.id().expect("the demo's pid").to_string();
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(30), demo.wait())
        .await
        .expect("the demo stops on Ctrl-C")
        .expect("wait for the demo");
    assert!(status.success(), "{status}");
}
