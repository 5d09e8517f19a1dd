//! The connection limits on real sockets: idle and preface-only connections are closed at
//! their deadline, a crowd of them cannot keep a working client out, and one address cannot
//! take every slot.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use super::*;

const HEAD_TIMEOUT: Duration = Duration::from_millis(400);

/// A test server's address, its stop handle (it stops when dropped) and how many `/slow`
/// requests it has begun.
type Server = (SocketAddr, oneshot::Sender<()>, Arc<AtomicUsize>);

/// A server answering every request with its path (`/slow` after 1.5 s), under `limits`.
async fn server(limits: ConnectionLimits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let slow_started = Arc::new(AtomicUsize::new(0));
    let started = Arc::clone(&slow_started);
    tokio::spawn(serve_with(
        listener,
        move |req: Request<Incoming>, _peer| {
            let started = Arc::clone(&started);
            async move {
                if req.uri().path() == "/slow" {
                    started.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                Response::new(Full::new(Bytes::from(req.uri().path().to_owned())))
            }
        },
        async {
            let _ = stop_rx.await;
        },
        limits,
    ));
    (addr, stop_tx, slow_started)
}

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 64,
        max_per_client: 64,
        request_head_timeout: HEAD_TIMEOUT,
        idle_timeout: Duration::from_millis(600),
    }
}

/// Connects from `source` (any address of 127.0.0.0/8 reaches the loopback listener).
async fn connect_from(source: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(source), 0))
        .expect("bind source");
    socket.connect(addr).await.expect("connect")
}

/// Waits until the server closes `stream` (EOF or reset), with a deadline.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// One HTTP/1.1 GET on a fresh connection from 127.0.0.1, with a deadline.
async fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        client
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| format!("no answer to {path} within 5 s"))?
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_at_the_head_deadline() {
    let (addr, _stop, _) = server(limits()).await;
    let started = std::time::Instant::now();
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    let waited = started.elapsed();
    assert!(
        waited >= HEAD_TIMEOUT && waited < HEAD_TIMEOUT + CLOSE_GRACE + Duration::from_secs(2),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn an_http2_preface_alone_is_closed_at_the_head_deadline() {
    let (addr, _stop, _) = server(limits()).await;
    let mut preface_only = TcpStream::connect(addr).await.expect("connect");
    preface_only
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    assert!(closed_within(&mut preface_only, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_at_the_head_deadline() {
    let (addr, _stop, _) = server(limits()).await;
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("part of a head");
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_kept_alive_connection_is_closed_when_idle_but_not_while_busy() {
    let (addr, _stop, _) = server(limits()).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The slow request outlasts both deadlines; its answer must still arrive.
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(5), async {
        while !String::from_utf8_lossy(&answer).ends_with("/slow") {
            let n = stream.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "closed while busy: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the slow answer arrived");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // Then, kept alive with nothing to do, it is closed.
    assert!(closed_within(&mut stream, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn idle_connections_filling_every_slot_make_room_for_a_request() {
    let limits = limits();
    let (addr, _stop, _) = server(ConnectionLimits {
        // Long deadlines: only eviction can free the slots within the test.
        request_head_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        ..limits
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..limits.max_connections + 16 {
        idle.push(connect_from(Ipv4Addr::new(127, 0, 0, 2), addr).await);
    }
    assert_eq!(get(addr, "/healthz").await.as_deref(), Ok("/healthz"));
}

#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    let (addr, _stop, slow_started) = server(ConnectionLimits {
        max_per_client: 4,
        request_head_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let hog = Ipv4Addr::new(127, 0, 0, 3);
    // Four busy connections: each waits on a slow answer.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(hog, addr).await;
        send_get(&mut stream, "/slow").await;
        busy.push(stream);
    }
    poll_until(|| {
        let started = slow_started.load(Ordering::SeqCst);
        async move { started == 4 }
    })
    .await;
    let mut fifth = connect_from(hog, addr).await;
    assert!(
        closed_within(&mut fifth, Duration::from_millis(500)).await,
        "a fifth connection from an address whose four are busy is closed at once"
    );
    // Another address is served meanwhile, and the busy four get their answers.
    assert_eq!(get(addr, "/other").await.as_deref(), Ok("/other"));
    for stream in &mut busy {
        assert!(first_read(stream).await.starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn an_address_at_its_cap_makes_room_with_its_own_idle_connections() {
    let (addr, _stop, _) = server(ConnectionLimits {
        max_per_client: 4,
        request_head_timeout: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let client = Ipv4Addr::new(127, 0, 0, 4);
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect_from(client, addr).await);
    }
    // The fifth is served; the oldest idle one is closed for it.
    let mut fifth = connect_from(client, addr).await;
    send_get(&mut fifth, "/fifth").await;
    assert!(first_read(&mut fifth).await.ends_with("/fifth"));
    assert!(closed_within(&mut idle[0], Duration::from_secs(5)).await);
}

/// Writes a GET of `path` on `stream`.
async fn send_get(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request");
}

/// What the first read of `stream` gives within 5 s.
async fn first_read(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Polls `check` until it holds, for at most 5 s.
async fn poll_until<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "condition not met within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_connection_in_steady_use_outlives_the_head_deadline() {
    // The head deadline counts from accept only until the first answer: a kept-alive client
    // sending request after request (with gaps shorter than the idle timeout) is never cut.
    let (addr, _stop, _) = server(limits()).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let until = Instant::now() + HEAD_TIMEOUT * 4;
    let mut answered = 0;
    while Instant::now() < until {
        send_get(&mut stream, "/again").await;
        let answer = first_read(&mut stream).await;
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("/again"),
            "request {answered}: {answer:?}"
        );
        answered += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(answered > 10, "{answered} requests");
}
