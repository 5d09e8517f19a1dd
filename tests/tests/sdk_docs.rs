//! The SDK's crate documentation (`plugins/sdk`, the plugin author's tutorial) states host
//! limits in prose. Each number there is a copy of a host constant: these tests fail, naming
//! the file and the constant, when one drifts, and when the prose gains a number that no
//! entry here checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assay_tests::fixtures::sdk_dir as sdk;

/// One number of the SDK's prose and the constant it copies.
struct Copy {
    /// The file, relative to `plugins/sdk`.
    file: &'static str,
    /// The words around the number as the file must say them, the number rendered from
    /// `constant`.
    text: String,
    /// The constant's path.
    constant: &'static str,
}

/// `copy!(file, "words {} words", CONSTANT)`, or with `duration(CONSTANT)` or
/// `bytes(CONSTANT)` to render it as the prose writes it.
macro_rules! copy {
    ($file:literal, $text:literal, $render:ident($constant:path)) => {
        Copy {
            file: $file,
            text: format!($text, $render($constant)),
            constant: stringify!($constant),
        }
    };
    ($file:literal, $text:literal, $constant:path) => {
        Copy {
            file: $file,
            text: format!($text, $constant),
            constant: stringify!($constant),
        }
    };
}

/// Every host limit the SDK's documentation states.
fn copies() -> Vec<Copy> {
    use assay::pipeline::{poller, worker};
    use assay_runtime::outbound;
    vec![
        copy!(
            "src/lib.rs",
            "(`timeout_ms`, {} by default)",
            duration(assay_runtime::DEFAULT_TIMEOUT)
        ),
        copy!(
            "src/lib.rs",
            "(`memory_limit_mb`, {} by default)",
            bytes(assay_runtime::DEFAULT_MEMORY_LIMIT)
        ),
        copy!(
            "src/lib.rs",
            "the first {} of each per call",
            bytes(assay_runtime::MAX_STDIO_BYTES)
        ),
        copy!(
            "src/lib.rs",
            "larger than {}",
            bytes(assay_runtime::MAX_ANSWER_BYTES)
        ),
        copy!(
            "src/lib.rs",
            "up to {} attempts",
            worker::MAX_FULFIL_ATTEMPTS
        ),
        copy!(
            "src/lib.rs",
            "up to {} [`PendingOrder`]s",
            poller::MAX_PENDING_PER_POLL
        ),
        copy!(
            "src/log.rs",
            "cuts a message after {}",
            bytes(assay_runtime::MAX_LOG_MESSAGE)
        ),
        copy!(
            "src/log.rs",
            "keeps at most {} fields",
            assay_runtime::MAX_LOG_FIELDS
        ),
        copy!(
            "src/log.rs",
            "cut after {}",
            bytes(assay_runtime::MAX_LOG_FIELD_CHARS)
        ),
        copy!(
            "src/http.rs",
            "connect {}",
            duration(outbound::CONNECT_TIMEOUT)
        ),
        copy!(
            "src/http.rs",
            "first byte {}",
            duration(outbound::FIRST_BYTE_TIMEOUT)
        ),
        copy!(
            "src/http.rs",
            "between chunks {}",
            duration(outbound::BETWEEN_BYTES_TIMEOUT)
        ),
        copy!(
            "src/http.rs",
            "the response body ({})",
            bytes(outbound::MAX_RESPONSE_BYTES)
        ),
        copy!(
            "src/http.rs",
            "(`timeout_ms`, {} by default)",
            duration(assay_runtime::DEFAULT_TIMEOUT)
        ),
        copy!(
            "src/lib.rs",
            "at most {} of them",
            bytes(assay_runtime::keyvalue::DEFAULT_STATE_LIMIT)
        ),
        copy!(
            "src/state.rs",
            "at most {} per product",
            bytes(assay_runtime::keyvalue::DEFAULT_STATE_LIMIT)
        ),
        copy!(
            "src/state.rs",
            "keys are at most {}",
            bytes(assay_runtime::keyvalue::MAX_KEY_BYTES)
        ),
    ]
}

