// AVX-512 weight decoders: each turns one chunk of a quantized row into 16-float vectors in
// registers, so a GEMV never writes dequantized weights to memory. A decoder describes
//   chunk            weights per chunk;     vecs: 16-float vectors per chunk (chunk / 16)
//   prepare_x        the layout activations must have so that vector j of chunk c meets
//                    x_prepared[c * chunk + 16 j .. +16] (zero-padded to whole chunks)
//   decode(r, c, f)  calls f(j, w) for the vecs vectors of chunk c of row r, unscaled
//   scale(r, c)      the per-lane factor for chunk c (block absmax / int4 scale), when
//                    chunk_scaled; otherwise row_scale(r) applies to the whole row
// Only compiled for AVX-512 builds (the generic path needs none of this).
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__)

#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../schemes/absmax_int8.hpp"
#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"

namespace quant::cpu::avx512 {

// bnb 4-bit (NF4, FP4), rows that hold whole blocks (in % block == 0). A 64-byte load holds 128
// codes; dword lane i holds the 8 codes of elements 8i..8i+7 of the chunk. vpermps reads only
// the low 4 bits of each index lane, so (dword >> 4j) looked up in the 16-entry codebook gives,
// in lane i, nibble j: element 8i + (j ^ 1) (bitsandbytes puts the even element in the high
// nibble). No widening of bytes is needed: 8 shifts and 8 permutes decode 128 weights.
template <class Traits>
struct bnb4bit_decoder {
    static constexpr std::size_t chunk = 128, vecs = 8;
    static constexpr bool chunk_scaled = true;

    const std::uint8_t* codes;  // row-major, in/2 bytes per row
    const float* absmax;        // fp32 per block, padded by 16 floats
    std::size_t in, block;
    __m512 table;
    __m512i lane_block;  // block of lane i relative to the chunk's first block: 8i / block

    bnb4bit_decoder(const std::uint8_t* c, const float* am, std::size_t in_, std::size_t block_)
        : codes(c), absmax(am), in(in_), block(block_) {
        table = _mm512_loadu_ps(Bnb4bit<Traits>::codebook.values.data());
        alignas(64) std::int32_t lb[16];
        for (int i = 0; i < 16; ++i) lb[i] = static_cast<std::int32_t>((8u * i) / block_);
        lane_block = _mm512_load_si512(lb);
    }

    static void prepare_x(const float* x, std::size_t in, float* out) {
        const std::size_t chunks = (in + chunk - 1) / chunk;
        for (std::size_t c = 0; c < chunks; ++c)
            for (std::size_t j = 0; j < vecs; ++j)
                for (std::size_t i = 0; i < 16; ++i) {
                    const std::size_t e = c * chunk + 8 * i + (j ^ 1);
                    out[c * chunk + 16 * j + i] = e < in ? x[e] : 0.0f;
                }
    }

    template <class F>
    void decode(std::size_t r, std::size_t c, F&& f) const {
        const std::uint8_t* p = codes + (r * in + c * chunk) / 2;
        const std::size_t left = in - c * chunk;
        const __m512i v = left >= chunk ? _mm512_loadu_si512(p)
                                        : _mm512_maskz_loadu_epi8((__mmask64{1} << (left / 2)) - 1, p);
        f(0, _mm512_permutexvar_ps(v, table));
        f(1, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table));
        f(2, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8), table));
        f(3, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 12), table));
        f(4, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 16), table));
        f(5, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 20), table));
        f(6, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 24), table));
        f(7, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 28), table));
    }

    __m512 scale(std::size_t r, std::size_t c) const {
        const std::size_t first = (r * in + c * chunk) / block;
        if (block >= chunk) return _mm512_set1_ps(absmax[first]);
        return _mm512_permutexvar_ps(lane_block, _mm512_loadu_ps(absmax + first));
    }
};

// Blockwise int4: one block per chunk; byte k of the block holds element k (low nibble) and
// k + B/2 (high). 16 bytes widen to 16 dword lanes; the codebook {-8 .. 7} looked up with the
// lane (low nibble) and the lane >> 4 (high nibble) gives elements in order.
template <std::size_t B>
struct int4_decoder {
    static constexpr std::size_t chunk = B, vecs = B / 16;
    static constexpr bool chunk_scaled = true;

    const std::uint8_t* bytes;  // rows * blocks_per_row blocks of 4 + B/2 bytes
    std::size_t blocks_per_row;
    __m512 table;

