// The 4-bit schemes with int8 activations (schemes/q8_activations.hpp) on AVX-512 VNNI: the
// codes become u8 in registers (NF4/FP4: vpshufb into the int8 codebook; int4: the nibbles as
// they are), vpdpbusd multiplies 64 of them with 64 int8 activations into 16 int32 lanes, and
// each lane's sum is scaled once per group of 64 or 128 weights. No weight becomes a float: per
// 128 NF4 weights about 12 instructions, where the float32 GEMV needs about 25 (8 permutes, 8
// FMAs, 7 shifts, its scale), which bounded it at 14-21 GB/s of weights from cache.
//
// vpdpbusd multiplies u8 by s8. The weights are the u8 operand, their int8 value + bias (128 for
// a codebook, whose int8 values span -127..127; 8 for int4's c - 8), and each lane then sums
// bias * (its activation codes) too: the lane's int32 sum starts at -bias * sum(codes) instead
// of 0 (computed once per call, with the activations) and ends exact.
//
// A decoder describes
//   group          weights per group: one 16-lane int32 sum (NF4 128, int4 64)
//   K              u8 vectors of 64 per group, summed into the same lanes
//   bias           as above; unit: the weights' int8 unit (Bnb4bit: 1/127, int4: 1)
//   position(e)    where element e of a group lies among its K * 64 bytes; lane = (position % 64) / 4.
//                  Every lane's elements share one activation block of 32 and one weight block.
//   row(r), decode(p, g, w[K]), scale(p, g): a row cursor, the u8 vectors of group g, the
//                  per-lane weight block scales
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_VNNI)

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "../../schemes/q8_activations.hpp"
#include "decoders_avx512.hpp"
#include "q8_tiles.hpp"

namespace quant::cpu::avx512 {

// bnb 4-bit (NF4, FP4), rows holding whole blocks. The float32 decoder's chunk of 128 codes:
// dword lane i holds elements 8i .. 8i+7 (byte 4i + j: element 8i + 2j in the high nibble,
// 8i + 2j + 1 in the low). High nibbles make vector 0, low nibbles vector 1: lane i of both holds
// elements of 8i .. 8i+7 only.
template <class Traits>
struct bnb4bit_q8_decoder {
    static constexpr std::size_t group = 128, K = 2;
    static constexpr int bias = 128, m1_rows = 1;  // m = 1: a row at a time (one stream)
    static constexpr float unit = Bnb4bit<Traits>::int8_unit;

    bnb4bit_decoder<Traits> f;  // row cursors, code loads and block scales as in float32
    __m512i table;              // int8 codebook + 128 as u8, in each 128-bit lane (vpshufb's reach)

    using cursor = typename bnb4bit_decoder<Traits>::cursor;

    bnb4bit_q8_decoder(const std::uint8_t* codes, const float* absmax, std::size_t in, std::size_t block)
        : f(codes, absmax, in, block), table(make_table()) {}

    static __m512i make_table() {
        alignas(64) std::uint8_t t[64];
        for (int i = 0; i < 64; ++i) t[i] = static_cast<std::uint8_t>(Bnb4bit<Traits>::int8_codebook[std::size_t(i % 16)] + bias);
        return _mm512_load_si512(t);
    }

    static constexpr std::size_t position(std::size_t e) { return (e & 1) * 64 + 4 * (e / 8) + (e % 8) / 2; }
    static constexpr int lanes_per_xblock = 4;  // lane i: elements 8i .. 8i+7, activation block i / 4

