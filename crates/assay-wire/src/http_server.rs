//! A small HTTP/1.1 + h2 server loop on hyper, shared by the edge, the StackOne emulator and
//! the demo vendor.
//!
//! It takes its listener and its shutdown future (tests bind `127.0.0.1:0` and drive
//! shutdown), holds every connection to the [`ConnectionLimits`] (a deadline from accept to a
//! complete request head, an idle timeout, a global and a per-client cap, idle connections
//! evicted when the slots run out; see [`connections`]), and on shutdown stops accepting, lets
//! requests in flight finish, and gives up on stragglers after [`DRAIN_TIMEOUT`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod connections;

pub use connections::{
    CLOSE_GRACE, CloseReason, ConnectionLimits, IDLE_TIMEOUT, MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_CLIENT, REQUEST_HEAD_TIMEOUT,
};
use connections::{InFlight, Registry, Tracked};

use crate::metric;

/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How many idle connections one accept at the cap asks to close; more than one, so a burst
/// of waiting clients does not evict one connection at a time.
const EVICT_BATCH: usize = 16;

/// The body type every handler answers with.
pub type Body = Full<Bytes>;

/// A JSON response with `status`.
pub fn json_response(status: http::StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves `handler` on `listener` with the default [`ConnectionLimits`] until `shutdown`
/// completes, then drains.
pub async fn serve<H, Fut>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>)
where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(listener, handler, shutdown, ConnectionLimits::default()).await;
}

/// Serves `handler` on `listener` under `limits` until `shutdown` completes, then drains.
pub async fn serve_with<H, Fut>(
    listener: TcpListener,
    handler: H,
    shutdown: impl Future<Output = ()>,
    limits: ConnectionLimits,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_head_timeout);
    let builder = Arc::new(builder);
    let registry = Arc::new(Registry::default());
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let stopping = CancellationToken::new();
    let tasks = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Every slot is taken: idle connections make room for the client waiting.
                registry.evict_idle(EVICT_BATCH);
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(tracked) = registry.register(peer.ip(), limits.max_per_client) else {
            closed(CloseReason::PerClientCap, peer);
            drop(stream);
            continue;
        };
        // Answers are written whole; Nagle's delay would only hold back their last segment.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let connection = Connection {
            builder: Arc::clone(&builder),
            registry: Arc::clone(&registry),
            tracked,
            limits,
            peer,
            stopping: stopping.clone(),
        };
        tasks.spawn(connection.serve(stream, handler.clone(), permit));
    }
    drop(listener);
    stopping.cancel();
    tasks.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: gave up waiting for connections after {DRAIN_TIMEOUT:?}");
    }
}

/// One accepted connection and what it answers to.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    registry: Arc<Registry>,
    tracked: Arc<Tracked>,
    limits: ConnectionLimits,
    peer: SocketAddr,
    stopping: CancellationToken,
}

impl Connection {
    /// Serves the connection until it ends, its deadline passes, it is evicted, or the
    /// server stops; then gives its slot back.
    async fn serve<H, Fut>(
        self,
        stream: TcpStream,
        handler: H,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) where
        H: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let (peer, tracked) = (self.peer, Arc::clone(&self.tracked));
        let service = service_fn(move |req| {
            let in_flight = InFlight::start(&tracked);
            let fut = handler(req, peer);
            async move {
                let response = fut.await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        });
        let conn = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(conn);
        // Once closing, the instant after which the connection is dropped if still open. A
        // connection that never completed a request is dropped at once instead: it has no
        // answer to finish and no client state worth a GOAWAY.
        let mut closing: Option<Instant> = None;
        loop {
            let deadline = self.tracked.deadline(&self.limits);
            let wake_at = closing
                .or(deadline.map(|(at, _)| at))
                .unwrap_or_else(|| Instant::now() + self.limits.idle_timeout);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    break;
                }
                () = self.stopping.cancelled(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + DRAIN_TIMEOUT);
                }
                () = self.tracked.evicted(), if closing.is_none() => {
                    closed(CloseReason::Evicted, self.peer);
                    if self.tracked.never_used() {
                        break;
                    }
                    // A request that arrived since the eviction finishes first.
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now() + CLOSE_GRACE);
                }
                // The deadline is read again on waking: requests served since it was computed
                // move it (an idle deadline, not the head deadline, once one was answered).
                () = tokio::time::sleep_until(wake_at) => match (closing, self.tracked.deadline(&self.limits)) {
                    // A request that slipped in while closing finishes first.
                    (Some(_), _) if self.tracked.busy() => {
                        closing = Some(Instant::now() + CLOSE_GRACE);
                    }
                    (Some(_), _) => break,
                    (None, Some((at, reason))) if Instant::now() >= at => {
                        closed(reason, self.peer);
                        if self.tracked.never_used() {
                            break;
                        }
                        conn.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + CLOSE_GRACE);
                    }
                    (None, _) => {}
                },
            }
        }
        self.registry.remove(&self.tracked);
        drop(permit);
    }
}

/// Logs and counts a connection the host closed.
fn closed(reason: CloseReason, peer: SocketAddr) {
    tracing::debug!(%peer, reason = reason.as_str(), "connection closed by the host");
    metrics::counter!(metric::CONNECTIONS_CLOSED_TOTAL, "reason" => reason.as_str()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    mod limits;

    #[tokio::test]
    async fn serves_until_shutdown_then_drains() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            |req: Request<Incoming>, _peer| async move {
                if req.uri().path() == "/slow" {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Response::new(Full::new(Bytes::from(req.uri().path().to_owned())))
            },
            async {
                let _ = stop_rx.await;
            },
        ));
        let client = reqwest::Client::new();
        let body = client
            .get(format!("http://{addr}/hello"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        assert_eq!(body, "/hello");

        // A request in flight when shutdown starts still completes.
        let slow = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .get(format!("http://{addr}/slow"))
                    .send()
                    .await?
                    .text()
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop_tx.send(()).expect("server alive");
        assert_eq!(
            slow.await.expect("join").expect("slow request finished"),
            "/slow"
        );
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stopped")
            .expect("join");
        assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
    }
}
