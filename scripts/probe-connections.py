#!/usr/bin/env python3
"""Probes whether idle clients can take every connection slot of a host, from outside.

    scripts/probe-connections.py ASSAY_BINARY [CONNECTIONS] [HOLD_SECONDS]

Starts `assay serve` (no products, an empty plugins folder) on a free loopback port, then
opens CONNECTIONS (default 4,200) TCP connections from 127.0.0.1 that never send a request:
half send nothing at all, half send only the HTTP/2 preface. While they are held, it asks
`/healthz` every 100 ms on a fresh connection (2 s timeout each) and watches every idle
connection for the host closing it. After HOLD_SECONDS (default 20) it prints one line:

  opened, closed by the host (and within 11 s of opening), the longest wait for a close,
  /healthz answered / asked, and its slowest answer.

The host's documented deadline is `server.request_head_timeout_ms` (10 s) plus 1 s for a
graceful close. Run it with an older binary to compare; needs only Python 3's standard
library.
"""

import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEADLINE = 11.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port, timeout=2.0):
    """One GET /healthz on a fresh connection; the seconds it took, or None."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(max(0.01, timeout - (time.monotonic() - started)))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                return time.monotonic() - started
    except OSError:
        pass
    return None


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 4200
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "plugins"))
        with open(os.path.join(tmp, "config.toml"), "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:{port}"\n'
                    '[stackone]\nbase_url = "http://127.0.0.1:9"\napi_key = "env:PROBE_SK"\n'
                    '[products]\n')
        host = subprocess.Popen(
            [binary, "serve", "--config", os.path.join(tmp, "config.toml")],
            env={**os.environ, "PROBE_SK": "probe", "NO_COLOR": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while healthz(port) is None:
                if time.monotonic() > deadline or host.poll() is not None:
                    sys.exit("the host did not answer /healthz within 60 s")
                time.sleep(0.1)
            run(port, count, hold)
        finally:
            host.terminate()
            host.wait(timeout=30)


def run(port, count, hold):
    selector = selectors.DefaultSelector()
    opened_at = {}
    closed_after = {}
    for i in range(count):
        # Paced so that the listen backlog never overflows: a connection dropped from a full
        # backlog looks established to this side but holds nothing on the host's.
        if i % 64 == 63:
            time.sleep(0.02)
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        opened_at[s.fileno()] = (s, time.monotonic(), i % 2 == 1)
        selector.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    sent_preface = set()
    failed = set()
    # First every connection is established (the kernel completes the handshake of a
    # connection the host has not accepted yet), then /healthz is asked while they are held.
    answers = []
    asked = [0]
    stop = threading.Event()

    def ask():
        while not stop.is_set():
            asked[0] += 1
            answers.append(healthz(port))
            stop.wait(0.1)

    asker = threading.Thread(target=ask)
    connect_by = time.monotonic() + 15
    end = None
    while len(closed_after) < count:
        now = time.monotonic()
        if end is None and (len(sent_preface) == count or now > connect_by):
            end = now + hold
            asker.start()
        if end is not None and now > end:
            break
        for key, events in selector.select(timeout=0.1):
            s, started, preface = opened_at[key.fd]
            if events & selectors.EVENT_WRITE and key.fd not in sent_preface:
                sent_preface.add(key.fd)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    failed.add(key.fd)
                    selector.unregister(s)
                    continue
                if preface:
                    try:
                        s.send(PREFACE)
                    except OSError:
                        pass
                selector.modify(s, selectors.EVENT_READ)
                continue
            if events & selectors.EVENT_READ:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    closed_after[key.fd] = time.monotonic() - started
                    selector.unregister(s)
    stop.set()
    if asker.is_alive():
        asker.join()
    for s, _, _ in opened_at.values():
        s.close()
    within = sum(1 for t in closed_after.values() if t <= DEADLINE)
    preface_open = sum(1 for fd, (_, _, preface) in opened_at.items()
                       if preface and fd not in closed_after and fd not in failed)
    silent_open = count - len(failed) - len(closed_after) - preface_open
    longest = max(closed_after.values(), default=0.0)
    ok = [a for a in answers if a is not None]
    slowest = max(ok, default=0.0)
    print(f"connections opened {count - len(failed)} of {count}; closed by the host {len(closed_after)} "
          f"({within} within {DEADLINE:.0f} s), longest {longest:.1f} s; still open "
          f"{silent_open} silent, {preface_open} preface-only; "
          f"/healthz answered {len(ok)}/{asked[0]}, slowest {slowest * 1000:.0f} ms "
          f"(held {hold:.0f} s)")


if __name__ == "__main__":
    main()
