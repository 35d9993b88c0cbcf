#!/usr/bin/env bash
# Builds and tests the Node binding the way a user gets it: `npm install` of
# the package directory into a fresh project (the package's install script
# builds the addon with cargo), then node's test runner over the tests, the
# example, clippy and rustfmt. Run from the repository root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="$root/bindings/node"

command -v node >/dev/null || { echo "test-node: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "test-node: npm is not installed" >&2; exit 1; }
command -v cargo >/dev/null || { echo "test-node: cargo is not installed" >&2; exit 1; }
echo "test-node: node $(node --version), npm $(npm --version), $(cargo --version)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A user's project: install the package from the source tree.
cd "$work"
npm init -y >/dev/null
rm -f "$pkg/ringmq.node"
npm install --no-audit --no-fund --foreground-scripts "$pkg"
if [ ! -f "$pkg/ringmq.node" ]; then
  # Some npm versions hold back install scripts of dependencies until they
  # are approved; `npm rebuild` is what a user then runs.
  echo "test-node: npm install did not run the install script; running npm rebuild ringmq" >&2
  npm rebuild --foreground-scripts ringmq
fi
if [ ! -f "$pkg/ringmq.node" ]; then
  echo "test-node: the package's install script did not build ringmq.node" >&2
  exit 1
fi
node -e "const { Broker } = require('ringmq'); new Broker().close(0).then(() => console.log('test-node: require(\"ringmq\") works'))"

# The tests, run from the user's project so that 'ringmq' resolves to the
# installed package.
cp -r "$pkg/test" "$work/test"
node --test test/

# The TypeScript types, as a TypeScript user compiles against them.
npm install --no-audit --no-fund --no-save typescript@5 @types/node@20 >/dev/null
npx --no-install tsc --noEmit --strict --types node --module nodenext --moduleResolution nodenext \
  --target es2022 test/types.ts
echo "test-node: index.d.ts type-checks (tsc --strict)"

# The example, briefly.
cp "$root/examples/node/telemetry.js" "$work/telemetry.js"
node telemetry.js --seconds 2

# Lints of the Rust half.
cd "$root"
cargo clippy --manifest-path bindings/node/Cargo.toml --release -- -D warnings
cargo fmt --manifest-path bindings/node/Cargo.toml --check
echo "test-node: all passed"
