//! The command line as an operator meets it: `--version`, completion scripts, and output
//! piped into a reader that stops early (`| head`), which must end quietly, never in a panic.

use std::io::Read as _;
use std::process::{Command, Stdio};

use assay_tests::fixtures::example_plugin_path;

use crate::ASSAY;

#[test]
fn version_names_the_commit_contracts_and_wasmtime() {
    let output = Command::new(ASSAY).arg("--version").output().expect("run");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        text.starts_with(&format!("assay {}\n", assay::build_info::VERSION)),
        "{text}"
    );
    assert!(
        text.contains(&format!("commit    {}", assay::build_info::COMMIT)),
        "{text}"
    );
    assert!(
        text.contains("assay:plugin@0.2.0, assay:plugin@0.1.0"),
        "{text}"
    );
    assert!(
        text.contains(&format!("wasmtime  {}", assay::build_info::WASMTIME)),
        "{text}"
    );
    // This test runs from a git checkout, where the build script found the commit.
    assert_ne!(assay::build_info::COMMIT, "unknown");
}

#[test]
fn completions_for_each_shell_and_a_clear_error_for_others() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef assay"),
        ("fish", "complete -c assay"),
    ] {
        let output = Command::new(ASSAY)
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8(output.stdout).expect("utf-8");
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("inspect"), "{shell} completes subcommands");
    }
    let output = Command::new(ASSAY)
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("invalid value 'tcsh'"), "{error}");
}

/// Runs `assay ARGS` with its output into a pipe whose reader is gone before the first
/// write, as `| head -1` is once it has its line: every write fails with a broken pipe.
fn into_a_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(ASSAY)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    (child.wait().expect("wait"), stderr)
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let plugin = example_plugin_path("codetest");
    let plugin = plugin.to_str().expect("utf-8 path");
    for args in [
        &["plugin", "inspect", plugin][..],
        &["completions", "bash"][..],
    ] {
        let (status, stderr) = into_a_closed_pipe(args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} ends without a word: {stderr}");
        assert!(status.success(), "{args:?}: {status}: {stderr}");
    }
    // A bad file is still an error, with a message.
    let output = Command::new(ASSAY)
        .args(["plugin", "inspect", "/nonexistent.wasm"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("error: "));
}
