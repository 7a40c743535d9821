// The 4-bit schemes with int8 activations (schemes/q8_activations.hpp) on AVX2, the GEMV range:
// the codes become their int8 values in registers (vpshufb on the int8 codebook: one lookup per
// 32 codes, where the float32 decoder of decoders_avx2.hpp needs 12 shuffles to build 32 floats
// of NF4), and 32 of them meet 32 int8 activation codes in one vpmaddubsw.
//
// vpmaddubsw multiplies u8 by s8 and adds adjacent pairs with int16 saturation. The u8 operand is
// |x| (the activation codes' magnitudes, stored beside them) and the s8 operand the weight with
// x's sign applied (vpsignb): |x| * sign(x) w = x w, and a pair is at most 2 * 127 * 127 = 32258,
// so it never saturates (Q8Activations' codes and the int8 codebooks lie in -127..127). vpmaddwd
// by ones then widens the pairs into int32 lanes of 4 products each.
//
// A decoder delivers a chunk's weights in units of 64 elements (64 u .. 64 u + 63 of the chunk):
// two s8 vectors whose int32 lanes 0-3 hold elements of the unit's first activation block of 32
// and lanes 4-7 of its second, and the lanes' weight scales (times the int8 unit). So every lane
// is scaled once per unit, by its weight scale times its activation block's d, whatever the
// scheme: the activation side is one layout for all, the codes of a unit permuted by the
// decoder's position(e).
//   chunk, units   weights per chunk (a row's weights come in whole chunks, zero-padded), units of
//                  64 per chunk
//   position(e)    the byte of element e (0 .. 63) of a unit among its 64 code bytes (vector v:
//                  bytes 32 v ..)
//   row(r), decode(p, c, f)  a row cursor; f(u, w0, w1, scale) for each unit u of chunk c
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX2)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "../../schemes/q8_activations.hpp"
#include "decoders_avx2.hpp"

namespace quant::cpu::avx2 {

// an int8 codebook (values -127 .. 127) in both 128-bit lanes: vpshufb's 16-entry table
inline __m256i int8_table(const std::array<std::int8_t, 16>& book) {
    alignas(32) std::int8_t t[32];
    for (std::size_t i = 0; i < 32; ++i) t[i] = book[i % 16];
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(t));
}

// bnb 4-bit (NF4, FP4), rows holding whole blocks: the float32 decoder's chunk of 64 codes (byte
// b: element 2b in the high nibble, 2b + 1 in the low). The high nibbles make vector 0, the low
// vector 1, so lane l of each holds elements of 8l .. 8l + 7: activation block l / 4, and weight
// block l / 4 for blocks of 32 (bnb4bit_decoder::scale gives those lanes), one block otherwise.
template <class Traits>
struct bnb4bit_q8_decoder {
    static constexpr std::size_t chunk = 64, units = 1;

    bnb4bit_decoder<Traits> f;  // row cursors, code loads and block scales (times the int8 unit)
    __m256i table;

    using cursor = typename bnb4bit_decoder<Traits>::cursor;

    bnb4bit_q8_decoder(const std::uint8_t* codes, const float* absmax, std::size_t in, std::size_t block)
        : f(codes, absmax, in, block, Bnb4bit<Traits>::codebook.values.data(), Bnb4bit<Traits>::int8_unit),
          table(int8_table(Bnb4bit<Traits>::int8_codebook)) {}

    static constexpr std::size_t position(std::size_t e) { return (e & 1) * 32 + e / 2; }

    cursor row(std::size_t r) const { return f.row(r); }

    template <class F>
    [[gnu::always_inline]] void decode(const cursor& p, std::size_t c, F&& fn) const {
        const __m256i v = f.load(p, c);
        const __m256i m15 = _mm256_set1_epi8(15);
        fn(std::size_t{0}, _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m15)),
           _mm256_shuffle_epi8(table, _mm256_and_si256(v, m15)), f.scale(p, c));
    }
};

// Blockwise int4, blocks of B = 32, 64 or 128 (byte k of a block: element k in the low nibble,
// k + B/2 in the high; rows padded to whole blocks). Units of 64 elements: the low and the high
// nibbles of 32 code bytes are two runs of 32 elements, each inside one activation block; their
// 128-bit halves are exchanged (vperm2i128) so that lanes 0-3 of both vectors hold elements of
// the unit's first 32 and lanes 4-7 of its second: vector 0 elements 0-15 and 32-47, vector 1
// 16-31 and 48-63. B = 32: the unit is two blocks, their 16 code bytes side by side, and then
// the halves are already so; B = 128: a chunk of two units, the low nibbles and the high.
template <std::size_t B>
struct int4_q8_decoder {
    static constexpr std::size_t chunk = B < 64 ? 64 : B, units = chunk / 64;
    static constexpr std::size_t block_bytes = int4_decoder<B>::block_bytes;

    int4_decoder<B> f;  // row cursors and block scales as in float32 (its chunk: one block)
    __m256i table;      // c - 8

    using cursor = typename int4_decoder<B>::cursor;

    int4_q8_decoder(const std::uint8_t* b, std::size_t bpr) : f{b, bpr}, table(int8_table(BlockwiseInt4::int8_codebook)) {}

    static constexpr std::size_t position(std::size_t e) { return (e / 16 % 2 ? 32 : 0) + (e / 32) * 16 + e % 16; }

