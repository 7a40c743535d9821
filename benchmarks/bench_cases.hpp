// The Linear-layer benchmark cases, shared by bench_linear (ours, Eigen, OpenBLAS) and
// peers/bench_ggml (llama.cpp's ggml), so both binaries time the same shapes on the same data
// and report the same counters under the same names: `<impl>/<in>x<out>/m:<m>[/cold]`.
// Standard library and Google Benchmark only (bench_ggml does not see the quant headers).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <vector>

namespace bench_cases {

struct shape {
    std::size_t in, out;
};
// BERT-base (768x768, 768x3072, 3072x768), GPT-2's fused QKV (768x2304), a 7B-class layer
inline constexpr shape shapes[] = {{768, 768}, {768, 3072}, {3072, 768}, {768, 2304}, {4096, 4096}, {4096, 11008}};
inline constexpr std::size_t ms[] = {1, 8, 128, 1024};

// n values of N(0, sigma) from a fixed seed: W (out x in, row-major) uses seed 1, sigma 0.02;
// x (m x in) seed 2, sigma 1.
inline std::vector<float> random_normal(std::size_t n, unsigned seed, float sigma) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (float& e : v) e = d(rng);
    return v;
}

// how many copies of a weight of `bytes` make the working set >= 128 MB (4x L3)
inline std::size_t cold_copies(std::size_t bytes) { return std::max<std::size_t>(1, (std::size_t{128} << 20) / bytes + 1); }

// GFLOP/s = 2 m in out / t; for m = 1 also weight GB/s (bytes of the stored weight per second)
inline void set_counters(benchmark::State& st, std::size_t m, const shape& s, std::size_t weight_bytes) {
    const double flops = 2.0 * double(m) * double(s.in) * double(s.out);
    st.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    if (m == 1) st.counters["GBs"] = benchmark::Counter(double(weight_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

inline std::string label(const shape& s, std::size_t m, bool cold) {
    return std::to_string(s.in) + "x" + std::to_string(s.out) + "/m:" + std::to_string(m) + (cold ? "/cold" : "");
}

// Calls f(shape, m, cold, label) for every case: each shape at every m, plus m = 1 cold; the
// largest GEMMs (m = 1024 beyond 4096x4096) are slow and left out to keep the run bounded.
template <class F>
void for_each_case(F&& f) {
    for (const auto& s : shapes)
        for (std::size_t m : ms)
            for (bool cold : {false, true}) {
                if (cold && m != 1) continue;
                if (m == 1024 && s.in * s.out > 4096 * 4096) continue;
                f(s, m, cold, label(s, m, cold));
            }
}

// Registers a case as bench_linear does: wall-clock time (the kernels are multi-threaded), µs.
template <class F>
void register_case(const std::string& name, F&& f) {
    benchmark::RegisterBenchmark(name.c_str(), std::forward<F>(f))->Unit(benchmark::kMicrosecond)->UseRealTime();
}

}  // namespace bench_cases
