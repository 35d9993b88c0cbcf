"""Checks the end of a scale-out demo run: what the gateway (process A)
published, from its manifest, against what the dashboard (process B) saw,
from its report.

- every reading but the poison one was handled by the dashboard, once
  (with --at-least-once: at least once, the extra copies counted);
- each vehicle's readings were handled in the order published (with
  --at-least-once: first copies that JetStream had not delivered before);
- the poison reading was never handled and was dead-lettered once, after
  the topic's max attempts, and terminated in JetStream;
- nothing else was dead-lettered, nothing unknown was handled.

    python3 check.py MANIFEST REPORT [--at-least-once]

Exits 1, saying what is wrong, if anything is.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Set, Tuple


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("report")
    parser.add_argument("--at-least-once", action="store_true",
                        help="allow extra copies (a run across a NATS outage)")
    args = parser.parse_args()
    with open(args.manifest) as f:
        manifest: Dict[str, Any] = json.load(f)
    with open(args.report) as f:
        report: Dict[str, Any] = json.load(f)

    problems: List[str] = []
    poison: str = manifest["poison"]
    expected: Set[str] = {
        f"v{v}-{s}" for v, n in manifest["per_vehicle"].items() for s in range(int(n))
    }
    if len(expected) != manifest["published"]:
        problems.append(f"manifest: {manifest['published']} published, {len(expected)} listed")

    if not report.get("completed"):
        problems.append("the dashboard did not finish (timed out)")

    # Handled: each expected reading once (or at least once), in order per
    # vehicle.
    handled: List[Tuple[int, int, int]] = [(h[0], h[1], h[2]) for h in report["handled"]]
    copies: Dict[str, int] = {}
    last: Dict[int, int] = {}
    redelivered_first = 0
    for vehicle, seq, attempt in handled:
        name = f"v{vehicle}-{seq}"
        copies[name] = copies.get(name, 0) + 1
        if copies[name] > 1:
            continue
        if attempt > 1:
            # JetStream delivered it again (its first copy was lost on the
            # way): it may come after newer readings.
            redelivered_first += 1
            if not args.at_least_once:
                problems.append(f"{name} was first handled on attempt {attempt}")
            continue
        if vehicle in last and seq <= last[vehicle]:
            problems.append(f"vehicle {vehicle}: reading #{seq} handled after #{last[vehicle]}")
        last[vehicle] = seq
    unknown = sorted(set(copies) - expected)
    missing = sorted(expected - set(copies) - {poison})
    extra = sum(n - 1 for n in copies.values())
    if unknown:
        problems.append(f"handled readings never published: {unknown[:5]}")
    if missing:
        problems.append(f"{len(missing)} readings never handled, e.g. {missing[:5]}")
    if extra and not args.at_least_once:
        twice = [n for n, c in copies.items() if c > 1]
        problems.append(f"{extra} extra copies handled, e.g. {twice[:5]}")
    if poison in copies:
        problems.append(f"the poison reading {poison} was handled")

    # Dead letters: the poison one, once.
    dead: List[Dict[str, Any]] = report["dead"]
    poisoned = [d for d in dead if d["reading"] == poison]
    others = [d["reading"] for d in dead if d["reading"] != poison]
    if len(poisoned) != 1 and not (args.at_least_once and poisoned):
        problems.append(f"the poison reading {poison} was dead-lettered {len(poisoned)} times")
    if others:
        problems.append(f"other readings dead-lettered: {others[:5]}")
    attempts = poisoned[0]["attempts"] if poisoned else 0
    if poisoned and "cannot be parsed" not in (poisoned[0]["error"] or ""):
        problems.append(f"the dead letter's reason is {poisoned[0]['error']!r}")
    bridge = report["bridge"]
    if bridge["deadLettered"] < 1:
        problems.append("the dashboard's bridge terminated nothing in JetStream")
    # Each JetStream delivery became one local message: handled or dead.
    if bridge["imported"] != len(handled) + len(dead):
        problems.append(
            f"the bridge imported {bridge['imported']}, the dashboard handled "
            f"{len(handled)} and dead-lettered {len(dead)}"
        )

    if problems:
        print("check FAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    vehicles = len(manifest["per_vehicle"])
    if args.at_least_once:
        how = (
            f"at least once ({extra} extra copies), in order per vehicle but for "
            f"{redelivered_first} that JetStream delivered again (their first delivery lost)"
        )
    else:
        how = "once, in order per vehicle"
    print(
        f"check OK: {manifest['published']} readings of {vehicles} vehicles; the dashboard "
        f"handled each of the {len(expected) - 1} good ones {how}; "
        f"{poison} dead-lettered once after {attempts} attempts and terminated in JetStream"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
