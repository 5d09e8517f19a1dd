//! Outbound HTTP for plugins: deny by default, allow the product's `allowed_hosts`.
//!
//! A request goes out only if its scheme, host and port match an entry of the product's list.
//! The host name is then resolved and every address checked: loopback, link-local, private,
//! unique-local, carrier-grade NAT, unspecified and multicast addresses are refused unless the
//! matching entry names that IP literally or is `localhost` (an operator who lists
//! `http://127.0.0.1:8090` means it; a vendor name that resolves to 10.0.0.5 is an attack).
//!
//! Plain `http` connects to the exact address that was checked, so a second DNS answer cannot
//! swap it (DNS rebinding). `https` connects by name, so that certificate validation sees the
//! real name; a rebinding attacker cannot present a valid certificate for the vendor's name.
//!
//! A refused request reaches the plugin as the standard `http-request-denied` error, never a
//! trap. Timeouts default to [`CONNECT_TIMEOUT`] and [`FIRST_BYTE_TIMEOUT`], and a response
//! body larger than [`MAX_RESPONSE_BYTES`] fails the read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// How long connecting may take unless the plugin asks for less.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first response byte may take unless the plugin asks for less.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long between response body chunks unless the plugin asks for less.
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response body a plugin may read.
pub const MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;
/// How long name resolution may take.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// One entry of a product's `allowed_hosts`: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `http` or `https`.
    pub scheme: String,
    /// The host name or IP literal, lower-case, without brackets.
    pub host: String,
    /// The port (the scheme's default when not written).
    pub port: u16,
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let url = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme `{scheme}` is not http or https"));
        }
        if url.path() != "/" && !url.path().is_empty()
            || url.query().is_some()
            || !url.username().is_empty()
        {
            return Err("write only scheme://host[:port]".to_owned());
        }
        let host = url
            .host_str()
            .ok_or("no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or("no port")?;
        Ok(Self { scheme, host, port })
    }
}

impl AllowedHost {
    /// Whether this entry names its address explicitly (an IP literal or `localhost`), which
    /// lets it reach private and loopback addresses.
    fn is_explicit(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok()
    }
}

/// Whether an address is one a plugin may not reach unless an entry names it explicitly.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0) // NAT64 prefix base
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

