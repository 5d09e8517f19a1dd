//! The emulated StackOne API the host pushes results to, as a real hyper server.
//!
//! It serves `PATCH /unified/ats/{assessments|background_checks}/orders/{id}/result` and
//! `GET /connectors/meta/{provider}`, checks every result update the way StackOne documents
//! (credentials, `x-account-id`, JSON, the OpenAPI request schema), records it, and answers in
//! StackOne's shape. Tests queue scripted failures and wait for deliveries through
//! [`Emulator`], which is a cheap handle: clones share one state.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::client::{self, ClientError};
use super::delivery::Delivery;
use super::order::{OrderKind, OrderWebhook};
use super::recruiter_view::RecruiterView;
use super::script::{Script, ScriptTarget, ScriptedResponse};
use assay_wire::http_server;
use assay_wire::secret::Secret;

mod handler;
pub use handler::MAX_BODY_BYTES;

/// No delivery matched before the deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("nothing matched within {within:?}; {received} result deliveries received so far")]
pub struct WaitTimeout {
    /// How long was waited.
    pub within: Duration,
    /// How many result PATCHes had arrived.
    pub received: usize,
}

/// A handle on the emulated StackOne API. Clones share the same orders, scripts and records.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<State>,
}

struct State {
    /// The API keys a host may use (StackOne issues several per project).
    api_keys: Vec<Secret>,
    /// Answer 404 to PATCHes of orders this emulator did not send, as StackOne would.
    reject_unknown_orders: AtomicBool,
    /// Orders sent through (or registered with) this emulator, in sending order.
    orders: Mutex<Vec<OrderWebhook>>,
    script: Mutex<Script>,
    deliveries: Mutex<Vec<Delivery>>,
    /// The number of deliveries recorded; waiters watch it instead of polling.
    delivered: watch::Sender<usize>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (pushes and pops only).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    fn order_matches(&self, order_id: &str, kind: OrderKind, account_id: Option<&str>) -> bool {
        let orders = lock(&self.orders);
        match orders.iter().find(|o| o.order_id == order_id) {
            // StackOne scopes orders by linked account and by family: another account's order,
            // or an assessment PATCHed as a background check, is not found.
            Some(order) => order.kind == kind && Some(order.account_id.as_str()) == account_id,
            None => !self.reject_unknown_orders.load(Ordering::Relaxed),
        }
    }

    fn next_scripted(&self, order_id: &str) -> Option<ScriptedResponse> {
        lock(&self.script).next_for(order_id)
    }

    fn record(&self, mut delivery: Delivery) {
        let count = {
            let mut deliveries = lock(&self.deliveries);
            delivery.sequence = deliveries.len() + 1;
            tracing::info!(
                order_id = delivery.order_id,
                status = delivery.status.as_u16(),
                scripted = delivery.scripted,
                violations = delivery.violations.len(),
                "emulated StackOne: result update"
            );
            deliveries.push(delivery);
            deliveries.len()
        };
        self.delivered.send_replace(count);
    }
}

impl Emulator {
    /// An emulator accepting result updates signed with any of `api_keys`. PATCHes of orders
    /// it did not send are answered 404 until [`set_reject_unknown_orders`] says otherwise.
    ///
    /// [`set_reject_unknown_orders`]: Self::set_reject_unknown_orders
    pub fn new(api_keys: Vec<Secret>) -> Self {
        Self {
            state: Arc::new(State {
                api_keys,
                reject_unknown_orders: AtomicBool::new(true),
                orders: Mutex::new(Vec::new()),
                script: Mutex::new(Script::default()),
                deliveries: Mutex::new(Vec::new()),
                delivered: watch::Sender::new(0),
            }),
        }
    }

    /// Whether PATCHes of unregistered order ids get 404 (`true`, the default) or are
    /// checked like any other.
    pub fn set_reject_unknown_orders(&self, reject: bool) {
        self.state
            .reject_unknown_orders
            .store(reject, Ordering::Relaxed);
    }

