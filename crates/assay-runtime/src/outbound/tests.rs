//! The allow list, the address rules, and sending to the checked address over real sockets.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::connect::{Target, Timeouts, send};
use super::*;

fn entry(s: &str) -> AllowedHost {
    s.parse().expect("valid entry")
}

fn uri(s: &str) -> http::Uri {
    s.parse().expect("uri")
}

fn denied<T: std::fmt::Debug>(r: Result<T, Refusal>) -> String {
    match r {
        Err(Refusal::Denied(reason)) => reason,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().expect("addr")).collect()
}

#[test]
fn a_request_matches_only_an_entry_with_the_same_scheme_host_and_port() {
    let list = [
        entry("https://api.vendor.example"),
        entry("http://127.0.0.1:8090"),
    ];
    let o = match_entry(&list, &uri("https://API.Vendor.Example./v1?x=1")).expect("allowed");
    assert_eq!(
        (o.scheme.as_str(), o.host.as_str(), o.port),
        ("https", "api.vendor.example", 443)
    );
    assert!(match_entry(&list, &uri("https://api.vendor.example:443/")).is_ok());
    assert!(match_entry(&list, &uri("http://127.0.0.1:8090/x")).is_ok());
    for off in [
        "http://api.vendor.example/",
        "https://api.vendor.example:8443/",
        "https://evil.example/",
        "https://api.vendor.example.evil.example/",
        "https://user@evil.example/",
        "http://127.0.0.1:8091/",
        "https://127.0.0.1:8090/",
        "http://127.0.0.2:8090/",
        "http://localhost:8090/",
        "http://[::1]:8090/",
    ] {
        let reason = denied(match_entry(&list, &uri(off)));
        assert!(reason.contains("not in allowed_hosts"), "{off}: {reason}");
    }
    assert!(denied(match_entry(&list, &uri("/relative"))).contains("no host"));
    assert!(denied(match_entry(&[], &uri("https://api.vendor.example/"))).contains("not in"));
}

#[test]
fn a_name_that_resolves_to_an_internal_address_is_refused() {
    let list = [entry("https://api.vendor.example")];
    let o = match_entry(&list, &uri("https://api.vendor.example/")).expect("listed");
    assert!(vet_addresses(&o, &addrs(&["93.184.216.34:443", "[2606:2800::1]:443"])).is_ok());
    for bad in [
        "10.0.0.5:443",
        "127.0.0.1:443",
        "169.254.169.254:443",
        "[::1]:443",
        "[::ffff:192.168.1.1]:443",
        "[fd00::1]:443",
    ] {
        let reason = denied(vet_addresses(&o, &addrs(&["93.184.216.34:443", bad])));
        assert!(reason.contains("internal address"), "{bad}: {reason}");
    }
}

#[test]
fn an_entry_naming_the_address_may_reach_it() {
    for (e, u, a) in [
        (
            "http://127.0.0.1:8090",
            "http://127.0.0.1:8090/",
            "127.0.0.1:8090",
        ),
        ("http://10.0.0.5", "http://10.0.0.5/", "10.0.0.5:80"),
        ("http://[::1]:81", "http://[::1]:81/", "[::1]:81"),
        (
            "https://localhost:9443",
            "https://localhost:9443/",
            "127.0.0.1:9443",
        ),
    ] {
        let list = [entry(e)];
        let o = match_entry(&list, &uri(u)).expect("listed");
        assert!(vet_addresses(&o, &addrs(&[a])).is_ok(), "{e}");
    }
}

#[test]
fn plugin_timeouts_are_capped_by_ours() {
    let t = timeouts(None);
    assert_eq!(
        (t.connect, t.first_byte, t.between_bytes),
        (CONNECT_TIMEOUT, FIRST_BYTE_TIMEOUT, BETWEEN_BYTES_TIMEOUT)
    );
    let asked = RequestOptions {
        connect_timeout: Some(Duration::from_millis(50)),
        first_byte_timeout: Some(FIRST_BYTE_TIMEOUT * 10),
        between_bytes_timeout: None,
    };
    let t = timeouts(Some(asked));
    assert_eq!(t.connect, Duration::from_millis(50));
    assert_eq!(t.first_byte, FIRST_BYTE_TIMEOUT);
    assert_eq!(t.between_bytes, BETWEEN_BYTES_TIMEOUT);
}

fn request(u: &str) -> http::Request<WasiBody> {
    let u = uri(u);
    let host = u.authority().expect("authority").as_str().to_owned();
    http::Request::builder()
        .uri(u)
        .header(http::header::HOST, host)
        .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync())
        .expect("request")
}

/// Sends and expects a failure.
async fn send_fails(request: http::Request<WasiBody>, target: &Target, t: Timeouts) -> HttpError {
    match send(request, target, t).await {
        Ok((response, _)) => panic!("expected a failure, got {}", response.status()),
        Err(e) => e,
    }
}

const QUICK: Timeouts = Timeouts {
    connect: Duration::from_secs(5),
    first_byte: Duration::from_secs(5),
    between_bytes: Duration::from_secs(5),
};

