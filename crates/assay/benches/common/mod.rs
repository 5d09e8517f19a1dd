//! Pieces shared by the benches that declare `mod common;` (`languages`, `reload`, `runtime`).
//! A folder without `main.rs` is not a bench target of its own.

use std::time::Duration;

use assay::app::App;
use assay_wire::secret::Secret;

/// `ASSAY_BENCH_CALLS` (calls measured), else `default`.
// `reload` measures no calls.
#[allow(dead_code)]
pub fn calls_count(default: usize) -> usize {
    std::env::var("ASSAY_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Requests `p0`'s package list, signed with the key `bench-key`; the first package's id, if
/// the host answers with a list.
// `runtime` calls a plugin directly, with no host.
#[allow(dead_code)]
pub async fn first_package_id(client: &reqwest::Client, host: &App) -> Option<String> {
    let body = br#"{"account_id":"a"}"#;
    let key = Secret::new("bench-key");
    let v: serde_json::Value = client
        .post(format!("{}/v1/products/p0/packages", host.base_url()))
        .header("authorization", assay_wire::basic_auth::header_value(&key))
        .header(
            "x-stackone-signature",
            assay_wire::signature::sign(body, &key),
        )
        .body(&body[..])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["data"][0]["id"].as_str().map(str::to_owned)
}

/// `component` with a custom section named `tag` holding `n` appended: new bytes, so the
/// artifact cache misses and a load compiles, as with a new build of the plugin.
// `runtime` loads the same bytes every time.
#[allow(dead_code)]
pub fn unique(component: &[u8], tag: &[u8], n: u64) -> Vec<u8> {
    let payload = [&[tag.len() as u8][..], tag, &n.to_le_bytes()].concat();
    // Custom section id 0; the payload's length fits one LEB128 byte.
    [component, &[0, payload.len() as u8], &payload].concat()
}

/// The median of `v` (the upper one of an even count).
// `runtime` reports percentiles of its own.
#[allow(dead_code)]
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
