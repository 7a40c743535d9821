// AVX2 weight decoders and the GEMV on them: the machines without AVX-512 (AMD Zen 1-3, Intel
// client cores, Haswell to Skylake). The decoder interface is decoders_avx512.hpp's, with
// 8-float vectors (__m256) and no masked loads:
//   chunk, vecs      weights per chunk, 8-float vectors per chunk (chunk / 8)
//   prepare_x        the activation layout that meets vector j of chunk c at [c * chunk + 8 j]
//   row(r)           a cursor on row r, computed once per row
//   decode(p, c, f)  calls f(j, w) for the vecs vectors of chunk c of row p, unscaled
//   scale(p, c)      the per-lane factor of chunk c (chunk_scaled), or row_scale(p) for the row
// Rows whose end is not a whole chunk: the last chunk's bytes are copied into a zeroed buffer (a
// row's tail, once per row); the activations are zero there, so the codes' values do not matter.
// Only compiled where the build has AVX2, FMA and F16C (-march=haswell and later).
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX2)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../numeric/half.hpp"
#include "../../schemes/absmax_int8.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "row_cursors.hpp"

namespace quant::cpu::avx2 {

// Software prefetch distance of the decoders, in bytes of codes ahead of the chunk being decoded
// (the AVX-512 decoders measured the same need: one sequential stream per core is consumed more
// slowly than the hardware prefetcher alone brings it in).
#ifndef QUANT_AVX2_PREFETCH_BYTES
#define QUANT_AVX2_PREFETCH_BYTES 4096
#endif
// always_inline: see avx512::prefetch (GCC 12 deleted the calls of a wrapper it did not inline)
[[gnu::always_inline]] inline void prefetch(const void* p) {
    _mm_prefetch(static_cast<const char*>(p) + QUANT_AVX2_PREFETCH_BYTES, _MM_HINT_T0);
}

// The `bytes` bytes of a chunk at q, or (the row's last, partial chunk) its first `left` bytes and
// zeros: 32 bytes.
[[gnu::always_inline]] inline __m256i load_tail(const void* q, std::size_t left) {
    alignas(32) std::uint8_t buf[32] = {};
    std::memcpy(buf, q, left);
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(buf));
}

inline float hsum(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

// A x M accumulators (partial sums x activation rows) set to zero
template <int A, int M>
[[gnu::always_inline]] inline void set_zero(__m256 (&acc)[A][M]) {
#pragma GCC unroll 8
    for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) acc[a][i] = _mm256_setzero_ps();
}

// out[i] = the lanes' sum of row i's A partial sums (acc[0][i] + ... + acc[A-1][i])
template <int A, int M>
[[gnu::always_inline]] inline void hsum_rows(const __m256 (&acc)[A][M], float* out) {
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
        __m256 t = acc[0][i];
#pragma GCC unroll 8
        for (int a = 1; a < A; ++a) t = _mm256_add_ps(t, acc[a][i]);
        out[i] = hsum(t);
    }
}

// bnb 4-bit (NF4, FP4), rows that hold whole blocks (blocks of 32 .. 4096, so rows are whole
// multiples of 32 weights). A 32-byte load holds a chunk of 64 codes, byte b the codes of
// elements 2b (high nibble: bitsandbytes puts the even element there) and 2b + 1 (low). The
// codebook is looked up with vpshufb, whose 16-entry byte tables are exactly a 4-bit lookup: one
// table per byte of the 16 floats, and the four looked-up bytes interleaved back into floats
// (vpunpck{l,h}bw, then {l,h}wd). The interleaving works within 128-bit lanes: vector j (of 4
// per nibble half) holds bytes 4j .. 4j+3 and 16 + 4j .. 16 + 4j+3; prepare_x puts the
// activations in that order. Against two vpermps (the codebook's halves) and a vblendvps per
// vector, m = 1, us, on AMD Zen 3: 4096 x 4096 cold 1696 -> 1394, 768 x 3072 cold 318 -> 219.
template <class Traits>
struct bnb4bit_decoder {
    static constexpr std::size_t chunk = 64, vecs = 8;
    static constexpr bool chunk_scaled = true;

