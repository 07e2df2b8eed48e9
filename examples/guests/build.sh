#!/bin/sh
# Builds every example guest (each folder here with a main.go) into
# OUTDIR/<name>.wasm with upstream Go, as a WASI reactor:
#
#   examples/guests/build.sh OUTDIR
#
# GO names the go command (default: go). Prints one line per guest.
set -eu

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
GO=${GO:-go}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

if ! command -v "$GO" >/dev/null 2>&1; then
	echo "build.sh: '$GO' not found: building guests needs Go 1.24 or later" >&2
	exit 1
fi
if ! "$GO" tool dist list | grep -qx 'wasip1/wasm'; then
	echo "build.sh: $("$GO" version) cannot build for GOOS=wasip1 GOARCH=wasm: guests need Go 1.24 or later" >&2
	exit 1
fi

cd "$root"
for dir in "$here"/*/; do
	name=$(basename "$dir")
	[ -f "$dir/main.go" ] || continue
	wasm="$out/$name.wasm"
	if ! GOOS=wasip1 GOARCH=wasm "$GO" build -buildmode=c-shared -trimpath \
		-o "$wasm" "./examples/guests/$name"; then
		echo "build.sh: $name: go build for GOOS=wasip1 GOARCH=wasm -buildmode=c-shared failed (see above); guests need Go 1.24 or later" >&2
		exit 1
	fi
	echo "$name $wasm $(wc -c <"$wasm" | tr -d ' ') bytes"
done
