#!/usr/bin/env bash
# Peer benchmarks: lint, unit tests, and the quick smoke run (every case,
# short runs), whose JSON is then checked for a figure per case and whose
# PNG chart must exist. Run from anywhere; uses the default target dir.
set -euo pipefail
cd "$(dirname "$0")/.."

# The chart's text needs a TrueType font (Debian package).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy
fi

echo "== clippy"
cargo clippy -p ringmq-bench --no-deps --all-targets -- -D warnings
echo "== unit tests"
cargo test --release -p ringmq-bench
echo "== quick benchmark run"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo run --release -p ringmq-bench -- --quick --json "$out/quick.json" --png "$out/quick.png"

python3 - "$out/quick.json" "$out/quick.png" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))
cases = res["cases"]
assert len(cases) >= 60, f"only {len(cases)} cases"
for c in cases:
    name = f'{c["scenario"]} {c["payload_bytes"]} B {c["implementation"]}'
    assert "error" not in c, f"{name}: {c['error']}"
    if c["unit"] == "msgs/s":
        assert c["median"] > 0 and len(c["runs"]) == res["runs"], name
    else:
        assert 0 < c["p50_ns"] <= c["p99_ns"] <= c["p999_ns"], name
scen = {c["scenario"] for c in cases}
want = {"1p1c", "2p1c", "fanout", "batch", "pingpong", "push-latency-1k", "push-latency-sat", "push-subs", "headers", "delayed", "dedupe", "durable", "durable_latency", "durable_recovery", "durable_rss"}
assert want <= scen, f"missing scenarios: {want - scen}"
m, s = res["memory"], res["startup"]
assert m["added_after_creation_kib"] >= 0 and m["ring_bytes"] >= 1024 * 256, m
assert s["broker_and_topic_median_ns"] > 0, s
png = open(sys.argv[2], "rb").read(8)
assert png == b"\x89PNG\r\n\x1a\n", "chart is not a PNG"
print(f"bench smoke: {len(cases)} cases checked, memory +{m['added_after_creation_kib']} KiB, "
      f"start-up {s['broker_and_topic_median_ns'] / 1000:.1f} us")
PY

echo "== before/after comparison (smoke: this revision against itself, one round of pingpong)"
OUT="$out/compare" scripts/bench-compare.sh HEAD 1 pingpong | tee "$out/compare.txt"
for size in 64 256; do
  grep -q "^== pingpong, $size B" "$out/compare.txt"
done
grep -q "ringmq-raw / disruptor-busyspin p50 .*before .*x .*after .*x" "$out/compare.txt"
