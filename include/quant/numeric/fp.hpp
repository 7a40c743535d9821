// Floating-point helpers for bit-exact reference code.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

namespace quant::numeric::fp {

// Returns x unchanged, but the compiler can no longer fuse the operation that produced x with the
// one that consumes it into a fused multiply-add (GCC contracts a*b+c by default in GNU mode on
// FMA targets). Formats defined by a sequence of float32 roundings use it where a product meets a
// sum, so the result does not depend on -march or -ffp-contract.
inline float no_contract(float x) {
#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && (defined(__x86_64__) || defined(__i386__))
    asm("" : "+x"(x));
#elif defined(__GNUC__) && !defined(__CUDA_ARCH__) && defined(__aarch64__)
    asm("" : "+w"(x));
#else
    volatile float v = x;
    x = v;
#endif
    return x;
}

namespace detail {

// torch's row_sum over `size` elements of type T (a float or a vector of floats): 4 interleaved
// accumulators, each a 4-level cascade with 2^4-element steps (level_power is max(4, ceil(log2
// size) / 4), which is 4 below 2^20 elements), the leftovers into accumulator 0, then 1..3 added.
template <class T, class Load, class Add>
T torch_row_sum(std::size_t size, const Load& load, const Add& add) {
    constexpr std::size_t ilp = 4, levels = 4;
    const std::size_t rows = size / ilp;
    std::size_t clog2 = 1;
    if (rows > 2)
        while ((std::size_t{1} << clog2) < rows) ++clog2;
    const std::size_t level_power = std::max<std::size_t>(4, clog2 / levels);
    const std::size_t level_step = std::size_t{1} << level_power, level_mask = level_step - 1;
    std::array<std::array<T, ilp>, levels> acc{};
    std::size_t i = 0;
    while (i + level_step <= rows) {
        for (std::size_t j = 0; j < level_step; ++j, ++i)
            for (std::size_t k = 0; k < ilp; ++k) add(acc[0][k], load(i * ilp + k));
        for (std::size_t j = 1; j < levels; ++j) {
            for (std::size_t k = 0; k < ilp; ++k) {
                add(acc[j][k], acc[j - 1][k]);
                acc[j - 1][k] = T{};
            }
            if ((i & (level_mask << (j * level_power))) != 0) break;
        }
    }
    for (; i < rows; ++i)
        for (std::size_t k = 0; k < ilp; ++k) add(acc[0][k], load(i * ilp + k));
    for (std::size_t j = 1; j < levels; ++j)
        for (std::size_t k = 0; k < ilp; ++k) add(acc[0][k], acc[j][k]);
    T total = acc[0][0];
    for (std::size_t t = rows * ilp; t < size; ++t) add(total, load(t));
    for (std::size_t k = 1; k < ilp; ++k) add(total, acc[0][k]);
    return total;
}

}  // namespace detail

// The float32 sum that torch.sum / torch.mean compute for a contiguous CPU tensor
// (aten/src/ATen/native/cpu/SumKernel.cpp, cascade_sum): fewer than Lanes values go through one
// scalar row_sum; otherwise Lanes-wide vectors go through row_sum, then the scalar tail is added
// in order, then the lanes in order. Lanes is the width of the Vectorized<float> that torch's
// kernel runs with; 8 (its AVX2 kernel) is what torch 2.x uses on x86-64 machines here, checked
// against torch on sizes 1 to 20000 (tools/make_bnb_fixtures.py cases cover it too). Exact for
// one thread, i.e. below torch's grain size of 32768 values; above it torch splits the sum across
// its threads, in an order that depends on how many it has.
template <std::size_t Lanes = 8>
float torch_sum(std::span<const float> x) {
    auto add1 = [](float& a, float b) { a = a + b; };
    if (x.size() < Lanes) return detail::torch_row_sum<float>(x.size(), [&](std::size_t i) { return x[i]; }, add1);
    using vec = std::array<float, Lanes>;
    const std::size_t nvec = x.size() / Lanes;
    const vec v = detail::torch_row_sum<vec>(
        nvec,
        [&](std::size_t i) {
            vec r;
            for (std::size_t l = 0; l < Lanes; ++l) r[l] = x[i * Lanes + l];
            return r;
        },
        [](vec& a, const vec& b) {
            for (std::size_t l = 0; l < Lanes; ++l) a[l] = a[l] + b[l];
        });
    float total = 0.0f;
    for (std::size_t t = nvec * Lanes; t < x.size(); ++t) total += x[t];
    for (std::size_t l = 0; l < Lanes; ++l) total += v[l];
    return total;
}

}  // namespace quant::numeric::fp
