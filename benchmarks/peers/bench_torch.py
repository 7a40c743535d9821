#!/usr/bin/env python3
"""PyTorch's CPU Linear layers on bench_linear's cases, for benchmarks/peers/run.sh.

  torch_f32          nn.Linear (float32, bias-free like bench_linear's layers)
  torch_int8_<eng>   torch.ao.quantization.quantize_dynamic(..., {nn.Linear}, dtype=torch.qint8) with
                     torch.backends.quantized.engine = <eng> (fbgemm, onednn; only those this torch has)

Cases and names as bench_linear (shapes and m from benchmarks/bench_cases.hpp, kept in step by
hand): `<impl>/<in>x<out>/m:<m>[/cold]`, "cold" rotating through enough copies of the layer
(> 128 MB) that each call reads its weights from DRAM. Each repetition runs the forward for at
least --benchmark_min_time seconds (wall clock) after one warm-up call; repetitions are shuffled
across cases like --benchmark_enable_random_interleaving; the medians are written as Google
Benchmark JSON (aggregate_name "median", counters GFLOPs and, for m = 1, GBs of weight bytes) so
benchmarks/table.py reads them beside bench_linear's and bench_ggml's. Each case's output is
checked once against float64 (a miss exits 1). Accepts Google Benchmark's flags; ignores the
ones it has no use for.
"""
import argparse
import copy
import json
import os
import platform
import random
import re
import statistics
import sys
import time
import warnings

import torch
from torch import nn

SHAPES = [(768, 768), (768, 3072), (3072, 768), (768, 2304), (4096, 4096), (4096, 11008)]
MS = [1, 8, 128, 1024]
ENGINES = ["fbgemm", "onednn"]


def cases():
    """(shape, m, cold) as bench_cases::for_each_case: m = 1 also cold; no m = 1024 beyond 4096x4096."""
    for s in SHAPES:
        for m in MS:
            for cold in (False, True):
                if cold and m != 1 or m == 1024 and s[0] * s[1] > 4096 * 4096:
                    continue
                yield s, m, cold


def label(s, m, cold):
    return f"{s[0]}x{s[1]}/m:{m}" + ("/cold" if cold else "")


def cold_copies(nbytes):
    return max(1, (128 << 20) // nbytes + 1)


def dense(s):
    """W (out x in) ~ N(0, 0.02) as an nn.Linear without bias"""
    layer = nn.Linear(s[0], s[1], bias=False)
    with torch.no_grad():
        layer.weight.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(1))
    return layer


def make(impl, s):
    """(module, weight bytes in the stored format); the int8 engine is selected before quantizing
    (it packs the weights) and again before timing (it runs the kernels)"""
    layer = dense(s)
    if impl == "torch_f32":
        return layer, s[0] * s[1] * 4
    torch.backends.quantized.engine = impl.removeprefix("torch_int8_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        q = torch.ao.quantization.quantize_dynamic(nn.Sequential(layer), {nn.Linear}, dtype=torch.qint8)[0]
    return q, s[0] * s[1]  # int8 weights (one scale per tensor)


def check(impl, module, s, x):
    """relative RMS error of module(x) against x . W^T in float64"""
    w = dense(s).weight.double()
    with torch.inference_mode():
        y = module(x).double()
        ref = x.double() @ w.T
    err = ((y - ref).norm() / ref.norm()).item()
    tolerance = 1e-5 if impl == "torch_f32" else 5e-2  # int8: per-tensor weight and activation scales
    return err, err < tolerance


def time_once(modules, x, min_time):
    """seconds per call, over >= min_time of calls rotating through modules"""
    n = len(modules)
    with torch.inference_mode():
        modules[0](x)
        iters = 1
        while True:
            t0 = time.perf_counter()
            for i in range(iters):
                modules[i % n](x)
            dt = time.perf_counter() - t0
            if dt >= min_time or iters >= 1 << 30:
                return dt / iters
            iters = max(iters * 2, int(iters * min_time * 1.4 / max(dt, 1e-9)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark_filter", default=".")
    ap.add_argument("--benchmark_repetitions", type=int, default=1)
    ap.add_argument("--benchmark_min_time", default="0.5")
    ap.add_argument("--benchmark_out", default=None)
    ap.add_argument("--benchmark_enable_random_interleaving", default="false")
    args, ignored = ap.parse_known_args()
    min_time = float(args.benchmark_min_time.rstrip("s"))
    threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    engines = [e for e in ENGINES if e in torch.backends.quantized.supported_engines]
    impls = ["torch_f32"] + [f"torch_int8_{e}" for e in engines]
    pattern = re.compile(args.benchmark_filter)

    todo = []  # (name, impl, shape, m, cold)
    for s, m, cold in cases():
        for impl in impls:
            name = f"{impl}/{label(s, m, cold)}/real_time"
            if pattern.search(name):
                todo.append((name, impl, s, m, cold))
    runs = [t for t in todo for _ in range(args.benchmark_repetitions)]
    if args.benchmark_enable_random_interleaving.lower() in ("true", "1", "yes"):
        random.shuffle(runs)

    times, errors, failed = {}, {}, False
    for name, impl, s, m, cold in runs:
        module, nbytes = make(impl, s)
        modules = [module] + [copy.deepcopy(module) for _ in range(cold_copies(nbytes) - 1 if cold else 0)]
        x = torch.randn(m, s[0], generator=torch.Generator().manual_seed(2))
        if name not in errors:
            errors[name], ok = check(impl, module, s, x)
            if not ok:
                print(f"{name}: ERROR result off: relative RMS error {errors[name]:.3g}", file=sys.stderr)
                failed = True
        if impl != "torch_f32":
            torch.backends.quantized.engine = impl.removeprefix("torch_int8_")
        t = time_once(modules, x, min_time)
        times.setdefault(name, []).append((t, nbytes))
        print(f"{name:<50} {t * 1e6:12.1f} us", file=sys.stderr)

    benchmarks = []
    for name, impl, s, m, cold in todo:
        t = statistics.median(v[0] for v in times[name])
        b = {"name": name + "_median", "run_name": name, "run_type": "aggregate", "aggregate_name": "median",
             "repetitions": len(times[name]), "threads": 1, "real_time": t * 1e6, "cpu_time": t * 1e6,
             "time_unit": "us", "GFLOPs": 2.0 * m * s[0] * s[1] / t * 1e-9, "rel_err": errors[name]}
        if m == 1:
            b["GBs"] = times[name][0][1] / t * 1e-9
        benchmarks.append(b)
    context = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host_name": platform.node(), "executable": __file__,
               "torch": torch.__version__, "torch_num_threads": torch.get_num_threads(),
               "quantized_engines": " ".join(torch.backends.quantized.supported_engines),
               "timed_engines": " ".join(engines), "ignored_flags": " ".join(ignored),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "blas": (re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()) or [None, "?"])[1]}
    out = json.dumps({"context": context, "benchmarks": benchmarks}, indent=1)
    if args.benchmark_out:
        with open(args.benchmark_out, "w") as f:
            f.write(out)
    else:
        print(out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
