// AVX-512 weight decoders: each turns one chunk of a quantized row into 16-float vectors in
// registers, so a GEMV never writes dequantized weights to memory. A decoder describes
//   chunk            weights per chunk;     vecs: 16-float vectors per chunk (chunk / 16)
//   prepare_x        the layout activations must have so that vector j of chunk c meets
//                    x_prepared[c * chunk + 16 j .. +16] (zero-padded to whole chunks)
//   row(r)           a cursor on row r (its codes and scales), computed once per row: the
//                    per-chunk work below is pointer arithmetic only (a division by the block
//                    size per chunk cost as much as the decoding)
//   decode(p, c, f)  calls f(j, w) for the vecs vectors of chunk c of row p, unscaled
//   decode_rows(p, c, f)  (4-bit and int8 decoders) chunk c of R rows p[0 .. R) in step: f(j, w)
//                    with w[q] = vector j of row q, so that R rows can share an activation load
//   scale(p, c)      the per-lane factor for chunk c (block absmax / int4 scale), when
//                    chunk_scaled; otherwise row_scale(p) applies to the whole row
//   m1_rows          weight rows the GEMV decodes at a time at m = 1 (1 or 4, as measured)
// The 4-bit decoders also decode to bf16 for vdpbf16ps (bf16 compute; has_bf16):
//   prepare_x_bf16   the activation layout (floats, converted to bf16 after) for decode_bf16
//   decode_bf16(p, c, f)  calls f(n, w) for the chunk / 32 vectors of 32 bf16 weights, unscaled;
//                    the pairs of lanes vdpbf16ps sums into one float lane lie in one block, and
//                    scale(p, c) applies to that float lane
// and, for the small-m bf16 GEMV on AMX tiles (gemv_amx.hpp), where AVX512_BF16 is there and
// amx_block() is not 0 (NF4/FP4 blocks of 64 to 256; int4):
//   decode_block_amx(p, b, f)  calls f(t, w) for the block / 32 vectors of block b: 32 weights
//                    dequantized and rounded to bf16 (bf16(code x scale), the GEMM path's values),
//                    lane j = element amx_element(t, j) of the block
//   amx_pairs(xb, t) the activations of the block at xb (floats holding bf16 values) in that order:
//                    dword g = the bf16 pair of lanes 2g, 2g+1 of vector t (an AMX B-tile row)
//   prepare_x_amx    the activation layout amx_pairs reads: elements in order, whole blocks
// Only compiled for AVX-512 builds (the generic path needs none of this).
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX512)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../numeric/half.hpp"
#include "../../schemes/absmax_int8.hpp"
#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "../../schemes/float16.hpp"
#include "row_cursors.hpp"

namespace quant::cpu::avx512 {

// Software prefetch distance of the GEMV decoders, in bytes of codes ahead of the chunk being
// decoded. The hardware prefetcher alone kept a cold 4096 x 11008 NF4 GEMV at 12 GB/s of the
// 33 GB/s the memory gives (one sequential stream per core, consumed slower than it arrives);
// 8 to 16 KB ahead doubled that (1 KB: +15%, 4 KB: +55%, 24 KB: less again).
#ifndef QUANT_PREFETCH_BYTES
#define QUANT_PREFETCH_BYTES 16384
#endif
inline constexpr std::size_t prefetch_bytes = QUANT_PREFETCH_BYTES;

// always_inline: GCC 12 (ipa-pure-const) finds this wrapper free of side effects and deletes the
// calls to it wherever it is not inlined early, so the NF4/FP4 code prefetch vanished from the
// binary (NF4 m = 1 cold 4096x4096: 931 us without it, 427 us with it).
[[gnu::always_inline]] inline void prefetch(const void* p) { _mm_prefetch(static_cast<const char*>(p) + prefetch_bytes, _MM_HINT_T0); }

// bnb 4-bit (NF4, FP4), rows that hold whole blocks (in % block == 0). A 64-byte load holds 128
// codes; dword lane i holds the 8 codes of elements 8i..8i+7 of the chunk. vpermps reads only
// the low 4 bits of each index lane, so (dword >> 4j) looked up in the 16-entry codebook gives,
// in lane i, nibble j: element 8i + (j ^ 1) (bitsandbytes puts the even element in the high
// nibble). No widening of bytes is needed: 8 shifts and 8 permutes decode 128 weights.
template <class Traits>
struct bnb4bit_decoder {
    static constexpr std::size_t chunk = 128, vecs = 8;
    static constexpr bool chunk_scaled = true;
    // weight rows a GEMV at m = 1 decodes at a time: one, its 8 products per chunk in 4 partial
    // sums. Four rows (four code and four absmax streams) measured slower, most from DRAM: cold
    // 768 x 3072 37 -> 51 GFLOP/s, 3072 x 768 33 -> 48, 4096 x 11008 41 -> 47 (hot 44 -> 70)
    static constexpr int m1_rows = 1;