/// The `wasi:http` hooks of one plugin call: the product's allow list.
pub struct Outbound {
    /// The product, for log lines.
    pub product: Arc<str>,
    /// The product's allow list.
    pub allowed: Arc<[AllowedHost]>,
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
        drop(fut);
        let product = Arc::clone(&self.product);
        let allowed = Arc::clone(&self.allowed);
        Box::new(async move {
            let mut request = request;
            let target = match check(&allowed, request.uri()).await {
                Ok(t) => t,
                Err(reason) => {
                    tracing::warn!(product = %product, uri = %redact_query(request.uri()), reason, "plugin HTTP request denied");
                    metrics::counter!("assay_plugin_http_denied_total", "product" => product.to_string()).increment(1);
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            if let Some(addr) = target {
                // Plain HTTP: connect to the address that was checked (the Host header keeps
                // the name).
                let pq = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                *request.uri_mut() = http::Uri::builder()
                    .scheme("http")
                    .authority(addr.to_string())
                    .path_and_query(pq)
                    .build()
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?;
            }
            let options = Some(with_defaults(options));
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let response = response.map(|body| {
                Capped {
                    inner: body.boxed_unsync(),
                    left: MAX_RESPONSE_BYTES,
                }
                .boxed_unsync()
            });
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// Checks a request against the allow list and the address rules. For plain `http`, returns
/// the checked address to connect to.
async fn check(allowed: &[AllowedHost], uri: &http::Uri) -> Result<Option<SocketAddr>, String> {
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let host = uri
        .host()
        .ok_or("no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    let entry = allowed
        .iter()
        .find(|a| a.scheme == scheme && a.host == host && a.port == port)
        .ok_or_else(|| format!("{scheme}://{host}:{port} is not in allowed_hosts"))?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| format!("resolving {host} timed out"))?
            .map_err(|e| format!("resolving {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    if !entry.is_explicit()
        && let Some(bad) = addrs.iter().find(|a| is_internal(a.ip()))
    {
        return Err(format!(
            "{host} resolves to the internal address {}",
            bad.ip()
        ));
    }
    Ok((scheme == "http").then(|| addrs[0]))
}

fn with_defaults(options: Option<RequestOptions>) -> RequestOptions {
    let o = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: Some(
            o.connect_timeout
                .unwrap_or(CONNECT_TIMEOUT)
                .min(CONNECT_TIMEOUT * 6),
        ),
        first_byte_timeout: Some(o.first_byte_timeout.unwrap_or(FIRST_BYTE_TIMEOUT)),
        between_bytes_timeout: Some(o.between_bytes_timeout.unwrap_or(BETWEEN_BYTES_TIMEOUT)),
    }
}

fn redact_query(uri: &http::Uri) -> String {
    // Query strings often carry tokens.
    format!(
        "{}://{}{}",
        uri.scheme_str().unwrap_or("https"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    )
}

/// A response body that fails once more than its budget has been read.
struct Capped {
    inner: WasiBody,
    left: u64,
}

impl Body for Capped {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > self.left {
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            MAX_RESPONSE_BYTES,
                        )))));
                    }
                    self.left -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> AllowedHost {
        s.parse().expect("valid entry")
    }

    #[test]
    fn parses_entries_with_default_ports() {
        assert_eq!(
            entry("https://API.vendor.example"),
            AllowedHost {
                scheme: "https".into(),
                host: "api.vendor.example".into(),
                port: 443
            }
        );
        assert_eq!(entry("http://127.0.0.1:8090").port, 8090);
        assert_eq!(entry("http://[::1]:81").host, "::1");
        assert!("ftp://x".parse::<AllowedHost>().is_err());
        assert!("https://x/path".parse::<AllowedHost>().is_err());
        assert!("x.example".parse::<AllowedHost>().is_err());
    }

    #[test]
    fn classifies_internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(
                is_internal(ip.parse().expect("ip")),
                "{ip} should be internal"
            );
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(
                !is_internal(ip.parse().expect("ip")),
                "{ip} should be public"
            );
        }
    }

    #[tokio::test]
    async fn only_listed_origins_pass_and_internal_needs_an_explicit_entry() {
        let list = [
            entry("http://127.0.0.1:8090"),
            entry("https://localhost:9443"),
            entry("http://93.184.216.34"),
        ];
        let uri = |s: &str| s.parse::<http::Uri>().expect("uri");
        assert_eq!(
            check(&list, &uri("http://127.0.0.1:8090/x")).await,
            Ok(Some("127.0.0.1:8090".parse().expect("addr")))
        );
        assert!(
            check(&list, &uri("http://127.0.0.1:8091/x")).await.is_err(),
            "other port"
        );
        assert!(
            check(&list, &uri("https://127.0.0.1:8090/x"))
                .await
                .is_err(),
            "other scheme"
        );
        assert!(
            check(&list, &uri("http://10.0.0.1/")).await.is_err(),
            "not listed"
        );
        assert_eq!(
            check(&list, &uri("https://localhost:9443/")).await,
            Ok(None),
            "https connects by name"
        );
        assert!(check(&list, &uri("http://93.184.216.34/a?b")).await.is_ok());
        // A name entry that resolves to loopback is refused.
        let named = [entry("http://localhost.localdomain:8090")];
        if let Ok(Ok(mut addrs)) = tokio::time::timeout(
            DNS_TIMEOUT,
            tokio::net::lookup_host(("localhost.localdomain", 8090)),
        )
        .await
            && addrs.next().is_some_and(|a| a.ip().is_loopback())
        {
            let got = check(&named, &uri("http://localhost.localdomain:8090/")).await;
            assert!(got.expect_err("internal").contains("internal address"));
        }
    }
}
