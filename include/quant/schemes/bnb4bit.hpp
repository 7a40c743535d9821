// The bitsandbytes 4-bit container shared by NF4 and FP4: a codebook of 16 values, one fp32
// absmax per block of the *flattened* row-major [out, in] weight (blocks may span rows), and
// optional double quantization of the absmax values. Byte-for-byte the layout bitsandbytes and
// transformers store (`weight`, `weight.absmax`, `weight.nested_absmax`, ...).
//
// Quantization, exactly as bitsandbytes' CPU path (backends/default/ops.py, quantize_4bit, and
// functional.py, quantize_4bit):
//   * n = out*in values, blocks of `block` values; the last block may be short.
//   * full block b:  absmax[b] = max|w|;          s = w * (1.0f / max(absmax[b], 1e-38f))
//     short tail:    absmax   = max(max|w|, 1e-38f) (stored clamped);  s = w / absmax
//     (bitsandbytes multiplies by a reciprocal for full blocks and divides for the tail; both
//     are reproduced because they round differently.) s is clamped to [-1, 1].
//   * code = nearest codebook entry, exact ties to the lower value (numeric/codebooks.hpp).
//   * packing: element 2k in the HIGH nibble of byte k, 2k+1 in the low nibble; an odd count is
//     padded with the code of 0.0.
//   * all-zero full block: absmax 0, every code is the code of 0.0; dequantizes to 0.
// Double quantization (bnb `compress_statistics=True`):
//   offset = mean(absmax) as torch computes it: its float32 cascade sum (numeric/fp.hpp), then
//   one float32 division;
//   (absmax - offset) quantized with the signed 8-bit dynamic map in blocks of 256
//   (numeric/dynamic_map.hpp) -> uint8 code per block + fp32 nested absmax per 256 blocks.
// Dequantization: absmax[b] = map[q[b]] * nested[b / 256] + offset (float32, in that order);
//   w[i] = codebook.values[c[i]] * absmax[i / block].
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "../error.hpp"
#include "../numeric/codebooks.hpp"
#include "../numeric/dynamic_map.hpp"
#include "../numeric/fp.hpp"
#include "../tensor/aligned.hpp"

namespace quant {

// One block of B weights in the bitsandbytes layout: B/2 bytes of codes. The absmax lives in a
// separate array (structure of arrays, as bitsandbytes stores it).
template <std::size_t B>
struct bnb4bit_block {
    std::array<std::uint8_t, B / 2> codes;
};
static_assert(sizeof(bnb4bit_block<64>) == 32, "NF4 block of 64 weights is 32 bytes of codes");

template <class Traits>
struct Bnb4bit {
    using traits = Traits;
    static constexpr std::string_view name = Traits::name;
    static constexpr auto& codebook = Traits::codebook;  // const codebook4&; nvcc rejects the spelled-out type here
    static constexpr double rmse_bound = Traits::rmse_bound;
    static constexpr std::size_t nested_block = 256;

    struct params {
        std::size_t block = 64;     // 32 ... 4096, a power of two (bitsandbytes' accepted sizes)
        bool double_quant = false;  // bnb_4bit_use_double_quant
    };
    // nvcc's front end rewrites `Bnb4bit::params params` below into a form that g++ then rejects
    // ("changes meaning of params"); an alias avoids it
    using params_type = params;

    struct storage {
        std::size_t rows = 0, cols = 0;
        params_type params{};
        aligned_vector<std::uint8_t> packed;       // ceil(n/2) bytes
        aligned_vector<float> absmax;              // [blocks]              (not double_quant)
        aligned_vector<std::uint8_t> qabsmax;      // [blocks]              (double_quant)
        aligned_vector<float> nested_absmax;       // [ceil(blocks / 256)]  (double_quant)
        float offset = 0.0f;                       //                       (double_quant)

        std::size_t numel() const { return rows * cols; }
        std::size_t blocks() const { return (numel() + params.block - 1) / params.block; }
        float block_absmax(std::size_t b) const {
            if (!params.double_quant) return absmax[b];
            const float a = numeric::dynamic_map_signed[qabsmax[b]] * nested_absmax[b / nested_block];
            return numeric::fp::no_contract(a) + offset;  // two float32 roundings, as bitsandbytes
        }
        std::uint8_t code(std::size_t i) const {
            const std::uint8_t byte = packed[i / 2];
            return (i % 2 == 0) ? static_cast<std::uint8_t>(byte >> 4) : static_cast<std::uint8_t>(byte & 0x0f);
        }
    };

