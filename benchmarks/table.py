#!/usr/bin/env python3
"""Markdown tables from bench_linear's JSON (medians): GFLOP/s per case and the ratio to the
best dense float32 baseline of the same shape and m (max of Eigen and OpenBLAS); for m = 1 also
weight GB/s and, for the cold cases, the fraction of the DRAM read bandwidth measured in the
same run. Standard library only. benchmarks/peers/table.py reuses the functions."""
import json
import statistics
import sys
from collections import defaultdict

IMPLS = ["eigen_f32", "openblas_f32", "int8_w", "int8_a8", "int4_b64", "int4_b64_bf16", "int4_b64_a8", "nf4_b64", "nf4dq_b64",
         "nf4_b64_bf16", "nf4_b64_a8", "nf4dq_b64_a8"]


def medians(paths):
    """run name (without /real_time) -> its counters' medians over the files. A file gives a run
    as its median aggregate (several repetitions in one program run) or, without one, as its
    iterations (one repetition per file: benchmarks/peers/run.sh alternates the programs round
    by round, so that a slow phase of the machine falls on all of them alike)."""
    samples = defaultdict(list)
    for path in paths:
        with open(path) as f:
            runs = defaultdict(list)
            for b in json.load(f)["benchmarks"]:
                runs[b["run_name"].replace("/real_time", "")].append(b)
        for name, bs in runs.items():
            agg = [b for b in bs if b.get("aggregate_name") == "median"]
            samples[name] += agg or [b for b in bs if b.get("run_type", "iteration") == "iteration"]
    med = {}
    for name, bs in samples.items():
        med[name] = dict(bs[0])
        for key in ("real_time", "GFLOPs", "GBs"):
            if key in bs[0]:
                med[name][key] = statistics.median(b[key] for b in bs)
    return med


def stream_gbs(med, name="stream/read"):
    """the bandwidth benchmark's GB/s: stream/read (on 2 MB pages, as our weight buffers),
    stream/read_4k (on 4 KB pages, as the peers' buffers)"""
    return med[name]["GBs"] if name in med else None


def case_rows(med):
    """(shape, m, cold) -> impl -> (GFLOP/s, weight GB/s or 0)"""
    rows = defaultdict(dict)
    for name, b in med.items():
        if name.startswith("stream"):
            continue
        parts = name.split("/")
        impl, shape, m = parts[0], parts[1], parts[2].split(":")[1]
        cold = len(parts) > 3 and parts[3] == "cold"
        rows[(shape, int(m), cold)][impl] = (b["GFLOPs"], b.get("GBs", 0))
    return rows


def row_order(k):
    s, m, c = k
    a, b = map(int, s.split("x"))
    return (a * b, s, m, c)


def case_name(k):
    return f"| {k[0]} | {k[1]}{' cold' if k[2] else ''} |"


def print_stream(stream, stream_4k=None):
    if stream:
        print(f"DRAM read bandwidth measured in this run (stream/read): {stream:.1f} GB/s"
              + (f"; on 4 KB pages (stream/read_4k): {stream_4k:.1f} GB/s" if stream_4k else "") + "\n")


def measured(cell):
    """cell(k, row, impl), empty where the impl was not measured for that case"""
    return lambda k, r, i: cell(k, r, i) if i in r else ""


def print_table(rows, columns, cell, only=lambda k: True, head="| shape (in x out) | m |", name=case_name):
    """one line per case k = (shape, m, cold) that `only` accepts; cell(k, row, column) -> str,
    row = rows[k] (impl -> (GFLOP/s, GB/s))"""
    print(head + " " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for k in sorted(rows, key=row_order):
        if only(k):
            print(name(k) + " " + " | ".join(cell(k, rows[k], c) for c in columns) + " |")


def print_gbs_table(rows, impls, stream):
    print("\nm = 1: weight GB/s (bytes of the stored format per second)" + (", and % of the measured DRAM bandwidth (cold)" if stream else "") + "\n")

    @measured
    def cell(k, r, i):
        gbs = r[i][1]
        return f"{gbs:.1f}" + (f" ({100 * gbs / stream:.0f}%)" if (k[2] and stream) else "")

    print_table(rows, impls, cell, only=lambda k: k[1] == 1, head="| shape | case |",
                name=lambda k: f"| {k[0]} | {'cold' if k[2] else 'hot'} |")


def main(path):
    med = medians([path])
    stream = stream_gbs(med)
    rows = case_rows(med)
    print_stream(stream, stream_gbs(med, "stream/read_4k"))
    print("GFLOP/s (ratio to the best dense fp32 of the same row)\n")

    @measured
    def cell(k, r, i):
        best = max(r.get("eigen_f32", (0, 0))[0], r.get("openblas_f32", (0, 0))[0]) or 1.0
        g = r[i][0]
        return f"{g:.0f}" if i.endswith("_f32") and "int" not in i and "nf4" not in i else f"{g:.0f} ({g / best:.2f}x)"

    print_table(rows, IMPLS, cell)
    print_gbs_table(rows, IMPLS, stream)


if __name__ == "__main__":
    main(sys.argv[1])
