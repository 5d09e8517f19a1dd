#!/usr/bin/env bash
# Builds a Python plugin into a WebAssembly component the Assay host loads:
#
#   plugins/sdk-python/build.sh APP_DIR [OUT.wasm] [MODULE]
#
# APP_DIR holds the plugin's module (MODULE, default `app`, with its class `Product`); the
# component goes to OUT.wasm (default APP_DIR/<folder name>.wasm), written under a temporary
# name and renamed into place, so a host watching the plugins folder never loads half a file.
#
# The toolchain is componentize-py, pinned in requirements.txt and installed into
# the SDK's .venv on first use (pip, from PyPI; ASSAY_PLUGIN_VENV=/path/to/venv uses another
# one). The contract is the WIT this SDK carries in wit/, a copy of the repository's wit/
# checked identical by a test (override with ASSAY_WIT=/path/to/wit).
#
#   plugins/sdk-python/build.sh --bindings   # writes the generated modules to bindings/,
#                                            # for editors and for the unit tests
set -euo pipefail
sdk="$(cd "$(dirname "$0")" && pwd)"
wit="${ASSAY_WIT:-$sdk/wit}"
venv="${ASSAY_PLUGIN_VENV:-$sdk/.venv}"

if [[ ! -x "$venv/bin/componentize-py" ]]; then
    echo "installing the toolchain into $venv (requirements.txt)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r "$sdk/requirements.txt"
fi
cpy=("$venv/bin/componentize-py" -d "$wit" -w plugin)

if [[ "${1:-}" == "--bindings" ]]; then
    rm -rf "$sdk/bindings"
    "${cpy[@]}" bindings "$sdk/bindings"
    echo "bindings in $sdk/bindings"
    exit 0
fi

app="${1:?usage: build.sh APP_DIR [OUT.wasm] [MODULE]  |  build.sh --bindings}"
app="$(cd "$app" && pwd)"
out="${2:-$app/$(basename "$app").wasm}"
module="${3:-app}"
mkdir -p "$(dirname "$out")"
tmp="$(dirname "$out")/.$(basename "$out").tmp"
started=$SECONDS
"${cpy[@]}" componentize -p "$app" -p "$sdk" "$module" -o "$tmp"
mv -f "$tmp" "$out"
echo "$out: $(wc -c <"$out") bytes, built in $((SECONDS - started)) s"
