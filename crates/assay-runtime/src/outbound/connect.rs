//! Sending one request that passed the allow list: connect to the addresses that were
//! checked (never resolving the name a second time), TLS by the request's host name, HTTP/1.1,
//! with connect, first-byte and between-bytes timeouts and a response body cap.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

use super::MAX_RESPONSE_BYTES;

/// Where a checked request goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The addresses that were checked, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// For `https`: the name the server's certificate must carry (the request's host).
    pub tls: Option<ServerName<'static>>,
}

impl Target {
    /// A target for `host` (normalised) reached at `addrs`, with TLS when `https`.
    pub fn new(addrs: Vec<SocketAddr>, host: &str, https: bool) -> Result<Self, HttpError> {
        let tls = if https {
            Some(match host.parse::<IpAddr>() {
                Ok(ip) => ServerName::from(ip),
                Err(_) => ServerName::try_from(host.to_owned())
                    .map_err(|_| HttpError::HttpRequestUriInvalid)?,
            })
        } else {
            None
        };
        Ok(Self { addrs, tls })
    }
}

/// The timeouts of one request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting (TCP, TLS and the HTTP handshake together).
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub between_bytes: Duration,
}

/// The connection's I/O, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What drives the connection after the response head arrived; wasi-http runs it while the
/// plugin reads the body.
pub type Driver = Pin<Box<dyn Future<Output = Result<(), HttpError>> + Send>>;

/// Sends `request` to `target`. The request keeps its `Host` header; its URI is reduced to
/// the path and query, as HTTP/1.1 sends it to an origin server.
pub async fn send(
    mut request: http::Request<WasiBody>,
    target: &Target,
    timeouts: Timeouts,
) -> Result<(http::Response<WasiBody>, Driver), HttpError> {
    let connect_by = Instant::now() + timeouts.connect;
    let tcp = connect_any(&target.addrs, connect_by).await?;
    // Requests are small and answered once: do not wait to coalesce segments.
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match &target.tls {
        Some(name) => {
            let tls = tokio::time::timeout_at(
                connect_by,
                TlsConnector::from(tls_config()?).connect(name.clone(), tcp),
            )
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
            Box::new(tls)
        }
        None => Box::new(tcp),
    };
    let (mut sender, conn) = tokio::time::timeout_at(
        connect_by,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| HttpError::HttpRequestUriInvalid)?;

    // The connection must be polled while the response is awaited: it does the I/O.
    let mut conn = Box::pin(conn);
    let mut conn_done = false;
    let response = tokio::time::timeout(timeouts.first_byte, async {
        let response = sender.send_request(request);
        tokio::pin!(response);
        loop {
            tokio::select! {
                r = &mut response => break r.map_err(HttpError::from),
                c = &mut conn, if !conn_done => {
                    conn_done = true;
                    c?;
                }
            }
        }
    })
    .await
    .map_err(|_| HttpError::ConnectionReadTimeout)??;
    // One request per connection: without a sender the connection closes after this body.
    drop(sender);

    if let Some(len) = content_length(&response)
        && len > MAX_RESPONSE_BYTES
    {
        return Err(HttpError::HttpResponseBodySize(Some(len)));
    }
    let response = response.map(|incoming| {
        ResponseBody {
            inner: incoming,
            left: MAX_RESPONSE_BYTES,
            idle: Box::pin(tokio::time::sleep(timeouts.between_bytes)),
            between_bytes: timeouts.between_bytes,
        }
        .boxed_unsync()
    });
    let driver: Driver = Box::pin(async move {
        if !conn_done {
            conn.await?;
        }
        Ok(())
    });
    Ok((response, driver))
}

/// Connects to the first address that answers before `by`.
async fn connect_any(addrs: &[SocketAddr], by: Instant) -> Result<TcpStream, HttpError> {
    let mut last = HttpError::DestinationNotFound;
    for addr in addrs {
        match tokio::time::timeout_at(by, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = HttpError::ConnectionRefused;
            }
            Ok(Err(e)) => last = HttpError::Connect(e),
            Err(_) => return Err(HttpError::ConnectionTimeout),
        }
    }
    Err(last)
}

/// The TLS client configuration, built once: parsing the root store takes a while.
fn tls_config() -> Result<Arc<ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let built = CONFIG.get_or_init(|| {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    });
    built
        .clone()
        .map_err(|e| HttpError::InternalError(Some(format!("TLS set-up: {e}"))))
}

fn content_length<B>(response: &http::Response<B>) -> Option<u64> {
    response
        .headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A response body with the between-bytes timeout and the size cap.
struct ResponseBody {
    inner: Incoming,
    /// Bytes the plugin may still read.
    left: u64,
    /// Fires when no chunk arrived for `between_bytes`.
    idle: Pin<Box<Sleep>>,
    between_bytes: Duration,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.between_bytes;
                this.idle.as_mut().reset(next);
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > this.left {
                        this.left = 0;
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            MAX_RESPONSE_BYTES,
                        )))));
                    }
                    this.left -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(HttpError::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
