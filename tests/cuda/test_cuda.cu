// Every CUDA kernel against the reference backend, on a GPU (scripts/gpu_check.sh runs it, also
// under compute-sanitizer). Not run by CI, which has no GPU; CI compiles it.
//
// For each scheme (NF4, FP4, with and without double quant, several blocks; int4 at blocks 32,
// 64, 128; int8), odd shapes (out 1, 3, 17, ...; in not a multiple of any block), m in
// {1, 2, 3, 8, 9, 16, 33, 128} (GEMV, GEMM and split-k paths), activations float (compute f32, f16, bf16), half
// and bfloat16, with and without bias, strided and unaligned rows:
//   * forward: y is poisoned with NaN first; every element must be within a tolerance derived
//     from the compute dtype of the reference, and the row padding of y must stay untouched;
//   * dequantize: bit-exact with the host dequantization (rounded to the output type).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <quant/cuda.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

int failures = 0, checks = 0;

template <class... A>
void fail(const char* fmt, A... a) {
    if (++failures <= 30) {
        std::printf("FAIL: ");
        std::printf(fmt, a...);
        std::printf("\n");
    }
}

std::vector<float> gaussian(std::size_t n, std::mt19937_64& rng, float sigma = 1.0f) {
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

template <class Q>
Q from_f(float v) {
    if constexpr (std::is_same_v<Q, float>)
        return v;
    else
        return Q(v);
}

// Unit roundoff of the compute dtype.
double eps_of(quant::dtype t) {
    switch (t) {
        case quant::dtype::f16:
            return std::ldexp(1.0, -11);
        case quant::dtype::bf16:
            return std::ldexp(1.0, -8);
        case quant::dtype::f32:
            break;
    }
    return std::ldexp(1.0, -24);
}

template <class Q>
std::vector<std::uint8_t> bytes_of(const quant::cuda::device_buffer<Q>& b) {
    std::vector<std::uint8_t> h(b.size_bytes());
    QUANT_CUDA_CHECK(cudaMemcpy(h.data(), b.data(), h.size(), cudaMemcpyDeviceToHost));
    return h;
}

template <quant::Scheme S, class Q>
void check_forward(const std::string& label, const quant::QuantizedLinear<S>& host,
                   const quant::cuda::device_linear<S>& dev, std::size_t m, bool aligned, std::mt19937_64& rng) {
    // LLM.int8() sums integers: the GPU must reproduce the reference bit for bit
    bool exact = false;
    if constexpr (std::is_same_v<S, quant::AbsmaxInt8>)
        exact = host.weight().parameters().activations == quant::int8_activations::rowwise;
    const std::size_t in = host.in_features(), out = host.out_features();
    const quant::dtype compute = host.options().compute;
    const std::size_t ldx = aligned ? in : in + 3, ldy = out + 3;
    // activations: representable in Q, so host and device see the same values
    auto xf = gaussian(m * in, rng);
    std::vector<Q> xq(m * ldx, from_f<Q>(0.0f));
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t k = 0; k < in; ++k) {
            xq[i * ldx + k] = from_f<Q>(xf[i * in + k]);
            xf[i * in + k] = static_cast<float>(xq[i * ldx + k]);
        }
    quant::row_matrix x(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(in));
    std::copy(xf.begin(), xf.end(), x.data());
    const quant::row_matrix ref = host.forward(x);

    // tolerance: the result rounded to the compute dtype (1 ulp either way) + float32 summation in
    // any order, twice the bound of round-to-nearest (tensor cores truncate while they accumulate)
    quant::row_matrix wr = host.dequantize(), xr = x;  // the operands as rounded to the compute dtype
    for (auto* mat : {&wr, &xr})
        for (Eigen::Index k = 0; k < mat->size(); ++k)
            mat->data()[k] = std::fabs(quant::round_to(compute, mat->data()[k]));
    const quant::row_matrix mag = xr * wr.transpose();  // sum_k |x_ik w_ok|
    quant::cuda::device_buffer<Q> dx{std::span<const Q>(xq)};
    quant::cuda::device_buffer<Q> dy(m * ldy);
    QUANT_CUDA_CHECK(cudaMemset(dy.data(), 0xff, dy.size_bytes()));  // NaN in every float type
    dev.forward(quant::const_matrix_view<Q>(dx.data(), m, in, ldx, quant::device_kind::cuda),
                quant::matrix_view<Q>(dy.data(), m, out, ldy, quant::device_kind::cuda));
    QUANT_CUDA_CHECK(cudaDeviceSynchronize());
    const auto yb = bytes_of(dy);
    const auto* y = reinterpret_cast<const Q*>(yb.data());
    const double eps = eps_of(compute);
    int bad = 0;
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t o = 0; o < out; ++o) {
            const double r = ref(i, o), g = static_cast<float>(y[i * ldy + o]);
            const double tol =
                exact ? 0.0 : 2 * eps * std::fabs(r) + (in + 2) * std::ldexp(1.0, -23) * mag(i, o) + 1e-7;
            ++checks;
            if (!(std::fabs(g - r) <= tol) && bad++ < 3)
                fail("%s m=%zu: y[%zu,%zu] = %.9g, reference %.9g (tol %.3g)", label.c_str(), m, i, o, g, r, tol);
        }
        for (std::size_t o = out; o < ldy; ++o)
            for (std::size_t b = 0; b < sizeof(Q); ++b)
                if (yb[(i * ldy + o) * sizeof(Q) + b] != 0xff && bad++ < 3)
                    fail("%s m=%zu: wrote outside the output view at [%zu,%zu]", label.c_str(), m, i, o);
    }
}

