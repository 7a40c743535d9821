// Linear layers on the CPU: every scheme beside the dense float32 baselines (Eigen, OpenBLAS),
// in one binary and one run, on the Linear shapes of BERT-base, GPT-2 and a 7B-class layer.
//
//   benchmarks/run.sh     builds Release, runs with repetitions, writes BENCHMARKS-table input
//
// Counters: GFLOP/s = 2 m in out / t. For m = 1 also weight GB/s (bytes of the weight format read
// per second). "cold" rotates through enough copies of the layer (> 4x the 32 MB L3) that every
// call streams its weights from DRAM; "stream" measures this machine's DRAM read bandwidth in
// the same session, since it swings from minute to minute on a shared machine.
#include <cblas.h>

#include <algorithm>
#include <string>
#include <vector>

#include <quant/quant.hpp>

#include "bench_cases.hpp"

using namespace quant;
using bench_cases::cold_copies;
using bench_cases::set_counters;
using bench_cases::shape;

namespace {

row_matrix random_matrix(std::size_t r, std::size_t c, unsigned seed, float sigma) {
    const std::vector<float> v = bench_cases::random_normal(r * c, seed, sigma);
    row_matrix m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
    std::copy(v.begin(), v.end(), m.data());
    return m;
}

template <Scheme S>
void bench_quant(benchmark::State& st, shape s, std::size_t m, typename S::params p, dtype compute, bool cold,
                 activation_quant act = activation_quant::none) {
    const row_matrix w = random_matrix(s.out, s.in, 1, 0.02f);
    const row_matrix x = random_matrix(m, s.in, 2, 1.0f);
    row_matrix y(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(s.out));
    const auto proto = QuantizedLinear<S, cpu_backend>::from_dense(view(w), {}, p, {.compute = compute, .activations = act});
    std::vector<QuantizedLinear<S, cpu_backend>> layers(cold ? cold_copies(proto.weight().size_bytes()) : 1, proto);
    std::size_t i = 0;
    for (auto _ : st) {
        layers[i].forward(view(x), view(y));
        benchmark::DoNotOptimize(y.data());
        if (++i == layers.size()) i = 0;
    }
    set_counters(st, m, s, proto.weight().size_bytes());
}

void bench_eigen(benchmark::State& st, shape s, std::size_t m, bool cold) {
    const row_matrix x = random_matrix(m, s.in, 2, 1.0f);
    row_matrix y(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(s.out));
    std::vector<row_matrix> ws(cold ? cold_copies(s.in * s.out * 4) : 1, random_matrix(s.out, s.in, 1, 0.02f));
    std::size_t i = 0;
    for (auto _ : st) {
        y.noalias() = x * ws[i].transpose();
        benchmark::DoNotOptimize(y.data());
        if (++i == ws.size()) i = 0;
    }
    set_counters(st, m, s, s.in * s.out * 4);
}

void bench_openblas(benchmark::State& st, shape s, std::size_t m, bool cold) {
    const row_matrix x = random_matrix(m, s.in, 2, 1.0f);
    row_matrix y(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(s.out));
    std::vector<row_matrix> ws(cold ? cold_copies(s.in * s.out * 4) : 1, random_matrix(s.out, s.in, 1, 0.02f));
    std::size_t i = 0;
    const int M = int(m), N = int(s.out), K = int(s.in);
    for (auto _ : st) {
        if (m == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, ws[i].data(), K, x.data(), 1, 0.0f, y.data(), 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x.data(), K, ws[i].data(), K, 0.0f,
                        y.data(), N);
        benchmark::DoNotOptimize(y.data());
        if (++i == ws.size()) i = 0;
    }
    set_counters(st, m, s, s.in * s.out * 4);
}

// DRAM read bandwidth: sum of a 256 MB array, 2 threads. Each thread reads four places of the
// array at once, 16 KB pieces, with independent vector sums: one chain of dependent adds is
// latency-bound (7 GB/s where the memory gives 25), and one sequential stream per core reaches
// only about two thirds of what several do (the m = 1 kernels read several rows at once).
// Vector: aligned_vector (2 MB transparent huge pages, as the layers' weights: stream/read) or a
// std::vector (4 KB pages, as Eigen's, OpenBLAS's and ggml's buffers: stream/read_4k).
template <class Vector>
void bench_stream(benchmark::State& st) {
    using batch = xsimd::batch<float>;
    constexpr std::size_t L = batch::size, piece = 4096, streams = 4;  // floats per piece
    const std::size_t n = (std::size_t{256} << 20) / sizeof(float), quarter = n / streams;
    Vector v(n + 16, 1.0f);  // read from its first 64-byte boundary
    const float* a = v.data() + (64 - reinterpret_cast<std::uintptr_t>(v.data()) % 64) % 64 / sizeof(float);
    for (auto _ : st) {
        float total = 0.0f;
#pragma omp parallel for reduction(+ : total) schedule(static)
        for (std::ptrdiff_t p = 0; p < std::ptrdiff_t(quarter / piece); ++p) {
            batch s[streams] = {batch(0.0f), batch(0.0f), batch(0.0f), batch(0.0f)};
            for (std::size_t k = std::size_t(p) * piece; k < std::size_t(p + 1) * piece; k += L)
                for (std::size_t q = 0; q < streams; ++q) s[q] += batch::load_aligned(a + q * quarter + k);
            total += xsimd::hadd((s[0] + s[1]) + (s[2] + s[3]));
        }
        benchmark::DoNotOptimize(total);
    }
    st.counters["GBs"] = benchmark::Counter(double(n * sizeof(float)) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
    benchmark::RegisterBenchmark("stream/read", bench_stream<aligned_vector<float>>)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark("stream/read_4k", bench_stream<std::vector<float>>)->Unit(benchmark::kMillisecond)->UseRealTime();
    bench_cases::for_each_case([](shape s, std::size_t m, bool cold, const std::string& l) {
        auto reg = [&](const std::string& name, auto&& f) { bench_cases::register_case(name + "/" + l, f); };
        reg("eigen_f32", [=](benchmark::State& st) { bench_eigen(st, s, m, cold); });
        reg("openblas_f32", [=](benchmark::State& st) { bench_openblas(st, s, m, cold); });
        reg("int8_w", [=](benchmark::State& st) {
            bench_quant<AbsmaxInt8>(st, s, m, {.activations = int8_activations::none}, dtype::f32, cold);
        });
        reg("int8_a8", [=](benchmark::State& st) {
            bench_quant<AbsmaxInt8>(st, s, m, {.activations = int8_activations::rowwise}, dtype::f32, cold);
        });
        reg("int4_b64", [=](benchmark::State& st) { bench_quant<BlockwiseInt4>(st, s, m, {.block = 64}, dtype::f32, cold); });
        reg("int4_b64_bf16", [=](benchmark::State& st) { bench_quant<BlockwiseInt4>(st, s, m, {.block = 64}, dtype::bf16, cold); });
        reg("nf4_b64", [=](benchmark::State& st) { bench_quant<NF4>(st, s, m, {.block = 64}, dtype::f32, cold); });
        reg("nf4dq_b64", [=](benchmark::State& st) {
            bench_quant<NF4>(st, s, m, {.block = 64, .double_quant = true}, dtype::f32, cold);
        });
        reg("nf4_b64_bf16", [=](benchmark::State& st) { bench_quant<NF4>(st, s, m, {.block = 64}, dtype::bf16, cold); });
        // 4-bit weights with int8 activations in blocks of 32 (activation_quant::int8; VNNI)
        reg("int4_b64_a8", [=](benchmark::State& st) {
            bench_quant<BlockwiseInt4>(st, s, m, {.block = 64}, dtype::f32, cold, activation_quant::int8);
        });
        reg("nf4_b64_a8", [=](benchmark::State& st) {
            bench_quant<NF4>(st, s, m, {.block = 64}, dtype::f32, cold, activation_quant::int8);
        });
        reg("nf4dq_b64_a8", [=](benchmark::State& st) {
            bench_quant<NF4>(st, s, m, {.block = 64, .double_quant = true}, dtype::f32, cold, activation_quant::int8);
        });
    });
}

}  // namespace

int main(int argc, char** argv) {
    openblas_set_num_threads(cpu::max_threads());
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
