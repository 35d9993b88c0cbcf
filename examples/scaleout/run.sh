#!/usr/bin/env bash
# The scale-out demo: two gateway processes in two languages exchanging
# through one NATS JetStream server.
#
#   A  examples/scaleout/gateway.py  (Python) producers -> RingMQ topic
#      "telemetry" (durable, keyed by vehicle) -> bridge export -> JetStream
#      stream FLEET
#   B  examples/scaleout/dashboard.js (Node)  JetStream stream FLEET ->
#      bridge import -> RingMQ topic "telemetry" -> ordered handlers; a
#      poison reading ends in B's dead-letter topic; live stats
#
# Starts nats-server (scripts/nats-server.sh: a free loopback port, a store
# in a temporary directory; it installs the Debian package when missing),
# builds and installs the Python and Node bindings from this tree (as
# scripts/test-python.sh and scripts/test-node.sh do, into a temporary
# virtual environment and npm project), runs both processes at once, then
# checks the end (examples/scaleout/check.py): every reading handled once
# by B, in order per vehicle, the poison one dead-lettered. Exits non-zero
# if anything is off; stops the server (by its PID) and the processes and
# removes its temporary directory in any case.
#
# Usage (from anywhere):
#   examples/scaleout/run.sh [--seconds N] [--outage]
#     --seconds N  how long A produces (default 3)
#     --outage     stops the NATS server for 2 s in the middle and starts it
#                  again on the same port and store; the check then allows
#                  extra copies in B (imports are at least once)
# Environment: PYTHON (default python3); RINGMQ_SCALEOUT_PYTHON, a Python
# with the ringmq package already installed, and RINGMQ_SCALEOUT_NODE, a
# directory whose node_modules has ringmq built, skip the installs
# (scripts/test-nats.sh passes the ones it made).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# The bindings build in their own target directories (bindings/*/target),
# as in the test scripts.
unset CARGO_TARGET_DIR

unset RINGMQ_SCALEOUT_T0
seconds=3
outage=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --outage) outage=1; shift ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
  esac
done

# A line of this script's; once both processes run, on their clock.
say() {
  if [ -n "${RINGMQ_SCALEOUT_T0:-}" ]; then
    printf '[run]         %4.1fs %s\n' "$(awk -v now="$(date +%s.%N)" -v t0="$RINGMQ_SCALEOUT_T0" \
      'BEGIN { print now - t0 }')" "$*"
  else
    printf '[run]         %s\n' "$*"
  fi
}

work="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-scaleout.XXXXXX")"
gateway_pid=""
dashboard_pid=""
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local rc=$?
  for pid in $gateway_pid $dashboard_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  "$root/scripts/nats-server.sh" stop "$work/nats" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a build step with its output in a log, shown only if it fails.
quietly() {
  if ! "$@" >>"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "failed: $*" >&2
    exit 1
  fi
}

py="${RINGMQ_SCALEOUT_PYTHON:-}"
if [ -z "$py" ]; then
  say "installing the Python binding (pip install ./bindings/python into a fresh venv)"
  quietly "${PYTHON:-python3}" -m venv "$work/venv"
  py="$work/venv/bin/python"
  quietly "$py" -m pip install --upgrade pip
  quietly "$py" -m pip install "maturin>=1.5,<2"
  (cd "$root" && quietly "$py" -m pip install ./bindings/python)
fi
node_dir="${RINGMQ_SCALEOUT_NODE:-}"
if [ -z "$node_dir" ]; then
  say "installing the Node binding (npm install of bindings/node into a fresh project)"
  node_dir="$work/node"
  mkdir -p "$node_dir"
  (
    cd "$node_dir"
    quietly npm init -y
    # As scripts/test-node.sh: the install script must build the addon
    # (cargo: quick when it is up to date), not find an older one.
    rm -f "$root/bindings/node/ringmq.node"
    quietly npm install --no-audit --no-fund --foreground-scripts "$root/bindings/node"
    # As scripts/test-node.sh: some npm versions hold back install scripts.
    [ -f "$root/bindings/node/ringmq.node" ] || quietly npm rebuild --foreground-scripts ringmq
  )
fi
# Node resolves 'ringmq' from the script's directory: run a copy there.
cp "$here/dashboard.js" "$node_dir/scaleout-dashboard.js"

url="$("$root/scripts/nats-server.sh" start "$work/nats")"
say "nats-server with JetStream at $url (pid $(cat "$work/nats/pid")), store in $work/nats/store"

# One clock for both processes' lines: seconds since now.
RINGMQ_SCALEOUT_T0="$(date +%s.%N)"
export RINGMQ_SCALEOUT_T0
manifest="$work/manifest.json"
report="$work/report.json"
(cd "$node_dir" && exec node scaleout-dashboard.js --nats "$url" --manifest "$manifest" \
  --report "$report" --timeout $((seconds + 90))) &
dashboard_pid=$!
"$py" "$here/gateway.py" --nats "$url" --data-dir "$work/gateway-data" --manifest "$manifest" \
  --seconds "$seconds" &
gateway_pid=$!

if [ "$outage" = 1 ]; then
  sleep "$(awk -v s="$seconds" 'BEGIN { print s / 2 }')"
  say "stopping nats-server, starting it again 2 s after it exited (A buffers in its durable topic, B waits)"
  "$root/scripts/nats-server.sh" stop "$work/nats"
  sleep 2
  "$root/scripts/nats-server.sh" start "$work/nats" "$(cat "$work/nats/port")" >/dev/null
  say "nats-server is back on the same port and store (pid $(cat "$work/nats/pid"))"
fi

status=0
wait "$gateway_pid" || { status=$?; say "the gateway failed (exit $status)"; }
gateway_pid=""
wait "$dashboard_pid" || { status=$?; say "the dashboard failed (exit $status)"; }
dashboard_pid=""
if [ ! -f "$manifest" ] || [ ! -f "$report" ]; then
  say "no manifest or report: nothing to check"
  exit 1
fi
check=(python3 "$here/check.py" "$manifest" "$report")
[ "$outage" = 1 ] && check+=(--at-least-once)
if ! "${check[@]}"; then
  exit 1
fi
exit "$status"
