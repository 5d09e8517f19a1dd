//! Outbound HTTP for plugins: deny by default, allow the product's `allowed_hosts`.
//!
//! A request goes out only if its scheme, host and port match an entry of the product's list
//! ([`AllowedHost`]). The host name is then resolved once and every address checked
//! ([`is_internal`]): loopback, link-local, private, unique-local, carrier-grade NAT,
//! unspecified, multicast and reserved addresses are refused unless the matching entry names
//! that IP literally or is `localhost`.
//!
//! The request then connects to exactly the addresses that were checked, for `http` and
//! `https` alike: a second lookup could return another address (DNS rebinding). TLS still
//! verifies the certificate against the request's host name.
//!
//! A refused request reaches the plugin as the standard `http-request-denied` error, never a
//! trap, and is logged at warn with the product and host. Connecting is bounded by
//! [`CONNECT_TIMEOUT`], the response head by [`FIRST_BYTE_TIMEOUT`], gaps in the body by
//! [`BETWEEN_BYTES_TIMEOUT`] (a plugin may ask for shorter ones, not longer), and a response
//! body larger than [`MAX_RESPONSE_BYTES`] fails the read.
//!
//! # Layout
//!
//! - [`address`]: which addresses are internal.
//! - `connect`: sending a checked request.

pub mod address;
mod connect;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

pub use address::is_internal;
pub use assay_wire::origin::{AllowedHost, AllowedHostError, normalise_host};
use connect::{Target, Timeouts};

use assay_wire::metric;

/// Longest time to connect (TCP, TLS and HTTP handshake together).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the response head after the request was sent.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest gap between two chunks of a response body.
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response body a plugin may read.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// Longest time to resolve a host name.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// The `wasi:http` hooks of one plugin call: the product's allow list.
pub struct Outbound {
    /// The product, for log lines.
    pub product: Arc<str>,
    /// The product's allow list.
    pub allowed: Arc<[AllowedHost]>,
    /// Why the call's first refused request was refused, for the call's error: an SDK may
    /// report the refusal only as a failed request (JavaScript's `fetch` says "NetworkError").
    pub denied: Arc<OnceLock<String>>,
}

/// Why a request did not go out.
#[derive(Debug)]
enum Refusal {
    /// The allow list or the address rules refused it; the reason is for the log.
    Denied(String),
    /// The name could not be resolved.
    Network(HttpError),
}

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        // Reports request-body errors to the guest's body stream; our bodies report their
        // own errors through the response, as the default sender does.
        drop(fut);
        let product = Arc::clone(&self.product);
        let allowed = Arc::clone(&self.allowed);
        let denied = Arc::clone(&self.denied);
        Box::new(async move {
            let target = match check(&allowed, request.uri()).await {
                Ok(target) => target,
                Err(Refusal::Denied(reason)) => {
                    let host = request.uri().host().unwrap_or("");
                    tracing::warn!(%product, host, reason, "plugin HTTP request denied");
                    // Only the first is kept: one is enough to name the fix.
                    let _ = denied.set(reason);
                    metrics::counter!(metric::PLUGIN_HTTP_DENIED_TOTAL, "product" => product.to_string())
                        .increment(1);
                    return Err(HttpError::HttpRequestDenied);
                }
                Err(Refusal::Network(e)) => return Err(e),
            };
            let (response, driver) = connect::send(request, &target, timeouts(options)).await?;
            Ok((
                response,
                Box::new(driver) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

/// Checks a request's URI against the allow list and the address rules, and returns where
/// to connect.
async fn check(allowed: &[AllowedHost], uri: &http::Uri) -> Result<Target, Refusal> {
    let origin = match_entry(allowed, uri)?;
    let addrs = resolve(&origin.host, origin.port).await?;
    vet_addresses(&origin, &addrs)?;
    Target::new(addrs, &origin.host, origin.scheme == "https").map_err(Refusal::Network)
}

/// A request's origin, normalised, with the allow-list entry it matched.
#[derive(Debug)]
struct Origin<'a> {
    scheme: String,
    host: String,
    port: u16,
    entry: &'a AllowedHost,
}

/// Finds the entry that allows the request's scheme, host and port.
fn match_entry<'a>(allowed: &'a [AllowedHost], uri: &http::Uri) -> Result<Origin<'a>, Refusal> {
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        other => return Err(Refusal::Denied(format!("scheme `{other}`"))),
    };
    let host = normalise_host(uri.host().unwrap_or(""));
    if host.is_empty() {
        return Err(Refusal::Denied("no host".into()));
    }
    let port = uri.port_u16().unwrap_or(default_port);
    let entry = allowed
        .iter()
        .find(|a| a.matches(&scheme, &host, port))
        .ok_or_else(|| {
            Refusal::Denied(format!("{scheme}://{host}:{port} is not in allowed_hosts"))
        })?;
    Ok(Origin {
        scheme,
        host,
        port,
        entry,
    })
}

/// Refuses internal addresses unless the entry names its address explicitly. One internal
/// address among public ones refuses the request: such a name is not a vendor's API.
fn vet_addresses(origin: &Origin<'_>, addrs: &[SocketAddr]) -> Result<(), Refusal> {
    if origin.entry.is_explicit() {
        return Ok(());
    }
    match addrs.iter().find(|a| is_internal(a.ip())) {
        Some(bad) => Err(Refusal::Denied(format!(
            "{} resolves to the internal address {}",
            origin.host,
            bad.ip()
        ))),
        None => Ok(()),
    }
}

/// The addresses of `host`: the literal itself, or one DNS lookup.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let found = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Refusal::Network(HttpError::DnsTimeout))?
        .map_err(|e| {
            Refusal::Network(HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            })
        })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in found {
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    if addrs.is_empty() {
        return Err(Refusal::Network(HttpError::DestinationNotFound));
    }
    Ok(addrs)
}

/// The plugin's timeouts, capped by ours.
fn timeouts(options: Option<RequestOptions>) -> Timeouts {
    let o = options.unwrap_or_default();
    let pick = |asked: Option<Duration>, cap: Duration| asked.map_or(cap, |a| a.min(cap));
    Timeouts {
        connect: pick(o.connect_timeout, CONNECT_TIMEOUT),
        first_byte: pick(o.first_byte_timeout, FIRST_BYTE_TIMEOUT),
        between_bytes: pick(o.between_bytes_timeout, BETWEEN_BYTES_TIMEOUT),
    }
}

#[cfg(test)]
mod tests;
