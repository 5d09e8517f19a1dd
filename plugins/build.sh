#!/usr/bin/env bash
# Builds the example plugins for wasm32-wasip2 and drops them into this folder, the plugins
# folder the host's default configuration loads and watches:
#
#   plugins/build.sh            # then plugins/codetest.wasm and plugins/backcheck.wasm
#
# Each file is copied under a temporary name and renamed into place, so a host watching the
# folder never loads half a file. The copies are git-ignored (`/plugins/*.wasm`).
set -euo pipefail
cd "$(dirname "$0")"

plugins=(codetest backcheck)
cargo build --release "${plugins[@]/#/--package=}"
for name in "${plugins[@]}"; do
    built="target/wasm32-wasip2/release/$name.wasm"
    cp "$built" ".$name.wasm.tmp"
    mv -f ".$name.wasm.tmp" "$name.wasm"
    echo "$name.wasm: $(wc -c <"$name.wasm") bytes"
done
