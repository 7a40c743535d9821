// The 4-bit schemes with int8 activations (schemes/q8_activations.hpp) at large m, AVX-512 VNNI:
// a GEMM on int8 codes with a float scale per block of 32 on each side.
//
// y[i, o] = sum over blocks j of (sum_{k in j} w8[o, k] q[i, k]) * (s[o, j] unit) * d[i, j]: the
// inner sum is exact in int32 (vpdpbusd), the outer one float32. The GEMV kernel
// (q8_gemv_avx512.hpp) reads the 4-bit codes and decodes them in registers for every activation
// tile of 8 rows; here, as in the float GEMM (gemm_avx512.hpp), each thread decodes a panel of
// 144 weight rows once per call into u8 codes, packs them into micro-panels of 48 rows and runs
// a register-blocked micro-kernel over all m: 8 activation rows x 48 weight rows, 24 int32
// accumulators summed over one block (8 k-groups of 4 bytes, 192 vpdpbusd), then folded into 24
// float accumulators (in L1: the registers hold the int32 ones) with one convert and two float
// ops each: 3 per 8 vpdpbusd.
//
// vpdpbusd multiplies u8 by s8: the weights are the u8 operand, their int8 value + bias (128 for
// a codebook, 8 for int4), and each block's int32 sum starts at -bias * (the activation row's
// code sum over the block), the same for every output (one broadcast per row and block). Both
// sides in plain k order (dword g: elements 4g .. 4g+3), rows ld bytes (a multiple of 64), zeros
// past in on both sides, so the padding adds nothing; the activation blocks past the row have
// scale 0 and so do the weight blocks.
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_VNNI)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "../../schemes/blockwise_int4.hpp"
#include "../../schemes/bnb4bit.hpp"
#include "../../schemes/q8_activations.hpp"
#include "gemm_avx512.hpp"
#include "q8_gemv_avx512.hpp"

namespace quant::cpu::avx512 {

inline constexpr std::size_t q8_block = Q8Activations::block;  // 32: 8 k-groups

// Weight row r of blockwise int4 (block B) as the GEMM's u8 codes: dst[k] = nibble (the value c - 8
// plus bias 8) for k < blocks * B, zeros up to ld; scales[j] = the scale of activation block j's
// weight block, zero past the row's blocks (j < ld / 32).
struct int4_u8_rows {
    static constexpr int bias = 8;
    static constexpr float unit = BlockwiseInt4::int8_unit;
    const BlockwiseInt4::storage& st;

    void operator()(std::size_t r, std::size_t ld, std::uint8_t* dst, float* scales) const {
        const std::size_t B = st.params.block, nb = st.blocks_per_row(), half = B / 2;
        const __m128i low = _mm_set1_epi8(0x0f);
        for (std::size_t k = 0; k < nb; ++k) {  // block layout: byte j holds j (low nibble) and j + B/2 (high)
            const std::uint8_t* c = st.codes(r, k);
            std::uint8_t* d = dst + k * B;
            for (std::size_t t = 0; t < half; t += 16) {
                const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + t));
                if (k * B + t < ld) _mm_storeu_si128(reinterpret_cast<__m128i*>(d + t), _mm_and_si128(v, low));
                if (k * B + half + t < ld) _mm_storeu_si128(reinterpret_cast<__m128i*>(d + half + t), _mm_and_si128(_mm_srli_epi16(v, 4), low));
            }
        }
        if (nb * B < ld) std::fill(dst + nb * B, dst + ld, std::uint8_t{0});
        for (std::size_t j = 0; j < ld / q8_block; ++j) {
            const std::size_t k = j * q8_block / B;
            scales[j] = k < nb ? st.scale(r, k) * unit : 0.0f;
        }
    }
};

