//! Headless Chromium driven over the Chrome DevTools Protocol, for tests that use a page as a
//! person would: type into a form, click, read what is shown, take a screenshot.
//!
//! The client is this file over one WebSocket (`tokio-tungstenite`): a test needs six
//! commands (`Target.attachToTarget`, `Page.navigate`, `Runtime.evaluate`,
//! `Emulation.setDeviceMetricsOverride`, `Page.captureScreenshot`, `Target.getTargets`), and
//! the CDP crates (`chromiumoxide`, `headless_chrome`) generate bindings for the whole
//! protocol, which costs minutes of compilation and a second WebSocket and HTTP stack for no
//! more than that.
//!
//! Chromium runs with a fresh profile folder and without its background services
//! ([`FLAGS`]): this machine has no network beyond loopback, and Chromium's own connections
//! otherwise fail many at a time. It is killed when the [`Browser`] is dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::harness::WAIT;

/// Chromium's flags besides the profile folder and the debugging port.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// What a test prints when it skips for want of Chromium.
pub const SKIP_LINE: &str = "skipped: chromium not installed (apt-get install chromium)";

/// Chromium's binary: `$CHROMIUM`, else `chromium` on the `PATH`.
pub fn find() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    })
}

/// Whether a test that needs a tool beyond rustup must fail rather than skip without it
/// (`ASSAY_REQUIRE_ALL=1`, which CI sets).
pub fn require_all() -> bool {
    std::env::var_os("ASSAY_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// A running headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    profile: TempDir,
}

impl Browser {
    /// Starts `binary` and attaches to its page.
    pub async fn launch(binary: &Path) -> Result<Browser, String> {
        let profile = tempfile::tempdir().map_err(|e| format!("a profile folder: {e}"))?;
        let log = std::fs::File::create(profile.path().join("chromium.log"))
            .map_err(|e| format!("chromium's log file: {e}"))?;
        let child = Command::new(binary)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--remote-debugging-port=0")
            .arg("--window-size=1280,900")
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        // Chromium writes the port it chose and the browser's WebSocket path here.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + WAIT;
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let [port, path, ..] = text.lines().collect::<Vec<_>>()[..]
            {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(profile.path().join("chromium.log"));
                return Err(format!(
                    "chromium wrote no DevToolsActivePort in {WAIT:?}; its log:\n{}",
                    log.unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (socket, _) = tokio_tungstenite::connect_async(&endpoint)
            .await
            .map_err(|e| format!("connecting to {endpoint}: {e}"))?;
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            profile,
        };
        let targets = browser.call("Target.getTargets", json!({})).await?;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .ok_or_else(|| format!("chromium has no page: {targets}"))?
            .to_owned();
        let attached = browser
            .call(
                "Target.attachToTarget",
                json!({"targetId": page, "flatten": true}),
            )
            .await?;
        browser.session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {attached}"))?
            .to_owned();
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await?;
        Ok(browser)
    }

    /// Sends one command (to the page once attached) and waits for its answer; events
    /// arriving meanwhile are dropped (tests wait on the page's state instead).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .map_err(|e| format!("sending {method}: {e}"))?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| format!("no answer to {method} in {WAIT:?}"))?
                .ok_or_else(|| format!("chromium closed the connection during {method}"))?
                .map_err(|e| format!("reading the answer to {method}: {e}"))?;
            let Message::Text(text) = frame else { continue };
            let answer: Value = serde_json::from_str(text.as_str())
                .map_err(|e| format!("{method}: not JSON ({e}): {text}"))?;
            if answer["id"] != id {
                continue;
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("{method} failed: {error}"));
            }
            return Ok(answer["result"].clone());
        }
    }

    /// Opens `url` in the page.
    pub async fn goto(&mut self, url: &str) -> Result<(), String> {
        let result = self.call("Page.navigate", json!({"url": url})).await?;
        match result.get("errorText") {
            Some(error) => Err(format!("navigating to {url}: {error}")),
            None => Ok(()),
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    pub async fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("`{expression}` threw: {exception}"));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `expression` is `true` in the page (a navigation in between is fine).
    pub async fn wait_for(&mut self, expression: &str, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            // During a navigation the old document may be gone: an error is not an answer.
            let last = match self.eval(expression).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Ok(other) => other,
                Err(e) => Value::String(e),
            };
            if Instant::now() > deadline {
                let url = self.eval("location.href").await.unwrap_or_default();
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await
                    .unwrap_or_default();
                return Err(format!(
                    "timed out waiting for {what} (`{expression}` was {last}) at {url}; the page \
                     says:\n{}",
                    text.as_str().unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text a person sees on the page.
    pub async fn text(&mut self) -> Result<String, String> {
        Ok(self
            .eval("document.body.innerText")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Writes a PNG of the whole page to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> Result<(), String> {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| format!("no image: {shot}"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("the screenshot is not base64: {e}"))?;
        std::fs::write(path, png).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// Chromium's own log so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("chromium.log")).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
