#!/usr/bin/env bash
# Runs the SDK's unit tests under plain CPython (no wasm, no host):
#
#   plugins/sdk-python/test.sh [unittest args]   # default: discover -s tests -v
#
# The package imports the modules componentize-py generates from the WIT, so this first
# (re)writes them to bindings/ with `build.sh --bindings` when they are missing or older than
# any file of the WIT they are generated from: the copy this SDK carries in wit/ (as in a
# project's vendored copy of the SDK), or ASSAY_WIT. The helpers under test need
# nothing from the host; a host function (settings, log, HTTP) would fail if called.
# Exits with unittest's status: non-zero when a test fails.
set -euo pipefail
sdk="$(cd "$(dirname "$0")" && pwd)"
wit="${ASSAY_WIT:-$sdk/wit}"
# A generated file nothing rewrites later (Python's caches land beside it, not in it).
stamp="$sdk/bindings/wit_world/__init__.py"

if [[ ! -f "$stamp" ]] || [[ -n "$(find "$wit" -newer "$stamp" -print -quit)" ]]; then
    echo "generating the bindings from $wit" >&2
    "$sdk/build.sh" --bindings >&2
fi

cd "$sdk"
if [[ $# -eq 0 ]]; then
    set -- discover -s tests -v
fi
PYTHONPATH="$sdk/bindings:$sdk${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
    exec python3 -m unittest "$@"
