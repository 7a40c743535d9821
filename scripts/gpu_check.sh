#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU (sm_80 or newer), one command:
#   scripts/gpu_check.sh            configure + build with nvcc, run the GPU tests, run them under
#                                   compute-sanitizer memcheck (when installed), run the benchmark
#   scripts/gpu_check.sh --no-bench skip the benchmark
# Output: build/cuda/gpu_check.log (everything) and build/cuda/bench.md (the benchmark's table).
set -euo pipefail
cd "$(dirname "$0")/.."

nvcc=$(command -v nvcc || true)
[ -n "$nvcc" ] || nvcc=/usr/local/cuda/bin/nvcc
[ -x "$nvcc" ] || { echo "gpu_check: nvcc not found (put the CUDA toolkit's bin/ on PATH)" >&2; exit 1; }
nvidia-smi -L || { echo "gpu_check: no GPU visible (nvidia-smi -L failed)" >&2; exit 1; }

dir=build/cuda
mkdir -p "$dir"
exec > >(tee "$dir/gpu_check.log") 2>&1
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
archs="80-real;90"  # what CI compiles; plus this GPU's own when it is neither
case "$cap" in 80|90) ;; *) archs="$archs;${cap}-real" ;; esac
echo "== configure ($nvcc, architectures $archs)"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQUANT_CUDA=ON -DQUANT_CUDA_KERNELS=ON \
  -DQUANT_PACKAGING_TESTS=OFF -DCMAKE_CUDA_COMPILER="$nvcc" "-DCMAKE_CUDA_ARCHITECTURES=$archs" >/dev/null
echo "== build"
cmake --build "$dir" -j "$(nproc)" --target quant_cuda_tests quant_cuda_bench quant_cuda_host_tests quant_cuda_repack_tests
echo "== host-side tests"
"$dir/tests/cuda/quant_cuda_repack_tests"
"$dir/tests/cuda/quant_cuda_host_tests"
echo "== GPU tests"
"$dir/tests/cuda/quant_cuda_tests"
sanitizer=$(command -v compute-sanitizer || ls "$(dirname "$nvcc")/compute-sanitizer" 2>/dev/null || \
  ls "$(dirname "$nvcc")/../compute-sanitizer/compute-sanitizer" 2>/dev/null || true)
if [ -n "$sanitizer" ]; then
  echo "== GPU tests under compute-sanitizer memcheck"
  "$sanitizer" --tool memcheck --error-exitcode 1 "$dir/tests/cuda/quant_cuda_tests"
  echo "== benchmark smoke test under compute-sanitizer memcheck"
  "$sanitizer" --tool memcheck --error-exitcode 1 "$dir/benchmarks/cuda/quant_cuda_bench" --quick >/dev/null
else
  echo "== compute-sanitizer not found: memcheck skipped"
fi
if [ "${1:-}" != "--no-bench" ]; then
  echo "== benchmark"
  "$dir/benchmarks/cuda/quant_cuda_bench" | tee "$dir/bench.md"
fi
echo "== gpu_check: all passed"
