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

OURS = ["int8_a8", "int4_b64", "nf4_b64", "nf4dq_b64", "nf4_b64_bf16"]
PEERS = ["eigen_f32", "openblas_f32", "ggml_f32", "ggml_bf16", "ggml_q8_0", "ggml_q4_0", "ggml_q4_0_repack",
         "ggml_iq4_nl_repack", "torch_f32", "torch_int8_fbgemm", "torch_int8_onednn"]

# (column, ours, peer, applies to case (shape, m, cold))
RATIOS = [
    ("nf4 / q4_0 repack", "nf4_b64", "ggml_q4_0_repack", lambda k: (k[1] == 1 and k[2]) or k[1] >= 128),
    ("int4 / q4_0 repack", "int4_b64", "ggml_q4_0_repack", lambda k: (k[1] == 1 and k[2]) or k[1] >= 128),
    ("int8_a8 / q8_0", "int8_a8", "ggml_q8_0", lambda k: k[1] == 1),
    ("int8_a8 / torch int8 onednn", "int8_a8", "torch_int8_onednn", lambda k: k[1] >= 128),
    ("nf4 bf16 / ggml bf16", "nf4_b64_bf16", "ggml_bf16", lambda k: True),
]


def main(paths):
    med = table.medians(paths)
    stream = table.stream_gbs(med)
    rows = table.case_rows(med)
    table.print_stream(stream)
    print("GFLOP/s, ours | peers (2m in out / median wall time; q4_0 repack = the interleaved layout llama.cpp loads 4-bit weights into)\n")
    table.print_table(rows, OURS + PEERS, table.measured(lambda k, r, i: f"{r[i][0]:.0f}"))

    print("\nRatios (ours / peer, GFLOP/s) in the cases the targets name; > 1 = ours faster\n")

    def ratio(k, r, column):
        _, ours, peer, applies = next(x for x in RATIOS if x[0] == column)
        if not applies(k) or ours not in r or peer not in r:
            return ""
        return f"{r[ours][0] / r[peer][0]:.2f}x"

    table.print_table(rows, [x[0] for x in RATIOS], ratio,
                      only=lambda k: any(x[3](k) for x in RATIOS))
    table.print_gbs_table(rows, OURS + PEERS, stream)


if __name__ == "__main__":
    main(sys.argv[1:])
