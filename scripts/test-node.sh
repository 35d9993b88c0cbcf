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

# The TypeScript types, as a TypeScript user compiles against them: a fresh
# project installs the package as npm publishes it (a tarball; its install
# script skipped, compiling needs no addon) and typescript by name, nothing
# else: @types/node, which index.d.ts needs, must come as the package's
# declared peer dependency. Then tsc --strict (with
# exactOptionalPropertyTypes) on the type tests (test/types.ts uses every
# class and method, test/types_refused.ts what must not compile) and on
# each TypeScript example, which are also compiled to JavaScript for the
# run below.
types="$work/types"
mkdir "$types"
(
  cd "$types"
  npm init -y >/dev/null
  tarball="$(cd "$pkg" && npm pack --silent --pack-destination "$types")"
  npm install --no-audit --no-fund --ignore-scripts "./$tarball" typescript@5 >/dev/null
  if [ ! -f node_modules/@types/node/package.json ]; then
    echo "test-node: installing the package did not bring @types/node (its peer dependency)" >&2
    exit 1
  fi
  cp "$work"/test/*.ts "$root"/examples/node/*.ts .
  flags=(--strict --exactOptionalPropertyTypes --module nodenext --moduleResolution nodenext --target es2022)
  npx --no-install tsc --noEmit "${flags[@]}" types.ts types_refused.ts
  examples=()
  for ex in "$root"/examples/node/*.ts; do
    examples+=("$(basename "$ex")")
    npx --no-install tsc --noEmit "${flags[@]}" "$(basename "$ex")"
  done
  npx --no-install tsc "${flags[@]}" --outDir "$work/ts-out" "${examples[@]}"
)
echo "test-node: index.d.ts and examples/node/*.ts type-check (tsc --strict); @types/node came as a peer"

# The examples, briefly (the TypeScript ones as compiled above).
cp "$root/examples/node/telemetry.js" "$work/telemetry.js"
node telemetry.js --seconds 2
for js in "$work"/ts-out/*.js; do
  node "$js"
done

# The benchmarks, a smoke run from the user's project (every case checks
# that each message arrived; the figures are not checked: a loaded machine
# misses the targets).
cp -r "$pkg/bench" "$work/bench"
node bench/shared.js --quick
node bench/bench.js --runs 1 --scale 0.05

# Lints of the Rust half.
cd "$root"
cargo clippy --manifest-path bindings/node/Cargo.toml --release -- -D warnings
cargo fmt --manifest-path bindings/node/Cargo.toml --check
echo "test-node: all passed"