    const std::uint8_t* codes;  // row-major, in/2 bytes per row
    const float* absmax;        // fp32 per block, padded by 16 floats
    std::size_t in, block;
    unsigned block_shift;       // log2(block): blocks are powers of two
    __m512 table;
    __m512i lane_block;  // block of lane i relative to the chunk's first block: 8i / block

    struct cursor {
        const std::uint8_t* codes;
        const float* absmax;  // the row's first block (rows hold whole blocks)
        std::size_t left;     // weights of the row
    };

    static constexpr bool has_bf16 = true;
    __m512i table_bf16;  // the codebook in bf16, twice: vpermw reads 5 index bits, the 5th is noise

    bnb4bit_decoder(const std::uint8_t* c, const float* am, std::size_t in_, std::size_t block_)
        : codes(c), absmax(am), in(in_), block(block_), block_shift(unsigned(std::countr_zero(block_))) {
        table = _mm512_loadu_ps(Bnb4bit<Traits>::codebook.values.data());
        alignas(64) std::uint16_t tb[32];
        for (int i = 0; i < 32; ++i) tb[i] = bfloat16(Bnb4bit<Traits>::codebook.values[std::size_t(i % 16)]).bits;
        table_bf16 = _mm512_load_si512(tb);
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

    // 16-bit lane w of the 64 chunk bytes holds the nibbles of elements 4w+1, 4w, 4w+3, 4w+2
    // (bits 0-3, 4-7, 8-11, 12-15): vector n, lane w is element 4w + (n ^ 1). vdpbf16ps sums
    // lanes 2p and 2p+1 (elements 8p + (n ^ 1) and 8p + 4 + (n ^ 1)) into float lane p, whose
    // elements 8p .. 8p+7 share a block: scale() as in float32.
    static void prepare_x_bf16(const float* x, std::size_t in, float* out) {
        const std::size_t chunks = (in + chunk - 1) / chunk;
        for (std::size_t c = 0; c < chunks; ++c)
            for (std::size_t n = 0; n < 4; ++n)
                for (std::size_t w = 0; w < 32; ++w) {
                    const std::size_t e = c * chunk + 4 * w + (n ^ 1);
                    out[c * chunk + 32 * n + w] = e < in ? x[e] : 0.0f;
                }
    }

    cursor row(std::size_t r) const { return {codes + r * in / 2, absmax + ((r * in) >> block_shift), in}; }

    // the 64 code bytes of chunk c (zeros past the row's end), prefetching ahead
    [[gnu::always_inline]] __m512i load_chunk(const cursor& p, std::size_t c) const {
        const std::uint8_t* q = p.codes + c * chunk / 2;
        prefetch(q);
        if (c % 8 == 0) _mm_prefetch(reinterpret_cast<const char*>(p.absmax + ((c * chunk) >> block_shift)) + prefetch_bytes / 16, _MM_HINT_T0);
        const std::size_t left = p.left - c * chunk;
        return left >= chunk ? _mm512_loadu_si512(q) : _mm512_maskz_loadu_epi8((__mmask64{1} << (left / 2)) - 1, q);
    }

    template <class F>
    void decode_bf16(const cursor& p, std::size_t c, F&& f) const {
        const __m512i v = load_chunk(p, c);
        f(0, _mm512_permutexvar_epi16(v, table_bf16));
        f(1, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table_bf16));
        f(2, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table_bf16));
        f(3, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table_bf16));
    }

