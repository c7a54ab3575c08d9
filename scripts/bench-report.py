#!/usr/bin/env python3
"""Runs the Foundation interpreter benchmarks and prints them as a Markdown table.

    scripts/bench-report.py [--runs N] [--sample-count N] [--max-time SECS] [--raw FILE]
                            [--input FILE ...] [FILTER ...]

It runs `cargo bench -p waggle-vm --bench interpreter -- --color never --sample-count N`,
reads divan's median time of each `workload::<name>::{native,waggle_interpreter,
rbpf_interpreter}` bench, and prints one row per workload: the three medians in ns, Waggle and
rbpf as multiples of native, and Waggle's speedup over rbpf (rbpf time / Waggle time), then the
geometric mean of each ratio and whether the issue's targets hold (Waggle geomean <= 40x native;
Waggle faster than rbpf on every workload).

With --runs N (default 3) it runs the bench binary N times and takes, for each bench, the median
of the N medians: a process's code and data placement can shift an interpreter's time by a
large factor for a whole run, which repeated processes expose and the median discounts.
--input parses saved divan outputs instead of running cargo; --raw saves what it ran.
Python 3 standard library only.
"""

import argparse
import math
import os
import re
import subprocess
import sys

ENGINES = ("native", "waggle_interpreter", "rbpf_interpreter")
# Report order; workloads not listed here follow in the order divan printed them.
ORDER = (
    "call_overhead",
    "fibonacci",
    "log2",
    "popcount",
    "switch64",
    "linear_search",
    "prime",
    "checksum",
    "memcpy",
    "strcmp",
    "helper_calls",
)
TREE_CHARS = set("│├╰─ ")
UNITS_NS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "μs": 1e3, "ms": 1e6, "s": 1e9}
GEOMEAN_TARGET = 40.0


def parse_time(text):
    """'1.586 ns' -> 1.586 (in ns); None if the cell holds no time."""
    m = re.match(r"^\s*([0-9.]+)\s*(ps|ns|µs|μs|us|ms|s)\s*$", text)
    if not m:
        return None
    return float(m.group(1)) * UNITS_NS[m.group(2)]


def parse_divan(output):
    """Returns {bench path (without the binary name): median ns} from divan's tree output."""
    medians = {}
    path = []
    for line in output.splitlines():
        if "│" not in line:
            continue
        # The tree prefix ("│  ├─ ") also holds "│": strip it before splitting the columns.
        start = 0
        while start < len(line) and line[start] in TREE_CHARS:
            start += 1
        if start >= len(line):
            continue
        depth = start // 3
        cells = line[start:].split("│")
        name = cells[0].split()[0]
        del path[depth:]
        path.append(name)
        if depth == 0 or len(cells) < 3:
            continue  # the header line (binary name, column titles)
        median = parse_time(cells[2])
        if median is not None:
            medians["::".join(path[1:])] = median
    return medians


def fmt_ns(ns):
    if ns < 10:
        return f"{ns:.2f}"
    if ns < 1000:
        return f"{ns:.1f}"
    return f"{ns:,.0f}"