    // the 128 activation codes of a group, in order, to the decoder's positions: even bytes
    // (the low byte of each 16-bit word, vpmovwb) make vector 0, odd bytes vector 1
    static void arrange(const std::int8_t* in, __m512i (&v)[K]) {
        const __m512i a = _mm512_loadu_si512(in), b = _mm512_loadu_si512(in + 64);
        v[0] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(a)), _mm512_cvtepi16_epi8(b), 1);
        v[1] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srli_epi16(a, 8))),
                                  _mm512_cvtepi16_epi8(_mm512_srli_epi16(b, 8)), 1);
    }

    cursor row(std::size_t r) const { return f.row(r); }

    // the 64 code bytes of a group to its two u8 vectors (the tiled layout shares it)
    [[gnu::always_inline]] static void lookup(__m512i v, __m512i table, __m512i (&w)[K]) {
        const __m512i low = _mm512_set1_epi8(0x0f);
        w[0] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
        w[1] = _mm512_shuffle_epi8(table, _mm512_and_si512(v, low));
    }
    [[gnu::always_inline]] static void unpack(const std::uint8_t* q, __m512i table, __m512i (&w)[K]) {
        lookup(_mm512_loadu_si512(q), table, w);
    }

    [[gnu::always_inline]] void decode(const cursor& p, std::size_t g, __m512i (&w)[K]) const {
        lookup(f.load_chunk(p, g), table, w);
    }

    __m512 scale(const cursor& p, std::size_t g) const { return f.scale(p, g); }
};

// Blockwise int4's codes in the 16-row tiles (q8_tiles.hpp; no row cursor of its own): groups of
// 128 as 64 bytes, lane i (bytes 4i .. 4i+3) holding elements 8i .. 8i+7, byte 4i + j element
// 8i + j in its low nibble and 8i + 4 + j in its high. Low nibbles make vector 0, high ones vector
// 1, the nibbles as u8 (value + 8): per 128 weights one load, three ops and one scale fold, where
// groups of 64 took two of each (against those, 3 interleaved rounds: m = 8 1.27-1.47x over five
// shapes, m = 1 from cache 1.19-1.34x, from DRAM 0.98-1.20x).
struct int4_q8_tile_codes {
    static constexpr std::size_t group = 128, K = 2;
    static constexpr int bias = 8;
    static constexpr float unit = BlockwiseInt4::int8_unit;

    static constexpr std::size_t position(std::size_t e) { return e % 8 / 4 * 64 + 4 * (e / 8) + e % 4; }
    static constexpr int lanes_per_xblock = 4;  // lane i: elements 8i .. 8i+7, activation block i / 4

    // the 128 activation codes of a group to the positions: dword i (elements 4i .. 4i+3) to
    // vector i % 2, dword i / 2
    static void arrange(const std::int8_t* in, __m512i (&v)[K]) {
        const __m512i a = _mm512_loadu_si512(in), b = _mm512_loadu_si512(in + 64);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        v[0] = _mm512_permutex2var_epi32(a, even, b);
        v[1] = _mm512_permutex2var_epi32(a, _mm512_add_epi32(even, _mm512_set1_epi32(1)), b);
    }

    [[gnu::always_inline]] static void unpack(const std::uint8_t* q, __m512i, __m512i (&w)[K]) {
        const __m512i v = _mm512_loadu_si512(q), low = _mm512_set1_epi8(0x0f);
        w[0] = _mm512_and_si512(v, low);
        w[1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
    }
};

// Blockwise int4 in its own row-major layout (a layer prepared without the tiles), read as the
// tiles are (int4_q8_tile_codes: same groups, positions and activations, so both layouts sum
// every row in the same order). The group's 128 / B blocks' code bytes are loaded into one vector
// in block order (blocks past the row's end zero) and split into low and high nibbles; each
// 4-element run of a lane lies in one dword of the two, so vpermt2d puts it in place.
template <std::size_t B>
struct int4_q8_decoder : int4_q8_tile_codes {
    static constexpr int m1_rows = 1;
    static constexpr std::size_t block_bytes = int4_decoder<B>::block_bytes, blocks = 128 / B;

    int4_decoder<B> f;  // row cursors and block scales as in float32
    __m512i from[K];    // vector k, lane d: its dword of (low nibbles, high nibbles), 0..31

    using cursor = typename int4_decoder<B>::cursor;  // the row's first block

    int4_q8_decoder(const std::uint8_t* bytes, std::size_t blocks_per_row) : f(bytes, blocks_per_row) {
        alignas(64) std::int32_t idx[K][16];
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t d = 0; d < 16; ++d) {
                // elements 8d + 4k .. +3 (position); in block order byte b of block e / B holds
                // element b in its low nibble and b + B / 2 in its high
                const std::size_t e = 8 * d + 4 * k, r = e % B, byte = e / B * (B / 2) + r % (B / 2);
                idx[k][d] = static_cast<std::int32_t>(byte / 4 + (r >= B / 2 ? 16 : 0));
            }
        for (std::size_t k = 0; k < K; ++k) from[k] = _mm512_load_si512(idx[k]);
    }

