// The GEMM path of the CPU backend (m above the GEMV range), AVX-512.
//
// C^T[o, i] = sum_k W[o, k] X[i, k] with a register-blocked micro-kernel: 12 weight rows (each
// element broadcast) x 32 activation rows (two zmm of 16 lanes), 24 accumulators. One template
// serves three element types, by how many k one instruction consumes per lane:
//   f32   vfmadd231ps   k-step 1   W panel float32, X float32
//   bf16  vdpbf16ps     k-step 2   W panel bf16 pairs, X bf16 pairs (acc += a0 b0 + a1 b1)
//   s8    vpdpbusd      k-step 4   W = the int8 codes themselves, X = u8 (s8 + 128) quads
// Activations are packed once per call into X^T blocks of 32 rows: [k / step][32 lanes][step].
// Weights are decoded panel by panel (96 rows) into the element type, row-major, so a broadcast
// of `step` consecutive k of one row is one 32-bit load. Every output element is summed by one
// thread in a fixed order.
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../numeric/half.hpp"
#include "../../tensor/aligned.hpp"
#include "arch.hpp"
#include "threading.hpp"

namespace quant::cpu::avx512 {

inline constexpr std::size_t gemm_mr = 12;   // weight rows per micro-kernel
inline constexpr std::size_t gemm_nr = 32;   // activation rows per micro-kernel
inline constexpr std::size_t gemm_panel = 96;  // weight rows decoded at a time (8 micro-panels)

struct op_f32 {
    using elem = float;
    using acc = __m512;
    using out = float;
    static constexpr std::size_t step = 1;
    static acc zero() { return _mm512_setzero_ps(); }
    static acc madd(acc c, __m512 x, const elem* w) { return _mm512_fmadd_ps(x, _mm512_set1_ps(*w), c); }
    static void store(float* dst, acc c) { _mm512_storeu_ps(dst, c); }
};

#if defined(__AVX512BF16__)
struct op_bf16 {
    using elem = std::uint16_t;  // bf16 bits
    using acc = __m512;
    using out = float;
    static constexpr std::size_t step = 2;
    static acc zero() { return _mm512_setzero_ps(); }
    static acc madd(acc c, __m512 x, const elem* w) {
        std::int32_t pair;
        std::memcpy(&pair, w, sizeof pair);
        return _mm512_dpbf16_ps(c, (__m512bh)_mm512_castps_si512(x), (__m512bh)_mm512_set1_epi32(pair));
    }
    static void store(float* dst, acc c) { _mm512_storeu_ps(dst, c); }
};
#endif

#if defined(__AVX512VNNI__)
struct op_s8 {
    using elem = std::int8_t;
    using acc = __m512i;
    using out = std::int32_t;
    static constexpr std::size_t step = 4;
    static acc zero() { return _mm512_setzero_si512(); }
    static acc madd(acc c, __m512 x, const elem* w) {
        std::int32_t quad;
        std::memcpy(&quad, w, sizeof quad);
        return _mm512_dpbusd_epi32(c, _mm512_castps_si512(x), _mm512_set1_epi32(quad));
    }
    static void store(std::int32_t* dst, acc c) { _mm512_storeu_si512(dst, c); }
};
#endif

template <class Op>
using out_t = typename Op::out;

// Packs activation rows (already in the element type, row length ld elements, ld % step == 0)
// into X^T blocks: block b, k-group g, lane j -> the `step` elements X[32 b + j, g*step ...].
// Rows past m are zero.
template <class Op>
const typename Op::elem* pack_activations(const typename Op::elem* x, std::size_t m, std::size_t ld, int threads) {
    using E = typename Op::elem;
    constexpr std::size_t S = Op::step;
    const std::size_t blocks = (m + gemm_nr - 1) / gemm_nr, groups = ld / S, block_elems = groups * gemm_nr * S;
    E* out = scratch<E, 2>(blocks * block_elems).data();
    parallel_ranges(blocks, 1, threads, [&](std::size_t b0, std::size_t b1) {
        for (std::size_t i = b0 * gemm_nr; i < b1 * gemm_nr; ++i) {
            const std::size_t b = i / gemm_nr, j = i % gemm_nr;
            E* dst = out + b * block_elems + j * S;
            const E* src = x + i * ld;
            for (std::size_t g = 0; g < groups; ++g)
                for (std::size_t s = 0; s < S; ++s) dst[g * gemm_nr * S + s] = i < m ? src[g * S + s] : E{};
        }
    });
    return out;
}

// acc[r][lane] = sum over k-groups of W[r] . X^T block, for 12 weight rows starting at w (row
// length ld elements), one block of 32 activation rows.
template <class Op>
inline void micro_kernel(const typename Op::elem* w, std::size_t ld, const typename Op::elem* xt, std::size_t groups,
                         out_t<Op> (&res)[gemm_mr][gemm_nr]) {
    typename Op::acc c[gemm_mr][2];
    for (std::size_t r = 0; r < gemm_mr; ++r) c[r][0] = c[r][1] = Op::zero();
    for (std::size_t g = 0; g < groups; ++g) {
        const __m512 x0 = _mm512_load_ps(reinterpret_cast<const float*>(xt + g * gemm_nr * Op::step));
        const __m512 x1 = _mm512_load_ps(reinterpret_cast<const float*>(xt + g * gemm_nr * Op::step) + 16);
        const typename Op::elem* wk = w + g * Op::step;
        for (std::size_t r = 0; r < gemm_mr; ++r) {
            c[r][0] = Op::madd(c[r][0], x0, wk + r * ld);
            c[r][1] = Op::madd(c[r][1], x1, wk + r * ld);
        }
    }
    for (std::size_t r = 0; r < gemm_mr; ++r) {
        Op::store(res[r], c[r][0]);
        Op::store(res[r] + 16, c[r][1]);
    }
}

// For every weight row o in [0, out): decode(o, dst) writes row o (ld elements) in the element
// type; finish(i, o, sum) receives every result. Threads split the weight rows (in multiples of
// the micro-kernel's 12), or, when there are too few rows for every thread to get a whole panel
// and enough activation blocks, the activation blocks (each thread then decodes every panel:
// cheap for such small layers). Either way each result is one micro-kernel's sum in k order, so
// it does not depend on the split.
template <class Op, class Decode, class Finish>
void gemm(std::size_t out, std::size_t ld, const typename Op::elem* xt, std::size_t m, int threads,
          const Decode& decode, const Finish& finish) {
    using E = typename Op::elem;
    const std::size_t groups = ld / Op::step, blocks = (m + gemm_nr - 1) / gemm_nr;
    const std::size_t block_elems = groups * gemm_nr * Op::step;
    // rows [r0, r1) against activation blocks [b0, b1)
    const auto run = [&](std::size_t r0, std::size_t r1, std::size_t b0, std::size_t b1) {
        const std::span<E> panel = scratch<E, 3>(gemm_panel * ld);  // the worker thread's own
        alignas(64) out_t<Op> res[gemm_mr][gemm_nr];
        for (std::size_t p0 = r0; p0 < r1; p0 += gemm_panel) {
            const std::size_t np = std::min(gemm_panel, r1 - p0);
            for (std::size_t r = 0; r < np; ++r) decode(p0 + r, panel.data() + r * ld);
            std::fill(panel.begin() + static_cast<std::ptrdiff_t>(np * ld), panel.end(), E{});
            for (std::size_t b = b0; b < b1; ++b) {
                const std::size_t nx = std::min(gemm_nr, m - b * gemm_nr);
                for (std::size_t q = 0; q < np; q += gemm_mr) {
                    micro_kernel<Op>(panel.data() + q * ld, ld, xt + b * block_elems, groups, res);
                    // row by row: the 12 outputs of one activation row are adjacent in y, while
                    // the 32 rows are a large stride apart (often a multiple of 4 KB, which would
                    // put them all in one L1 set if written column by column)
                    const std::size_t nw = std::min(gemm_mr, np - q);
                    for (std::size_t j = 0; j < nx; ++j)
                        for (std::size_t r = 0; r < nw; ++r) finish(b * gemm_nr + j, p0 + q + r, res[r][j]);
                }
            }
        }
    };
    const std::size_t nt = static_cast<std::size_t>(threads > 0 ? threads : max_threads());
    if (nt > 1 && out < nt * gemm_panel && blocks >= nt)
        parallel_ranges(blocks, 1, threads, [&](std::size_t b0, std::size_t b1) { run(0, out, b0, b1); });
    else
        parallel_ranges(out, gemm_mr, threads, [&](std::size_t r0, std::size_t r1) { run(r0, r1, 0, blocks); });
}

}  // namespace quant::cpu::avx512

#endif