    cursor row(std::size_t r) const { return f.row(r); }

    template <class F>
    [[gnu::always_inline]] void decode(cursor p, std::size_t c, F&& fn) const {
        const __m256i m15 = _mm256_set1_epi8(15);
        if constexpr (B == 32) {
            // blocks 2c and 2c + 1; a row of an odd number of blocks ends in half a unit (zeros,
            // scale 0: the activations there are zero too)
            const std::uint8_t* b0 = p + 2 * c * block_bytes;
            const bool two = 2 * c + 1 < f.blocks_per_row;
            prefetch(b0);
            const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + sizeof(float)));
            const __m128i hi =
                two ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + block_bytes + sizeof(float))) : _mm_setzero_si128();
            const __m256i v = _mm256_set_m128i(hi, lo);
            const __m256 s = _mm256_insertf128_ps(f.scale(p, 2 * c),
                                                  two ? _mm256_castps256_ps128(f.scale(p, 2 * c + 1)) : _mm_setzero_ps(), 1);
            fn(std::size_t{0}, _mm256_shuffle_epi8(table, _mm256_and_si256(v, m15)),
               _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m15)), s);
        } else {
            const std::uint8_t* q = p + c * block_bytes + sizeof(float);
            prefetch(q);
            const __m256 s = f.scale(p, c);
            // B = 64: the 32 bytes; B = 128: bytes 0-31 and 32-63, whose low nibbles are elements
            // 0-63 (unit 0) and high nibbles 64-127 (unit 1)
            const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
            const __m256i vb = B == 128 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32)) : va;
#pragma GCC unroll 2
            for (std::size_t u = 0; u < units; ++u) {
                __m256i lo, hi;  // 32 consecutive elements each: the unit's first and second 32
                if constexpr (B == 64) {
                    lo = _mm256_and_si256(va, m15);
                    hi = _mm256_and_si256(_mm256_srli_epi16(va, 4), m15);
                } else {
                    const int sh = u ? 4 : 0;
                    lo = _mm256_and_si256(_mm256_srli_epi16(va, sh), m15);
                    hi = _mm256_and_si256(_mm256_srli_epi16(vb, sh), m15);
                }
                lo = _mm256_shuffle_epi8(table, lo);
                hi = _mm256_shuffle_epi8(table, hi);
                fn(u, _mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31), s);
            }
        }
    }
};

// One activation row quantized (Q8Activations) into the decoders' layout, per unit g of 64
// elements (64 g .. 64 g + 63 of the row): 64 codes at q + 128 g, in D::position order, their
// magnitudes at q + 128 g + 64, and the lane scales at d + 8 g (lanes 0-3: block 2g's d, lanes
// 4-7: block 2g + 1's). Elements past `in` and their blocks are zero. tq, td: scratch of
// units * 64 codes and 2 * units scales.
template <class D>
inline void prepare_q8_row(const float* x, std::size_t in, std::size_t units, std::int8_t* q, float* d, std::int8_t* tq,
                           float* td) {
    std::fill(tq, tq + units * 64, std::int8_t{0});
    std::fill(td, td + units * 2, 0.0f);
    Q8Activations::quantize_row(x, in, tq, td);
    for (std::size_t g = 0; g < units; ++g) {
        std::int8_t* dst = q + 128 * g;
        for (std::size_t e = 0; e < 64; ++e) {
            const std::int8_t v = tq[64 * g + e];
            dst[D::position(e)] = v;
            dst[64 + D::position(e)] = static_cast<std::int8_t>(v < 0 ? -v : v);  // |v| <= 127
        }
        for (std::size_t l = 0; l < 8; ++l) d[8 * g + l] = td[2 * g + l / 4];
    }
}

struct q8_row_avx2 {
    const std::int8_t* q;  // codes and magnitudes, 128 bytes a unit
    const float* d;        // lane scales, 8 a unit
};

// One weight row r against M prepared activation rows: out[i] = sum over units of the lanes'
// int32 sums times (weight scale * d), in A float partial sums (unit g into g % A).
template <int M, int A, class D>
[[gnu::always_inline]] inline void dot_row_q8(const D& d, std::size_t r, std::size_t chunks, const q8_row_avx2* xs, float* out) {
    const auto p = d.row(r);
    __m256 acc[A][M];
    set_zero(acc);
    const __m256i ones = _mm256_set1_epi16(1);
    for (std::size_t c = 0; c < chunks; ++c) {
        d.decode(p, c, [&](std::size_t u, __m256i w0, __m256i w1, __m256 s) {
            const std::size_t g = c * D::units + u;
#pragma GCC unroll 8
            for (int i = 0; i < M; ++i) {
                const std::int8_t* q = xs[i].q + 128 * g;
                const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q));
                const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32));
                const __m256i a0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64));
                const __m256i a1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 96));
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(a0, _mm256_sign_epi8(w0, x0)), ones);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(a1, _mm256_sign_epi8(w1, x1)), ones);
                const __m256 ls = _mm256_mul_ps(s, _mm256_load_ps(xs[i].d + 8 * g));
                acc[g % A][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), ls, acc[g % A][i]);
            }
        });
    }
    hsum_rows(acc, out);
}

}  // namespace quant::cpu::avx2

#endif
