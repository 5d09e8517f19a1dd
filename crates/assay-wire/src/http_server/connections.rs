//! Who holds the listener's connection slots, and when a connection has to let go of its slot.
//!
//! Every accepted connection is registered here with its client address. A connection task
//! asks [`Tracked::deadline`] when it must close if nothing happens: before its first request
//! head is complete, [`ConnectionLimits::request_head_timeout`] after the accept (so HTTP/1-or-2
//! detection and the HTTP/2 preface are timed too); afterwards,
//! [`ConnectionLimits::idle_timeout`] after its last answer, while no request is in flight.
//!
//! When every slot is taken, [`Registry::evict_idle`] asks connections with no request in
//! flight to close, those that never completed a request first, then the longest idle, so a
//! crowd of idle clients cannot keep a working client out. The cap per client address works
//! the same way within one address: its idle connections make room for its new ones, and only
//! an address whose every connection is busy is refused more.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Limits on the connections one listener serves. The defaults are documented on each
/// constant; `[server]` in the host's configuration sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once. At the cap, idle connections are closed to make room;
    /// when none is idle, further connections wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Connections one client address may hold at once. Beyond it, the address's longest idle
    /// connection is closed to make room, or, when all of them are busy, the new connection is
    /// closed as soon as it is accepted. Behind a proxy or load balancer every client has the proxy's
    /// address: raise it to `max_connections` there.
    pub max_per_client: usize,
    /// From accept to the first complete request head, protocol detection and the HTTP/2
    /// preface included, and the most time one request head may take.
    pub request_head_timeout: Duration,
    /// How long a kept-alive connection may stay open with no request in flight.
    pub idle_timeout: Duration,
}

/// The default [`ConnectionLimits::max_connections`].
pub const MAX_CONNECTIONS: usize = 4096;

/// The default [`ConnectionLimits::max_per_client`]: a quarter of the slots.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = MAX_CONNECTIONS / 4;

/// The default [`ConnectionLimits::request_head_timeout`] (slow-loris guard).
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The default [`ConnectionLimits::idle_timeout`].
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connection asked to close gracefully (GOAWAY, or `Connection: close` on its
/// next answer) may take before it is dropped.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: MAX_CONNECTIONS,
            max_per_client: MAX_CONNECTIONS_PER_CLIENT,
            request_head_timeout: REQUEST_HEAD_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Why the host closed a connection, for the log and the metric's `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// No complete request head within `request_head_timeout` of the accept.
    HeadTimeout,
    /// Kept alive with nothing in flight for `idle_timeout`.
    Idle,
    /// Idle while every slot, or every slot its client address may hold, was taken and
    /// another connection was waiting.
    Evicted,
    /// Its client address already held `max_per_client` connections, none of them idle.
    PerClientCap,
}

impl CloseReason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::HeadTimeout => "head_timeout",
            CloseReason::Idle => "idle",
            CloseReason::Evicted => "evicted",
            CloseReason::PerClientCap => "per_client_cap",
        }
    }
}

/// One registered connection.
#[derive(Debug)]
pub struct Tracked {
    id: u64,
    client: IpAddr,
    accepted: Instant,
    /// Milliseconds from `accepted` to the end of the last answer; `u64::MAX` before any.
    last_answer_ms: AtomicU64,
    in_flight: AtomicUsize,
    evicting: AtomicBool,
    evict: Notify,
}

