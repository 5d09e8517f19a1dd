#!/usr/bin/env python3
"""Probes what a vendor meets with the CodeTest plugin, from outside, with real processes.

    scripts/probe-contract.py ASSAY_BINARY CODETEST_WASM

Starts a fake CodeTest API (this script, on loopback), then `assay serve` with the given
binary and plugin, and plays StackOne and the vendor against it over HTTP:

  A. the plugin's required `base_url` setting is missing from the configuration;
  B. the vendor calls back about a session the host has never seen (three times);
  C. the vendor refuses an order for good (422 "unknown questionnaire"): does StackOne hear
     about it? (`assay emulate` plays StackOne and waits up to 60 s for a final result);
  D. the vendor's catalogue is slow (300 ms), then down: 20 package lists, then 5 more.

It prints one line of figures per probe. Run it with an older binary and plugin to compare
(the closing note of contract 0.2.0 has both runs). Needs only Python 3's standard library.
"""

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VENDOR_TOKEN = "probe-vendor-token"
VENDOR_SECRET = "probe-vendor-secret"
WEBHOOK_SECRET = "probe-stackone-secret"
PACKAGE_KEY = "probe-package-key"
STACKONE_KEY = "probe-stackone-key"
CATALOGUE_DELAY = 0.3


class Vendor:
    """The fake CodeTest API: a slow (or failing) catalogue, and a 422 for every invitation."""

    def __init__(self):
        self.catalogue_calls = 0
        self.catalogue_down = False
        self.lock = threading.Lock()
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/api/tests":
                    with vendor.lock:
                        vendor.catalogue_calls += 1
                        down = vendor.catalogue_down
                    if down:
                        return self.reply(503, {"error": "maintenance"})
                    time.sleep(CATALOGUE_DELAY)
                    return self.reply(200, {"tests": [{
                        "id": "ct-rust", "title": "Rust backend engineer",
                        "description": "Build a small service", "duration_minutes": 90}]})
                return self.reply(404, {"error": "no such invitation"})

            def do_POST(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                if self.path == "/api/invitations":
                    return self.reply(422, {"error": "unknown questionnaire"})
                return self.reply(404, {"error": "no such endpoint"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(work, port, emulator_port, vendor_url, plugin, with_base_url=True):
    base = f'base_url = "{vendor_url}"\n' if with_base_url else ""
    return f"""[server]
listen = "127.0.0.1:{port}"
[store]
path = "{work}/assay-{port}.db"
[stackone]
base_url = "http://127.0.0.1:{emulator_port}"
api_key = "env:PROBE_STACKONE_KEY"
[plugins]
dir = "{os.path.dirname(plugin)}"
cache_dir = "{work}/cache"
[products.codetest]
plugin = "{plugin}"
kind = "assessment"
webhook_secrets = ["env:PROBE_WEBHOOK_SECRET"]
package_list_keys = ["env:PROBE_PACKAGE_KEY"]
allowed_hosts = ["{vendor_url}"]
[products.codetest.settings]
{base}api_token = "env:PROBE_VENDOR_TOKEN"
webhook_secret = "env:PROBE_VENDOR_SECRET"
callback_url = "http://127.0.0.1:{port}/v1/products/codetest/callbacks/attempts"
"""


ENV = dict(os.environ, PROBE_STACKONE_KEY=STACKONE_KEY, PROBE_WEBHOOK_SECRET=WEBHOOK_SECRET,
           PROBE_PACKAGE_KEY=PACKAGE_KEY, PROBE_VENDOR_TOKEN=VENDOR_TOKEN,
           PROBE_VENDOR_SECRET=VENDOR_SECRET, RUST_LOG="warn", NO_COLOR="1")


class Host:
    def __init__(self, binary, work, text, port):
        self.path = os.path.join(work, f"config-{port}.toml")
        with open(self.path, "w") as f:
            f.write(text)
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(work, f"assay-{port}.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.path], env=ENV,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"assay did not start; see {self.log.name}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def request(method, url, body=b"", headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def package_list(host):
    body = json.dumps({"account_id": "acc-1", "provider": "recruitee"}).encode()
    mac = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {
        "authorization": "Basic " + base64.b64encode(f"{PACKAGE_KEY}:".encode()).decode(),
        "x-stackone-signature": base64.urlsafe_b64encode(mac).decode().rstrip("="),
        "content-type": "application/json",
    }
    start = time.perf_counter()
    status, headers, data = request("POST", host.url + "/v1/products/codetest/packages", body,
                                    headers)
    return status, headers, data, time.perf_counter() - start


def cache_of(headers):
    return {k.lower(): v for k, v in headers.items()}.get("x-assay-cache", "-")


def error_code(data):
    try:
        return json.loads(data)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "-"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binary, plugin = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="assay-probe-")
    vendor = Vendor()

    # A. A required setting missing from the configuration.
    port, emu = free_port(), free_port()
    host = Host(binary, work, config(work, port, emu, vendor.url, plugin, False), port)
    ready, _, _ = request("GET", host.url + "/readyz")
    status, _, data, _ = package_list(host)
    print(f"A missing base_url: /readyz {ready}; package list {status} {error_code(data)}")
    host.stop()

    port, emu = free_port(), free_port()
    host = Host(binary, work, config(work, port, emu, vendor.url, plugin), port)

    # B. A callback about a session nobody created.
    event = json.dumps({"event": "attempt.completed", "invitation_id": "inv-nobody",
                        "score": 10, "max_score": 50}).encode()
    sig = hmac.new(VENDOR_SECRET.encode(), event, hashlib.sha256).hexdigest()
    answers = []
    for _ in range(3):
        status, headers, _ = request("POST", host.url + "/v1/products/codetest/callbacks/attempts",
                                     event, {"x-codetest-signature": sig})
        retry = {k.lower(): v for k, v in headers.items()}.get("retry-after")
        answers.append(f"{status}" + (f" Retry-After {retry}" if retry else ""))
    print(f"B unknown session, 3 callbacks: {', '.join(answers)}")

    # C. The vendor refuses the order for good: does the recruiter hear of it?
    started = time.perf_counter()
    emulate = subprocess.run([binary, "emulate", "--config", host.path, "--host", host.url,
                              "--emulator-listen", f"127.0.0.1:{emu}"], env=ENV,
                             capture_output=True, text=True, timeout=120)
    took = time.perf_counter() - started
    lines = [l.strip() for l in (emulate.stdout + emulate.stderr).splitlines()]
    seen = [l for l in lines if "(result " in l or "final result" in l or "Pending" in l]
    print(f"C vendor 422 on fulfilment: emulate exit {emulate.returncode} after {took:.1f} s; "
          + " | ".join(seen[-3:]))

    # D. A slow catalogue (300 ms), then the catalogue down.
    calls = vendor.catalogue_calls
    times, caches = [], []
    for _ in range(20):
        status, headers, _, took = package_list(host)
        times.append(took)
        caches.append(cache_of(headers))
    times.sort()
    print(f"D slow catalogue, 20 package lists: p50 {times[10]*1000:.1f} ms, "
          f"max {times[-1]*1000:.1f} ms, vendor calls {vendor.catalogue_calls - calls}, "
          f"x-assay-cache {sorted(set(caches))}")
    with vendor.lock:
        vendor.catalogue_down = True
    down = [package_list(host) for _ in range(5)]
    print("D catalogue down, 5 package lists: "
          + ", ".join(f"{s} {cache_of(h)}" for s, h, _, _ in down))
    host.stop()
    vendor.server.shutdown()


if __name__ == "__main__":
    main()