#if defined(QUANT_CPU_BF16)
    // AMX: the codebook times the block's absmax, rounded to bf16 once per block (the bf16(code x
    // absmax) vpermw looks up); 32 code bytes widen to 32 words, whose low nibble is element
    // 2j + 1 of their 64 and high nibble element 2j
    std::size_t amx_block() const { return block % 64 == 0 && block <= 256 ? block : 0; }
    static constexpr std::size_t amx_element(std::size_t t, std::size_t j) { return 64 * (t / 2) + 2 * j + (t % 2 == 0); }
    static void prepare_x_amx(const float* x, std::size_t in, float* out) { std::copy_n(x, in, out); }
    template <class F>
    void decode_block_amx(const cursor& p, std::size_t b, F&& f) const {
        const std::uint8_t* q = p.codes + b * block / 2;
        prefetch(q);
        const __m512 s = _mm512_mul_ps(table, _mm512_set1_ps(p.absmax[b]));
        const __m512i tab = (__m512i)_mm512_cvtne2ps_pbh(s, s);  // twice: vpermw reads 5 index bits
        for (std::size_t g = 0; g < block / 64; ++g) {
            const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * g)));
            f(2 * g, _mm512_permutexvar_epi16(v, tab));
            f(2 * g + 1, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), tab));
        }
    }
    static __m512i amx_pairs(const float* xb, std::size_t t) {
        const float* x = xb + 64 * (t / 2);
        const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
                                             _mm512_set1_epi32(t % 2 == 0));
        const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(x), idx, _mm512_loadu_ps(x + 16));
        const __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(x + 32), idx, _mm512_loadu_ps(x + 48));
        return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    }
#endif

    template <class F>
    void decode(const cursor& p, std::size_t c, F&& f) const {
        const __m512i v = load_chunk(p, c);
        f(0, _mm512_permutexvar_ps(v, table));
        f(1, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table));
        f(2, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8), table));
        f(3, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 12), table));
        f(4, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 16), table));
        f(5, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 20), table));
        f(6, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 24), table));
        f(7, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 28), table));
    }

    // chunk c of R rows in step: f(j, w) with w[q] = vector j of row q
    template <int R, class F>
    [[gnu::always_inline]] void decode_rows(const cursor (&p)[R], std::size_t c, F&& f) const {
        __m512i v[R];
#pragma GCC unroll 8
        for (int q = 0; q < R; ++q) v[q] = load_chunk(p[q], c);
#pragma GCC unroll 8
        for (unsigned j = 0; j < vecs; ++j) {
            __m512 w[R];
#pragma GCC unroll 8
            for (int q = 0; q < R; ++q) w[q] = _mm512_permutexvar_ps(_mm512_srli_epi32(v[q], 4 * j), table);
            f(j, w);
        }
    }

    __m512 scale(const cursor& p, std::size_t c) const {
        const float* a = p.absmax + ((c * chunk) >> block_shift);
        if (block >= chunk) return _mm512_set1_ps(*a);
        return _mm512_permutexvar_ps(lane_block, _mm512_loadu_ps(a));
    }
};

// Blockwise int4: one block per chunk; byte k of the block holds element k (low nibble) and
// k + B/2 (high). 16 bytes widen to 16 dword lanes; the codebook {-8 .. 7} looked up with the
// lane (low nibble) and the lane >> 4 (high nibble) gives elements in order.
template <std::size_t B>
struct int4_decoder {
    static constexpr std::size_t chunk = B, vecs = B / 16;
    static constexpr bool chunk_scaled = true;
    // four rows at m = 1 (one stream: scales lie between the codes). One row with partial sums
    // measured mixed at block 64 (a chunk is four vectors: the partial sums cost as much): from
    // DRAM 7-29% slower at 4096 x 4096 and 4096 x 11008, faster at 768 x 3072; from cache 8-11% slower
    static constexpr int m1_rows = 4;
    static constexpr std::size_t block_bytes = sizeof(float) + B / 2;

