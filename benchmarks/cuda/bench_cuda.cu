// CUDA benchmark: quant's kernels against cuBLAS fp16/bf16 (cublasGemmEx) in the same run, and
// the device-to-device copy bandwidth as the memory roofline. Prints a Markdown table.
//
//   quant_cuda_bench            shapes 4096x4096, 4096x11008, 11008x4096, 8192x8192 (out x in),
//                               m = 1, 16, 128
//   quant_cuda_bench --quick    4096x4096 only (a smoke test)
//
// Method: every timed launch reads a different copy of the weights (enough copies to exceed
// twice the L2 cache), so weights come from HBM as in a real model; CUDA events around batches
// of launches after a warm-up; the median of 15 batches. "% copy" = weight bytes / time as a
// fraction of the copy bandwidth (bytes read + written by cudaMemcpy device-to-device / time).
#include <cublas_v2.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <quant/cuda.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

#define BENCH_CUBLAS_CHECK(call)                                                                            \
    do {                                                                                                    \
        const cublasStatus_t s_ = (call);                                                                   \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                                    \
            quant::detail::fail(__FILE__, ":", __LINE__, ": ", #call, " returned cuBLAS status ", int(s_)); \
    } while (0)

struct events {
    cudaEvent_t a{}, b{};
    events() {
        QUANT_CUDA_CHECK(cudaEventCreate(&a));
        QUANT_CUDA_CHECK(cudaEventCreate(&b));
    }
    ~events() {
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
};

// Median time of one call in microseconds; call(i) launches on stream 0 using copy i % copies.
double time_us(const std::function<void(std::size_t)>& call, std::size_t copies) {
    events ev;
    const std::size_t per_batch = std::max<std::size_t>(copies, 20);
    for (std::size_t i = 0; i < per_batch; ++i) call(i);  // warm-up
    QUANT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<double> t;
    std::size_t k = 0;
    for (int s = 0; s < 15; ++s) {
        QUANT_CUDA_CHECK(cudaEventRecord(ev.a));
        for (std::size_t i = 0; i < per_batch; ++i) call(k++);
        QUANT_CUDA_CHECK(cudaEventRecord(ev.b));
        QUANT_CUDA_CHECK(cudaEventSynchronize(ev.b));
        float ms = 0;
        QUANT_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.a, ev.b));
        t.push_back(1000.0 * ms / static_cast<double>(per_batch));
    }
    std::nth_element(t.begin(), t.begin() + 7, t.end());
    return t[7];
}

// Device-to-device copy bandwidth in bytes/s (read + write).
double copy_bandwidth() {
    const std::size_t n = std::size_t{1} << 30;
    quant::cuda::device_buffer<char> a(n), b(n);
    QUANT_CUDA_CHECK(cudaMemset(a.data(), 1, n));
    const double us = time_us(
        [&](std::size_t) { QUANT_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), n, cudaMemcpyDeviceToDevice)); }, 1);
    return 2.0 * static_cast<double>(n) / (us * 1e-6);
}

std::size_t l2_bytes() {
    int dev = 0, l2 = 0;
    QUANT_CUDA_CHECK(cudaGetDevice(&dev));
    QUANT_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    return static_cast<std::size_t>(l2);
}

std::size_t copies_for(std::size_t bytes) { return std::max<std::size_t>(2, (2 * l2_bytes()) / bytes + 1); }

struct result {
    std::string name;
    double us = 0;
    std::size_t bytes = 0;
};