template <quant::Scheme S, class Q>
void check_dequantize(const std::string& label, const quant::QuantizedLinear<S>& host,
                      const quant::cuda::device_linear<S>& dev) {
    const std::size_t rows = host.out_features(), cols = host.in_features(), ld = cols + 1;
    quant::cuda::device_buffer<Q> d(rows * ld);
    QUANT_CUDA_CHECK(cudaMemset(d.data(), 0xff, d.size_bytes()));
    dev.dequantize(quant::matrix_view<Q>(d.data(), rows, cols, ld, quant::device_kind::cuda));
    QUANT_CUDA_CHECK(cudaDeviceSynchronize());
    const auto got = d.to_host();
    const auto want = host.weight().dequantize();
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t c = 0; c < cols; ++c) {
            ++checks;
            const Q w = from_f<Q>(want[r * cols + c]);
            if (std::memcmp(&w, &got[r * ld + c], sizeof(Q)) != 0) {
                fail("%s dequantize<%zu bytes>: [%zu,%zu] = %.9g, expected %.9g", label.c_str(), sizeof(Q), r, c,
                     static_cast<double>(static_cast<float>(got[r * ld + c])), static_cast<double>(want[r * cols + c]));
                return;
            }
        }
}

struct shape {
    std::size_t out, in;
};
// in = 4100: the GEMM splits the in dimension (split-k) into up to 8 ranges
const shape shapes[] = {{1, 17}, {3, 64}, {17, 257}, {40, 1031}, {130, 96}, {65, 700}, {20, 4100}};
// m <= 8: GEMV; 9..16: GEMM with 16-row tiles; above: 64-row tiles (f32 compute: GEMV for all m)
const std::size_t ms[] = {1, 2, 3, 8, 9, 16, 33, 128};

template <quant::Scheme S>
void run_scheme(const std::string& name, const typename S::params& p, std::mt19937_64& rng) {
    for (const auto& sh : shapes) {
        const auto w = gaussian(sh.out * sh.in, rng, 0.05f);
        const auto b = gaussian(sh.out, rng);
        for (bool with_bias : {false, true}) {
            auto host = quant::QuantizedLinear<S>::from_dense(
                quant::const_matrix_view<float>(w.data(), sh.out, sh.in),
                with_bias ? std::span<const float>(b) : std::span<const float>{}, p);
            const std::string base =
                name + " " + std::to_string(sh.out) + "x" + std::to_string(sh.in) + (with_bias ? " bias" : "");
            for (quant::dtype c : {quant::dtype::f32, quant::dtype::f16, quant::dtype::bf16}) {
                host.set_compute(c);
                const quant::cuda::device_linear<S> dev(host);
                const std::string label = base + " x=f32 compute=" + quant::dtype_name(c);
                for (std::size_t m : ms) check_forward<S, float>(label, host, dev, m, m % 2 == 0, rng);
                if (c == quant::dtype::f16)
                    for (std::size_t m : ms)
                        check_forward<S, quant::half>(base + " x=f16", host, dev, m, m % 2 == 1, rng);
                if (c == quant::dtype::bf16)
                    for (std::size_t m : ms)
                        check_forward<S, quant::bfloat16>(base + " x=bf16", host, dev, m, m % 2 == 1, rng);
                if (c == quant::dtype::f32 && !with_bias) {
                    check_dequantize<S, float>(base, host, dev);
                    check_dequantize<S, quant::half>(base, host, dev);
                    check_dequantize<S, quant::bfloat16>(base, host, dev);
                }
            }
        }
    }
    std::printf("%-28s done (%d failures so far)\n", name.c_str(), failures);
}

void check_errors() {
    quant::row_matrix w = quant::row_matrix::Random(4, 32);
    const auto dev = quant::cuda::to_device(quant::QuantizedLinear<quant::NF4>::from_dense(w));
    std::vector<float> x(32), y(4);
    try {  // host pointers in a host view
        dev.forward(quant::const_matrix_view<float>(x.data(), 1, 32), quant::matrix_view<float>(y.data(), 1, 4));
        fail("forward accepted host views");
    } catch (const quant::error&) {
    }
    ++checks;
}

}  // namespace

int main() {
    std::mt19937_64 rng(20261125);
    try {
        cudaDeviceProp prop{};
        QUANT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
        std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
        check_errors();
        run_scheme<quant::NF4>("nf4 block 64", {.block = 64}, rng);
        run_scheme<quant::NF4>("nf4 block 64 double-quant", {.block = 64, .double_quant = true}, rng);
        run_scheme<quant::NF4>("nf4 block 32 double-quant", {.block = 32, .double_quant = true}, rng);
        run_scheme<quant::NF4>("nf4 block 256", {.block = 256}, rng);
        run_scheme<quant::FP4>("fp4 block 64", {.block = 64}, rng);
        run_scheme<quant::FP4>("fp4 block 128 double-quant", {.block = 128, .double_quant = true}, rng);
        run_scheme<quant::BlockwiseInt4>("int4 block 32", {.block = 32}, rng);
        run_scheme<quant::BlockwiseInt4>("int4 block 64", {.block = 64}, rng);
        run_scheme<quant::BlockwiseInt4>("int4 block 128", {.block = 128}, rng);
        run_scheme<quant::AbsmaxInt8>("int8", {.activations = quant::int8_activations::none}, rng);
        run_scheme<quant::AbsmaxInt8>("int8 LLM.int8()", {.activations = quant::int8_activations::rowwise}, rng);
    } catch (const std::exception& e) {
        std::printf("FAIL: exception: %s\n", e.what());
        return 1;
    }
    std::printf("%d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