    const std::uint8_t* codes;  // row-major, in/2 bytes per row
    const float* absmax;        // fp32 per block, padded by 16 floats
    std::size_t in, block;
    unsigned block_shift;
    __m256i bytes[4];  // byte k of the 16 codebook floats, in both 128-bit lanes
    __m256 unit;       // the absmax's factor: 1, or 1/127 for the int8 codebook (int8 activations)

    struct cursor {
        const std::uint8_t* codes;
        const float* absmax;  // the row's first block
        std::size_t left;     // weights of the row
    };

    // book: the 16 values the codes stand for (the scheme's codebook, or with int8 activations
    // its int8 codebook, in units of absmax * unit)
    bnb4bit_decoder(const std::uint8_t* c, const float* am, std::size_t in_, std::size_t block_,
                    const float* book = Bnb4bit<Traits>::codebook.values.data(), float unit_ = 1.0f)
        : codes(c), absmax(am), in(in_), block(block_), block_shift(unsigned(std::countr_zero(block_))), unit(_mm256_set1_ps(unit_)) {
        alignas(32) std::uint8_t t[4][32];
        for (std::size_t v = 0; v < 16; ++v) {
            const auto u = std::bit_cast<std::uint32_t>(book[v]);
            for (std::size_t k = 0; k < 4; ++k) t[k][v] = t[k][16 + v] = static_cast<std::uint8_t>(u >> (8 * k));
        }
        for (std::size_t k = 0; k < 4; ++k) bytes[k] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t[k]));
    }

    // element of vector j, lane l of a chunk: byte b = 4 (j % 4) + l (+ 12 for lanes 4-7), its
    // high nibble (j < 4, element 2b) or low nibble (j >= 4, element 2b + 1)
    static constexpr std::size_t element(std::size_t j, std::size_t l) {
        return 2 * (4 * (j % 4) + l % 4 + (l >= 4 ? 16 : 0)) + (j >= 4 ? 1 : 0);
    }

    static void prepare_x(const float* x, std::size_t in, float* out) {
        static constexpr auto order = [] {
            std::array<std::uint8_t, chunk> o{};
            for (std::size_t k = 0; k < chunk; ++k) o[k] = static_cast<std::uint8_t>(element(k / 8, k % 8));
            return o;
        }();
        const std::size_t chunks = (in + chunk - 1) / chunk;
        for (std::size_t c = 0; c < chunks; ++c) {
            const float* xc = x + c * chunk;
            float* oc = out + c * chunk;
            if ((c + 1) * chunk <= in)
                for (std::size_t k = 0; k < chunk; ++k) oc[k] = xc[order[k]];
            else
                for (std::size_t k = 0; k < chunk; ++k) oc[k] = c * chunk + order[k] < in ? xc[order[k]] : 0.0f;
        }
    }

    cursor row(std::size_t r) const { return {codes + r * in / 2, absmax + ((r * in) >> block_shift), in}; }

    // the four vectors of the 32 codes in the bytes of n (values 0..15)
    template <class F>
    [[gnu::always_inline]] void lookup(__m256i n, std::size_t j0, F&& f) const {
        const __m256i b0 = _mm256_shuffle_epi8(bytes[0], n), b1 = _mm256_shuffle_epi8(bytes[1], n);
        const __m256i b2 = _mm256_shuffle_epi8(bytes[2], n), b3 = _mm256_shuffle_epi8(bytes[3], n);
        const __m256i l01 = _mm256_unpacklo_epi8(b0, b1), h01 = _mm256_unpackhi_epi8(b0, b1);
        const __m256i l23 = _mm256_unpacklo_epi8(b2, b3), h23 = _mm256_unpackhi_epi8(b2, b3);
        f(j0 + 0, _mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23)));
        f(j0 + 1, _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23)));
        f(j0 + 2, _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23)));
        f(j0 + 3, _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23)));
    }

    // the 32 code bytes of chunk c (the row's last, partial chunk: zeros past the row)
    [[gnu::always_inline]] static __m256i load(const cursor& p, std::size_t c) {
        const std::uint8_t* q = p.codes + c * chunk / 2;
        prefetch(q);
        const std::size_t left = p.left - c * chunk;  // a multiple of 32
        return left >= chunk ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)) : load_tail(q, left / 2);
    }

    template <class F>
    [[gnu::always_inline]] void decode(const cursor& p, std::size_t c, F&& f) const {
        const __m256i v = load(p, c);
        const __m256i m15 = _mm256_set1_epi8(15);
        lookup(_mm256_and_si256(_mm256_srli_epi16(v, 4), m15), 0, f);
        lookup(_mm256_and_si256(v, m15), 4, f);
    }

    // blocks of 64 and more: one absmax for the chunk; blocks of 32: lanes 0-3 (bytes 0-15,
    // elements 0-31) and lanes 4-7
    __m256 scale(const cursor& p, std::size_t c) const {
        const float* a = p.absmax + ((c * chunk) >> block_shift);
        if (block >= chunk) return _mm256_mul_ps(_mm256_broadcast_ss(a), unit);
        return _mm256_mul_ps(_mm256_set_m128(_mm_broadcast_ss(a + 1), _mm_broadcast_ss(a)), unit);
    }
};

