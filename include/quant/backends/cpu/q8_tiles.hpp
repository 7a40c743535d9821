// The 4-bit weights re-laid for the int8-activation GEMV (q8_gemv_avx512.hpp), built once when a
// layer is prepared for int8 activations: tiles of 16 weight rows, group by group.
//
// Why: the row-major kernel at m = 1 reads one weight row at a time (one stream, which the
// prefetchers serve best), and for each group of one row loads three activation vectors (codes,
// lane sums, lane scales: 192 bytes) against 36-72 bytes of weights; several rows at once share
// those loads but read several streams (four rows measured 30-40% slower from DRAM). In tiles the
// 16 rows' group g lie side by side: 16 rows share each activation load and still read one
// sequential stream.
//
// Layout: tile t (rows 16t .. 16t+15, rows past the last are zeros), group g, at
// data + (t * groups + g) * stride, stride = 16 * (4 S + group / 2) bytes:
//   16 x S float32   the row's weight scales of the group, lanes 16 / S at a time (S = 1, 2, 4)
//   16 x group / 2   the row's codes of the group (one byte per two weights), group 128:
//                    int4     byte 4i + j: element 8i + j in the low nibble, 8i + 4 + j in the high
//                    NF4/FP4  the 64 bytes as bitsandbytes packs them
// Codes past the row's end are zeros; their activations are zeros too (prepare_q8_row).
// Bits per weight: 4 + 32 S / 128 with S = 128 / block (1 from block 128 up): 4.25 at block 128,
// 4.5 at 64, 5 at 32, as the schemes' own formats: the memory is that of the weights once more.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "../../tensor/aligned.hpp"

namespace quant::cpu {

struct q8_tiles {
    static constexpr std::size_t rows = 16;
    // bytes of a (tile, group): the rows' S scales, then their group / 2 code bytes each
    static constexpr std::size_t scale_bytes(int S) { return rows * std::size_t(S) * sizeof(float); }
    static constexpr std::size_t stride(int S, std::size_t group) { return scale_bytes(S) + rows * (group / 2); }
    aligned_vector<std::uint8_t> data;  // empty: no tiles (the kernels read the scheme's layout)
    std::size_t groups = 0;             // groups per row
    int scales = 0;                     // S: weight scales per row and group

    bool empty() const { return data.empty(); }
    std::size_t bytes() const { return data.size(); }
};

namespace detail {
// The tile layout for `out` rows of `groups` groups of `group` weights; fill(r, g, scales, codes)
// writes row r's S scales and group / 2 code bytes of group g (both zeroed before).
template <class Fill>
q8_tiles make_tiles(std::size_t out, std::size_t groups, std::size_t group, int S, const Fill& fill) {
    q8_tiles t;
    t.groups = groups;
    t.scales = S;
    const std::size_t sb = q8_tiles::scale_bytes(S), cb = group / 2, stride = q8_tiles::stride(S, group);
    const std::size_t tiles = (out + q8_tiles::rows - 1) / q8_tiles::rows;
    t.data.assign(tiles * groups * stride + 64, 0);  // + 64: the scale loads of the last group read 16 bytes
    for (std::size_t r = 0; r < out; ++r) {
        const std::size_t u = r % q8_tiles::rows;
        for (std::size_t g = 0; g < groups; ++g) {
            std::uint8_t* base = t.data.data() + (r / q8_tiles::rows * groups + g) * stride;
            float s[4] = {};
            fill(r, g, s, base + sb + u * cb);
            std::memcpy(base + u * std::size_t(S) * sizeof(float), s, std::size_t(S) * sizeof(float));
        }
    }
    return t;
}
}  // namespace detail

// int4, any block: groups of 128 (int4_q8_tile_codes: byte 4i + j of a group holds element 8i + j
// in its low nibble, 8i + 4 + j in its high); S = 128 / block (lane i's elements 8i .. 8i+7 in
// scale 8i * S / 128)
inline q8_tiles make_q8_tiles(const BlockwiseInt4::storage& st) {
    const std::size_t B = st.params.block, groups = (st.cols + 127) / 128;
    const int S = int(128 / B);
    return detail::make_tiles(st.rows, groups, 128, S, [&](std::size_t r, std::size_t g, float* s, std::uint8_t* c) {
        for (int h = 0; h < S; ++h) {
            const std::size_t k = (128 * g + std::size_t(h) * B) / B;
            if (k < st.blocks_per_row()) s[h] = st.scale(r, k);
        }
        for (std::size_t j = 0; j < 128; ++j) {
            const std::size_t e = 128 * g + j;
            if (e >= st.cols) break;
            const std::size_t i = e % B;
            const std::uint8_t byte = st.codes(r, e / B)[i % (B / 2)];
            const std::uint8_t nib = i < B / 2 ? byte & 0x0f : byte >> 4;
            const std::size_t b = 4 * (j / 8) + j % 4;  // j's byte; its high nibble from j % 8 >= 4
            c[b] |= static_cast<std::uint8_t>(j % 8 < 4 ? nib : nib << 4);
        }
    });
}

// bnb 4-bit, rows holding whole blocks: groups of 128 (64 code bytes as packed); S = 128 / block
// below block 128 (lane i's elements 8i .. 8i+7 in scale 8i * S / 128), else 1. absmax: the
// block absmaxes (double quantization decoded).
template <class Traits>
q8_tiles make_q8_tiles(const typename Bnb4bit<Traits>::storage& st, const float* absmax) {
    const std::size_t B = st.params.block, in = st.cols, groups = (in + 127) / 128;
    const int S = B < 128 ? int(128 / B) : 1;
    return detail::make_tiles(st.rows, groups, 128, S, [&](std::size_t r, std::size_t g, float* s, std::uint8_t* c) {
        const std::size_t e0 = r * in + 128 * g, n = std::min<std::size_t>(128, in - 128 * g);
        for (int h = 0; h < S; ++h)
            if (128 * g + std::size_t(h) * B < in) s[h] = absmax[(e0 + std::size_t(h) * B) / B];
        std::memcpy(c, st.packed.data() + e0 / 2, n / 2);
    });
}

}  // namespace quant::cpu
