#!/usr/bin/env bash
# Runs the NATS bridge's tests against a real NATS server with JetStream:
# starts one (scripts/nats-server.sh) and, with RINGMQ_NATS_URL set, runs
# - rust:   `cargo test -p ringmq-nats` (extra arguments go to it, e.g. a
#           test name, or `-- --nocapture`), then the bridge benchmark's
#           --quick mode;
# - c:      tests/c/test_nats.c against the release libringmq (the `nats`
#           feature of ringmq-ffi is on by default), -Wall -Wextra -Werror,
#           plain and under ASan+UBSan;
# - python: bindings/python/tests/test_nats.py, after `pip install
#           ./bindings/python` into a fresh virtual environment;
# - node:   bindings/node/test/nats.test.js, after `npm install` of the
#           package into a fresh project;
# - scaleout: the scale-out demo, examples/scaleout/run.sh (a Python gateway
#           and a Node dashboard through one nats-server of its own, a few
#           seconds of traffic, its end checked), once as is and once with
#           the server stopped and started again in the middle (--outage);
#           it reuses the virtual environment and the npm project of the
#           python and node parts when they ran, else installs its own;
# and stops the server on exit. RINGMQ_NATS_PARTS chooses parts (default
# "rust c python node scaleout"). As in scripts/test-python.sh and test-node.sh, the
# bindings build in their own target directories (bindings/*/target), so a
# CARGO_TARGET_DIR set for the workspace is not used for them.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
parts="${RINGMQ_NATS_PARTS:-rust c python node scaleout}"
want() { [[ " $parts " == *" $1 "* ]]; }
step() { printf '\n== %s\n' "$*"; }

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

if want rust; then
  step "cargo test -p ringmq-nats"
  cargo test -p ringmq-nats "$@"
  # The bridge benchmark, short, against the same server: it checks its
  # counts (every message once), so it fails if the bridge loses or repeats one.
  # A debug build (the one the tests made): its figures are not the ones to quote.
  step "NATS bridge benchmark (--quick)"
  cargo run -q -p ringmq-nats --example bench -- --quick
fi

if want c; then
  step "C: tests/c/test_nats.c against the release libringmq"
  cargo build --release -p ringmq-ffi
  target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  lib="$target_dir/release"
  native_libs="-lpthread -ldl -lm"
  cflags=(-std=c11 -Wall -Wextra -Werror -pthread -g -Iinclude)
  # shellcheck disable=SC2086
  cc "${cflags[@]}" -O1 tests/c/test_nats.c "$lib/libringmq.a" $native_libs -o "$dir/test_nats"
  "$dir/test_nats"
  step "C: tests/c/test_nats.c under AddressSanitizer + UndefinedBehaviorSanitizer"
  # shellcheck disable=SC2086
  cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    tests/c/test_nats.c "$lib/libringmq.a" $native_libs -o "$dir/test_nats_asan"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/test_nats_asan"
fi

if want python; then
  step "Python: pip install ./bindings/python; pytest tests/test_nats.py"
  (
    unset CARGO_TARGET_DIR
    "${PYTHON:-python3}" -m venv "$dir/venv"
    # shellcheck disable=SC1091
    . "$dir/venv/bin/activate"
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet "maturin>=1.5,<2" "pytest>=7" "pytest-timeout>=2"
    python -m pip install --quiet ./bindings/python
    # From the tests' directory, so that the installed package is imported.
    cd bindings/python
    python -m pytest -p no:cacheprovider -v tests/test_nats.py
  )
fi

if want node; then
  step "Node: npm install of bindings/node; node --test test/nats.test.js"
  (
    unset CARGO_TARGET_DIR
    mkdir "$dir/node"
    cd "$dir/node"
    npm init -y >/dev/null
    # As scripts/test-node.sh: the install script must build the addon.
    rm -f "$root/bindings/node/ringmq.node"
    npm install --no-audit --no-fund --foreground-scripts "$root/bindings/node"
    if [ ! -f "$root/bindings/node/ringmq.node" ]; then
      npm rebuild --foreground-scripts ringmq
    fi
    cp "$root/bindings/node/test/nats.test.js" .
    node --test nats.test.js
  )
fi

if want scaleout; then
  step "the scale-out demo: examples/scaleout/run.sh"
  scaleout_env=()
  if [ -x "$dir/venv/bin/python" ]; then
    scaleout_env+=("RINGMQ_SCALEOUT_PYTHON=$dir/venv/bin/python")
  fi
  if [ -d "$dir/node/node_modules/ringmq" ]; then
    scaleout_env+=("RINGMQ_SCALEOUT_NODE=$dir/node")
  fi
  env ${scaleout_env[@]+"${scaleout_env[@]}"} timeout 900 examples/scaleout/run.sh --seconds 3
  step "the scale-out demo across a NATS outage: examples/scaleout/run.sh --outage"
  env ${scaleout_env[@]+"${scaleout_env[@]}"} timeout 900 examples/scaleout/run.sh --seconds 4 --outage
fi

echo
echo "NATS bridge ($parts): all passed"
