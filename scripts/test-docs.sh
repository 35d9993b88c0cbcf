#!/usr/bin/env bash
# Runs every fenced code block of README.md and docs/*.md
# (tools/docs-check/check_docs.py says how each language runs and how a
# block is marked as not runnable). Builds what the blocks need, reusing
# earlier builds: the release C library, the Node addon (bindings/node,
# ringmq.node) and the Python binding, installed into a fresh virtual
# environment (RINGMQ_DOCS_PYTHON=path/to/python uses one that has ringmq
# already). Usage (from anywhere): scripts/test-docs.sh [--only docs/C.md]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

for tool in cargo cc node python3; do
  command -v "$tool" >/dev/null || { echo "test-docs: $tool is not installed" >&2; exit 1; }
done

echo "== libringmq (release; nothing to do if built)"
cargo build --release -q -p ringmq-ffi

echo "== the Node addon (bindings/node/ringmq.node; nothing to do if built)"
(cd bindings/node && node scripts/build.js)

python="${RINGMQ_DOCS_PYTHON:-}"
if [ -z "$python" ]; then
  venv="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-docs-py.XXXXXX")"
  trap 'rm -rf "$venv"' EXIT
  echo "== the Python binding into a fresh venv (pip install ./bindings/python)"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check ./bindings/python
  python="$venv/bin/python"
fi

echo "== the blocks"
python3 tools/docs-check/check_docs.py --python "$python" "$@"
