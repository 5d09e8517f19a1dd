//! What an operator sees: `/metrics` in the Prometheus exposition format, with help, types,
//! buckets, bounded labels and series that move with traffic. Each test runs the real binary
//! in a process of its own ([`HostProcess`]), so its metrics are its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use assay_tests::harness::WAIT;
use assay_tests::process::HostProcess;
use assay_wire::metric;

use crate::ASSAY;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: each family's type, and the samples in order.
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses the text format, refusing what Prometheus would refuse and what this host
    /// promises never to send: a sample before its family's `# HELP` and `# TYPE`, a
    /// histogram without `_bucket{le}` ending at `+Inf`, `_sum` and `_count`.
    fn parse(text: &str) -> Result<Exposition, String> {
        let mut out = Exposition::default();
        let mut helped = BTreeSet::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            if line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').ok_or(format!("line {n}: {line}"))?;
                if help.trim().is_empty() {
                    return Err(format!("line {n}: empty help for {name}"));
                }
                helped.insert(name.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(format!("line {n}: {line}"))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("line {n}: unknown type {kind}"));
                }
                if out.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                    return Err(format!("line {n}: second # TYPE for {name}"));
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let sample = parse_sample(line).map_err(|e| format!("line {n}: {e}: {line}"))?;
            let family = out.family_of(&sample.name);
            if !helped.contains(&family) || !out.types.contains_key(&family) {
                return Err(format!(
                    "line {n}: {} has no # HELP and # TYPE before it",
                    sample.name
                ));
            }
            out.samples.push(sample);
        }
        out.check_histograms()?;
        Ok(out)
    }

    fn family_of(&self, name: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && self.types.get(base).is_some_and(|t| t == "histogram")
            {
                return base.to_owned();
            }
        }
        name.to_owned()
    }

    fn check_histograms(&self) -> Result<(), String> {
        for (family, kind) in &self.types {
            if kind != "histogram" {
                continue;
            }
            // The series of one histogram: its labels without `le`.
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<&Sample>> = BTreeMap::new();
            for s in self
                .samples
                .iter()
                .filter(|s| s.name.starts_with(family.as_str()))
            {
                let mut key = s.labels.clone();
                key.remove("le");
                series.entry(key).or_default().push(s);
            }
            if series.is_empty() {
                return Err(format!("{family}: a histogram without samples"));
            }
            for (labels, samples) in series {
                let buckets: Vec<_> = samples
                    .iter()
                    .filter(|s| s.name == format!("{family}_bucket"))
                    .collect();
                let les: Vec<&str> = buckets
                    .iter()
                    .map(|s| s.labels.get("le").map_or("", String::as_str))
                    .collect();
                if les.len() < 2 || les.last() != Some(&"+Inf") {
                    return Err(format!(
                        "{family}{labels:?}: buckets {les:?} do not end at +Inf"
                    ));
                }
                let counts: Vec<f64> = buckets.iter().map(|s| s.value).collect();
                if counts.windows(2).any(|w| w[0] > w[1]) {
                    return Err(format!("{family}{labels:?}: buckets not cumulative"));
                }
                let find = |suffix: &str| {
                    samples
                        .iter()
                        .find(|s| s.name == format!("{family}{suffix}"))
                        .map(|s| s.value)
                };
                let count = find("_count").ok_or(format!("{family}{labels:?}: no _count"))?;
                find("_sum").ok_or(format!("{family}{labels:?}: no _sum"))?;
                if counts.last() != Some(&count) {
                    return Err(format!("{family}{labels:?}: +Inf bucket is not _count"));
                }
            }
        }
        Ok(())
    }

    /// The sum of the samples `name` whose labels include `labels`; `None` if none has.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .reduce(|a, b| a + b)
    }

    /// Every series, as `name{labels}`.
    fn series(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .map(|s| format!("{}{:?}", s.name, s.labels))
            .collect()
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!("bad name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next().ok_or("unterminated labels")?;
            match c {
                '}' => {
                    rest = &inner[i + 1..];
                    break;
                }
                ',' if key.is_empty() => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return Err("label value not quoted".into());
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next().ok_or("unterminated label value")?.1 {
                            '"' => break,
                            '\\' => match chars.next().ok_or("bad escape")?.1 {
                                'n' => value.push('\n'),
                                c @ ('\\' | '"') => value.push(c),
                                c => return Err(format!("bad escape \\{c}")),
                            },
                            c => value.push(c),
                        }
                    }
                    if labels.insert(std::mem::take(&mut key), value).is_some() {
                        return Err("a label twice".into());
                    }
                }
                c if c.is_ascii_alphanumeric() || c == '_' => key.push(c),
                c => return Err(format!("bad character {c:?} in labels")),
            }
        }
    }
    let value = rest.trim();
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