    const std::uint8_t* bytes;  // rows * blocks_per_row blocks of 4 + B/2 bytes
    std::size_t blocks_per_row;
    __m512 table;

    using cursor = const std::uint8_t*;  // the row's first block

    static constexpr bool has_bf16 = true;
    __m512i table_bf16;  // {-8 .. 7} in bf16, twice (vpermw reads 5 index bits)

    int4_decoder(const std::uint8_t* b, std::size_t bpr) : bytes(b), blocks_per_row(bpr) {
        alignas(64) float t[16];
        for (int i = 0; i < 16; ++i) t[i] = static_cast<float>(i - 8);
        table = _mm512_load_ps(t);
        alignas(64) std::uint16_t tb[32];
        for (int i = 0; i < 32; ++i) tb[i] = bfloat16(t[i % 16]).bits;
        table_bf16 = _mm512_load_si512(tb);
    }

    // bf16: elements in order, vector n = elements 32n .. 32n+31 of the block (one scale)
    static void prepare_x_bf16(const float* x, std::size_t in, float* out) { prepare_x(x, in, out); }

    template <class F>
    void decode_bf16(cursor p, std::size_t c, F&& f) const {
        const std::uint8_t* q = p + c * block_bytes + sizeof(float);
        prefetch(q);
        if constexpr (B == 32) {  // 16 bytes: low nibbles are elements 0..15, high 16..31
            const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
            f(0, _mm512_permutexvar_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), table_bf16));
        } else {  // 32 bytes at a time: low nibbles elements 32g + k, high B/2 + 32g + k
            for (std::size_t g = 0; g < B / 64; ++g) {
                const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * g)));
                f(g, _mm512_permutexvar_epi16(v, table_bf16));
                f(B / 64 + g, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table_bf16));
            }
        }
    }

    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    cursor row(std::size_t r) const { return bytes + r * blocks_per_row * block_bytes; }

#if defined(QUANT_CPU_BF16)
    // AMX: as decode_bf16, with the codebook times the block's scale rounded to bf16 once a block
    static constexpr std::size_t amx_block() { return B; }
    static constexpr std::size_t amx_element(std::size_t t, std::size_t j) { return 32 * t + j; }
    static void prepare_x_amx(const float* x, std::size_t in, float* out) { prepare_x(x, in, out); }
    template <class F>
    void decode_block_amx(cursor p, std::size_t b, F&& f) const {
        const std::uint8_t* q = p + b * block_bytes;
        prefetch(q);
        float d;
        std::memcpy(&d, q, sizeof d);
        const __m512 s = _mm512_mul_ps(table, _mm512_set1_ps(d));
        const __m512i tab = (__m512i)_mm512_cvtne2ps_pbh(s, s);
        q += sizeof(float);
        if constexpr (B == 32) {
            const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
            f(0, _mm512_permutexvar_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1), tab));
        } else {
            for (std::size_t g = 0; g < B / 64; ++g) {
                const __m512i v = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * g)));
                f(g, _mm512_permutexvar_epi16(v, tab));
                f(B / 64 + g, _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), tab));
            }
        }
    }
    static __m512i amx_pairs(const float* xb, std::size_t t) {
        return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(xb + 32 * t + 16), _mm512_loadu_ps(xb + 32 * t));
    }
