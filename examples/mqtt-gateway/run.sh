#!/usr/bin/env bash
# The MQTT telemetry gateway example in one command: starts mosquitto on a
# free loopback port (scripts/mosquitto.sh: config and data in a temporary
# directory), runs the gateway and the simulated vehicles through e2e.py
# (live, offline while the gateway is stopped, a repeated reading), prints
# what happened and checks it, and stops mosquitto by its PID, also on
# failure or Ctrl-C.
#
# Usage: examples/mqtt-gateway/run.sh [e2e.py options: --vehicles 4
#        --readings 250 --rate 100 --offline-readings 50 --workdir DIR]
#
# Python: $PYTHON if set (it must import ringmq and paho.mqtt); else a
# virtual environment in examples/mqtt-gateway/.venv, made on the first run
# with `pip install ./bindings/python -r requirements.txt` (that compiles
# the binding: a few minutes once).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

python="${PYTHON:-}"
if [ -z "$python" ]; then
  venv="$here/.venv"
  if ! "$venv/bin/python" -c 'import ringmq, paho.mqtt' 2>/dev/null; then
    echo "== a virtual environment in $venv: pip install ./bindings/python -r requirements.txt"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$root/bindings/python" -r "$here/requirements.txt"
  fi
  python="$venv/bin/python"
fi
"$python" -c 'import ringmq, paho.mqtt' || {
  echo "run.sh: $python cannot import ringmq and paho.mqtt" >&2
  exit 1
}

broker_dir="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-mosquitto.XXXXXX")"
e2e_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  # e2e.py stops its gateway (by its PID) when it gets SIGTERM.
  if [ -n "$e2e_pid" ] && kill -0 "$e2e_pid" 2>/dev/null; then
    kill -TERM "$e2e_pid" 2>/dev/null || true
    wait "$e2e_pid" 2>/dev/null || true
  fi
  bash "$root/scripts/mosquitto.sh" stop "$broker_dir" || true
  rm -rf "$broker_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
port="$(bash "$root/scripts/mosquitto.sh" start "$broker_dir")"
echo "== mosquitto on 127.0.0.1:$port (pid $(cat "$broker_dir/pid"), config and data in $broker_dir)"
# In the background and waited for, so that a signal to this script runs
# the cleanup at once instead of after e2e.py ends.
"$python" "$here/e2e.py" --mqtt-port "$port" "$@" &
e2e_pid=$!
status=0
wait "$e2e_pid" || status=$?
e2e_pid=""
exit "$status"