#[test]
fn every_limit_the_sdk_states_matches_the_host() {
    let drifted: Vec<String> = copies()
        .iter()
        .filter(|c| !doc_text(&sdk().join(c.file)).contains(&c.text))
        .map(|c| {
            format!(
                "plugins/sdk/{}: does not say \"{}\" ({} as the host has it)",
                c.file, c.text, c.constant
            )
        })
        .collect();
    assert!(drifted.is_empty(), "{}", drifted.join("\n"));
}

#[test]
fn every_number_with_a_unit_in_the_sdk_docs_is_checked() {
    let copies = copies();
    let mut unchecked = Vec::new();
    let files = [
        rust_files(&sdk().join("src")),
        rust_files(&sdk().join("examples")),
    ];
    for file in files.concat() {
        let relative = file
            .strip_prefix(sdk())
            .expect("under the SDK")
            .to_string_lossy()
            .into_owned();
        let text = doc_text(&file);
        let covered: Vec<(usize, usize)> = copies
            .iter()
            .filter(|c| c.file == relative)
            .flat_map(|c| {
                text.match_indices(c.text.as_str())
                    .map(|(at, t)| (at, at + t.len()))
            })
            .collect();
        for (at, quantity) in quantities(&text) {
            if !covered.iter().any(|&(a, b)| a <= at && at < b) {
                unchecked.push(format!("plugins/sdk/{relative}: \"{quantity}\""));
            }
        }
    }
    assert!(
        unchecked.is_empty(),
        "numbers in the SDK's documentation that no entry of `copies()` checks against a host \
         constant (add one, naming the constant):\n{}",
        unchecked.join("\n")
    );
}

#[test]
fn the_scanner_finds_quantities_and_skips_other_numbers() {
    let found: Vec<String> = quantities(
        "a 503 with `Retry-After`, up to 7 tries, 30 s or 250 ms, 2 MiB; score 0..=100, \
         version 0.1.0",
    )
    .into_iter()
    .map(|(_, q)| q)
    .collect();
    assert_eq!(found, ["up to 7", "30 s", "250 ms", "2 MiB"]);
}

/// The documentation of a Rust file (`//!` and `///` lines, markers removed) as one line of
/// text with single spaces, so a phrase may wrap anywhere in the file.
fn doc_text(file: &Path) -> String {
    let source =
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
    let docs: Vec<&str> = source
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            l.strip_prefix("//!").or_else(|| l.strip_prefix("///"))
        })
        .collect();
    docs.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Units after which a number is a limit, and so a copy of a host constant.
const UNITS: [&str; 8] = [
    "ms", "s", "KiB", "MiB", "GiB", "bytes", "attempts", "fields",
];

/// Each "N unit" or "up to N" in `text`, with its byte offset.
fn quantities(text: &str) -> Vec<(usize, String)> {
    let words: Vec<(usize, &str)> = text
        .split(' ')
        .scan(0, |at, w| {
            let start = *at;
            *at += w.len() + 1;
            Some((start, w))
        })
        .collect();
    let bare = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
    let mut out = Vec::new();
    for (i, &(at, word)) in words.iter().enumerate() {
        let number = bare(word);
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let unit = words.get(i + 1).map(|&(_, w)| bare(w));
        if let Some(unit) = unit.filter(|u| UNITS.contains(&u.as_str())) {
            out.push((at, format!("{number} {unit}")));
        } else if i >= 2 && bare(words[i - 2].1) == "up" && bare(words[i - 1].1) == "to" {
            out.push((words[i - 2].0, format!("up to {number}")));
        }
    }
    out
}

/// A duration as the SDK's prose writes it: whole seconds as `N s`, else `N ms`.
fn duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A size as the SDK's prose writes it: `N MiB`, `N KiB` or `N bytes`.
fn bytes(n: impl TryInto<u64>) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}