#endif

    template <class F>
    void decode(cursor p, std::size_t c, F&& f) const {
        const std::uint8_t* q = p + c * block_bytes + sizeof(float);
        prefetch(q);
        for (std::size_t g = 0; g < B / 32; ++g) {
            const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16 * g)));
            f(g, _mm512_permutexvar_ps(v, table));
            f(B / 32 + g, _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table));
        }
    }

    // chunk c of R rows in step: f(j, w) with w[q] = vector j of row q
    template <int R, class F>
    [[gnu::always_inline]] void decode_rows(const cursor (&p)[R], std::size_t c, F&& f) const {
        const std::uint8_t* q[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            q[r] = p[r] + c * block_bytes + sizeof(float);
            prefetch(q[r]);
        }
#pragma GCC unroll 8
        for (std::size_t g = 0; g < B / 32; ++g) {
            __m512i v[R];
            __m512 w[R];
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                v[r] = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q[r] + 16 * g)));
                w[r] = _mm512_permutexvar_ps(v[r], table);
            }
            f(g, w);
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) w[r] = _mm512_permutexvar_ps(_mm512_srli_epi32(v[r], 4), table);
            f(B / 32 + g, w);
        }
    }

    __m512 scale(cursor p, std::size_t c) const {
        float d;
        std::memcpy(&d, p + c * block_bytes, sizeof d);
        return _mm512_set1_ps(d);
    }
};

// int8 weights (weight-only use): 16 codes widen to 16 floats; the row scale SCB/127 applies
// once per row.
struct int8_decoder : int8_rows {
    static constexpr std::size_t chunk = 64, vecs = 4;
    static constexpr bool chunk_scaled = false;
    static constexpr int m1_rows = 4;  // four rows: four FMA chains
    static constexpr bool has_bf16 = false;


    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    template <class F>
    void decode(const cursor& p, std::size_t c, F&& f) const {
        const std::int8_t* q = p.codes + c * chunk;
        prefetch(q);
        const std::size_t left = p.left - c * chunk;
        const __m512i v = left >= chunk ? _mm512_loadu_si512(q) : _mm512_maskz_loadu_epi8(~__mmask64{0} >> (64 - left), q);
        f(0, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 0))));
        f(1, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 1))));
        f(2, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 2))));
        f(3, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v, 3))));
    }

    // chunk c of R rows in step: f(j, w) with w[q] = vector j of row q
    template <int R, class F>
    [[gnu::always_inline]] void decode_rows(const cursor (&p)[R], std::size_t c, F&& f) const {
        __m512i v[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const std::int8_t* q = p[r].codes + c * chunk;
            prefetch(q);
            const std::size_t left = p[r].left - c * chunk;
            v[r] = left >= chunk ? _mm512_loadu_si512(q) : _mm512_maskz_loadu_epi8(~__mmask64{0} >> (64 - left), q);
        }
        const auto part = [&]<int J>() {
            __m512 w[R];
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) w[r] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(v[r], J)));
            f(std::size_t(J), w);
        };
        part.template operator()<0>();
        part.template operator()<1>();
        part.template operator()<2>();
        part.template operator()<3>();
    }
};

// float16 weights: 16 halves widen to 16 floats (vcvtph2ps), exactly; no scale.
struct f16_decoder : f16_rows {
    static constexpr std::size_t chunk = 64, vecs = 4;
    static constexpr bool chunk_scaled = false;
    static constexpr int m1_rows = 4;  // four rows: four FMA chains
    static constexpr bool has_bf16 = false;


    static void prepare_x(const float* x, std::size_t in, float* out) { copy_padded<chunk>(x, in, out); }

    template <class F>
    void decode(const cursor& p, std::size_t c, F&& f) const {
        const std::uint16_t* q = p.row + c * chunk;
        prefetch(q);
        prefetch(q + 32);
        const std::size_t left = p.left - c * chunk;
        for (std::size_t j = 0; j < vecs; ++j) {
            const std::size_t n = left > 16 * j ? std::min<std::size_t>(16, left - 16 * j) : 0;
            const __m256i h = n == 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 16 * j))
                                      : _mm256_maskz_loadu_epi16(first_lanes(n), q + 16 * j);
            f(j, _mm512_cvtph_ps(h));
        }
    }
};

