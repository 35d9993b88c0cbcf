#!/usr/bin/env bash
# Builds the Python binding from the source tree into a fresh virtual
# environment, runs its tests and examples, and lints its Rust code.
# Usage: scripts/test-python.sh        (from anywhere; Python 3.9+ and Rust needed)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"

venv="$(mktemp -d "${TMPDIR:-/tmp}/ringmq-py.XXXXXX")"
trap 'rm -rf "$venv"' EXIT

echo "== venv in $venv"
"$python" -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "maturin>=1.5,<2" "pytest>=7" "pytest-timeout>=2" "mypy>=1.10"

echo "== pip install ./bindings/python"
python -m pip install --quiet ./bindings/python
python -c 'import ringmq; print("ringmq", ringmq.__version__, "from", ringmq.__file__)'

echo "== pytest"
# Run from the tests' directory so that the installed package, not the
# source tree, is imported.
(cd bindings/python && python -m pytest -p no:cacheprovider tests)

echo "== types: mypy stubtest against the built module, mypy --strict on the package and the examples"
# Run outside the source tree, so that the installed package (with its
# py.typed, stubs and _types.py) is what mypy reads.
(cd "$venv" && python -m mypy.stubtest ringmq)
(cd "$venv" && python -m mypy --strict --cache-dir "$venv/.mypy_cache" -p ringmq)
python -m mypy --strict --cache-dir "$venv/.mypy_cache" examples/python

echo "== examples"
timeout 120 python examples/python/telemetry.py --seconds 1
timeout 120 python examples/python/asyncio_consumer.py --count 500
timeout 120 python examples/python/typed_stats.py
timeout 120 python examples/python/asyncio_service.py --count 2000

echo "== cargo clippy / fmt (bindings/python)"
cargo clippy --quiet --manifest-path bindings/python/Cargo.toml -- -D warnings
cargo fmt --manifest-path bindings/python/Cargo.toml --check

echo "== python binding: all passed"
