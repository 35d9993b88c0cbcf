#!/usr/bin/env bash
# Starts and stops a mosquitto MQTT broker for the MQTT gateway example
# (examples/mqtt-gateway) and its test (scripts/test-gateway.sh).
#
# Usage:
#   scripts/mosquitto.sh start DIR [PORT]   start on 127.0.0.1 (a free port
#                                          unless PORT is given), config in
#                                          DIR/mosquitto.conf, persistence in
#                                          DIR/data; writes DIR/port, DIR/pid;
#                                          logs to DIR/mosquitto.log; prints
#                                          the port
#   scripts/mosquitto.sh stop DIR           stop the broker started in DIR
#                                          (only that PID) and wait for it
#
# Starting again with the same DIR and PORT resumes the same persistence
# file (sessions and queued QoS 1 messages survive a restart).
# Installs the Debian package mosquitto when the command is missing.
set -euo pipefail
# shellcheck source=scripts/service-lib.sh
. "$(dirname "$0")/service-lib.sh"

usage() {
  sed -n '2,17p' "$0" >&2
  exit 2
}

mosquitto_bin() {
  command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true
}

ensure_installed() {
  ensure_package mosquitto 'mosquitto_bin'
}

# Does something accept TCP connections on 127.0.0.1:$1? (MQTT sends no
# greeting, so a connect is the test; the log line says it is ours.)
accepting() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    sys.exit(0)
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

start() {
  local dir="$1" port="${2:-}"
  mkdir -p "$dir/data"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "a broker started in $dir is still running (pid $(cat "$dir/pid"))" >&2
    exit 1
  fi
  ensure_installed
  [ -n "$port" ] || port="$(free_port)"
  # `user`: run as whoever starts it (as root, mosquitto would otherwise
  # switch to the user "mosquitto", who cannot write into DIR).
  # max_queued_messages 0: no limit on what a persistent session keeps for a
  # subscriber that is away (the default, 1000, drops QoS 1 messages beyond).
  cat >"$dir/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
user $(id -un)
persistence true
persistence_location $dir/data/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 20
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
log_timestamp_format %Y-%m-%dT%H:%M:%S
CONF
  # In a session of its own: a Ctrl-C in the terminal goes to the scripts,
  # whose clean-up stops this broker by its PID (mosquitto would otherwise
  # take the SIGINT itself and vanish under a running test). setsid execs
  # mosquitto (a background job is no process group leader), so $! is its PID.
  setsid "$(mosquitto_bin)" -c "$dir/mosquitto.conf" >>"$dir/mosquitto.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "mosquitto exited; its log:" >&2
      tail -n 20 "$dir/mosquitto.log" >&2
      rm -f "$dir/pid"
      exit 1
    fi
    if accepting "$port" && grep -q "listen socket on port $port\." "$dir/mosquitto.log"; then
      echo "$port"
      return
    fi
    sleep 0.1
  done
  echo "mosquitto (pid $pid) did not accept connections on port $port in 10 s" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  stop_started "$1" broker
}

[ $# -ge 2 ] || usage
case "$1" in
  start) start "$2" "${3:-}" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