// The chunks of a row one call of a GEMV row kernel covers: [c0, c1) of `chunks`. The bf16 GEMV
// runs activation rows that outgrow L1 in k-blocks (gemv_decoded_bf16; the float32 GEMV measured
// slower blocked and keeps one pass), each over a group of weight rows, their vector sums kept in
// `carry` (R * M vectors, 64-byte aligned) from one block to the next. Storing and reloading a
// vector is exact: a row's sums do not depend on the blocking.
struct chunk_range {
    std::size_t c0, c1, chunks;
    float* carry = nullptr;  // unused when [c0, c1) is the whole row
};

// The parts every GEMV row kernel (dot_rows, dot_rows_bf16, dot_rows_q8) shares: R cursors from
// row r and the vector sums the range starts from (zeros, or the carried ones); after the range,
// the sums go to carry or, after the row's last chunk, out[q * M + i] = the lanes' sum, times the
// row scale of decoders that have one (int8, float16; the decoder argument only names its type).
template <int R, int M, class D>
[[gnu::always_inline]] inline void start_rows(const D& d, std::size_t r, const chunk_range& k, typename D::cursor (&p)[R],
                                              __m512 (&acc)[R][M]) {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q) {
        p[q] = d.row(r + std::size_t(q));
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) acc[q][i] = k.c0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(k.carry + 16 * (q * M + i));
    }
}

template <int R, int M, class D>
[[gnu::always_inline]] inline void finish_rows(const D&, const chunk_range& k, const typename D::cursor (&p)[R],
                                               const __m512 (&acc)[R][M], float* out) {
#pragma GCC unroll 16
    for (int q = 0; q < R; ++q)
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) {
            if (k.c1 < k.chunks) {
                _mm512_store_ps(k.carry + 16 * (q * M + i), acc[q][i]);
                continue;
            }
            out[q * M + i] = _mm512_reduce_add_ps(acc[q][i]);
            if constexpr (requires { D::row_scale(p[q]); }) out[q * M + i] *= D::row_scale(p[q]);
        }
}

// R weight rows from r against M prepared activation rows: out[q * M + i] = w_{r+q} . x_i.
// Decoding happens once per chunk and row and serves all M activation rows. At small M one row's
// sums are chains of dependent FMAs (at M = 1, eight per chunk), latency-bound at a third of the
// decode throughput: R rows at a time are R independent chains, and so are A partial sums per
// chunk of one row (chunk-scaled decoders without Prescale). A row's sums do not depend on R.
template <int R, int M, bool Prescale, int A = 1, class D>
inline void dot_rows(const D& d, std::size_t r, const chunk_range& k, const float* const* xs, float* out) {
    typename D::cursor p[R];
    __m512 acc[R][M];
    start_rows(d, r, k, p, acc);
    for (std::size_t c = k.c0; c < k.c1; ++c) {
        if constexpr (Prescale && requires { d.decode_rows(p, c, [](std::size_t, __m512(&)[R]) {}); }) {
            // the R rows' chunk decoded in step, each vector scaled once (chunk-scaled decoders;
            // the others' row scale comes last) and accumulated directly (no per-chunk partial
            // sums, whose registers then let the R rows share each activation load)
            __m512 s[R];
            if constexpr (D::chunk_scaled)
#pragma GCC unroll 8
                for (int u = 0; u < R; ++u) s[u] = d.scale(p[u], c);
            d.decode_rows(p, c, [&](std::size_t j, __m512 (&w)[R]) {
                if constexpr (D::chunk_scaled)
#pragma GCC unroll 8
                    for (int u = 0; u < R; ++u) w[u] = _mm512_mul_ps(w[u], s[u]);
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) {
                    const __m512 x = _mm512_loadu_ps(xs[i] + c * D::chunk + 16 * j);
#pragma GCC unroll 8
                    for (int u = 0; u < R; ++u) acc[u][i] = _mm512_fmadd_ps(w[u], x, acc[u][i]);
                }
            });
            continue;
        }
#pragma GCC unroll 8
        for (int q = 0; q < R; ++q) {
            if constexpr (D::chunk_scaled) {
                // the chunk's products in A partial sums, vector j into j % A, folded, then scaled
                // (dot_rows_bf16 has the same block: as one helper taking the products as a
                // lambda, g++ 12 compiled the instances to 5-37% more vector instructions)
                __m512 t[A][M];
#pragma GCC unroll 8
                for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
                    for (int i = 0; i < M; ++i) t[a][i] = _mm512_setzero_ps();
                d.decode(p[q], c, [&](std::size_t j, __m512 w) {
#pragma GCC unroll 8
                    for (int i = 0; i < M; ++i)
                        t[j % A][i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[i] + c * D::chunk + 16 * j), t[j % A][i]);
                });
#pragma GCC unroll 8
                for (int a = 1; a < A; ++a)
#pragma GCC unroll 8
                    for (int i = 0; i < M; ++i) t[0][i] = _mm512_add_ps(t[0][i], t[a][i]);
                const __m512 s = d.scale(p[q], c);
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) acc[q][i] = _mm512_fmadd_ps(t[0][i], s, acc[q][i]);
            } else {
                d.decode(p[q], c, [&](std::size_t j, __m512 w) {
#pragma GCC unroll 8
                    for (int i = 0; i < M; ++i)
                        acc[q][i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs[i] + c * D::chunk + 16 * j), acc[q][i]);
                });
            }
        }
    }
    finish_rows(d, k, p, acc, out);
}

