#!/usr/bin/env bash
# Builds everything and runs every test: Rust, C, Python, Node, the NATS
# bridge against a real nats-server and the MQTT gateway example against a
# real mosquitto (both installed from Debian if missing), the benchmarks'
# smoke mode, the installable artifacts (built, then installed without
# cargo), and the code blocks of the docs (last: it reuses
# what the other parts built). Installs what the tests need on a fresh Debian
# machine that has Rust, Python 3 and Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."

parts=(rust c python node nats gateway package bench docs)
failed=()
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for p in "${parts[@]}"; do
  script="scripts/test-$p.sh"
  [ -f "$script" ] || continue
  echo
  echo "################ $p ################"
  start=$(date +%s)
  if bash "$script" 2>&1 | tee "$logs/$p.log"; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    echo "## $p: ok ($(( $(date +%s) - start )) s)"
  else
    echo "## $p: FAILED ($(( $(date +%s) - start )) s)"
    failed+=("$p")
  fi
done
echo
if [ ${#failed[@]} -ne 0 ]; then
  # The end of each failed part's output again, so that a log cut to its
  # tail still shows why.
  for p in "${failed[@]}"; do
    echo "################ $p: the last 60 lines ################"
    tail -n 60 "$logs/$p.log"
  done
  echo "failed parts: ${failed[*]}"
  exit 1
fi
echo "all parts passed"
