// The GEMM path of the CPU backend on AVX2 (m above the GEMV range): float32, as gemm_avx512.hpp
// does it with 8-float vectors. Y[i, o] = sum_k X[i, k] W[o, k] with a register-blocked
// micro-kernel of 6 activation rows (each element broadcast) x 16 weight rows (two ymm of 8
// output lanes): 12 accumulators, 2 weight vectors and a broadcast, 15 of the 16 ymm registers.
// Each accumulator is 8 adjacent outputs of one row of Y, so the epilogue (bias, rounding) runs
// on whole vectors and stores them contiguously. Weights are decoded panel by panel (64 rows) by
// the decoders into rows of the activations' layout, then packed into micro-panels of 16 rows,
// k-major ([k][16 rows]: 8 x 8 transposes), so the kernel's weight operand is two aligned loads
// per k. Activations stay row-major, rows padded with zeros to a multiple of 6. Every output is
// summed by one thread in k order, whatever the split between threads.
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX2)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <span>

#include "threading.hpp"

namespace quant::cpu::avx2 {

inline constexpr std::size_t gemm_mr = 6;      // activation rows per micro-kernel
inline constexpr std::size_t gemm_nr = 16;     // weight rows (outputs) per micro-kernel
inline constexpr std::size_t gemm_panel = 64;  // weight rows decoded at a time
// k-steps per pass: a micro-panel's slice (16 KB) stays in L1 while every activation block
// (6 rows x 1 KB) meets it
#ifndef QUANT_AVX2_GEMM_KC
#define QUANT_AVX2_GEMM_KC 256
#endif
inline constexpr std::size_t gemm_kc = QUANT_AVX2_GEMM_KC;

// activation rows a GEMM reads: m rounded up to whole micro-kernels (the extra rows are zeros)
inline constexpr std::size_t gemm_rows(std::size_t m) { return (m + gemm_mr - 1) / gemm_mr * gemm_mr; }

// The row stride of a GEMM's activations in floats: the row plus one cache line, so that rows a
// multiple of 4 KB long do not all fall into one set of the L1 (the kernel reads 6 at once).
inline constexpr std::size_t gemm_stride(std::size_t ld) { return ld + 16; }

// r[i] lane j -> r[j] lane i
inline void transpose8x8(__m256 (&r)[8]) {
    __m256 t[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    __m256 u[8];
    for (int i = 0; i < 2; ++i) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int j = 0; j < 4; ++j) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

// 16 rows of ld floats (ld % 8 == 0, rows ld apart) -> dst[k * 16 + row]
inline void pack_micro_panel(const float* src, std::size_t ld, float* dst) {
    for (std::size_t h = 0; h < gemm_nr; h += 8)
        for (std::size_t k0 = 0; k0 < ld; k0 += 8) {
            __m256 r[8];
            for (std::size_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (h + i) * ld + k0);
            transpose8x8(r);
            for (std::size_t j = 0; j < 8; ++j) _mm256_store_ps(dst + (k0 + j) * gemm_nr + h, r[j]);
        }
}

// res[i][v] = (carry, or zero) + sum over kn k-steps of x[i][k] w[8 v .. 8 v + 7][k] for 6
// activation rows from x (ldx apart) and kn k-steps of a packed micro-panel from wp. carry: the
// 12 vectors of the previous k-block's sums (exact when stored and reloaded: a row's sums do not
// depend on the blocking). The accumulators are locals (registers).
inline void micro_kernel(const float* x, std::size_t ldx, const float* wp, std::size_t kn, const float* carry,
                         __m256 (&res)[gemm_mr][2]) {
    __m256 c[gemm_mr][2];
    for (std::size_t i = 0; i < gemm_mr; ++i)
        for (std::size_t v = 0; v < 2; ++v) c[i][v] = carry ? _mm256_load_ps(carry + 16 * i + 8 * v) : _mm256_setzero_ps();
    const float* x0 = x;
    const float* x3 = x + 3 * ldx;
    for (std::size_t k = 0; k < kn; ++k) {
        const __m256 w0 = _mm256_load_ps(wp + k * gemm_nr), w1 = _mm256_load_ps(wp + k * gemm_nr + 8);
        const float* xs[gemm_mr] = {x0 + k, x0 + ldx + k, x0 + 2 * ldx + k, x3 + k, x3 + ldx + k, x3 + 2 * ldx + k};
#pragma GCC unroll 6
        for (std::size_t i = 0; i < gemm_mr; ++i) {
            const __m256 b = _mm256_broadcast_ss(xs[i]);
            c[i][0] = _mm256_fmadd_ps(b, w0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(b, w1, c[i][1]);
        }
    }
    for (std::size_t i = 0; i < gemm_mr; ++i) {
        res[i][0] = c[i][0];
        res[i][1] = c[i][1];
    }
}

// Y = X W^T for weight rows [0, out): decode(o, dst) writes weight row o (ld floats, ld % 8 ==
// 0); x holds gemm_rows(m) rows of ld floats, ldx apart (rows past m zero); store(i, o, v, n)
// receives the sums of outputs o .. o + n - 1 (n <= 8) of activation row i < m in v's first n
// lanes. Threads split the weight rows (multiples of 16), or, when there are too few for every
// thread to get a panel and enough activation blocks, the activation blocks (each thread then
// decodes every weight row: cheap for such small layers).
template <class Decode, class Store>
void gemm(std::size_t out, std::size_t ld, const float* x, std::size_t ldx, std::size_t m, int threads, const Decode& decode,
          const Store& store) {
    const std::size_t blocks = gemm_rows(m) / gemm_mr;
    const auto run = [&](std::size_t r0, std::size_t r1, std::size_t b0, std::size_t b1) {
        float* const rows = scratch<float, 23>(gemm_panel * ld).data();
        float* const pk = scratch<float, 24>(gemm_panel * ld).data();  // 64-byte aligned
        constexpr std::size_t tile = gemm_mr * gemm_nr;                 // floats of one kernel's sums
        float* const carry = scratch<float, 25>((b1 - b0) * (gemm_panel / gemm_nr) * tile).data();
        __m256 c[gemm_mr][2];
        for (std::size_t p0 = r0; p0 < r1; p0 += gemm_panel) {
            const std::size_t np = std::min(gemm_panel, r1 - p0), npad = (np + gemm_nr - 1) / gemm_nr * gemm_nr;
            for (std::size_t r = 0; r < np; ++r) decode(p0 + r, rows + r * ld);
            std::fill(rows + np * ld, rows + npad * ld, 0.0f);
            for (std::size_t q = 0; q < npad; q += gemm_nr) pack_micro_panel(rows + q * ld, ld, pk + q * ld);
            for (std::size_t k0 = 0; k0 < ld; k0 += gemm_kc) {
                const std::size_t kn = std::min(gemm_kc, ld - k0);
                for (std::size_t q = 0; q < npad; q += gemm_nr) {
                    const std::size_t o = p0 + q;
                    for (std::size_t b = b0; b < b1; ++b) {
                        float* const cb = carry + ((b - b0) * (gemm_panel / gemm_nr) + q / gemm_nr) * tile;
                        micro_kernel(x + b * gemm_mr * ldx + k0, ldx, pk + q * ld + k0 * gemm_nr, kn, k0 ? cb : nullptr, c);
                        if (k0 + kn < ld) {
                            for (std::size_t i = 0; i < gemm_mr; ++i)
                                for (std::size_t v = 0; v < 2; ++v) _mm256_store_ps(cb + 16 * i + 8 * v, c[i][v]);
                            continue;
                        }
                        const std::size_t nx = std::min(gemm_mr, m - b * gemm_mr);
                        for (std::size_t i = 0; i < nx; ++i)
                            for (std::size_t v = 0; v < 2; ++v)
                                if (o + 8 * v < out) store(b * gemm_mr + i, o + 8 * v, c[i][v], std::min<std::size_t>(8, out - o - 8 * v));
                    }
                }
            }
        }
    };
    const std::size_t nt = static_cast<std::size_t>(threads > 0 ? threads : max_threads());
    if (nt > 1 && out < nt * gemm_panel && blocks >= nt)
        parallel_ranges(blocks, 1, threads, [&](std::size_t b0, std::size_t b1) { run(0, out, b0, b1); });
    else
        parallel_ranges(out, gemm_nr, threads, [&](std::size_t r0, std::size_t r1) { run(r0, r1, 0, blocks); });
}

}  // namespace quant::cpu::avx2

#endif