// Blockwise int4: one block per chunk (rows are padded to whole blocks); byte k of the block
// holds element k (low nibble) and k + B/2 (high). 8 bytes widen to 8 dword lanes: the low
// nibbles are elements 8g .. 8g+7 and the high ones B/2 + 8g ..: elements in order.
template <std::size_t B>
struct int4_decoder {
    static constexpr std::size_t chunk = B, vecs = B / 8;
    static constexpr bool chunk_scaled = true;
    static constexpr std::size_t block_bytes = sizeof(float) + B / 2;

    const std::uint8_t* bytes;  // rows * blocks_per_row blocks of 4 + B/2 bytes
    std::size_t blocks_per_row;

    using cursor = const std::uint8_t*;  // the row's first block

    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    cursor row(std::size_t r) const { return bytes + r * blocks_per_row * block_bytes; }

    template <class F>
    [[gnu::always_inline]] void decode(cursor p, std::size_t c, F&& f) const {
        const std::uint8_t* q = p + c * block_bytes + sizeof(float);
        prefetch(q);
        const __m256i m15 = _mm256_set1_epi32(15), m8 = _mm256_set1_epi32(8);
#pragma GCC unroll 8
        for (std::size_t g = 0; g < B / 16; ++g) {
            const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + 8 * g));
            const __m256i v = _mm256_cvtepu8_epi32(b);
            f(g, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(v, m15), m8)));
            f(B / 16 + g, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(v, 4), m8)));
        }
    }

    __m256 scale(cursor p, std::size_t c) const {
        float d;
        std::memcpy(&d, p + c * block_bytes, sizeof d);
        return _mm256_set1_ps(d);
    }
};

// int8 weights (weight-only use): 8 codes widen to 8 floats; the row scale SCB/127 applies once
// per row.
struct int8_decoder : int8_rows {
    static constexpr std::size_t chunk = 32, vecs = 4;
    static constexpr bool chunk_scaled = false;


    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    template <class F>
    [[gnu::always_inline]] void decode(const cursor& p, std::size_t c, F&& f) const {
        const std::int8_t* q = p.codes + c * chunk;
        prefetch(q);
        const std::size_t left = p.left - c * chunk;
        const __m256i v = left >= chunk ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)) : load_tail(q, left);
        const __m128i l = _mm256_castsi256_si128(v), h = _mm256_extracti128_si256(v, 1);
        f(0, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(l)));
        f(1, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(l, l))));
        f(2, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(h)));
        f(3, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(h, h))));
    }
};

