#!/usr/bin/env python3
"""Markdown tables from bench_linear's JSON (medians): GFLOP/s per case and the ratio to the
best dense float32 baseline of the same shape and m (max of Eigen and OpenBLAS); for m = 1 also
weight GB/s and, for the cold cases, the fraction of the DRAM read bandwidth measured in the
same run. Standard library only."""
import json
import sys
from collections import defaultdict

data = json.load(open(sys.argv[1]))
med = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    name = b["run_name"].replace("/real_time", "")
    med[name] = b
stream = next((v["GBs"] for k, v in med.items() if k.startswith("stream")), None)

rows = defaultdict(dict)  # (shape, m, cold) -> impl -> (gflops, gbs)
for name, b in med.items():
    if name.startswith("stream"):
        continue
    parts = name.split("/")
    impl, shape, m = parts[0], parts[1], parts[2].split(":")[1]
    cold = len(parts) > 3 and parts[3] == "cold"
    rows[(shape, int(m), cold)][impl] = (b["GFLOPs"], b.get("GBs", 0))

impls = ["eigen_f32", "openblas_f32", "int8_w", "int8_a8", "int4_b64", "nf4_b64", "nf4dq_b64", "nf4_b64_bf16"]
print(f"DRAM read bandwidth measured in this run (stream/read): {stream:.1f} GB/s\n" if stream else "")
print("GFLOP/s (ratio to the best dense fp32 of the same row)\n")
print("| shape (in x out) | m | " + " | ".join(impls) + " |")
print("|---|---|" + "---|" * len(impls))
def key(k):
    s, m, c = k
    a, b = map(int, s.split("x"))
    return (a * b, s, m, c)
for k in sorted(rows, key=key):
    r = rows[k]
    best = max(r.get("eigen_f32", (0, 0))[0], r.get("openblas_f32", (0, 0))[0]) or 1.0
    cells = []
    for i in impls:
        if i not in r:
            cells.append("")
            continue
        g = r[i][0]
        cells.append(f"{g:.0f}" if i.endswith("_f32") and "int" not in i and "nf4" not in i else f"{g:.0f} ({g / best:.2f}x)")
    print(f"| {k[0]} | {k[1]}{' cold' if k[2] else ''} | " + " | ".join(cells) + " |")

print("\nm = 1: weight GB/s (bytes of the stored format per second)" + (", and % of the measured DRAM bandwidth (cold)" if stream else "") + "\n")
print("| shape | case | " + " | ".join(impls) + " |")
print("|---|---|" + "---|" * len(impls))
for k in sorted(rows, key=key):
    if k[1] != 1:
        continue
    r = rows[k]
    cells = []
    for i in impls:
        if i not in r:
            cells.append("")
            continue
        gbs = r[i][1]
        cells.append(f"{gbs:.1f}" + (f" ({100 * gbs / stream:.0f}%)" if (k[2] and stream) else ""))
    print(f"| {k[0]} | {'cold' if k[2] else 'hot'} | " + " | ".join(cells) + " |")
