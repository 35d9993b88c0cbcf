#!/usr/bin/env bash
# Regenerates include/ringmq.h from ringmq-ffi's doc comments and
# ringmq-ffi/cbindgen.toml, with the pinned cbindgen version (installed if
# missing). The header's RINGMQ_VERSION_* macros are ringmq-ffi's version
# from Cargo.toml, filled into the config's @RINGMQ_VERSION...@ places, so
# they and ringmq_version() come from one place.
# Usage: scripts/gen-header.sh [OUTPUT]   (default include/ringmq.h)
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi

out=${1:-include/ringmq.h}

# "path+file:///…/ringmq-ffi#0.1.0" or "…#ringmq-ffi@0.1.0"
pkgid=$(cargo pkgid -p ringmq-ffi)
version=${pkgid##*[#@]}
if ! [[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)([-+].*)?$ ]]; then
    echo "gen-header: cannot read a MAJOR.MINOR.PATCH version from '$pkgid'" >&2
    exit 1
fi

config=$(mktemp)
trap 'rm -f "$config"' EXIT
sed -e "s/@RINGMQ_VERSION_MAJOR@/${BASH_REMATCH[1]}/" \
    -e "s/@RINGMQ_VERSION_MINOR@/${BASH_REMATCH[2]}/" \
    -e "s/@RINGMQ_VERSION_PATCH@/${BASH_REMATCH[3]}/" \
    -e "s/@RINGMQ_VERSION@/$version/" \
    ringmq-ffi/cbindgen.toml >"$config"
if grep -q '@RINGMQ_VERSION' "$config"; then
    echo "gen-header: a @RINGMQ_VERSION...@ place in cbindgen.toml was not filled" >&2
    exit 1
fi
cbindgen --quiet --config "$config" --crate ringmq-ffi --output "$out" ringmq-ffi