    cursor row(std::size_t r) const { return f.row(r); }

    [[gnu::always_inline]] void decode(cursor p, std::size_t g, __m512i (&w)[K]) const {
        const std::uint8_t* q = p + g * blocks * block_bytes + sizeof(float);
        prefetch(q);
        __m512i v;
        if constexpr (B == 128) {
            v = _mm512_loadu_si512(q);
        } else if constexpr (B == 64) {
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
            const __m256i b = 2 * g + 1 < f.blocks_per_row ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + block_bytes))
                                                         : _mm256_setzero_si256();
            v = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
        } else {
            v = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
            for (std::size_t h = 1; h < blocks; ++h)
                if (blocks * g + h < f.blocks_per_row)
                    v = _mm512_mask_loadu_epi32(v, __mmask16(0xf << (4 * h)), q + h * block_bytes - 16 * h);
        }
        const __m512i low = _mm512_set1_epi8(0x0f), lo = _mm512_and_si512(v, low), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        for (std::size_t k = 0; k < K; ++k) w[k] = _mm512_permutex2var_epi32(lo, from[k], hi);
    }

    // lane d: the scale of block (8d) / B of the group, 0 past the row's last block
    __m512 scale(cursor p, std::size_t g) const {
        __m512 s = f.scale(p, blocks * g);
        for (std::size_t h = 1; h < blocks; ++h)
            s = _mm512_mask_mov_ps(s, __mmask16(((1u << (16 / blocks)) - 1) << (h * 16 / blocks)),
                                   blocks * g + h < f.blocks_per_row ? f.scale(p, blocks * g + h) : _mm512_setzero_ps());
        return s;
    }
};

// The 4-bit weights in 16-row tiles (q8_tiles.hpp), for bnb4bit_q8_decoder or int4_q8_tile_codes
// as Base (its groups of 128, positions and code unpacking; the tile holds each group's codes in
// Base::unpack's form) with S weight scales per row and group. m1_rows: at m = 1 a whole tile at
// a time, its rows sharing each activation load, one stream; against one row of the row-major
// layout (3 interleaved rounds, the six benchmark shapes) NF4 from DRAM 1.11-1.81x, from cache
// 1.05-1.59x; int4 from DRAM 1.03-1.90x, from cache 0.93-1.68x.
template <class Base, int S>
struct tiled_q8_decoder {
    static constexpr std::size_t group = Base::group, K = Base::K, tile = q8_tiles::rows;
    static constexpr int bias = Base::bias, lanes_per_xblock = Base::lanes_per_xblock, m1_rows = int(tile);
    static constexpr float unit = Base::unit;
    static constexpr std::size_t scale_bytes = q8_tiles::scale_bytes(S), code_bytes = group / 2,
                                 stride = q8_tiles::stride(S, group);  // bytes per tile and group
    static_assert(S == 1 || S == 2 || S == 4);
    static_assert(code_bytes == 64 && scale_bytes % 64 == 0, "a row's codes of a group: one cache line");
    // bits per weight of the tiles: 4 + 32 S / 128 (4.25, 4.5, 5 at S = 1, 2, 4), as the schemes'
    // own formats at the same block
    static constexpr double bits_per_weight = 8.0 * double(stride) / double(tile * group);
    static_assert(bits_per_weight == 4.0 + 32.0 * S / double(group));

    const std::uint8_t* data;
    std::size_t groups;
    __m512i table;       // Base's codebook as u8 (int4: unused)
    __m512i lane_scale;  // lane i: scale i * S / 16 of the row's group (S = 4; S = 2 blends two broadcasts)

    struct cursor {
        const std::uint8_t* codes;  // the row's codes of group 0
        const float* scales;        // the row's scales of group 0
    };

