//! A plugin's stdout and stderr: kept in memory up to a cap, then written to the debug log.
//!
//! wasmtime-wasi's `MemoryOutputPipe` reports the stream closed once it is full, and Rust's
//! `println!` panics on a failed write: a chatty plugin would trap. This capture accepts every
//! write, keeps the first [`MAX_STDIO_BYTES`] and counts the rest, so printing can never fail
//! a call or grow the host's memory.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Most bytes of stdout and of stderr kept from one call; the rest is counted and dropped.
pub const MAX_STDIO_BYTES: usize = 64 * 1024;

/// What one stream captured.
#[derive(Debug, Default)]
struct Captured {
    kept: BytesMut,
    dropped: usize,
}

/// One captured output stream (stdout or stderr) of one call. Clones share the buffer.
#[derive(Debug, Clone, Default)]
pub struct OutputCapture {
    inner: Arc<Mutex<Captured>>,
}

impl OutputCapture {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-push; the bytes are still
        // a valid prefix, so keep going.
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let room = MAX_STDIO_BYTES.saturating_sub(c.kept.len());
        let keep = bytes.len().min(room);
        c.kept.extend_from_slice(&bytes[..keep]);
        c.dropped += bytes.len() - keep;
    }

    /// Takes what was captured: the kept bytes and how many were dropped.
    pub fn take(&self) -> (Bytes, usize) {
        let mut c = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let dropped = std::mem::take(&mut c.dropped);
        (c.kept.split().freeze(), dropped)
    }
}

impl IsTerminal for OutputCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How much a guest may write at once; writes are accepted immediately, so this only bounds
/// the size of one `write` call.
const WRITE_PERMIT: usize = 64 * 1024;

impl OutputStream for OutputCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputCapture {
    /// Always ready: writes never wait.
    async fn ready(&mut self) {}
}

impl AsyncWrite for OutputCapture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let capture = OutputCapture::new();
        let mut stream = capture.clone();
        let chunk = vec![b'x'; 1000];
        let writes = MAX_STDIO_BYTES / chunk.len() + 10;
        for _ in 0..writes {
            assert!(stream.check_write().expect("permit") >= chunk.len());
            stream
                .write(Bytes::from(chunk.clone()))
                .expect("never fails");
        }
        let (kept, dropped) = capture.take();
        assert_eq!(kept.len(), MAX_STDIO_BYTES);
        assert_eq!(kept.len() + dropped, writes * chunk.len());
        assert_eq!(capture.take(), (Bytes::new(), 0), "take empties it");
    }
}