// Weight row r of bnb 4-bit (NF4, FP4; rows holding whole blocks, so in is a multiple of the
// block, itself of 32): the codebook's int8 values + 128. absmax: the blocks' absmax, double
// quantization decoded.
template <class Traits>
struct bnb4bit_u8_rows {
    static constexpr int bias = 128;
    static constexpr float unit = Bnb4bit<Traits>::int8_unit;
    const typename Bnb4bit<Traits>::storage& st;
    const float* absmax;
    __m512i table = bnb4bit_q8_decoder<Traits>::make_table();  // int8 codebook + 128, per 128-bit lane

    void operator()(std::size_t r, std::size_t ld, std::uint8_t* dst, float* scales) const {
        const std::size_t in = st.cols, B = st.params.block;
        const std::uint8_t* q = st.packed.data() + r * in / 2;  // byte b: element 2b high nibble, 2b + 1 low
        for (std::size_t b = 0; b < in / 2; b += 32) {
            const std::size_t n = std::min<std::size_t>(32, in / 2 - b);  // a multiple of 16
            const __m512i w = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(n == 32 ? ~__mmask32{0} : __mmask32((1u << n) - 1), q + b));
            // word = high nibble | low nibble << 8: the bytes in element order
            const __m512i e = _mm512_or_si512(_mm512_srli_epi16(w, 4), _mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x0f)), 8));
            _mm512_mask_storeu_epi8(dst + 2 * b, n == 32 ? ~__mmask64{0} : (__mmask64{1} << 2 * n) - 1, _mm512_shuffle_epi8(table, e));
        }
        std::fill(dst + in, dst + ld, std::uint8_t{0});
        for (std::size_t j = 0; j < ld / q8_block; ++j)
            scales[j] = j * q8_block < in ? absmax[(r * in + j * q8_block) / B] * unit : 0.0f;
    }
};

// The activations of a q8 GEMM: rows of ld s8 codes ldx apart (gemm_stride; rows past m zero),
// and per row its nbk = ld / 32 block scales d and int32 starts -bias * (sum of the block's
// codes), rows nbk apart.
struct q8_gemm_x {
    const std::int8_t* q;
    std::size_t ldx;
    const float* d;
    const std::int32_t* init;
};

// res[i][v] = the block-scaled sums of gemm_mr activation rows against one micro-panel (wp:
// [group][48] u8 quads; sp: [block][48] weight scales), over nbk blocks.
inline void q8_micro_kernel(const q8_gemm_x& x, std::size_t row0, const std::uint32_t* wp, const float* sp, std::size_t nbk,
                            __m512 (&res)[gemm_mr][gemm_nv]) {
    alignas(64) float acc[gemm_mr][gemm_nr] = {};
    const std::int8_t* xq = x.q + row0 * x.ldx;
    const float* xd = x.d + row0 * nbk;
    const std::int32_t* xi = x.init + row0 * nbk;
    for (std::size_t j = 0; j < nbk; ++j) {
        __m512i c[gemm_mr][gemm_nv];
        for (std::size_t i = 0; i < gemm_mr; ++i) {
            const __m512i s = _mm512_set1_epi32(xi[i * nbk + j]);
            for (std::size_t v = 0; v < gemm_nv; ++v) c[i][v] = s;
        }
#pragma GCC unroll 8
        for (std::size_t t = 0; t < q8_block / 4; ++t) {
            const std::size_t g = q8_block / 4 * j + t;
            __m512i w[gemm_nv];
            for (std::size_t v = 0; v < gemm_nv; ++v) w[v] = _mm512_load_si512(wp + g * gemm_nr + 16 * v);
            for (std::size_t i = 0; i < gemm_mr; ++i) {
                const __m512i b = broadcast_dword(xq + i * x.ldx + 4 * g);
                for (std::size_t v = 0; v < gemm_nv; ++v) c[i][v] = _mm512_dpbusd_epi32(c[i][v], w[v], b);
            }
        }
        // scale by scale: the 24 sums die as they are folded, and the operands stay few (at most
        // 24 + 3 zmm live: with the three weight-scale vectors held across the rows GCC spilled the sums)
        for (std::size_t v = 0; v < gemm_nv; ++v) {
            const __m512 s = _mm512_load_ps(sp + j * gemm_nr + 16 * v);
            for (std::size_t i = 0; i < gemm_mr; ++i) {
                float* a = acc[i] + 16 * v;
                const __m512 sd = _mm512_mul_ps(s, _mm512_set1_ps(xd[i * nbk + j]));
                _mm512_store_ps(a, _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[i][v]), sd, _mm512_load_ps(a)));
            }
        }
    }
    for (std::size_t i = 0; i < gemm_mr; ++i)
        for (std::size_t v = 0; v < gemm_nv; ++v) res[i][v] = _mm512_load_ps(acc[i] + 16 * v);
}

