# Shared by the scripts that start a real service for the tests
# (nats-server.sh, mosquitto.sh): sourced, not run.

# ensure_package PACKAGE FOUND_CMD: installs the Debian package PACKAGE
# unless FOUND_CMD (a shell command that prints the program's path) finds
# its program.
ensure_package() {
  local package="$1" found="$2"
  if [ -n "$(eval "$found")" ]; then
    return
  fi
  echo "$package not found: installing the Debian package" >&2
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
  [ -n "$(eval "$found")" ] || {
    echo "$package still missing after installing" >&2
    exit 1
  }
}

# A TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# stop_started DIR WHAT: stops the process whose PID is in DIR/pid (only
# that PID: TERM, then KILL after 10 s) and waits for it to be gone. It was
# started by another invocation of the script, so it is not this shell's
# child: poll, not wait.
stop_started() {
  local dir="$1" what="$2"
  [ -f "$dir/pid" ] || { echo "no $what started in $dir" >&2; return 0; }
  local pid
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
  fi
  rm -f "$dir/pid"
}
