#!/usr/bin/env bash
# Regenerates include/ringmq.h from ringmq-ffi's doc comments and
# ringmq-ffi/cbindgen.toml, with the pinned cbindgen version (installed if
# missing). Usage: scripts/gen-header.sh [OUTPUT]   (default include/ringmq.h)
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi

out=${1:-include/ringmq.h}
cbindgen --quiet --config ringmq-ffi/cbindgen.toml --crate ringmq-ffi --output "$out" ringmq-ffi
