#!/usr/bin/env bash
# Starts and stops a NATS server with JetStream for the ringmq-nats tests.
#
# Usage:
#   scripts/nats-server.sh start DIR [PORT]   start on 127.0.0.1 (a free port
#                                            unless PORT is given), store in
#                                            DIR/store; writes DIR/port, DIR/pid,
#                                            DIR/url; logs to DIR/server.log
#   scripts/nats-server.sh stop DIR           stop the server started in DIR
#                                            (only that PID) and wait for it
#
# Starting again with the same DIR and PORT resumes the same JetStream store
# (the tests restart a server this way).
# RINGMQ_NATS_MAX_PAYLOAD sets the server's max_payload (default 1 MiB).
# Installs the Debian package nats-server when the command is missing.
set -euo pipefail
# shellcheck source=scripts/service-lib.sh
. "$(dirname "$0")/service-lib.sh"

usage() {
  sed -n '2,15p' "$0" >&2
  exit 2
}

ensure_installed() {
  ensure_package nats-server 'command -v nats-server 2>/dev/null'
}

# Does something accept connections on 127.0.0.1:$1?
accepting() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(0.5)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    data = s.recv(7)
    sys.exit(0 if data.startswith(b"INFO") else 1)
except OSError:
    sys.exit(1)
PY
}

start() {
  local dir="$1" port="${2:-}"
  mkdir -p "$dir/store"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    echo "a server started in $dir is still running (pid $(cat "$dir/pid"))" >&2
    exit 1
  fi
  ensure_installed
  [ -n "$port" ] || port="$(free_port)"
  cat >"$dir/nats.conf" <<CONF
max_payload: ${RINGMQ_NATS_MAX_PAYLOAD:-1048576}
CONF
  nats-server -c "$dir/nats.conf" -a 127.0.0.1 -p "$port" -js -sd "$dir/store" \
    >>"$dir/server.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  echo "nats://127.0.0.1:$port" >"$dir/url"
  # Up to 20 s: the store is recovered before clients are accepted.
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "nats-server exited; its log:" >&2
      tail -n 20 "$dir/server.log" >&2
      exit 1
    fi
    if accepting "$port"; then
      echo "nats://127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  echo "nats-server (pid $pid) did not accept connections on port $port in 20 s" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
}

stop() {
  stop_started "$1" server
}

[ $# -ge 2 ] || usage
case "$1" in
  start) start "$2" "${3:-}" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