    tiled_q8_decoder(const q8_tiles& t, __m512i table_) : data(t.data.data()), groups(t.groups), table(table_) {
        alignas(64) std::int32_t ls[16];
        for (int i = 0; i < 16; ++i) ls[i] = i * S / 16;
        lane_scale = _mm512_load_si512(ls);
    }

    static constexpr std::size_t position(std::size_t e) { return Base::position(e); }
    static void arrange(const std::int8_t* in, __m512i (&v)[K]) { Base::arrange(in, v); }

    cursor row(std::size_t r) const {
        const std::uint8_t* base = data + r / tile * groups * stride;
        const std::size_t u = r % tile;
        return {base + scale_bytes + u * code_bytes, reinterpret_cast<const float*>(base) + u * S};
    }

    // row p + u (u < tile: the caller's rows lie in one tile), whose bytes are at fixed offsets
    // from row p's: one address per group for all of them
    [[gnu::always_inline]] void decode(const cursor& p, std::size_t g, __m512i (&w)[K], int u = 0) const {
        const std::uint8_t* q = p.codes + g * stride + std::size_t(u) * code_bytes;
        // one prefetch per cache line (a row), 1 KB ahead: 4096 x 4096 int4 from DRAM 552 -> 427 us
        // against one per row 16 KB ahead (as the row-major kernels)
        _mm_prefetch(reinterpret_cast<const char*>(q) + 1024, _MM_HINT_T0);
        Base::unpack(q, table, w);
    }

    __m512 scale(const cursor& p, std::size_t g, int u = 0) const {
        const float* a = reinterpret_cast<const float*>(reinterpret_cast<const std::uint8_t*>(p.scales + u * S) + g * stride);
        if constexpr (S == 1) return _mm512_set1_ps(*a);
        else if constexpr (S == 2) return _mm512_mask_mov_ps(_mm512_set1_ps(a[0]), __mmask16(0xff00), _mm512_set1_ps(a[1]));
        else return _mm512_permutexvar_ps(lane_scale, _mm512_castps128_ps512(_mm_loadu_ps(a)));
    }
};

// An activation row prepared for a decoder (prepare_q8).
struct q8_row {
    const std::int8_t* q;      // [groups][K * 64] codes, at the decoder's positions (0 past the row)
    const std::int32_t* init;  // [groups][16] -bias * sum of each lane's codes
    const float* scale;        // [groups][16] each lane's activation scale d, times the weights' unit
};

// An activation row quantized (Q8Activations) and laid out for decoder D, as the definition says
// element by element: the scalar reference of prepare_q8_row (tests compare the two).
template <class D>
void prepare_q8_row_scalar(const float* x, std::size_t in, std::size_t groups, std::int8_t* q, std::int32_t* init,
                           float* scale) {
    std::vector<std::int8_t> tq(in);
    std::vector<float> td(Q8Activations::blocks(in));
    Q8Activations::quantize_row(x, in, tq.data(), td.data());
    std::fill(q, q + groups * D::group, std::int8_t{0});
    std::fill(init, init + groups * 16, 0);
    std::fill(scale, scale + groups * 16, 0.0f);
    for (std::size_t k = 0; k < in; ++k) {
        const std::size_t g = k / D::group, pos = D::position(k % D::group), lane = 16 * g + pos % 64 / 4;
        q[g * D::group + pos] = tq[k];
        init[lane] -= D::bias * tq[k];
        scale[lane] = td[k / Q8Activations::block] * D::unit;
    }
}

