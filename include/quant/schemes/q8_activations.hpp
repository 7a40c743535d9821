// Activations quantized to int8 in blocks of 32, for the 4-bit weight schemes (NF4, FP4, int4):
// the rule of llama.cpp's Q8_0 (ggml-quants.c, quantize_row_q8_0: d = amax / 127), which lets the
// CPU multiply the 4-bit codes with int8 activations (AVX-512 VNNI vpdpbusd, 64 products an
// instruction) instead of decoding every weight to a float. Opt-in, per layer
// (forward_options::activations = activation_quant::int8): it rounds the activations, which
// bitsandbytes' compute dtypes do not. LLM.int8() (int8 weights) has its own rule, row-wise with
// outliers: schemes/absmax_int8.hpp.
//
// Definition (the reference backend computes it; every fast path equals it up to float
// summation order):
//   * x block b = x[i, 32b .. 32b+31] of one row (the last may be shorter): amax = max |x|,
//     d = amax / 127 (float32), q = round_half_even(x * (127 / amax)) (float32 product; llama.cpp
//     rounds half away from zero), q = 0 where amax = 0 or 127 / amax overflows (amax < 3.7e-37,
//     nothing a float32 sum would keep next to normal values); a block holding a NaN or an infinity gets
//     d = NaN and q = 0, so its row's outputs are NaN, as in float arithmetic.
//   * weights: code c of a block with scale s becomes int8_codebook[c] * s * int8_unit:
//     NF4/FP4 round(127 v) (numeric/codebooks.hpp) with s = absmax, unit 1/127; int4 c - 8
//     exactly, with s = its scale d, unit 1.
//   * y[i, o] = sum_k w8[o, k] s[o, k] unit q[i, k] d[i, k / 32], + bias, rounded to the compute
//     dtype (x itself is quantized from float32, not rounded to the compute dtype first).
// Bits per activation: 8 + 32/32 = 9.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

namespace quant {

// How a 4-bit weight-only layer multiplies: with the activations as they are (rounded to the
// compute dtype) or quantized to int8 in blocks of 32 (Q8Activations).
enum class activation_quant : std::uint8_t { none, int8 };

struct Q8Activations {
    static constexpr std::size_t block = 32;
    static constexpr double bits_per_activation = 8.0 + 32.0 / block;

    static constexpr std::size_t blocks(std::size_t n) { return (n + block - 1) / block; }

    // One row of n values: q[n] codes, d[blocks(n)] scales.
    static void quantize_row(const float* x, std::size_t n, std::int8_t* q, float* d) {
        for (std::size_t b = 0; b < blocks(n); ++b) {
            const std::size_t k0 = b * block, k1 = std::min(n, k0 + block);
            float amax = 0.0f;
            bool finite = true;
            for (std::size_t k = k0; k < k1; ++k) {
                finite = finite && std::isfinite(x[k]);
                amax = std::max(amax, std::fabs(x[k]));
            }
            const float s = 127.0f / amax;  // inf for amax = 0
            if (!finite || !std::isfinite(s)) {
                d[b] = finite ? 0.0f : std::numeric_limits<float>::quiet_NaN();
                std::fill(q + k0, q + k1, std::int8_t{0});
                continue;
            }
            d[b] = amax / 127.0f;
            for (std::size_t k = k0; k < k1; ++k) q[k] = static_cast<std::int8_t>(std::nearbyint(x[k] * s));
        }
    }
};
static_assert(Q8Activations::bits_per_activation == 9.0);

}  // namespace quant