#if defined(QUANT_CPU_BF16)
// dot_rows with bf16 weights and activations (vdpbf16ps: 32 products per instruction, half the
// decoding work of float32): R weight rows from r against M activation rows in the
// prepare_x_bf16 layout, converted to bf16.
template <int R, int M, int A = 1, class D>
inline void dot_rows_bf16(const D& d, std::size_t r, const chunk_range& k, const std::uint16_t* const* xs, float* out) {
    typename D::cursor p[R];
    __m512 acc[R][M];
    start_rows(d, r, k, p, acc);
    for (std::size_t c = k.c0; c < k.c1; ++c) {
#pragma GCC unroll 8
        for (int q = 0; q < R; ++q) {
            __m512 t[A][M];  // the chunk's products, vector n into partial sum n % A (as in dot_rows)
#pragma GCC unroll 8
            for (int a = 0; a < A; ++a)
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) t[a][i] = _mm512_setzero_ps();
            d.decode_bf16(p[q], c, [&](std::size_t n, __m512i w) {
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i)
                    t[n % A][i] = _mm512_dpbf16_ps(t[n % A][i], (__m512bh)w, (__m512bh)_mm512_loadu_si512(xs[i] + c * D::chunk + 32 * n));
            });
#pragma GCC unroll 8
            for (int a = 1; a < A; ++a)
#pragma GCC unroll 8
                for (int i = 0; i < M; ++i) t[0][i] = _mm512_add_ps(t[0][i], t[a][i]);
            const __m512 s = d.scale(p[q], c);
#pragma GCC unroll 8
            for (int i = 0; i < M; ++i) acc[q][i] = _mm512_fmadd_ps(t[0][i], s, acc[q][i]);
        }
    }
    finish_rows(d, k, p, acc, out);
}
#endif

// Row r dequantized into the prepared (possibly permuted) layout: what the GEMM path multiplies.
template <class D>
inline void dequantize_prepared(const D& d, std::size_t r, std::size_t chunks, float* out) {
    const auto p = d.row(r);
    for (std::size_t c = 0; c < chunks; ++c) {
        __m512 s;
        if constexpr (D::chunk_scaled) s = d.scale(p, c);
        else s = _mm512_set1_ps(D::row_scale(p));
        d.decode(p, c, [&](std::size_t j, __m512 w) { _mm512_storeu_ps(out + c * D::chunk + 16 * j, _mm512_mul_ps(w, s)); });
    }
}

}  // namespace quant::cpu::avx512

#endif
