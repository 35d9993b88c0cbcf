#!/usr/bin/env bash
# Builds everything and runs every test: Rust, C, Python, Node, and the
# benchmarks' smoke mode. Installs what the tests need on a fresh Debian
# machine that has Rust, Python 3 and Node.js.
set -euo pipefail
cd "$(dirname "$0")/.."

parts=(rust c python node bench)
failed=()
for p in "${parts[@]}"; do
  script="scripts/test-$p.sh"
  [ -f "$script" ] || continue
  echo
  echo "################ $p ################"
  start=$(date +%s)
  if bash "$script"; then
    echo "## $p: ok ($(( $(date +%s) - start )) s)"
  else
    echo "## $p: FAILED ($(( $(date +%s) - start )) s)"
    failed+=("$p")
  fi
done
echo
if [ ${#failed[@]} -ne 0 ]; then
  echo "failed parts: ${failed[*]}"
  exit 1
fi
echo "all parts passed"
