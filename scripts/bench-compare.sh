#!/usr/bin/env bash
# Before and after in one sitting: today's benchmark harness built against
# the core of an older revision and against the working tree, the two run
# alternately, scenario by scenario, then compared (bench/compare.py).
#
#   scripts/bench-compare.sh REV [ROUNDS] [SCENARIO...]
#
# REV: any git revision whose core the harness still compiles against.
# ROUNDS (default 4): alternations; each runs every scenario 3 times per
# side, the two sides in turn (before first in odd rounds, after first in
# even ones, so that a drift of the machine's state favours neither).
# SCENARIOs (default 1p1c 2p1c batch pingpong fanout): as --scenario takes.
# The JSON of every run is kept in $OUT (default target/bench-compare),
# replacing the before-*/after-* files of an earlier comparison there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

if [ $# -lt 1 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
rev="$1"
rounds="${2:-4}"
shift $(($# >= 2 ? 2 : 1))
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(1p1c 2p1c batch pingpong fanout)
case "$rounds" in '' | *[!0-9]* | 0)
  echo "ROUNDS must be a positive whole number, not '$rounds'" >&2
  exit 2
  ;;
esac
commit="$(git rev-parse --verify --quiet "$rev^{commit}")" || {
  echo "no such revision: $rev" >&2
  exit 2
}

out="${OUT:-$root/target/bench-compare}"
work="$(mktemp -d)"
cleanup() {
  git -C "$root" worktree remove --force "$work/before" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the harness against ${commit:0:12}'s core"
git worktree add --quiet --detach "$work/before" "$commit"
rm -rf "$work/before/bench"
mkdir "$work/before/bench"
(cd bench && tar --exclude=./results -cf - .) | (cd "$work/before/bench" && tar -xf -)
# A target directory of its own: in a shared one, cargo takes the two
# checkouts' packages (same names) for one another and may keep either
# side's build for both.
if ! (cd "$work/before" && CARGO_TARGET_DIR="$work/target" cargo build --quiet --release -p ringmq-bench); then
  echo "today's harness does not compile against ${commit:0:12}'s core: pick a later revision" >&2
  exit 1
fi
cp "$work/target/release/ringmq-bench" "$work/before.bin"
echo "== the harness against the working tree"
cargo build --quiet --release -p ringmq-bench
cp target/release/ringmq-bench "$work/after.bin"

mkdir -p "$out"
# Only this script's own results from an earlier comparison go.
rm -f "$out"/before-*.json "$out"/after-*.json
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then sides=(before after); else sides=(after before); fi
  for sc in "${scenarios[@]}"; do
    for side in "${sides[@]}"; do
      echo "round $r/$rounds: $sc, $side (load $(cut -d' ' -f1 /proc/loadavg))"
      "$work/$side.bin" --scenario "$sc" --runs 3 \
        --json "$out/$side-$sc-$r.json" --png "$work/chart.png" >"$work/log" 2>&1 || {
        cat "$work/log" >&2
        exit 1
      }
    done
  done
done
python3 bench/compare.py "$out" "${commit:0:12}"
