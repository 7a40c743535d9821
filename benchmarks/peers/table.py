#!/usr/bin/env python3
"""The peers table for BENCHMARKS.md from the JSON files of one benchmarks/peers/run.sh session
(bench_linear, bench_ggml, bench_torch.py; medians): GFLOP/s of ours beside the dense float32
baselines, llama.cpp's ggml and PyTorch per (shape, m[, cold]); the ratios the targets of issue
#8 are stated in; weight GB/s at m = 1. Standard library only; the parsing is benchmarks/table.py's.
  benchmarks/peers/table.py linear.json ggml.json torch.json"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import table  # noqa: E402  benchmarks/table.py

OURS = ["int8_w", "int8_a8", "int4_b64", "int4_b64_bf16", "int4_b64_a8", "nf4_b64", "nf4dq_b64", "nf4_b64_bf16", "nf4_b64_a8",
        "nf4dq_b64_a8"]
PEERS = ["eigen_f32", "openblas_f32", "ggml_f32", "ggml_bf16", "ggml_q8_0", "ggml_q4_0", "ggml_q4_0_repack",
         "ggml_iq4_nl_repack", "torch_f32", "torch_int8_fbgemm", "torch_int8_onednn"]
DENSE_F32 = ["eigen_f32", "openblas_f32", "ggml_f32", "torch_f32"]
BEST_F32 = "best dense f32"  # the fastest of DENSE_F32 in the same case

def cold1(k): return k[1] == 1 and k[2]
def large(k): return k[1] >= 128

# issue #8's targets: (column, ours, peer, applies to case (shape, m, cold), ratio to reach);
# ours None = the slowest of OURS in that case
TARGETS = [
    ("nf4 / q4_0 repack", "nf4_b64", "ggml_q4_0_repack", cold1, 1.15),
    ("int4 / q4_0 repack", "int4_b64", "ggml_q4_0_repack", cold1, 1.15),
    ("nf4 a8 / q4_0 repack", "nf4_b64_a8", "ggml_q4_0_repack", cold1, 1.15),
    ("int4 a8 / q4_0 repack", "int4_b64_a8", "ggml_q4_0_repack", cold1, 1.15),
    ("int8_a8 / q8_0", "int8_a8", "ggml_q8_0", cold1, 1.1),
    ("int8_a8 / torch int8 onednn", "int8_a8", "torch_int8_onednn", large, 1.0),
    ("nf4 bf16 / q4_0 repack", "nf4_b64_bf16", "ggml_q4_0_repack", large, 1.1),
    ("int4 bf16 / q4_0 repack", "int4_b64_bf16", "ggml_q4_0_repack", large, 1.1),
    ("nf4 bf16 / ggml bf16", "nf4_b64_bf16", "ggml_bf16", large, 1.0),
    ("int4 bf16 / ggml bf16", "int4_b64_bf16", "ggml_bf16", large, 1.0),
    ("nf4 / best dense f32", "nf4_b64", BEST_F32, large, 1.0),
    ("int4 / best dense f32", "int4_b64", BEST_F32, large, 1.0),
    ("slowest ours / best dense f32", None, BEST_F32, lambda k: k[1] == 8, 1.0),
]


def gflops(r, impl):
    if impl == BEST_F32:
        return max((r[i][0] for i in DENSE_F32 if i in r), default=None)
    if impl is None:
        return min((r[i][0] for i in OURS if i in r), default=None)
    return r[impl][0] if impl in r else None


def main(paths):
    med = table.medians(paths)
    stream = table.stream_gbs(med)
    rows = table.case_rows(med)
    table.print_stream(stream, table.stream_gbs(med, "stream/read_4k"))
    print("GFLOP/s, ours | peers (2m in out / median wall time; q4_0 repack = the interleaved layout llama.cpp loads 4-bit weights into)\n")
    table.print_table(rows, OURS + PEERS, table.measured(lambda k, r, i: f"{r[i][0]:.0f}"))

    print("\nRatios (ours / peer, GFLOP/s) in the cases the targets name; > 1 = ours faster; "
          "(target) where the ratio is below it\n")

    def ratio(k, r, column):
        _, ours, peer, applies, target = next(x for x in TARGETS if x[0] == column)
        a, b = gflops(r, ours), gflops(r, peer)
        if not applies(k) or not a or not b:
            return ""
        return f"{a / b:.2f}x" + ("" if a / b >= target else f" (< {target})")

    table.print_table(rows, [x[0] for x in TARGETS], ratio, only=lambda k: any(x[3](k) for x in TARGETS))
    table.print_gbs_table(rows, OURS + PEERS, stream)


if __name__ == "__main__":
    main(sys.argv[1:])
