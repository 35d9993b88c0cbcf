#!/usr/bin/env bash
# Rust: formatting, lints, unit and integration tests (the stress tests at
# full size in release), loom models, and a short run of the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (debug: every test, stress tests at reduced size)"
cargo test --workspace

echo "== cargo test --release (stress and push tests at full size: 4 x 1,000,000)"
RINGMQ_MODEL_CASES=5000 cargo test --release -p ringmq-core --test stress --test push --test push_churn --test model --test v2_stress

echo "== loom models (bounded preemptions)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test --release -p ringmq-core --test loom
echo "== loom models inside the crate (flow control, key places)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test --release -p ringmq-core --lib loom

echo "== the main demo, briefly"
cargo run --release -q -p ringmq-examples --bin telemetry -- --duration 2 --rate 100000
echo "== trace context example (a traceparent carried across two handlers)"
cargo run --release -q -p ringmq-examples --bin trace