/// Accepts one connection, hands back what the client sent first, and writes `answer`.
async fn one_shot_server(answer: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut got = vec![0u8; 16 * 1024];
        let n = socket.read(&mut got).await.expect("read");
        got.truncate(n);
        let _ = socket.write_all(&answer).await;
        let _ = socket.shutdown().await;
        got
    });
    (addr, task)
}

#[tokio::test]
async fn sends_to_the_checked_address_without_resolving_the_name_again() {
    let (addr, server) = one_shot_server(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_vec(),
    )
    .await;
    // `.invalid` never resolves: the request can only arrive through the checked address.
    let target = Target::new(vec![addr], "vendor.invalid", false).expect("target");
    let u = format!("http://vendor.invalid:{}/v1/tests?id=7", addr.port());
    let (response, driver) = send(request(&u), &target, QUICK).await.expect("sent");
    let driving = tokio::spawn(driver);
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(&body[..], b"ok");
    let head = String::from_utf8(server.await.expect("server")).expect("utf-8");
    assert!(
        head.starts_with("GET /v1/tests?id=7 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: vendor.invalid:{}", addr.port())),
        "{head}"
    );
    driving
        .await
        .expect("driver")
        .expect("connection closes cleanly");
}

#[tokio::test]
async fn tries_the_next_checked_address_when_one_refuses() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closed_addr = closed.local_addr().expect("addr");
    drop(closed);
    let (addr, _server) =
        one_shot_server(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec()).await;
    let target = Target::new(vec![closed_addr, addr], "127.0.0.1", false).expect("target");
    let (response, _driver) = send(request(&format!("http://{addr}/")), &target, QUICK)
        .await
        .expect("second address answers");
    assert_eq!(response.status(), 204);

    let target = Target::new(vec![closed_addr], "127.0.0.1", false).expect("target");
    let err = send_fails(request(&format!("http://{closed_addr}/")), &target, QUICK).await;
    assert!(matches!(err, HttpError::ConnectionRefused), "{err:?}");
}

#[tokio::test]
async fn https_handshakes_with_the_checked_address_under_the_request_name() {
    // Not a TLS server: it records the ClientHello and hangs up.
    let (addr, server) = one_shot_server(Vec::new()).await;
    let target = Target::new(vec![addr], "api.vendor.example", true).expect("target");
    let u = format!("https://api.vendor.example:{}/", addr.port());
    let err = send_fails(request(&u), &target, QUICK).await;
    assert!(matches!(err, HttpError::Tls(_)), "{err:?}");
    let hello = server.await.expect("server");
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    assert!(
        hello.windows(18).any(|w| w == b"api.vendor.example"),
        "the ClientHello names the host (SNI)"
    );
}

#[tokio::test]
async fn a_response_body_over_the_cap_fails_the_read() {
    // Declared too large: refused before the body is read.
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
        MAX_RESPONSE_BYTES + 1
    );
    let (addr, _server) = one_shot_server(head.into_bytes()).await;
    let target = Target::new(vec![addr], "127.0.0.1", false).expect("target");
    let err = send_fails(request(&format!("http://{addr}/")), &target, QUICK).await;
    assert!(matches!(err, HttpError::HttpResponseBodySize(_)), "{err:?}");

    // Streamed without a length: cut at the cap.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let _ = socket
            .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
            .await;
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0u64;
        while sent <= MAX_RESPONSE_BYTES {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
            sent += chunk.len() as u64;
        }
    });
    let target = Target::new(vec![addr], "127.0.0.1", false).expect("target");
    let (response, driver) = send(request(&format!("http://{addr}/")), &target, QUICK)
        .await
        .expect("head arrives");
    let _driving = tokio::spawn(driver);
    let err = response.into_body().collect().await.expect_err("capped");
    assert!(matches!(err, HttpError::HttpResponseBodySize(_)), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_hits_the_first_byte_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (release, hold) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.expect("accept");
        let _ = hold.await;
    });
    let target = Target::new(vec![addr], "127.0.0.1", false).expect("target");
    let t = Timeouts {
        first_byte: Duration::from_millis(200),
        ..QUICK
    };
    let started = std::time::Instant::now();
    let err = send_fails(request(&format!("http://{addr}/")), &target, t).await;
    assert!(matches!(err, HttpError::ConnectionReadTimeout), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
    drop(release);
}

#[tokio::test]
async fn a_refused_request_is_http_request_denied() {
    let mut hooks = Outbound {
        product: Arc::from("p"),
        allowed: Arc::from(vec![entry("https://api.vendor.example")]),
        denied: Arc::default(),
    };
    // The plugin cannot choose the Host header: it would send a request for another site to
    // an allowed address (domain fronting).
    assert!(hooks.is_forbidden_header(&http::header::HOST));
    for u in ["https://evil.example/", "http://127.0.0.1:9/"] {
        let fut = hooks.send_request(request(u), None, Box::new(async { Ok(()) }));
        let err = match Box::into_pin(fut).await {
            Ok(_) => panic!("{u} was sent"),
            Err(e) => e,
        };
        assert!(matches!(err, HttpError::HttpRequestDenied), "{u}: {err:?}");
    }
    // The call's error names the first refusal, the one the plugin met first.
    assert_eq!(
        hooks.denied.get().map(String::as_str),
        Some("https://evil.example:443 is not in allowed_hosts")
    );
}
