// FP4: bitsandbytes' 4-bit float (sign, 2-bit exponent, 1-bit mantissa). Same container and
// rules as NF4 (schemes/bnb4bit.hpp), other codebook.
#pragma once

#include "bnb4bit.hpp"

namespace quant {

struct fp4_traits {
    static constexpr std::string_view name = "fp4";
    static constexpr const numeric::codebook4& codebook = numeric::fp4_codebook;
    // Round-trip relative RMSE on N(0,1) weights [256, 768] at block 64: measured 0.1220 (NF4:
    // 0.0919); FP4's levels are not placed for a normal distribution.
    static constexpr double rmse_bound = 0.128;
};

using FP4 = Bnb4bit<fp4_traits>;

static_assert(FP4::bits_per_weight({.block = 64, .double_quant = false}) == 4.5);

}  // namespace quant
