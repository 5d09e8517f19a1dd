#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (RELIABILITY.md, "Fuzzing"), each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 30 seconds, every target
#
# Targets: signature, envelope, config, route. Each keeps its corpus in fuzz/corpus/TARGET
# (not committed; seeded from fuzz/seeds/TARGET) and stops at the first failed property or
# crash, with the input in fuzz/artifacts/TARGET/ and this script's exit status non-zero.
#
# Stable Rust: cargo-fuzz's default AddressSanitizer needs nightly (`-Zsanitizer`), so the
# targets are built with `--sanitizer none` (libFuzzer's coverage instrumentation is stable
# `-C` flags). Safe Rust gets its memory checks from the compiler; overflow and debug
# assertions stay on in the fuzz build.
#
# cargo-fuzz is not part of rustup: without it the script says what to install and exits 0,
# unless ASSAY_REQUIRE_ALL=1 (CI), where it installs it (`cargo install cargo-fuzz --locked`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-30}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(signature envelope config route)

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${ASSAY_REQUIRE_ALL:-}" = 1 ]; then
        cargo install cargo-fuzz --locked
    else
        echo "skipped: fuzzing needs cargo-fuzz (cargo install cargo-fuzz --locked)"
        exit 0
    fi
fi

cd "$root/fuzz"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# One build for every target (cargo-fuzz builds the package's binaries together).
cargo fuzz build --sanitizer none
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "seeds/$target"
    dict=()
    [ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
    echo "== fuzz $target for ${secs}s"
    status=0
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$secs" -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || status=$?
    grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        echo "fuzz $target: failed (exit $status); the input is in fuzz/artifacts/$target/"
        exit "$status"
    fi
done
