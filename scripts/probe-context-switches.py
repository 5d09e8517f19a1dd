#!/usr/bin/env python3
"""Counts the host's context switches per request, by thread, from outside.

    scripts/probe-context-switches.py ASSAY_BINARY FIXTURES_DIR [REQUESTS]

Starts `assay serve` as `scripts/probe-fairness.py` does (same products, same layout: the
host's log beside its configuration file), warms the well-behaved product up with 500 package
lists, then times REQUESTS (default 5000) more on one kept-alive connection and reads every
thread's `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` from
`/proc/PID/task/*/status` before and after. It prints the switches per request for each
thread name (threads of one name summed) and in all, and the log's bytes per request.

Every switch is a thread the kernel had to wake or put aside. On two cores shared with
idle-class plugin threads, each wake-up on the request path is a chance to wait for a core
(RELIABILITY.md, "The probe's window"), and every one costs CPU. Linux only; needs only
Python 3's standard library.
"""

import collections
import importlib.util
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "probe_fairness", os.path.join(HERE, "probe-fairness.py"))
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def switches(pid):
    """Context switches so far, by (thread name, "voluntary" | "involuntary")."""
    counts = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key == "voluntary_ctxt_switches":
                        counts[(name, "voluntary")] += int(value)
                    elif key == "nonvoluntary_ctxt_switches":
                        counts[(name, "involuntary")] += int(value)
        except FileNotFoundError:
            pass  # the thread ended between the listing and the read
    return counts


def main():
    binary, fixtures = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        host, port, _ = probe.serve(binary, fixtures, tmp)
        try:
            probe.timed(port, 500)
            log = os.path.join(tmp, "host.log")
            log_before, before = os.path.getsize(log), switches(host.pid)
            p50, p99, failures = probe.timed(port, requests)
            after, log_after = switches(host.pid), os.path.getsize(log)
        finally:
            host.terminate()
            host.wait(timeout=30)
    print(f"{requests} package lists: p50 {p50 * 1000:.3f} ms  p99 {p99 * 1000:.3f} ms"
          f"  failures {failures}  log {(log_after - log_before) / requests:.0f} bytes/request")
    print("context switches per request, by thread:")
    total = 0.0
    for key in sorted(set(before) | set(after)):
        per_request = (after[key] - before[key]) / requests
        if per_request >= 0.001:
            print(f"  {key[0]:<18} {key[1]:<11} {per_request:6.3f}")
            total += per_request
    print(f"  {'all':<30} {total:6.2f}")
    if failures:
        sys.exit(f"{failures} package list(s) failed")


if __name__ == "__main__":
    main()