    /// Serves on `listener` until `shutdown` completes, then lets open connections finish
    /// (up to [`assay_wire::http_server::DRAIN_TIMEOUT`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let state = self.state;
        let handler = move |request, _peer| {
            let state = Arc::clone(&state);
            async move { handler::handle(&state, request).await }
        };
        http_server::serve(listener, handler, shutdown).await;
        Ok(())
    }

    /// Binds `127.0.0.1:0` and serves in a background task.
    pub async fn start(&self) -> io::Result<RunningEmulator> {
        self.start_on(TcpListener::bind("127.0.0.1:0").await?)
    }

    /// Serves on `listener` in a background task, until the returned handle is stopped or dropped.
    pub fn start_on(&self, listener: TcpListener) -> io::Result<RunningEmulator> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        // Dropping the sender stops the server too: `stopped` then resolves with an error.
        let task = tokio::spawn(self.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(RunningEmulator {
            emulator: self.clone(),
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Remembers an order as sent, so its result updates are found and the recruiter view
    /// shows it. [`send_order`](Self::send_order) does this itself.
    pub fn register_order(&self, webhook: &OrderWebhook) {
        let mut orders = lock(&self.state.orders);
        if !orders.iter().any(|o| o.order_id == webhook.order_id) {
            orders.push(webhook.clone());
        }
    }

    /// Registers `webhook` and sends it, signed, to the host (see [`client::send_order`]).
    pub async fn send_order(
        &self,
        host_base_url: &str,
        product: &str,
        webhook: &OrderWebhook,
        signing_secret: &Secret,
        token: Option<&Secret>,
    ) -> Result<StatusCode, ClientError> {
        self.register_order(webhook);
        client::send_order(host_base_url, product, webhook, signing_secret, token).await
    }

    /// The orders registered so far, in sending order.
    pub fn orders(&self) -> Vec<OrderWebhook> {
        lock(&self.state.orders).clone()
    }

    /// Queues `response` as the answer to the next PATCH matching `target`. It replaces
    /// whatever the checks would have answered (even a 401); the delivery is still recorded
    /// with its schema violations, marked `scripted`.
    pub fn script(&self, target: ScriptTarget, response: ScriptedResponse) {
        lock(&self.state.script).push(target, response);
    }

    /// How many scripted responses have not been used yet.
    pub fn scripted_pending(&self) -> usize {
        lock(&self.state.script).pending()
    }

    /// Every result PATCH received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state.deliveries).clone()
    }

    /// Changes whenever a result PATCH arrives (its value counts them), so a caller can wait
    /// for arrivals instead of polling [`Emulator::deliveries`].
    pub fn subscribe_deliveries(&self) -> watch::Receiver<usize> {
        self.state.delivered.subscribe()
    }

    /// The result PATCHes received for one order.
    pub fn deliveries_for(&self, order_id: &str) -> Vec<Delivery> {
        lock(&self.state.deliveries)
            .iter()
            .filter(|d| d.order_id == order_id)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` result PATCHes have arrived; returns all of them.
    pub async fn wait_for_deliveries(
        &self,
        n: usize,
        within: Duration,
    ) -> Result<Vec<Delivery>, WaitTimeout> {
        self.wait_until(within, |deliveries| deliveries.len() >= n)
            .await
    }

    /// Waits until StackOne has accepted (200) a result update for `order_id`; returns it.
    pub async fn wait_for_accepted(
        &self,
        order_id: &str,
        within: Duration,
    ) -> Result<Delivery, WaitTimeout> {
        let accepted = |d: &Delivery| d.order_id == order_id && d.accepted();
        let deliveries = self
            .wait_until(within, |all| all.iter().any(accepted))
            .await?;
        deliveries.into_iter().find(accepted).ok_or(WaitTimeout {
            within,
            received: 0,
        })
    }

    /// The `result.value` of each update StackOne accepted for `order_id`, in arrival order.
    pub fn accepted_values(&self, order_id: &str) -> Vec<String> {
        self.deliveries_for(order_id)
            .iter()
            .filter(|d| d.accepted())
            .filter_map(|d| result_value(d).map(str::to_owned))
            .collect()
    }

    /// Waits until StackOne has accepted an update for `order_id` whose `result.value` is
    /// `value`; returns all deliveries so far.
    pub async fn wait_for_value(
        &self,
        order_id: &str,
        value: &str,
        within: Duration,
    ) -> Result<Vec<Delivery>, WaitTimeout> {
        self.wait_until(within, |all| {
            all.iter()
                .any(|d| d.order_id == order_id && d.accepted() && result_value(d) == Some(value))
        })
        .await
    }

    /// Waits until StackOne has accepted `n` updates for `order_id`.
    pub async fn wait_for_accepted_count(
        &self,
        order_id: &str,
        n: usize,
        within: Duration,
    ) -> Result<Vec<Delivery>, WaitTimeout> {
        self.wait_until(within, |all| {
            all.iter()
                .filter(|d| d.order_id == order_id && d.accepted())
                .count()
                == n
        })
        .await
    }

    /// Waits until `done` holds for the deliveries so far, re-checking on each arrival (no
    /// polling); returns them.
    pub async fn wait_until<F>(
        &self,
        within: Duration,
        mut done: F,
    ) -> Result<Vec<Delivery>, WaitTimeout>
    where
        F: FnMut(&[Delivery]) -> bool,
    {
        // Subscribing before the first check means no arrival can slip between the two.
        let mut arrivals = self.state.delivered.subscribe();
        let waiting = async {
            loop {
                {
                    let deliveries = lock(&self.state.deliveries);
                    if done(&deliveries) {
                        return deliveries.clone();
                    }
                }
                // The sender lives in the state we hold, so this cannot fail; wait forever if it did.
                if arrivals.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(within, waiting)
            .await
            .map_err(|_| WaitTimeout {
                within,
                received: lock(&self.state.deliveries).len(),
            })
    }

    /// What the recruiter would see in the ATS for every registered order.
    pub fn recruiter_view(&self) -> RecruiterView {
        RecruiterView::build(&self.orders(), &self.deliveries())
    }
}

/// A running emulator: its address, its state (through `Deref`), and its stop switch.
/// Dropping it stops the server.
pub struct RunningEmulator {
    emulator: Emulator,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl RunningEmulator {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the StackOne API base the host must be configured with.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open connections finish, and waits for the server to end.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

/// A delivery's `result.value`, if it has one.
fn result_value(d: &Delivery) -> Option<&str> {
    d.json.as_ref()?.pointer("/result/value")?.as_str()
}

impl Deref for RunningEmulator {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        &self.emulator
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests;
