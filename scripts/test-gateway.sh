#!/usr/bin/env bash
# Tests the MQTT telemetry gateway example (examples/mqtt-gateway) end to
# end against a real mosquitto (the Debian package, installed if missing):
# builds the Python binding into a fresh virtual environment as
# scripts/test-python.sh does (`pip install ./bindings/python`, reusing the
# cargo build it made), installs paho-mqtt 2.x from PyPI by name
# (examples/mqtt-gateway/requirements.txt), runs mypy --strict on the
# example, then its one command, examples/mqtt-gateway/run.sh, which starts
# mosquitto on a free loopback port, runs the gateway and the vehicles and
# checks SQLite, the dead-letter topic, the alerts' order and /metrics
# (examples/mqtt-gateway/e2e.py). Last, run.sh must stop its mosquitto (by
# PID) when it succeeds and when it fails.
# Usage: scripts/test-gateway.sh        (from anywhere; Python 3.9+ and Rust)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
python="${PYTHON:-python3}"

dir="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-gateway-test.XXXXXX")"
trap 'rm -rf "$dir"' EXIT

echo "== venv in $dir/venv"
"$python" -m venv "$dir/venv"
# shellcheck disable=SC1091
. "$dir/venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "maturin>=1.5,<2" "mypy>=1.10"

echo "== pip install ./bindings/python -r examples/mqtt-gateway/requirements.txt (paho-mqtt 2.x)"
python -m pip install --quiet ./bindings/python -r examples/mqtt-gateway/requirements.txt
python -c 'import ringmq, paho.mqtt; print("ringmq", ringmq.__version__, "paho-mqtt", paho.mqtt.__version__)'

echo "== mypy --strict examples/mqtt-gateway"
python -m mypy --strict --cache-dir "$dir/.mypy_cache" examples/mqtt-gateway

# Is the mosquitto that run.sh reported (its "pid N" line) still running?
mosquitto_left() {
  local pid
  pid="$(sed -n 's/^== mosquitto on .* (pid \([0-9]*\),.*/\1/p' "$1")"
  [ -n "$pid" ] || { echo "run.sh did not report its mosquitto's pid" >&2; return 0; }
  kill -0 "$pid" 2>/dev/null
}

echo "== examples/mqtt-gateway/run.sh (mosquitto, gateway, vehicles, checks)"
PYTHON="$dir/venv/bin/python" timeout 300 bash examples/mqtt-gateway/run.sh \
  --vehicles 5 --readings 200 --rate 100 --offline-readings 40 | tee "$dir/run.out"
if mosquitto_left "$dir/run.out"; then
  echo "run.sh left its mosquitto running" >&2
  exit 1
fi

echo "== run.sh failing (a bad option) still stops its mosquitto"
if PYTHON="$dir/venv/bin/python" bash examples/mqtt-gateway/run.sh --readings 1 >"$dir/fail.out" 2>&1; then
  cat "$dir/fail.out"
  echo "run.sh --readings 1 should have failed" >&2
  exit 1
fi
if mosquitto_left "$dir/fail.out"; then
  cat "$dir/fail.out"
  echo "run.sh left its mosquitto running after failing" >&2
  exit 1
fi
echo "ok: it failed and its mosquitto is gone"

echo "== mqtt gateway: all passed"