impl Tracked {
    /// A request head is complete: the connection is busy until [`Tracked::answered`].
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    /// The answer to a request is written (or the request was dropped).
    pub fn answered(&self) {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_answer_ms.store(ms, Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// Whether no request head was ever completed on the connection.
    pub fn never_used(&self) -> bool {
        !self.busy() && self.last_answer_ms.load(Ordering::SeqCst) == u64::MAX
    }

    /// Whether a request is being served.
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    /// When the connection must close if nothing happens before, and why; `None` while a
    /// request is in flight (the request has deadlines of its own).
    pub fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, CloseReason)> {
        if self.busy() {
            return None;
        }
        match self.last_answer_ms.load(Ordering::SeqCst) {
            u64::MAX => Some((
                self.accepted + limits.request_head_timeout,
                CloseReason::HeadTimeout,
            )),
            ms => Some((
                self.accepted + Duration::from_millis(ms) + limits.idle_timeout,
                CloseReason::Idle,
            )),
        }
    }

    /// The order in which idle connections are evicted, smallest first: never answered
    /// (`false` sorts first) by accept time, then by when the last answer ended, i.e. the
    /// longest idle first. `None` while busy or already asked to close.
    fn idle_key(&self) -> Option<(bool, Instant)> {
        if self.busy() || self.evicting.load(Ordering::SeqCst) {
            return None;
        }
        Some(match self.last_answer_ms.load(Ordering::SeqCst) {
            u64::MAX => (false, self.accepted),
            ms => (true, self.accepted + Duration::from_millis(ms)),
        })
    }

    /// Resolves when the registry asks this connection to make room.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }
}

/// Answers a request in flight on drop, so a request whose future is dropped (client gone,
/// shutdown) still ends its busy state.
#[derive(Debug)]
pub struct InFlight(pub Arc<Tracked>);

impl InFlight {
    /// Marks a request of `tracked` as started.
    pub fn start(tracked: &Arc<Tracked>) -> Self {
        tracked.request_started();
        InFlight(Arc::clone(tracked))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.answered();
    }
}

/// The connections of one listener.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    connections: HashMap<u64, Arc<Tracked>>,
    per_client: HashMap<IpAddr, usize>,
}

impl Registry {
    /// Registers a connection from `client`. When that address already holds
    /// `max_per_client` connections, one of its idle connections is asked to close to make
    /// room; when none of them is idle, `None`: the new connection is refused.
    pub fn register(&self, client: IpAddr, max_per_client: usize) -> Option<Arc<Tracked>> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let held = inner.per_client.get(&client).copied().unwrap_or(0);
        if held >= max_per_client {
            let own_idle = inner
                .connections
                .values()
                .filter(|t| t.client == client)
                .filter_map(|t| t.idle_key().map(|key| (key, t.id)))
                .min()
                .map(|(_, id)| id);
            match own_idle {
                Some(id) => inner.evict(id),
                None => return None,
            }
        }
        *inner.per_client.entry(client).or_insert(0) += 1;
        inner.next_id += 1;
        let tracked = Arc::new(Tracked {
            id: inner.next_id,
            client,
            accepted: Instant::now(),
            last_answer_ms: AtomicU64::new(u64::MAX),
            in_flight: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
            evict: Notify::new(),
        });
        inner.connections.insert(tracked.id, Arc::clone(&tracked));
        Some(tracked)
    }

    /// Forgets a closed connection.
    pub fn remove(&self, tracked: &Tracked) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.connections.remove(&tracked.id);
        // An evicted connection gave its share of its client's cap back when it was asked.
        if !tracked.evicting.load(Ordering::SeqCst) {
            inner.release(tracked.client);
        }
    }

    /// Asks up to `count` idle connections to close: those that never completed a request
    /// first, then the longest idle. Returns how many were asked.
    pub fn evict_idle(&self, count: usize) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut idle: Vec<_> = inner
            .connections
            .values()
            .filter_map(|t| t.idle_key().map(|key| (key, t.id)))
            .collect();
        idle.sort_unstable();
        idle.truncate(count);
        for (_, id) in &idle {
            inner.evict(*id);
        }
        idle.len()
    }
}

impl Inner {
    /// Asks connection `id` to close, and gives its share of its client's cap back at once,
    /// so a client's new connection is not refused while its evicted one closes.
    fn evict(&mut self, id: u64) {
        let Some(tracked) = self.connections.get(&id).map(Arc::clone) else {
            return;
        };
        if !tracked.evicting.swap(true, Ordering::SeqCst) {
            tracked.evict.notify_one();
            self.release(tracked.client);
        }
    }

    fn release(&mut self, client: IpAddr) {
        if let Some(held) = self.per_client.get_mut(&client) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.per_client.remove(&client);
            }
        }
    }
}