    // bits per weight: 4 for the code, 32/B for the fp32 absmax (4.5 at B = 64); with double quant
    // 8/B for the absmax code and 32/(256 B) for the nested absmax (4.12695 at B = 64).
    static constexpr double bits_per_weight(const params& p, std::size_t /*cols*/ = 0) {
        const double b = static_cast<double>(p.block);
        return p.double_quant ? 4.0 + 8.0 / b + 32.0 / (b * nested_block) : 4.0 + 32.0 / b;
    }

    static void validate(const params& p) {
        const bool pow2 = p.block != 0 && (p.block & (p.block - 1)) == 0;
        detail::check(pow2 && p.block >= 32 && p.block <= 4096, name, ": block size ", p.block,
                      " is not supported (a power of two from 32 to 4096)");
    }

    static storage quantize(std::span<const float> w, std::size_t rows, std::size_t cols, const params& p) {
        validate(p);
        detail::check(w.size() == rows * cols, name, ": weight has ", w.size(), " values, expected ", rows, "x", cols);
        storage st;
        st.rows = rows;
        st.cols = cols;
        st.params = p;
        const std::size_t n = rows * cols, B = p.block, nblocks = st.blocks(), full = n / B;
        aligned_vector<float> absmax(nblocks);
        st.packed.assign((n + 1) / 2, 0);
        auto put = [&](std::size_t i, std::uint8_t c) {
            st.packed[i / 2] |= static_cast<std::uint8_t>((i % 2 == 0) ? (c << 4) : c);
        };
        for (std::size_t b = 0; b < nblocks; ++b) {
            const std::size_t begin = b * B, end = std::min(n, begin + B);
            float am = 0.0f;
            for (std::size_t i = begin; i < end; ++i) am = std::max(am, std::fabs(w[i]));
            if (b < full) {
                absmax[b] = am;
                const float r = 1.0f / std::max(am, 1e-38f);
                for (std::size_t i = begin; i < end; ++i)
                    put(i, numeric::nearest_code<codebook>(std::clamp(w[i] * r, -1.0f, 1.0f)));
            } else {
                am = std::max(am, 1e-38f);
                absmax[b] = am;
                for (std::size_t i = begin; i < end; ++i)
                    put(i, numeric::nearest_code<codebook>(std::clamp(w[i] / am, -1.0f, 1.0f)));
            }
        }
        if (n % 2) put(n, numeric::nearest_code<codebook>(0.0f));
        if (!p.double_quant) {
            st.absmax = std::move(absmax);
            return st;
        }
        st.offset = numeric::fp::torch_sum(absmax) / static_cast<float>(nblocks);
        aligned_vector<float> centered(nblocks);
        for (std::size_t b = 0; b < nblocks; ++b) centered[b] = absmax[b] - st.offset;
        st.qabsmax.resize(nblocks);
        st.nested_absmax.resize((nblocks + nested_block - 1) / nested_block);
        numeric::quantize_dynamic8(centered, nested_block, st.qabsmax, st.nested_absmax);
        return st;
    }

    static void dequantize_row(const storage& st, std::size_t r, std::span<float> out) {
        const std::size_t B = st.params.block, begin = r * st.cols;
        std::size_t cached_block = static_cast<std::size_t>(-1);
        float am = 0.0f;
        for (std::size_t j = 0; j < st.cols; ++j) {
            const std::size_t i = begin + j;
            if (i / B != cached_block) {
                cached_block = i / B;
                am = st.block_absmax(cached_block);
            }
            out[j] = codebook.values[st.code(i)] * am;
        }
    }

    // With int8 activations (schemes/q8_activations.hpp): code c is int8_codebook[c] in units of
    // absmax / 127. Row r as int8 values and the scale (absmax) of each element's block.
    static constexpr std::array<std::int8_t, 16> int8_codebook = codebook.int8();
    static constexpr float int8_unit = 1.0f / 127.0f;
    static void int8_row(const storage& st, std::size_t r, std::span<std::int8_t> q, std::span<float> scale) {
        const std::size_t B = st.params.block, begin = r * st.cols;
        for (std::size_t j = 0; j < st.cols; ++j) {
            const std::size_t i = begin + j;
            q[j] = int8_codebook[st.code(i)];
            scale[j] = st.block_absmax(i / B);
        }
    }

    static std::size_t size_bytes(const storage& st) {
        return st.packed.size() + st.absmax.size() * sizeof(float) + st.qabsmax.size() +
               st.nested_absmax.size() * sizeof(float) + (st.params.double_quant ? sizeof(float) : 0);
    }
};

}  // namespace quant