// float16 weights: 8 halves widen to 8 floats (vcvtph2ps), exactly; no scale.
struct f16_decoder : f16_rows {
    static constexpr std::size_t chunk = 32, vecs = 4;
    static constexpr bool chunk_scaled = false;


    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    template <class F>
    [[gnu::always_inline]] void decode(const cursor& p, std::size_t c, F&& f) const {
        const std::uint16_t* q = p.row + c * chunk;
        prefetch(q);
        const std::size_t left = p.left - c * chunk;
        if (left >= chunk) {
#pragma GCC unroll 4
            for (std::size_t j = 0; j < vecs; ++j) f(j, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 8 * j))));
            return;
        }
        alignas(32) std::uint16_t buf[chunk] = {};
        std::memcpy(buf, q, left * sizeof(std::uint16_t));
        for (std::size_t j = 0; j < vecs; ++j) f(j, _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(buf + 8 * j))));
    }
};

// One weight row r against M prepared activation rows xs[0 .. M): out[i] = w_r . x_i.
// Chunk-scaled decoders: the chunk's products in A partial sums (vector j into j % A: at M = 1
// one chain of eight dependent FMAs per chunk would wait on their latency), folded and then
// scaled; with Prescale each decoded vector is scaled once and met by every activation row
// directly, which frees the partial sums' registers for M up to 8 (16 ymm registers in all).
// Row-scaled decoders (int8, float16) accumulate into A sums per activation row, scaled last.
template <int M, int A, bool Prescale, class D>
[[gnu::always_inline]] inline void dot_row(const D& d, std::size_t r, std::size_t chunks, const float* const* xs, float* out) {
    const auto p = d.row(r);
    constexpr int S = D::chunk_scaled && !Prescale ? 1 : A;  // there the A sums fold per chunk into one
    __m256 acc[S][M];
    set_zero(acc);
    for (std::size_t c = 0; c < chunks; ++c) {
        const std::size_t base = c * D::chunk;
        if constexpr (D::chunk_scaled && Prescale) {
            const __m256 s = d.scale(p, c);
            d.decode(p, c, [&](std::size_t j, __m256 w) {
                w = _mm256_mul_ps(w, s);
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) acc[j % A][i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs[i] + base + 8 * j), acc[j % A][i]);
            });
        } else if constexpr (D::chunk_scaled) {
            __m256 t[A][M];
            set_zero(t);
            d.decode(p, c, [&](std::size_t j, __m256 w) {
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) t[j % A][i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs[i] + base + 8 * j), t[j % A][i]);
            });
#pragma GCC unroll 8
            for (int a = 1; a < A; ++a)
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) t[0][i] = _mm256_add_ps(t[0][i], t[a][i]);
            const __m256 s = d.scale(p, c);
#pragma GCC unroll 8
            for (int i = 0; i < M; ++i) acc[0][i] = _mm256_fmadd_ps(t[0][i], s, acc[0][i]);
        } else {
            d.decode(p, c, [&](std::size_t j, __m256 w) {
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) acc[j % A][i] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xs[i] + base + 8 * j), acc[j % A][i]);
            });
        }
    }
    hsum_rows(acc, out);
    if constexpr (requires { D::row_scale(p); })
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) out[i] *= D::row_scale(p);
}

// Row r dequantized into the prepared (possibly permuted) layout: what the GEMM path multiplies.
template <class D>
inline void dequantize_prepared(const D& d, std::size_t r, std::size_t chunks, float* out) {
    const auto p = d.row(r);
    for (std::size_t c = 0; c < chunks; ++c) {
        __m256 s;
        if constexpr (D::chunk_scaled) s = d.scale(p, c);
        else s = _mm256_set1_ps(D::row_scale(p));
        d.decode(p, c, [&](std::size_t j, __m256 w) { _mm256_storeu_ps(out + c * D::chunk + 8 * j, _mm256_mul_ps(w, s)); });
    }
}

}  // namespace quant::cpu::avx2

#endif