async fn scrape(client: &reqwest::Client, host: &HostProcess) -> Exposition {
    let response = client
        .get(format!("{}/metrics", host.url()))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    Exposition::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    let good = "# HELP a_seconds x\n# TYPE a_seconds histogram\n\
                a_seconds_bucket{le=\"0.1\"} 1\na_seconds_bucket{le=\"+Inf\"} 2\n\
                a_seconds_sum 0.3\na_seconds_count 2\n";
    assert!(Exposition::parse(good).is_ok());
    for (bad, why) in [
        ("# TYPE c counter\nc 1\n", "no help"),
        ("# HELP c x\nc 1\n", "no type"),
        (
            "# HELP a x\n# TYPE a histogram\na_bucket{le=\"1\"} 1\na_sum 1\na_count 1\n",
            "no +Inf",
        ),
        (
            "# HELP a x\n# TYPE a histogram\na_bucket{le=\"1\"} 1\na_bucket{le=\"+Inf\"} 1\na_sum 1\n",
            "no count",
        ),
        ("# HELP c x\n# TYPE c counter\nc{a=b} 1\n", "unquoted"),
    ] {
        assert!(Exposition::parse(bad).is_err(), "{why} accepted");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_move_with_traffic() {
    let host = HostProcess::start(Path::new(ASSAY)).await;
    let client = reqwest::Client::new();
    let before = scrape(&client, &host).await;

    // Every name is described; what a host shows from the start is there from the start.
    for m in metric::ALL {
        let kind = match m.kind {
            metric::Kind::Counter => "counter",
            metric::Kind::Gauge => "gauge",
            metric::Kind::Histogram => "histogram",
        };
        if let Some(t) = before.types.get(m.name) {
            assert_eq!(t, kind, "{}", m.name);
        }
    }
    for product in ["codetest", "backcheck"] {
        let zero = [("product", product), ("outcome", "accepted")];
        assert_eq!(
            before.value(metric::WEBHOOKS_TOTAL, &zero),
            Some(0.0),
            "{product}"
        );
        assert_eq!(
            before.value(metric::PLUGIN_GENERATION, &[("product", product)]),
            Some(1.0)
        );
        assert_eq!(
            before.value(
                metric::ORDERS,
                &[("product", product), ("state", "received")]
            ),
            Some(0.0)
        );
    }
    let build = before
        .samples
        .iter()
        .find(|s| s.name == metric::BUILD_INFO)
        .expect("build info");
    assert_eq!(build.value, 1.0);
    assert_eq!(build.labels["version"], assay::build_info::VERSION);
    assert!(build.labels["contracts"].contains("0.2.0"), "{build:?}");
    assert!(!build.labels["commit"].is_empty());
    #[cfg(target_os = "linux")]
    for name in [
        metric::PROCESS_RESIDENT_MEMORY_BYTES,
        metric::PROCESS_OPEN_FDS,
        metric::PROCESS_START_TIME_SECONDS,
    ] {
        assert!(before.value(name, &[]).is_some_and(|v| v > 0.0), "{name}");
    }
    assert_eq!(before.value(metric::OUTBOX_PENDING, &[]), Some(0.0));

    // A package list and an order through the emulator, delivered to StackOne.
    host.order_through("codetest", 1).await;

    // StackOne has the result once it answered; the relay counts the delivery when the answer
    // reaches it, a moment later: scrape until it has.
    let delivered = [("product", "codetest"), ("outcome", "delivered")];
    let deadline = std::time::Instant::now() + WAIT;
    let after = loop {
        let after = scrape(&client, &host).await;
        if after.value(metric::DELIVERIES_TOTAL, &delivered) > Some(0.0) {
            break after;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery counted in {WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let grew = |name: &str, labels: &[(&str, &str)]| {
        let was = before.value(name, labels).unwrap_or(0.0);
        let is = after.value(name, labels).unwrap_or(0.0);
        assert!(is > was, "{name}{labels:?} did not move: {was} -> {is}");
    };
    let codetest = [("product", "codetest")];
    grew(
        metric::HTTP_REQUESTS_TOTAL,
        &[
            ("product", "codetest"),
            ("route", "packages"),
            ("status", "200"),
        ],
    );
    grew(
        &format!("{}_count", metric::HTTP_REQUEST_SECONDS),
        &[("route", "webhooks")],
    );
    grew(metric::PACKAGE_LIST_CACHE_TOTAL, &codetest);
    grew(
        metric::WEBHOOKS_TOTAL,
        &[("product", "codetest"), ("outcome", "accepted")],
    );
    grew(
        &format!("{}_count", metric::PLUGIN_CALL_SECONDS),
        &[("product", "codetest"), ("call", "fulfil-order")],
    );
    grew(metric::DELIVERIES_TOTAL, &delivered);
    grew(&format!("{}_count", metric::DELIVERY_SECONDS), &codetest);
    grew(&format!("{}_count", metric::STORE_COMMIT_SECONDS), &[]);
    grew(&format!("{}_count", metric::STORE_BATCH_SIZE), &[]);
    assert_eq!(
        after.value(metric::ORDERS, &codetest),
        Some(1.0),
        "one codetest order in the store"
    );
}

#[tokio::test]
async fn product_names_from_urls_create_no_series() {
    let host = HostProcess::start(Path::new(ASSAY)).await;
    let client = reqwest::Client::new();
    // The first scrape creates the series of `/metrics` itself.
    scrape(&client, &host).await;
    let before = scrape(&client, &host).await;

    let tag = format!("{}{}", std::process::id(), before.samples.len());
    for i in 0..100 {
        let name = format!("nonexistent-{tag}-{i}");
        let status = client
            .post(format!("{}/v1/products/{name}/packages", host.url()))
            .body("{}")
            .send()
            .await
            .expect("send")
            .status();
        assert_eq!(status, 404);
    }

    let after = scrape(&client, &host).await;
    for series in after.series() {
        assert!(
            !series.contains("nonexistent"),
            "a label from a URL: {series}"
        );
    }
    assert_eq!(
        after.value(
            metric::HTTP_REQUESTS_TOTAL,
            &[
                ("product", metric::UNKNOWN_PRODUCT),
                ("route", "packages"),
                ("status", "404")
            ],
        ),
        Some(100.0)
    );
    // New series (the host's own background work may add some meanwhile) name only
    // configured products or the one unknown value, whatever the names sent were.
    let known = before.series();
    let allowed = [
        "codetest",
        "backcheck",
        metric::UNKNOWN_PRODUCT,
        "-",
        "(loading)",
    ];
    for sample in after
        .samples
        .iter()
        .filter(|s| !known.contains(&format!("{}{:?}", s.name, s.labels)))
    {
        if let Some(product) = sample.labels.get("product") {
            assert!(allowed.contains(&product.as_str()), "{sample:?}");
        }
        if sample.name == metric::HTTP_REQUESTS_TOTAL {
            assert_eq!(
                sample.labels["product"],
                metric::UNKNOWN_PRODUCT,
                "{sample:?}"
            );
        }
    }
}

/// The top-level keys of one JSON object line, in order, duplicates kept (a JSON parser
/// would keep only one of two equal keys and hide the defect).
fn top_level_keys(line: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    let mut current = String::new();
    let mut last_string = None;
    for c in line.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_string = false;
                    last_string = Some(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ':' if depth == 1 => keys.extend(last_string.take()),
            _ => {}
        }
        if c != ' ' && c != ':' {
            last_string = None;
        }
    }
    keys
}

#[test]
fn duplicate_keys_are_seen() {
    assert_eq!(
        top_level_keys(r#"{"a":1,"m":"x: \"y\"","n":{"m":2},"m":3}"#),
        ["a", "m", "n", "m"]
    );
}

#[tokio::test]
async fn json_logs_carry_the_request_id_with_unique_keys() {
    let host = HostProcess::start(Path::new(ASSAY)).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/healthz", host.url()))
        .header("x-request-id", "op-test-42")
        .send()
        .await
        .expect("healthz");
    assert_eq!(response.headers()["x-request-id"], "op-test-42");
    let made = client
        .post(format!(
            "{}/v1/products/no-such-product/packages",
            host.url()
        ))
        .header("x-request-id", "not {well} formed")
        .send()
        .await
        .expect("unknown product");
    let made = made.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        made.len(),
        32,
        "a fresh id replaces a malformed one: {made}"
    );
    // An order through the plugins, so plugin calls and the pipeline log too.
    host.order_through("codetest", 1).await;

    let deadline = std::time::Instant::now() + WAIT;
    let (lines, access) = loop {
        let text = host.log_text();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let access = lines
            .iter()
            .filter(|l| l["target"] == "assay::access")
            .cloned()
            .collect::<Vec<_>>();
        // Every access line the assertions below look for: the log is written by a thread of
        // its own, so a later request's line may reach the file after an earlier one is read.
        let webhook_logged = access
            .iter()
            .any(|l| l["route"] == "/v1/products/{product}/webhooks");
        if access.iter().any(|l| l["request_id"] == made) && webhook_logged {
            break (text, access);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the unknown product's and the webhook's access lines not both logged:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let health = access
        .iter()
        .find(|l| l["request_id"] == "op-test-42")
        .expect("the healthz access line has the caller's id");
    assert_eq!(health["method"], "GET");
    assert_eq!(health["route"], "/healthz");
    assert_eq!(health["status"], 200);
    assert!(health["duration_ms"].is_number(), "{health}");
    let unknown = access
        .iter()
        .find(|l| l["request_id"] == made)
        .expect("the unknown product's access line");
    assert_eq!(unknown["route"], "/v1/products/{product}/packages");
    assert_eq!(unknown["product"], metric::UNKNOWN_PRODUCT);
    assert_eq!(unknown["status"], 404);
    assert_eq!(access.iter().filter(|l| l["request_id"] == made).count(), 1);
    let webhook = access
        .iter()
        .find(|l| l["route"] == "/v1/products/{product}/webhooks")
        .expect("the webhook's access line");
    assert_eq!(webhook["product"], "codetest");

    for line in lines.lines() {
        let keys = top_level_keys(line);
        let distinct: BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "a key twice: {line}");
        assert!(!line.contains('\u{1b}'), "colour in a log file: {line}");
        assert!(!line.contains("Some("), "a Debug string: {line}");
    }
    // The lines the webhook caused, not only its access line, carry its request id.
    let id = &webhook["request_id"];
    let accepted: serde_json::Value = lines
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|l: &serde_json::Value| l["message"] == "order accepted")
        .expect("the webhook's own log line");
    assert_eq!(&accepted["request_id"], id, "{accepted}");
}
