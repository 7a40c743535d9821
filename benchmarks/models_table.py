#!/usr/bin/env python3
"""Markdown tables for BENCHMARKS.md from bench_models' JSON (medians): BERT-base ms per batch
and GPT-2 tokens/s and window latency, each with the ratio to the float32 original of the same
run. Standard library only.
    benchmarks/models_table.py models.json"""
import json
import sys

from table import medians

WHAT = {
    "original": "float32 (Eigen)",
    "quantized_model_8_bit": "8 bit: LLM.int8(), threshold 6.0, int8 activations (VNNI)",
    "quantized_model_8_bit_selective": "8 bit selective (attention layers dense)",
    "quantized_model_4_bit_set1": "4 bit set 1: NF4 + DQ, bf16 compute",
    "quantized_model_4_bit_set2": "4 bit set 2: NF4 + DQ, fp16 compute",
    "quantized_model_nf4_fp32": "NF4, fp32 compute",
    "quantized_model_fp4": "FP4, fp32 compute",
    "quantized_model_int4": "int4 (block 64), bf16 compute",
}


def order(rows):
    """the configurations in WHAT's order, each "/dense_f32" variant after the others"""
    rank = {name: i for i, name in enumerate(WHAT)}
    return sorted(rows.items(), key=lambda kv: ("/" in kv[0], rank.get(kv[0].split("/")[0], len(rank)), kv[0]))


def describe(config):
    name, _, variant = config.partition("/")
    text = WHAT.get(name, name)
    return text + (", rest float32" if variant == "dense_f32" else "")


def bert_table(med):
    rows = {}
    for key, b in med.items():
        parts = key.split("/")  # bert_base/seq128/batch:B/config[/dense_f32]
        if parts[0] != "bert_base":
            continue
        batch = int(parts[2].split(":")[1])
        rows.setdefault("/".join(parts[3:]), {})[batch] = b
    base = rows["original"]
    out = ["| configuration | model MB | batch 1 (ms) | batch 8 (ms) |", "|---|---:|---:|---:|"]
    for config, r in order(rows):
        cells = []
        for batch in (1, 8):
            ms = r[batch]["real_time"]
            cells.append(f"{ms:.0f}" if config == "original" else f"{ms:.0f} ({base[batch]['real_time'] / ms:.2f}x)")
        out.append(f"| {describe(config)} | {r[1]['model_MB']:.1f} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def gpt2_table(med):
    rows = {}
    for key, b in med.items():
        parts = key.split("/")  # gpt2/{generate32,window1024}/config[/dense_f32]
        if parts[0] != "gpt2":
            continue
        rows.setdefault("/".join(parts[2:]), {})[parts[1]] = b
    base = rows["original"]
    out = ["| configuration | model MB | tokens/s | vs fp32 | 1024-token window (ms) | vs fp32 |",
           "|---|---:|---:|---:|---:|---:|"]
    for config, r in order(rows):
        g, w = r["generate32"], r["window1024"]
        out.append(f"| {describe(config)} | {g['model_MB']:.1f} | {g['tokens_per_s']:.1f} | "
                   f"{g['tokens_per_s'] / base['generate32']['tokens_per_s']:.2f}x | {w['real_time']:.0f} | "
                   f"{base['window1024']['real_time'] / w['real_time']:.2f}x |")
    return "\n".join(out)


if __name__ == "__main__":
    med = medians(sys.argv[1:])
    print("BERT-base classifier, sequence 128, ms per batch (speedup over float32):\n")
    print(bert_table(med))
    print("\nGPT-2 small, batch 1: greedy generation with the KV cache (32-token prompt, 32 new tokens),"
          " and one 1024-token perplexity window:\n")
    print(gpt2_table(med))
