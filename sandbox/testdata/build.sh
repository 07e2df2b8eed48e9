#!/bin/sh
# Rebuilds every committed .wasm beside its .wat with wabt's wat2wasm.
# TestWasmMatchesWat checks that the two agree.
set -e
cd "$(dirname "$0")"
for wat in $(find . -name '*.wat' | sort); do
	wat2wasm "$wat" -o "${wat%.wat}.wasm"
done
