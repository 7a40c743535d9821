// The row-scaled weights the SIMD decoders of every width read (decoders_avx2.hpp,
// decoders_avx512.hpp): where a row starts, how long it is, and its scale. The decoders add the
// chunk width and the vector code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../numeric/half.hpp"
#include "../../schemes/absmax_int8.hpp"

namespace quant::cpu {

// int8 codes, row-major; row r scaled by SCB[r] / 127
struct int8_rows {
    const std::int8_t* cb;
    const float* scb;
    std::size_t in;

    struct cursor {
        const std::int8_t* codes;
        float scale;
        std::size_t left;
    };
    cursor row(std::size_t r) const { return {cb + r * in, scb[r] * AbsmaxInt8::inv127, in}; }
    static float row_scale(const cursor& p) { return p.scale; }
};

// float16 values, row-major, unscaled
struct f16_rows {
    const half* values;
    std::size_t in;

    struct cursor {
        const std::uint16_t* row;
        std::size_t left;
    };
    cursor row(std::size_t r) const { return {reinterpret_cast<const std::uint16_t*>(values) + r * in, in}; }
    static float row_scale(const cursor&) { return 1.0f; }
};

}  // namespace quant::cpu
