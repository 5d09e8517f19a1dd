//! systemd's readiness protocol for a `Type=notify` service (`deploy/assay.service`): once the
//! host serves, it sends `READY=1` as one datagram to the unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket). Without that variable (not
//! started by systemd) nothing is sent. A few lines of std instead of a crate: the protocol
//! is one datagram.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Tells systemd the host is ready. A failure is logged, never fatal: the host serves either
/// way, and systemd's start timeout reports a readiness that never came.
pub fn ready() {
    match notify("READY=1") {
        Ok(true) => tracing::info!("told systemd the host is ready"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot tell systemd the host is ready"),
    }
}

/// Sends `state` to `NOTIFY_SOCKET`; `Ok(false)` when the variable is not set.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET").filter(|t| !t.is_empty()) else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&socket, name, state)?;
    } else {
        socket.send_to(state.as_bytes(), &target)?;
    }
    Ok(true)
}

#[cfg(target_os = "linux")]
fn send_abstract(socket: &UnixDatagram, name: &[u8], state: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt as _;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET names exist on Linux only",
    ))
}
