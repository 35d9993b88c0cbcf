#!/usr/bin/env python3
"""Before/after tables from the JSON of scripts/bench-compare.sh.

usage: bench/compare.py DIR [LABEL] [--all]

DIR holds before-SCENARIO-ROUND.json and after-SCENARIO-ROUND.json, each a
ringmq-bench result. For every scenario and payload size it prints each
implementation's median over all runs of a side, and RingMQ's ratio to each
peer: the median of per-run ratios, run r of RingMQ against run r of the
peer in the same result file (an interleaved pass, so both saw the same
state of the machine). Throughput ratios above 1 mean RingMQ is faster;
latency ratios (p50) below 1 mean RingMQ is lower. Ratios are printed
against the peers the performance targets name (the disruptor BusySpin,
crossbeam-channel, rtrb), or every peer with --all.
"""

import collections
import glob
import json
import os
import statistics
import sys

SIDES = ("before", "after")
TARGET_PEERS = ("disruptor-busyspin", "crossbeam-channel", "rtrb")


def load(d):
    values = collections.defaultdict(list)  # (side, sc, size, impl) -> runs
    ratios = collections.defaultdict(list)  # (side, sc, size, rm, peer) -> ratios
    unit = {}
    files = sorted(glob.glob(os.path.join(d, "*.json")))
    if not files:
        sys.exit(f"no result files in {d}")
    for f in files:
        side = os.path.basename(f).split("-")[0]
        if side not in SIDES:
            continue
        by = collections.defaultdict(dict)
        for c in json.load(open(f))["cases"]:
            if "error" in c:
                sys.exit(f"{f}: {c['implementation']}: {c['error']}")
            key = (c["scenario"], c["payload_bytes"])
            by[key][c["implementation"]] = c
            unit[key] = c["unit"]
        for (sc, size), impls in by.items():
            for name, c in impls.items():
                runs = c["runs"] if "runs" in c else c["runs_p50_p99_p999_ns"]
                values[(side, sc, size, name)] += runs
            for rm, c in impls.items():
                if not rm.startswith("ringmq"):
                    continue
                for peer, p in impls.items():
                    if peer.startswith("ringmq"):
                        continue
                    pairs = zip(headline(c), headline(p))
                    ratios[(side, sc, size, rm, peer)] += [a / b for a, b in pairs]
    return values, ratios, unit


def headline(case):
    """A case's figure of each run that ratios compare: its rate, or the
    p50 of a latency case."""
    if "runs" in case:
        return case["runs"]
    return [r[0] for r in case["runs_p50_p99_p999_ns"]]


def med(v, i=None):
    return statistics.median(v if i is None else [x[i] for x in v])


def main():
    every = "--all" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--all"]
    if not args:
        sys.exit(__doc__)
    d = args[0]
    label = args[1] if len(args) > 1 else "before"
    values, ratios, unit = load(d)
    for side in SIDES:
        if not any(k[0] == side for k in values):
            sys.exit(f"no '{side}' results in {d}")
    print(f"before = {label}, after = the working tree; medians of every run of a side")
    for sc, size in sorted(unit, key=lambda k: (k[0], k[1])):
        names = sorted({k[3] for k in values if k[1:3] == (sc, size)},
                       key=lambda n: (not n.startswith("ringmq"), n))
        lat = unit[(sc, size)] != "msgs/s"
        print(f"\n== {sc}, {size} B ({'p50 / p99 ns' if lat else 'M msgs/s'})")
        for n in names:
            row = []
            for side in SIDES:
                v = values.get((side, sc, size, n))
                if not v:
                    row.append(f"{'-':>15}")
                elif lat:
                    row.append(f"{med(v, 0):>7.0f} /{med(v, 1):>6.0f}")
                else:
                    row.append(f"{med(v) / 1e6:>15.2f}")
            runs = len(values.get(("after", sc, size, n), []))
            print(f"  {n:26} before {row[0]}   after {row[1]}   ({runs} runs)")
        for rm in (n for n in names if n.startswith("ringmq")):
            for peer in (n for n in names if not n.startswith("ringmq")):
                if not every and peer not in TARGET_PEERS:
                    continue
                b = ratios.get(("before", sc, size, rm, peer))
                a = ratios.get(("after", sc, size, rm, peer))
                if a or b:
                    fb = f"{med(b):.2f}x" if b else "-"
                    fa = f"{med(a):.2f}x" if a else "-"
                    what = "p50" if lat else ""
                    print(f"  {rm + ' / ' + peer + ' ' + what:48} before {fb:>7}   after {fa:>7}")


if __name__ == "__main__":
    main()
