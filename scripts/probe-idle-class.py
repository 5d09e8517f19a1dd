#!/usr/bin/env python3
"""How long a thread woken on a busy machine waits for a core, by the class of what keeps it busy.

    scripts/probe-idle-class.py [ROUND_TRIPS] [ROUNDS]

Assay runs plugin calls that compute past their budget on threads of a low priority (the idle
lane, `crates/assay-runtime/src/pool.rs`), so that the host's own threads take the cores first.
Which low priority that is decides how long a host thread waits for a core the plugin's thread
holds. This probe measures it without Assay: two processes pass a byte back and forth through
pipes (each computes 50 us per turn, as a request's threads do), ROUND_TRIPS times (default
20,000), while one spinning process per core runs:

  none       no spinners;
  idle       spinners in the kernel's idle class (`SCHED_IDLE`);
  idle+yield the same, offering their core (`sched_yield`) every millisecond, as the idle
             lane's threads do at every epoch yield;
  nice 19    spinners at nice 19, the lowest ordinary priority.

It prints p50, p99 and p99.9 of the round trip and how many took over 1 ms, for each kind, in
ROUNDS alternating rounds (default 3). On the 2-core machine this project is measured on
(Linux 6.18, 250 Hz tick), idle-class spinners made 0.25-0.5% of round trips wait a whole
scheduler tick (p99.9 4.1 ms); offering the core every millisecond cut that wait to 1 ms
(p99.9 0.94-1.01 ms); nice-19 spinners made no more round trips pass 1 ms than no spinners
did (p99.9 0.15-0.29 ms), but as the idle lane's class they cost the host more in the
fairness probe (RELIABILITY.md, "The idle class's tick").
Needs only Python 3's standard library, on Linux.
"""

import os
import sys
import time

TURN = 50e-6


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def spinner(kind):
    """Forks one spinning process of `kind`; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        if kind.startswith("idle"):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        elif kind == "nice 19":
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        if kind == "idle+yield":
            # As the idle lane does at every epoch yield: offer the core every millisecond.
            while True:
                busy(1e-3)
                os.sched_yield()
        while True:
            pass
    finally:
        os._exit(0)


def round_trips(count):
    """Times `count` round trips between this process and a forked one, in seconds."""
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            # Its copy of the write end closed, the read sees the end when this process closes it.
            os.close(ping_w)
            os.close(pong_r)
            while os.read(ping_r, 1):
                busy(TURN)
                os.write(pong_w, b"x")
        finally:
            os._exit(0)
    os.close(ping_r)
    os.close(pong_w)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        os.write(ping_w, b"x")
        os.read(pong_r, 1)
        busy(TURN)
        times.append(time.perf_counter() - start)
    os.close(ping_w)
    os.waitpid(child, 0)
    os.close(pong_r)
    return sorted(times)


def measure(kind, count):
    spinners = [] if kind == "none" else [spinner(kind) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.2)  # let the spinners take the cores
        times = round_trips(count)
    finally:
        for pid in spinners:
            os.kill(pid, 9)
            os.waitpid(pid, 0)

    def at(q):
        return times[min(len(times) - 1, int(len(times) * q))] * 1000

    over = sum(1 for t in times if t > 1e-3)
    print(f"{kind:10}: p50 {at(0.5):6.3f} ms  p99 {at(0.99):6.3f} ms  p99.9 {at(0.999):6.3f} ms"
          f"  over 1 ms {over:5} of {len(times)}", flush=True)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    for _ in range(rounds):
        for kind in ("none", "idle", "idle+yield", "nice 19"):
            measure(kind, count)


if __name__ == "__main__":
    main()
