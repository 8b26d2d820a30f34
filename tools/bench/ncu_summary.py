#!/usr/bin/env python3
"""Sums the kernel durations of an `ncu --csv --metrics gpu__time_duration.sum` report.

Usage: ncu_summary.py REPORT.csv [--top N] [--sequence N]
Prints, per kernel name (templates shortened), the launches, the total and the share of all
kernel time, largest first; with --sequence, the first N launches in order with their grid and
duration (one layer's kernels, to see where a step's time goes).
"""
import argparse
import csv
import re
import sys
from collections import defaultdict


def short(name):
    name = re.sub(r"\(.*\)$", "", name)  # argument list
    depth, out = 0, []
    for ch in name:  # drop template arguments
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("void ", "").strip()[:70]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sequence", type=int, default=0)
    a = ap.parse_args()
    rows = []
    with open(a.report, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # skip ncu's own messages
    for r in csv.DictReader(lines):
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = r.get("Metric Unit", "nsecond")
        v = float(r["Metric Value"].replace(",", ""))
        scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3}.get(unit, 1e-3)
        rows.append((short(r["Kernel Name"]), r.get("Grid Size", ""), v * scale))
    if not rows:
        sys.exit("no gpu__time_duration.sum rows in " + a.report)
    total = sum(r[2] for r in rows)
    by = defaultdict(lambda: [0, 0.0])
    for name, _, us in rows:
        by[name][0] += 1
        by[name][1] += us
    print(f"{len(rows)} launches, {total / 1e3:.2f} ms of kernel time")
    print(f"{'kernel':70s} {'n':>5s} {'ms':>9s} {'share':>6s} {'us each':>9s}")
    for name, (n, us) in sorted(by.items(), key=lambda kv: -kv[1][1])[: a.top]:
        print(f"{name:70s} {n:5d} {us / 1e3:9.3f} {100 * us / total:5.1f}% {us / n:9.1f}")
    for name, grid, us in rows[: a.sequence]:
        print(f"  {name:60s} {grid:>16s} {us:9.1f} us")


if __name__ == "__main__":
    main()
