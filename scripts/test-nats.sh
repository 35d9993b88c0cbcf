#!/usr/bin/env bash
# Runs the ringmq-nats tests against a real NATS server with JetStream:
# starts one (scripts/nats-server.sh), runs `cargo test -p ringmq-nats` with
# RINGMQ_NATS_URL set, and stops it on exit. Extra arguments go to cargo
# test (e.g. a test name, or `-- --nocapture`). Then runs the bridge
# benchmark's --quick mode against the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
dir="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-nats.XXXXXX")"
cleanup() {
  scripts/nats-server.sh stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
RINGMQ_NATS_URL="$(scripts/nats-server.sh start "$dir")"
export RINGMQ_NATS_URL
# The restart test stops and starts the server through these.
export RINGMQ_NATS_DIR="$dir"
export RINGMQ_NATS_SCRIPT="$PWD/scripts/nats-server.sh"
echo "NATS at $RINGMQ_NATS_URL"
cargo test -p ringmq-nats "$@"
# The bridge benchmark, short, against the same server: it checks its
# counts (every message once), so it fails if the bridge loses or repeats one.
# A debug build (the one the tests made): its figures are not the ones to quote.
echo "NATS bridge benchmark (--quick)"
cargo run -q -p ringmq-nats --example bench -- --quick
