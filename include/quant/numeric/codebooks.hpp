// The 16-entry codebooks of bitsandbytes' 4-bit types and the rule that picks a code.
//
// Values: bitsandbytes/functional.py `get_4bit_type` (the same float32 literals as its
// `_NF4_QUANT_TABLE` / `_FP4_QUANT_TABLE`). NF4 are the quantiles of N(0,1) scaled to [-1,1]
// (Dettmers et al., QLoRA, 2023); code 7 is exactly 0.
// Nearest code: bitsandbytes' CPU quantizer (backends/default/ops.py, quantize_4bit) compares the
// scaled value with the float32 midpoints of the *sorted* codebook and takes the bucket with
// `torch.bucketize(right=False)`: a value exactly on a midpoint goes to the lower code.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <string_view>

namespace quant::numeric {

struct codebook4 {
    std::string_view name;
    std::array<float, 16> values;  // indexed by code: the `quant_map` bitsandbytes stores

    // codes sorted by value (stable: equal values keep index order) and the float32 midpoints
    // between neighbours in that order; what the quantizer searches.
    struct sorted_t {
        std::array<std::uint8_t, 16> order;
        std::array<float, 15> midpoints;
    };

    constexpr sorted_t sorted() const {
        sorted_t s{};
        std::array<std::uint8_t, 16> idx{};
        for (std::uint8_t i = 0; i < 16; ++i) idx[i] = i;
        // insertion sort: constexpr and stable
        for (int i = 1; i < 16; ++i) {
            const std::uint8_t key = idx[i];
            int j = i - 1;
            while (j >= 0 && values[idx[j]] > values[key]) {
                idx[j + 1] = idx[j];
                --j;
            }
            idx[j + 1] = key;
        }
        s.order = idx;
        for (int i = 0; i < 15; ++i) s.midpoints[i] = (values[idx[i]] + values[idx[i + 1]]) / 2.0f;
        return s;
    }

    // The values as int8, round(127 v) half away from zero: what a code multiplies with int8
    // activations (schemes/q8_activations.hpp), the block's scale then being absmax / 127.
    // Error at most 0.5/127 of the absmax, far below the 4-bit grid's own (NF4 steps are >= 0.08).
    constexpr std::array<std::int8_t, 16> int8() const {
        std::array<std::int8_t, 16> q{};
        for (std::size_t i = 0; i < 16; ++i) {
            const float v = values[i] * 127.0f;
            q[i] = static_cast<std::int8_t>(v >= 0.0f ? static_cast<int>(v + 0.5f) : -static_cast<int>(-v + 0.5f));
        }
        return q;
    }
};

#define QUANT_NF4_VALUES                                                                            \
    {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,                     \
     -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,                    \
     0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,       \
     0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f}
inline constexpr codebook4 nf4_codebook{"nf4", QUANT_NF4_VALUES};
#undef QUANT_NF4_VALUES

// bitsandbytes' FP4 (1 sign, 2 exponent, 1 mantissa bit, its own bias): sign in bit 3. Code 8 is
// +0.0 in the quant_map bitsandbytes stores and in its generic dequantization; its native CPU
// kernel decodes the sign bit and yields -0.0 there. We follow the stored map.
inline constexpr codebook4 fp4_codebook{
    "fp4",
    {0.0f, 0.005208333333f, 0.66666667f, 1.0f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
     0.0f, -0.005208333333f, -0.66666667f, -1.0f, -0.33333333f, -0.5f, -0.16666667f, -0.25f}};

// Code of the entry nearest to `x` (x already scaled into [-1, 1]); ties to the lower value.
template <const codebook4& CB>
inline std::uint8_t nearest_code(float x) {
    static constexpr auto s = CB.sorted();
    // count of midpoints strictly below x == bucketize(x, midpoints, right=False)
    int k = 0;
    for (int i = 0; i < 15; ++i) k += (s.midpoints[i] < x) ? 1 : 0;
    return s.order[k];
}

}  // namespace quant::numeric