template <class Q>
result bench_cublas(cublasHandle_t h, cudaDataType_t type, const char* name, std::size_t out, std::size_t in,
                    std::size_t m) {
    const std::size_t wbytes = out * in * sizeof(Q), copies = copies_for(wbytes);
    std::vector<quant::cuda::device_buffer<Q>> w;
    for (std::size_t i = 0; i < copies; ++i) {
        w.emplace_back(out * in);
        QUANT_CUDA_CHECK(cudaMemset(w.back().data(), 0x3c, wbytes));  // ~1.0 in fp16, ~0.01 in bf16
    }
    quant::cuda::device_buffer<Q> x(m * in), y(m * out);
    QUANT_CUDA_CHECK(cudaMemset(x.data(), 0x3c, x.size_bytes()));
    const float alpha = 1.0f, beta = 0.0f;
    // row-major y[m, out] = x[m, in] . W^T  <=>  column-major Y[out, m] = W^T[out, in] . X[in, m]
    const double us = time_us(
        [&](std::size_t i) {
            BENCH_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(out), int(m), int(in), &alpha,
                                            w[i % copies].data(), type, int(in), x.data(), type, int(in), &beta,
                                            y.data(), type, int(out), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        },
        copies);
    return {name, us, wbytes};
}

// The targets of BENCHMARKS.md, checked against this run (reported, not enforced).
std::size_t targets_checked = 0;
std::vector<std::string> targets_missed;

void check_target(std::size_t out, std::size_t in, std::size_t m, const result& e, double cublas_fp16_us,
                  double copy_bw) {
    const double speedup = cublas_fp16_us / e.us;
    const double copy_fraction = static_cast<double>(e.bytes) / (e.us * 1e-6) / copy_bw;
    auto expect = [&](bool ok, const char* what) {
        ++targets_checked;
        if (!ok)
            targets_missed.push_back(std::to_string(out) + "x" + std::to_string(in) + " m=" + std::to_string(m) + " " +
                                     e.name + ": " + what + " (speedup " + std::to_string(speedup) + ", copy bw " +
                                     std::to_string(100 * copy_fraction) + "%)");
    };
    const bool nf4 = e.name == "NF4 fp16", int4 = e.name == "int4 fp16", int8 = e.name == "int8 fp16";
    if (m == 1 && nf4) {
        expect(copy_fraction >= 0.85, ">= 85% of the copy bandwidth");
        expect(speedup >= 3.3, ">= 3.3x cuBLAS fp16");
    }
    if (m == 1 && int8) expect(speedup >= 1.8, ">= 1.8x cuBLAS fp16");
    if (m == 16 && (nf4 || int4)) expect(speedup >= 3.0, ">= 3x cuBLAS fp16");
    if (m == 128 && (nf4 || int4 || int8)) expect(speedup >= 1.0, "not slower than cuBLAS fp16");
}

// Enough uploaded copies of one layer to exceed twice the L2 cache.
template <quant::Scheme S>
using device_copies = std::vector<std::unique_ptr<quant::cuda::device_linear<S>>>;

template <quant::Scheme S>
device_copies<S> upload(const quant::QuantizedLinear<S>& layer) {
    device_copies<S> dev;
    dev.push_back(std::make_unique<quant::cuda::device_linear<S>>(layer));
    const std::size_t copies = copies_for(dev[0]->weight_bytes());
    while (dev.size() < copies) dev.push_back(std::make_unique<quant::cuda::device_linear<S>>(layer));
    return dev;
}

template <class Q, quant::Scheme S>
result bench_quant(const char* name, const device_copies<S>& dev, std::size_t m) {
    const std::size_t in = dev[0]->in_features(), out = dev[0]->out_features(), copies = dev.size();
    quant::cuda::device_buffer<Q> x(m * in), y(m * out);
    QUANT_CUDA_CHECK(cudaMemset(x.data(), 0x3c, x.size_bytes()));
    const quant::const_matrix_view<Q> xv(x.data(), m, in, in, quant::device_kind::cuda);
    const quant::matrix_view<Q> yv(y.data(), m, out, out, quant::device_kind::cuda);
    const double us = time_us([&](std::size_t i) { dev[i % copies]->forward(xv, yv); }, copies);
    return {name, us, dev[0]->weight_bytes()};
}

