#!/usr/bin/env bash
# Ours and the peers, one session: builds bench_linear (ours, Eigen, OpenBLAS; as benchmarks/run.sh)
# and bench_ggml (llama.cpp's ggml, fetched by get_llama_cpp.sh, built by its own CMake as
# llama.cpp builds it to load a model), then runs $REPS rounds of bench_linear, bench_ggml and
# bench_torch.py (PyTorch), each program once per round over all its cases in shuffled order, so
# that a slow phase of this shared machine (minutes long) falls on ours and the peers alike;
# medians over the rounds. JSON per program and round to build/peers/, the Markdown table for
# BENCHMARKS.md to stdout and build/peers/table.md.
#   benchmarks/peers/run.sh [google-benchmark flags, passed to all three, e.g. --benchmark_filter='768x3072/m:(1|128)/']
#   env: REPS (rounds, default 5), OMP_NUM_THREADS (default 2), PYTHON (default /work/venv/bin/python: torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${REPS:-5}
python=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3 )}
out=build/peers

llama_cpp=$(benchmarks/peers/get_llama_cpp.sh "$python")
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_BENCHMARKS=ON -DQUANT_TEST=OFF >/dev/null
cmake --build build/bench --target bench_linear >/dev/null
cmake -S benchmarks/peers -B $out/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CCACHE=OFF \
  -DLLAMA_CPP_DIR="$PWD/$llama_cpp" >/dev/null
cmake --build $out/build --target bench_ggml >/dev/null

source scripts/deps.sh
openblas_coretype
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
flags=(--benchmark_repetitions=1 --benchmark_enable_random_interleaving=true --benchmark_min_time=0.1)
rm -f $out/linear.*.json $out/ggml.*.json $out/torch.*.json
for r in $(seq "$reps"); do
  echo "== round $r of $reps: bench_linear" >&2
  ./build/bench/benchmarks/bench_linear "${flags[@]}" --benchmark_out=$out/linear.$r.json --benchmark_out_format=json "$@" >&2
  echo "== round $r of $reps: bench_ggml" >&2
  ./$out/build/bench_ggml "${flags[@]}" --benchmark_out=$out/ggml.$r.json --benchmark_out_format=json "$@" >&2
  echo "== round $r of $reps: bench_torch.py" >&2
  "$python" benchmarks/peers/bench_torch.py "${flags[@]}" --benchmark_out=$out/torch.$r.json "$@" >&2
done
python3 benchmarks/peers/table.py $out/linear.*.json $out/ggml.*.json $out/torch.*.json | tee $out/table.md
