#!/usr/bin/env bash
# Builds the benchmarks (Release, -march=native) and runs them: every case `reps` times,
# interleaved (--benchmark_enable_random_interleaving), medians reported; JSON to
# build/bench/results.json and the Markdown tables for BENCHMARKS.md to stdout.
#   benchmarks/run.sh [extra google-benchmark flags, e.g. --benchmark_filter=768x3072]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-5}
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_BENCHMARKS=ON -DQUANT_TEST=OFF >/dev/null
cmake --build build/bench --target bench_linear >/dev/null
source scripts/deps.sh
openblas_coretype
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
./build/bench/benchmarks/bench_linear --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_min_time=0.1 \
  --benchmark_out=build/bench/results.json --benchmark_out_format=json "$@" >&2
python3 benchmarks/table.py build/bench/results.json
