#!/usr/bin/env python3
"""Probes whether hostile plugins slow a well-behaved product down, from outside.

    scripts/probe-fairness.py ASSAY_BINARY FIXTURES_DIR [REQUESTS]

FIXTURES_DIR holds the test fixtures built for wasm32-wasip2 (`fixture_wellbehaved.wasm`,
`fixture_spin.wasm`, `fixture_hog.wasm`; `cargo test` builds them into
tests/fixtures/target/wasm32-wasip2/release). Starts `assay serve` with three products:

  good  the well-behaved fixture;
  spin  loops until its 2 s deadline;
  hog   allocates until its 256 MiB limit refuses, under a shared budget of 512 MiB
        (`plugins.memory_budget_mb`, read by hosts that have it; others ignore nothing: an
        older host refuses the key, so the probe retries without it).

Then it times REQUESTS (default 10000) package lists of `good`, one after another on one
kept-alive connection: alone, while 8 clients call `spin` without pause, and while 8 clients
call `hog` without pause (sampling the host's RSS). At 0.2 ms a request, 10,000 requests are a
window of about 2 s, as long as one `spin` call: it holds the hostile calls' ends and new
starts, not only their middles. With fewer, a p99 is a handful of events: 300 were a 60 ms
window whose p99 was its third-worst request, and 2,000 a 0.4 s window whose p99 was its
20th-worst, so that twenty stalls of a millisecond or more in that window (the kernel running
an idle-class plugin thread before a woken one, a kernel thread, the probe's own Python)
decided the round (RELIABILITY.md has the traces). It prints one line per phase (p50, p99, the
ratio to running alone, and p99.9, where a stall of a whole scheduler tick shows first) and the
host's peak RSS, and exits 1 if any of the well-behaved product's requests failed. Needs only
Python 3's standard library. CI runs it briefly (300 requests a phase, against the debug build)
for that exit status; its timings are figures, never judged there.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

WEBHOOK_SECRET = "probe-webhook-secret"
PACKAGE_KEY = "probe-package-key"
BODY = json.dumps({"account_id": "acc-1", "provider": "recruitee"}).encode()
HEADERS = {
    "authorization": "Basic " + base64.b64encode(f"{PACKAGE_KEY}:".encode()).decode(),
    "x-stackone-signature": base64.urlsafe_b64encode(
        hmac.new(WEBHOOK_SECRET.encode(), BODY, hashlib.sha256).digest()).decode().rstrip("="),
    "content-type": "application/json",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def product(name, plugin, extra=""):
    return (f'[products.{name}]\nplugin = "{plugin}"\nkind = "assessment"\n'
            f'webhook_secrets = ["env:PROBE_WHSEC"]\npackage_list_keys = ["env:PROBE_KEY"]\n'
            f'{extra}')


def config(port, with_budget):
    budget = "memory_budget_mb = 512\n" if with_budget else ""
    return (f'[server]\nlisten = "127.0.0.1:{port}"\n'
            '[stackone]\nbase_url = "http://127.0.0.1:9"\napi_key = "env:PROBE_SK"\n'
            f'[plugins]\ndir = "plugins"\n{budget}'
            + product("good", "good.wasm")
            + product("spin", "spin.wasm", "timeout_ms = 2000\n")
            + product("hog", "hog.wasm", "timeout_ms = 5000\nmemory_limit_mb = 256\n"))


def post(conn, name):
    conn.request("POST", f"/v1/products/{name}/packages", BODY, HEADERS)
    response = conn.getresponse()
    response.read()
    return response.status


def hammer(port, name, stop):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        try:
            post(conn, name)
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def timed(port, requests):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    failures = 0
    for _ in range(requests):
        start = time.perf_counter()
        status = post(conn, "good")
        times.append(time.perf_counter() - start)
        failures += status != 200
    times.sort()

    def at(q):
        return times[min(len(times) - 1, int(len(times) * q))]

    return at(0.5), at(0.99), failures, at(0.999)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def phase(port, pid, requests, hostile):
    stop = threading.Event()
    peak = [rss_mb(pid)]
    threads = [threading.Thread(target=hammer, args=(port, hostile, stop)) for _ in range(8)]
    threads.append(threading.Thread(target=sample, args=(pid, stop, peak)))
    for t in threads:
        t.start()
    time.sleep(1.0)  # let the hostile calls get going
    result = timed(port, requests)
    stop.set()
    for t in threads:
        t.join()
    return result, peak[0]


def sample(pid, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pid))
        stop.wait(0.05)


def start(binary, tmp, port, with_budget):
    with open(os.path.join(tmp, "config.toml"), "w") as f:
        f.write(config(port, with_budget))
    env = {**os.environ, "PROBE_WHSEC": WEBHOOK_SECRET, "PROBE_KEY": PACKAGE_KEY,
           "PROBE_SK": "probe-stackone", "NO_COLOR": "1"}
    log = open(os.path.join(tmp, "host.log"), "ab")
    host = subprocess.Popen([binary, "serve", "--config", os.path.join(tmp, "config.toml")],
                            env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and host.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if post(conn, "good") == 200:
                return host
        except OSError:
            time.sleep(0.2)
    host.kill()
    return None


def serve(binary, fixtures, tmp):
    """Stages the three products in `tmp` and starts the host there: (host, port, whether
    it took the memory budget). Exits if it never serves the good product."""
    os.mkdir(os.path.join(tmp, "plugins"))
    for name in ("good", "spin", "hog"):
        target = "wellbehaved" if name == "good" else name
        shutil.copy(os.path.join(fixtures, f"fixture_{target}.wasm"),
                    os.path.join(tmp, "plugins", f"{name}.wasm"))
    port = free_port()
    host = start(binary, tmp, port, True)
    budget = host is not None
    if host is None:
        host = start(binary, tmp, port, False)
    if host is None:
        sys.exit("the host did not serve the good product within 120 s")
    return host, port, budget


def main():
    binary, fixtures = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    with tempfile.TemporaryDirectory() as tmp:
        host, port, budget = serve(binary, fixtures, tmp)
        try:
            alone = timed(port, requests)
            print(f"alone:       p50 {alone[0] * 1000:6.1f} ms  p99 {alone[1] * 1000:6.1f} ms"
                  f"  failures {alone[2]}  p99.9 {alone[3] * 1000:6.1f} ms")
            failed = 0
            for hostile in ("spin", "hog"):
                (p50, p99, failures, p999), peak = phase(port, host.pid, requests, hostile)
                failed += failures
                print(f"8 x {hostile:5}: p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
                      f"  failures {failures}  ratio p50 {p50 / alone[0]:5.1f}x"
                      f"  p99 {p99 / alone[1]:5.1f}x  peak RSS {peak:6.0f} MB"
                      f"  p99.9 {p999 * 1000:6.1f} ms")
            print(f"memory budget: {'512 MiB' if budget else 'none (the host refused the key)'}")
            failed += alone[2]
        finally:
            host.terminate()
            host.wait(timeout=30)
    if failed:
        sys.exit(f"{failed} package list(s) of the well-behaved product failed")


if __name__ == "__main__":
    main()