// Q8Activations::quantize_row, 32 at a time, into tq [groups * group] and td [groups * group / 32
// + 16], both zero past the row: the same float32 operations (amax, 127 / amax, the product,
// rounding half to even by vcvtps2dq), so the same codes and scales.
inline void quantize_q8_avx512(const float* x, std::size_t in, std::size_t padded, std::int8_t* tq, float* td) {
    const std::size_t nb = Q8Activations::blocks(in);
    for (std::size_t b = 0; b < nb; ++b) {
        const std::size_t k = 32 * b, left = in - k;
        const __mmask16 m0 = first_lanes(left), m1 = left <= 16 ? __mmask16(0) : first_lanes(left - 16);
        const __m512 lo = _mm512_maskz_loadu_ps(m0, x + k), hi = _mm512_maskz_loadu_ps(m1, x + k + 16);
        const bool nan = (_mm512_cmp_ps_mask(lo, lo, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(hi, hi, _CMP_UNORD_Q)) != 0;
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
        const float s = 127.0f / amax;
        if (nan || std::isinf(amax) || std::isinf(s)) {
            td[b] = nan || std::isinf(amax) ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(tq + k), _mm256_setzero_si256());
            continue;
        }
        td[b] = amax / 127.0f;
        const __m512 sv = _mm512_set1_ps(s);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(tq + k), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(lo, sv))));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(tq + k + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(hi, sv))));
    }
    std::fill(tq + 32 * nb, tq + padded, std::int8_t{0});
    std::fill(td + nb, td + padded / 32 + 16, 0.0f);
}

// prepare_q8_row_scalar's result, vectorised (lanes past the row's end may get their block's scale: they
// multiply zeros): codes arranged by the decoder, each lane's sum by
// vpdpbusd against ones, each lane's scale by a permute of the block scales. tq and td: scratch
// of groups * group bytes and groups * group / 32 + 16 floats.
template <class D>
void prepare_q8_row(const float* x, std::size_t in, std::size_t groups, std::int8_t* q, std::int32_t* init, float* scale,
                    std::int8_t* tq, float* td) {
    quantize_q8_avx512(x, in, groups * D::group, tq, td);
    alignas(64) std::int32_t lb[16];
    for (int i = 0; i < 16; ++i) lb[i] = i / D::lanes_per_xblock;
    const __m512i lane_xblock = _mm512_load_si512(lb), ones = _mm512_set1_epi8(1), neg_bias = _mm512_set1_epi32(-D::bias);
    const __m512 unit = _mm512_set1_ps(D::unit);
    for (std::size_t g = 0; g < groups; ++g) {
        __m512i v[D::K];
        D::arrange(tq + g * D::group, v);
        __m512i t = _mm512_setzero_si512();
        for (std::size_t k = 0; k < D::K; ++k) {
            _mm512_store_si512(q + g * D::group + 64 * k, v[k]);
            t = _mm512_dpbusd_epi32(t, ones, v[k]);
        }
        _mm512_store_si512(init + 16 * g, _mm512_mullo_epi32(t, neg_bias));
        _mm512_store_ps(scale + 16 * g, _mm512_mul_ps(_mm512_permutexvar_ps(lane_xblock, _mm512_loadu_ps(td + g * D::group / 32)), unit));
    }
}

// R weight rows from r against M activation rows: out[q * M + i] = w_{r+q} . x_i.
template <int R, int M, class D>
inline void dot_rows_q8(const D& d, std::size_t r, std::size_t groups, const q8_row* xs, float* out) {
    typename D::cursor p[R];
    __m512 acc[R][M];
    const chunk_range all{0, groups, groups};  // int8 activations: no k-blocking
    start_rows(d, r, all, p, acc);
    for (std::size_t g = 0; g < groups; ++g) {
#pragma GCC unroll 16
        for (int q = 0; q < R; ++q) {
            __m512i w[D::K];
            __m512 s;
            if constexpr (requires { d.decode(p[0], g, w, q); }) {  // tiles: rows r .. r+R-1 in one, at fixed offsets
                d.decode(p[0], g, w, q);
                s = d.scale(p[0], g, q);
            } else {
                d.decode(p[q], g, w);
                s = d.scale(p[q], g);
            }
#pragma GCC unroll 8
            for (int i = 0; i < M; ++i) {
                __m512i t = _mm512_load_si512(xs[i].init + 16 * g);
#pragma GCC unroll 2
                for (std::size_t k = 0; k < D::K; ++k)
                    t = _mm512_dpbusd_epi32(t, w[k], _mm512_load_si512(xs[i].q + (g * D::K + k) * 64));
                acc[q][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(s, _mm512_load_ps(xs[i].scale + 16 * g)), acc[q][i]);
            }
        }
    }
    finish_rows(d, all, p, acc, out);
}

}  // namespace quant::cpu::avx512

#endif
