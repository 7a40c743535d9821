#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine: installs the Debian packages it needs,
# then configures, builds and runs every test in three builds, and the CPU backend's in a fourth:
#   build/release  optimised, native ISA (AVX-512 where the CPU has it)
#   build/asan     AddressSanitizer + UndefinedBehaviorSanitizer (the test programs and the tools they run)
#   build/avx2     AVX2 only (-march=haswell): the AVX2 kernels, as on a CPU without AVX-512
#                  (the library's tests; the example programs run in the other two; only on a
#                  CPU with AVX-512: elsewhere build/release is this build)
#   build/generic  the baseline x86-64 ISA (SSE2): the generic paths of CPUs without AVX2 (the
#                  CPU backend's tests only)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/deps.sh
install_debian_packages cmake ninja-build g++ clang libclang-rt-14-dev libeigen3-dev libxsimd-dev catch2 \
  nlohmann-json3-dev libcli11-dev libutf8proc-dev libpcre2-dev zlib1g-dev libbenchmark-dev libopenblas-dev

jobs=$(nproc)
run_build() {  # name, targets ("all" or a space-separated list), extra cmake args...
  local dir="build/$1" targets="$2"; shift 2
  echo "== $dir" >&2
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  if [ "$targets" != all ]; then  # those this configuration has (quant_cuda_host_tests needs CUDA)
    local known; known=$(ninja -C "$dir" -t targets all | cut -d: -f1)
    targets=$(for t in $targets; do if grep -qx "$t" <<<"$known"; then echo "$t"; fi; done)
  fi
  # shellcheck disable=SC2086  # the target list splits on purpose
  cmake --build "$dir" -j "$jobs" --target $targets
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

# Under the sanitizers: every test program and the tools the tests run. The report programs
# (quant-bert-imdb, quant-gpt2, quant-kernel-table) are run only by the Release build's
# reference-model tests; compiling them under ASan would be a third of this build's time.
# GCC 12's false (maybe-)uninitialized warnings (see QUANT_WARNINGS) are off for the whole
# translation units here, Catch2's and Eigen's code included.
run_build asan "quant_tests quant_io_tests quant_cuda_repack_tests quant_cuda_host_tests quant_examples_tests quant-ckpt quant-tokenize" \
  -DCMAKE_BUILD_TYPE=Debug -DQUANT_PACKAGING_TESTS=OFF \
  "-DCMAKE_CXX_FLAGS=-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-uninitialized -Wno-maybe-uninitialized"
# The AVX2 build tests the library's AVX2 kernels (quant_tests: kernels and models against the
# reference); the example programs have no ISA-specific code of their own and run in the other two.
# On a CPU without AVX-512 the release build is that build already (its native ISA takes the same
# kernels): skipped there, about 4 of the 31 minutes this script took on an AMD Zen 3.
if grep -qw avx512f /proc/cpuinfo; then
  run_build avx2 all -DCMAKE_BUILD_TYPE=Release -DQUANT_ARCH=avx2 -DQUANT_PACKAGING_TESTS=OFF -DQUANT_EXAMPLES=OFF
fi
# Without AVX2 the CPU backend runs its generic paths (xsimd, scalar): on a CPU with AVX2 or
# AVX-512 every other build takes the SIMD kernels, so these are tested here, the backend's tests
# only (the rest of the suite has no ISA-specific code).
echo "== build/generic" >&2
cmake -S . -B build/generic -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_ARCH=none -DQUANT_PACKAGING_TESTS=OFF -DQUANT_EXAMPLES=OFF >/dev/null
cmake --build build/generic -j "$jobs" --target quant_tests
build/generic/tests/quant_tests "[cpu]"

# CUDA kernels: compiled (not run: CI has no GPU) for sm_80 and sm_90 when nvcc is available.
# The host-side CUDA tests (cuda-repack, cuda-host) already ran in the builds above.
# On a GPU machine, scripts/gpu_check.sh builds, runs and benchmarks them.
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ -x "$nvcc" ]; then
  echo "== build/cuda-compile ($("$nvcc" --version | tail -1))" >&2
  cmake -S . -B build/cuda-compile -G Ninja -DCMAKE_BUILD_TYPE=Release -DQUANT_PACKAGING_TESTS=OFF \
    -DQUANT_CUDA=ON -DQUANT_CUDA_KERNELS=ON -DCMAKE_CUDA_COMPILER="$nvcc" >/dev/null
  cmake --build build/cuda-compile -j "$jobs" --target quant_cuda_tests quant_cuda_bench
else
  echo "== nvcc not found: CUDA kernels not compiled" >&2
fi

# Short fuzz runs of the checkpoint parsers (libFuzzer needs clang; skipped without it).
if command -v clang++ >/dev/null; then
  echo "== build/fuzz" >&2
  CXX=clang++ cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DQUANT_FUZZ=ON -DQUANT_TEST=OFF \
    -DQUANT_EXAMPLES=OFF -DQUANT_INSTALL=OFF >/dev/null
  cmake --build build/fuzz -j "$jobs"
  rm -f build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-*
  for t in safetensors_header:safetensors unpickle:pickle; do
    corpus="build/fuzz/corpus/${t#*:}"
    mkdir -p "$corpus"
    cp fuzz/corpus/"${t#*:}"/* "$corpus"/
    # a crash, leak, timeout or out-of-memory input (-rss_limit_mb: a giant allocation) fails CI,
    # by the fuzzer's exit status and by the artifact it leaves
    rc=0
    build/fuzz/fuzz/fuzz_"${t%%:*}" -max_total_time=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build/fuzz/ "$corpus" > "build/fuzz/fuzz_${t%%:*}.log" 2>&1 || rc=$?
    grep -E "^stat::number_of_executed_units|Done|ERROR" "build/fuzz/fuzz_${t%%:*}.log" || true
    if ((rc != 0)) || ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* >/dev/null 2>&1; then
      tail -n 30 "build/fuzz/fuzz_${t%%:*}.log" >&2
      echo "fuzz_${t%%:*} failed (exit $rc): $(ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* 2>/dev/null)" >&2
      exit 1
    fi
  done
fi

# Last, so that its ctest summary closes the log.
run_build release all -DCMAKE_BUILD_TYPE=Release