// Y = X W^T for the 4-bit weights through rows (int4_u8_rows, bnb4bit_u8_rows) and activations x
// (m rows; gemm_rows(m) prepared): store(i, o, v, mask) as in for_micro_panels. Each output is one
// micro-kernel's sum in block order, whatever the thread split.
template <class Rows, class Store>
void q8_gemm(const Rows& rows, std::size_t out, std::size_t ld, const q8_gemm_x& x, std::size_t m, int threads, const Store& store) {
    const std::size_t groups = ld / 4, nbk = ld / q8_block;
    split_gemm(out, m, threads, [&](std::size_t r0, std::size_t r1, std::size_t b0, std::size_t b1) {
        const std::span<std::uint8_t> codes = scratch<std::uint8_t, 13>(gemm_panel * ld);  // the worker thread's own
        std::uint32_t* const pk = scratch<std::uint32_t, 14>(gemm_panel * groups).data();
        float* const sw = scratch<float, 15>(gemm_panel * nbk).data();  // [row][block]
        float* const sp = scratch<float, 16>(gemm_panel * nbk).data();  // [micro-panel][block][48]
        for (std::size_t p0 = r0; p0 < r1; p0 += gemm_panel) {
            const std::size_t np = std::min(gemm_panel, r1 - p0), npad = (np + gemm_nr - 1) / gemm_nr * gemm_nr;
            decode_and_pack(p0, np, ld, codes, [&](std::size_t o, std::uint8_t* dst) { rows(o, ld, dst, sw + (o - p0) * nbk); }, pk);
            for (std::size_t q = 0; q < npad; q += gemm_nr)
                for (std::size_t j = 0; j < nbk; ++j)
                    for (std::size_t r = 0; r < gemm_nr; ++r)
                        sp[q * nbk + j * gemm_nr + r] = q + r < np ? sw[(q + r) * nbk + j] : 0.0f;
            for_micro_panels<__m512>(p0, np, out, m, b0, b1, [&](std::size_t q, std::size_t b, __m512(&c)[gemm_mr][gemm_nv]) {
                q8_micro_kernel(x, b * gemm_mr, pk + q * groups, sp + q * nbk, nbk, c);
            }, store);
        }
    });
}

// Activation row x[0 .. in) quantized (Q8Activations, as quantize_q8_avx512) into q[0 .. ld)
// (zeros past in), its block scales into d and -bias * (block code sums) into init (nbk each,
// zero past the row's blocks); td: scratch of ld / 32 + 16 floats.
inline void prepare_q8_gemm_row(const float* x, std::size_t in, std::size_t ld, int bias, std::int8_t* q, float* d,
                                std::int32_t* init, float* td) {
    quantize_q8_avx512(x, in, ld, q, td);
    for (std::size_t j = 0; j < ld / q8_block; ++j) {
        std::int32_t s = 0;
        for (std::size_t k = j * q8_block; k < (j + 1) * q8_block; ++k) s += q[k];
        d[j] = td[j];
        init[j] = -bias * s;
    }
}

}  // namespace quant::cpu::avx512

#endif