template <quant::Scheme S>
quant::QuantizedLinear<S> make_layer(const std::vector<float>& w, std::size_t out, std::size_t in,
                                     const typename S::params& p, quant::dtype compute) {
    auto l = quant::QuantizedLinear<S>::from_dense(quant::const_matrix_view<float>(w.data(), out, in), {}, p);
    l.set_compute(compute);
    return l;
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    try {
        cudaDeviceProp prop{};
        QUANT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        const double bw = copy_bandwidth();
        std::printf("device: %s, L2 %.0f MB, device-to-device copy bandwidth %.0f GB/s (read + write)\n\n", prop.name,
                    l2_bytes() / 1e6, bw / 1e9);
        cublasHandle_t h{};
        BENCH_CUBLAS_CHECK(cublasCreate(&h));

        struct shape {
            std::size_t out, in;
        };
        std::vector<shape> shapes = {{4096, 4096}, {4096, 11008}, {11008, 4096}, {8192, 8192}};
        if (quick) shapes.resize(1);
        std::printf("| out x in | m | kernel | us | vs cuBLAS fp16 | weight GB/s | %% copy bw |\n");
        std::printf("|---|---|---|---|---|---|---|\n");
        std::mt19937_64 rng(1);
        for (const auto& sh : shapes) {
            std::normal_distribution<float> d(0.0f, 0.02f);
            std::vector<float> w(sh.out * sh.in);
            for (auto& v : w) v = d(rng);
            using quant::dtype;
            const auto nf4 = upload(make_layer<quant::NF4>(w, sh.out, sh.in, {.block = 64}, dtype::f16));
            const auto nf4dq =
                upload(make_layer<quant::NF4>(w, sh.out, sh.in, {.block = 64, .double_quant = true}, dtype::f16));
            const auto nf4bf = upload(make_layer<quant::NF4>(w, sh.out, sh.in, {.block = 64}, dtype::bf16));
            const auto int4 = upload(make_layer<quant::BlockwiseInt4>(w, sh.out, sh.in, {.block = 64}, dtype::f16));
            const auto int8 = upload(make_layer<quant::AbsmaxInt8>(
                w, sh.out, sh.in, {.activations = quant::int8_activations::none}, dtype::f16));
            const auto llm_int8 = upload(make_layer<quant::AbsmaxInt8>(
                w, sh.out, sh.in, {.activations = quant::int8_activations::rowwise}, dtype::f16));
            for (std::size_t m : {1, 16, 128}) {
                std::vector<result> r;
                r.push_back(bench_cublas<quant::half>(h, CUDA_R_16F, "cuBLAS fp16", sh.out, sh.in, m));
                r.push_back(bench_cublas<quant::bfloat16>(h, CUDA_R_16BF, "cuBLAS bf16", sh.out, sh.in, m));
                r.push_back(bench_quant<quant::half>("NF4 fp16", nf4, m));
                r.push_back(bench_quant<quant::half>("NF4+dq fp16", nf4dq, m));
                r.push_back(bench_quant<quant::bfloat16>("NF4 bf16", nf4bf, m));
                r.push_back(bench_quant<quant::half>("int4 fp16", int4, m));
                r.push_back(bench_quant<quant::half>("int8 fp16", int8, m));
                r.push_back(bench_quant<quant::half>("LLM.int8() fp16", llm_int8, m));
                for (const auto& e : r) {
                    const double gbs = static_cast<double>(e.bytes) / (e.us * 1e-6) / 1e9;
                    std::printf("| %zux%zu | %zu | %s | %.1f | %.2fx | %.0f | %.0f%% |\n", sh.out, sh.in, m,
                                e.name.c_str(), e.us, r[0].us / e.us, gbs, 100.0 * gbs * 1e9 / bw);
                    check_target(sh.out, sh.in, m, e, r[0].us, bw);
                }
                std::fflush(stdout);
            }
        }
        cublasDestroy(h);
        std::printf("\nTargets (BENCHMARKS.md): %zu checked, %zu missed\n", targets_checked, targets_missed.size());
        for (const auto& t : targets_missed) std::printf("  missed: %s\n", t.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
