#!/usr/bin/env bash
# Idle wake-ups of `assay serve` with the two example products: starts the host on a loopback
# port with throw-away secrets, lets it settle, then counts context switches of every thread
# (from /proc/PID/task/*/status) over a quiet window and prints them per second.
#
#   scripts/idle-wakeups.sh [ASSAY_BINARY] [SECONDS]
#
# The example plugins must be built (`cargo test` or `cargo run -- demo` builds them).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/debug/assay}"
secs="${2:-10}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/plugins"
cp "$root"/plugins/target/wasm32-wasip2/release/{codetest,backcheck}.wasm "$work/plugins/"
sed -e 's|^listen = .*|listen = "127.0.0.1:0"|' \
    -e "s|^path = \"data/assay.db\"|path = \"$work/assay.db\"|" \
    -e "s|^dir = \"plugins\"|dir = \"$work/plugins\"|" \
    -e '/^source = /d' "$root/config.toml" > "$work/config.toml"
for v in ADMIN_TOKEN STACKONE_API_KEY CODETEST_WEBHOOK_SECRET CODETEST_PACKAGE_LIST_KEY \
    CODETEST_API_TOKEN CODETEST_VENDOR_WEBHOOK_SECRET BACKCHECK_WEBHOOK_SECRET \
    BACKCHECK_PACKAGE_LIST_KEY BACKCHECK_API_TOKEN BACKCHECK_VENDOR_WEBHOOK_SECRET; do
    export "$v=idle-probe-$v"
done
"$bin" serve --config "$work/config.toml" >"$work/log" 2>&1 &
pid=$!
sleep 3 # settle: start-up compiles, the first poll
kill -0 "$pid" || { cat "$work/log"; exit 1; }
# Per thread, so a thread that ends during the window (tokio's blocking pool lets idle threads
# go) neither adds nor subtracts; a thread that starts counts from zero.
snapshot() {
    for task in /proc/"$pid"/task/*; do
        awk -v tid="${task##*/}" '/^(voluntary|nonvoluntary)_ctxt_switches/ {n += $2}
            END {print tid, n}' "$task/status" 2>/dev/null
    done | sort
}
snapshot >"$work/before"
sleep "$secs"
snapshot >"$work/after"
woken=$(join -a 2 -e 0 -o 0,1.2,2.2 "$work/before" "$work/after" |
    awk '{d = $3 - $2; if (d > 0) n += d} END {print n + 0}')
threads=$(wc -l <"$work/after")
echo "idle wake-ups: $((woken / secs))/s over ${secs}s ($threads threads)"
