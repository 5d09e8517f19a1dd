//! A small HTTP/1.1 + h2 server loop on hyper, shared by the edge, the StackOne emulator and
//! the demo vendor.
//!
//! It takes its listener and its shutdown future (tests bind `127.0.0.1:0` and drive
//! shutdown), caps concurrent connections, and on shutdown stops accepting, lets requests in
//! flight finish, and gives up on stragglers after [`DRAIN_TIMEOUT`].

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
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long shutdown waits for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once; further ones wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 4096;

/// How long a client may take to send a request's headers (slow-loris guard).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Serves `handler` on `listener` until `shutdown` completes, then drains.
pub async fn serve<H, Fut>(listener: TcpListener, handler: H, shutdown: impl Future<Output = ()>)
where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
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
        // Answers are written whole; Nagle's delay would only hold back their last segment.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let handler = handler.clone();
        let service = service_fn(move |req| {
            let fut = handler(req, peer);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: gave up waiting for connections after {DRAIN_TIMEOUT:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

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
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "listener closed"
        );
    }
}
