// NF4: bitsandbytes' 4-bit NormalFloat (QLoRA). Container and rules: schemes/bnb4bit.hpp.
#pragma once

#include "bnb4bit.hpp"

namespace quant {

struct nf4_traits {
    static constexpr std::string_view name = "nf4";
    static constexpr const numeric::codebook4& codebook = numeric::nf4_codebook;
    // Round-trip relative RMSE, ||W - deq(W)|| / ||W||, on N(0,1) weights [256, 768] at block 64:
    // measured 0.0919 (0.0874 at block 32, 0.0955 at 128; double quant adds 0.0000x). The bound
    // holds from block 32 to 128 and leaves room for other seeds, not for a bug
    // (tests/test_schemes.cpp).
    static constexpr double rmse_bound = 0.098;
};

using NF4 = Bnb4bit<nf4_traits>;

static_assert(NF4::bits_per_weight({.block = 64, .double_quant = false}) == 4.5);
static_assert(NF4::bits_per_weight({.block = 64, .double_quant = true}) == 4.126953125);  // 4 + 1/8 + 1/512

}  // namespace quant