    int4_decoder(const std::uint8_t* b, std::size_t bpr) : bytes(b), blocks_per_row(bpr) {
        alignas(64) float t[16];
        for (int i = 0; i < 16; ++i) t[i] = static_cast<float>(i - 8);
        table = _mm512_load_ps(t);
    }

    static void prepare_x(const float* x, std::size_t in, float* out) {
        const std::size_t padded = (in + chunk - 1) / chunk * chunk;
        for (std::size_t k = 0; k < padded; ++k) out[k] = k < in ? x[k] : 0.0f;
    }

    const std::uint8_t* block_ptr(std::size_t r, std::size_t c) const {
        return bytes + (r * blocks_per_row + c) * (sizeof(float) + B / 2);
    }

    template <class F>
    void decode(std::size_t r, std::size_t c, F&& f) const {
        const std::uint8_t* q = block_ptr(r, c) + sizeof(float);
        for (std::size_t g = 0; g < B / 32; ++g) {
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * g)));
            f(g, _mm512_permutexvar_ps(v, table));
            f(B / 32 + g, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table));
        }
    }

    __m512 scale(std::size_t r, std::size_t c) const {
        float d;
        std::memcpy(&d, block_ptr(r, c), sizeof d);
        return _mm512_set1_ps(d);
    }
};

// int8 weights (weight-only use): 16 codes widen to 16 floats; the row scale SCB/127 applies
// once per row.
struct int8_decoder {
    static constexpr std::size_t chunk = 64, vecs = 4;
    static constexpr bool chunk_scaled = false;

    const std::int8_t* cb;
    const float* scb;
    std::size_t in;

    static void prepare_x(const float* x, std::size_t in, float* out) {
        const std::size_t padded = (in + chunk - 1) / chunk * chunk;
        for (std::size_t k = 0; k < padded; ++k) out[k] = k < in ? x[k] : 0.0f;
    }

    template <class F>
    void decode(std::size_t r, std::size_t c, F&& f) const {
        const std::int8_t* p = cb + r * in + c * chunk;
        const std::size_t left = in - c * chunk;
        const __m512i v = left >= chunk ? _mm512_loadu_si512(p)
                                        : _mm512_maskz_loadu_epi8(~__mmask64{0} >> (64 - left), p);
        f(0, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 0))));
        f(1, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 1))));
        f(2, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 2))));
        f(3, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 3))));
    }

    float row_scale(std::size_t r) const { return scb[r] * AbsmaxInt8::inv127; }
};

// sum over rows r of W (one decoder row) against M prepared activation rows: out[i] = w_r . x_i.
// Decoding happens once per chunk and serves all M activation rows.
template <int M, class D>
inline void dot_rows(const D& d, std::size_t r, std::size_t chunks, const float* const* xs, float* out) {
    __m512 acc[M];
    for (int i = 0; i < M; ++i) acc[i] = _mm512_setzero_ps();
    for (std::size_t c = 0; c < chunks; ++c) {
        if constexpr (D::chunk_scaled) {
            __m512 t[M];
            for (int i = 0; i < M; ++i) t[i] = _mm512_setzero_ps();
            d.decode(r, c, [&](std::size_t j, __m512 w) {
                for (int i = 0; i < M; ++i) t[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[i] + c * D::chunk + 16 * j), t[i]);
            });
            const __m512 s = d.scale(r, c);
            for (int i = 0; i < M; ++i) acc[i] = _mm512_fmadd_ps(t[i], s, acc[i]);
        } else {
            d.decode(r, c, [&](std::size_t j, __m512 w) {
                for (int i = 0; i < M; ++i)
                    acc[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[i] + c * D::chunk + 16 * j), acc[i]);
            });
        }
    }
    for (int i = 0; i < M; ++i) {
        out[i] = _mm512_reduce_add_ps(acc[i]);
        if constexpr (!D::chunk_scaled) out[i] *= d.row_scale(r);
    }
}

// Row r dequantized into the prepared (possibly permuted) layout: what the GEMM path multiplies.
template <class D>
inline void dequantize_prepared(const D& d, std::size_t r, std::size_t chunks, float* out) {
    for (std::size_t c = 0; c < chunks; ++c) {
        __m512 s;
        if constexpr (D::chunk_scaled) s = d.scale(r, c);
        else s = _mm512_set1_ps(d.row_scale(r));
        d.decode(r, c, [&](std::size_t j, __m512 w) { _mm512_storeu_ps(out + c * D::chunk + 16 * j, _mm512_mul_ps(w, s)); });
    }
}

}  // namespace quant::cpu::avx512

#endif