def fmt_ratio(r):
    if r < 10:
        return f"{r:.2f}x"
    return f"{r:.1f}x"


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def build_table(medians):
    workloads = []
    for key in medians:
        parts = key.split("::")
        if len(parts) == 3 and parts[0] == "workload" and parts[2] in ENGINES:
            if parts[1] not in workloads:
                workloads.append(parts[1])
    workloads.sort(key=lambda w: (ORDER.index(w) if w in ORDER else len(ORDER), 0))

    lines = [
        "| workload | native ns | waggle ns | rbpf ns | waggle/native | rbpf/native "
        "| waggle vs rbpf |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    waggle_ratios, rbpf_ratios, speedups, slower = [], [], [], []
    missing = []
    for w in workloads:
        t = {e: medians.get(f"workload::{w}::{e}") for e in ENGINES}
        if any(v is None for v in t.values()):
            missing.append(w)
            continue
        native, waggle, rbpf = t["native"], t["waggle_interpreter"], t["rbpf_interpreter"]
        native = max(native, 1e-3)  # a sub-ps native median would otherwise divide by zero
        wr, rr, sp = waggle / native, rbpf / native, rbpf / waggle
        waggle_ratios.append(wr)
        rbpf_ratios.append(rr)
        speedups.append(sp)
        if sp <= 1.0:
            slower.append(w)
        lines.append(
            f"| {w} | {fmt_ns(native)} | {fmt_ns(waggle)} | {fmt_ns(rbpf)} | {fmt_ratio(wr)} "
            f"| {fmt_ratio(rr)} | {sp:.2f}x faster |"
            if sp >= 1.0
            else f"| {w} | {fmt_ns(native)} | {fmt_ns(waggle)} | {fmt_ns(rbpf)} "
            f"| {fmt_ratio(wr)} | {fmt_ratio(rr)} | {1 / sp:.2f}x slower |"
        )
    summary = []
    if speedups:
        gw, gr, gs = geomean(waggle_ratios), geomean(rbpf_ratios), geomean(speedups)
        lines.append(
            f"| **geometric mean** | | | | **{fmt_ratio(gw)}** | **{fmt_ratio(gr)}** "
            f"| **{gs:.2f}x {'faster' if gs >= 1 else 'slower'}** |"
        )
        ok_geo = gw <= GEOMEAN_TARGET
        summary.append(
            f"- Target: Waggle geomean <= {GEOMEAN_TARGET:.0f}x native: "
            f"{'met' if ok_geo else 'MISSED'} ({fmt_ratio(gw)})."
        )
        summary.append(
            "- Target: Waggle faster than rbpf on every workload: "
            + ("met." if not slower else "MISSED on " + ", ".join(slower) + ".")
        )
    if missing:
        summary.append("- Missing results (not all three engines ran): " + ", ".join(missing))
    return "\n".join(lines), "\n".join(summary), bool(speedups)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="bench processes to run (median)")
    ap.add_argument("--sample-count", type=int, default=100, help="divan samples per bench")
    ap.add_argument("--max-time", type=float, default=None, help="divan seconds cap per bench")
    ap.add_argument("--input", nargs="+", help="parse saved divan outputs instead of running")
    ap.add_argument("--raw", help="also save cargo bench's output to this file")
    ap.add_argument("filter", nargs="*", help="divan name filters (default: all)")
    args = ap.parse_args()

    outputs = []
    if args.input:
        for path in args.input:
            with open(path, encoding="utf-8") as f:
                outputs.append(f.read())
        command = None
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cmd = ["cargo", "bench", "-p", "waggle-vm", "--bench", "interpreter", "--"]
        cmd += ["--color", "never", "--sample-count", str(args.sample_count)]
        if args.max_time is not None:
            cmd += ["--max-time", str(args.max_time)]
        cmd += args.filter
        command = " ".join(cmd)
        for i in range(args.runs):
            print(f"run {i + 1}/{args.runs}: {command}", file=sys.stderr)
            proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout)
                sys.exit(f"cargo bench failed with exit code {proc.returncode}")
            outputs.append(proc.stdout)
        if args.raw:
            with open(args.raw, "w", encoding="utf-8") as f:
                f.write("\n".join(outputs))

    runs = [parse_divan(o) for o in outputs]
    medians = {}
    for key in runs[0]:
        values = sorted(r[key] for r in runs if key in r)
        medians[key] = values[len(values) // 2] if len(values) % 2 else (
            (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
        )
    table, summary, ok = build_table(medians)
    if not ok:
        sys.stderr.write("\n".join(outputs))
        sys.exit("no complete workload results found in divan's output")
    if command:
        times = f"{len(outputs)} runs of " if len(outputs) > 1 else ""
        print(f"Command: {times}`{command}` (median of the runs' divan medians)\n")
    print(table)
    if summary:
        print()
        print(summary)


if __name__ == "__main__":
    main()
