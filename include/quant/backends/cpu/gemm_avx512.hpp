// The GEMM path of the CPU backend (m above the GEMV range), AVX-512.
//
// Y[i, o] = sum_k X[i, k] W[o, k] with a register-blocked micro-kernel: 8 activation rows (each
// element broadcast) x 48 weight rows (three zmm of 16 output lanes), 24 accumulators, so each
// accumulator is 16 adjacent outputs of one row of Y and the caller's epilogue (scales, bias,
// rounding) runs on whole vectors and stores them contiguously. One template serves three element
// types; a k-group (`step` consecutive k) is always 4 bytes:
//   f32   vfmadd231ps   k-step 1   W panel float32, X float32
//   bf16  vdpbf16ps     k-step 2   W panel bf16 pairs, X bf16 pairs (acc += a0 b0 + a1 b1)
//   s8    vpdpbusd      k-step 4   W = the int8 codes themselves, X = u8 (s8 + 128) quads
// Weights are decoded panel by panel (144 rows) into the element type, row-major, then packed
// into micro-panels of 48 rows, k-group-major ([group][48 rows] dwords: 16 x 16 dword
// transposes), so the kernel's weight operand is three aligned loads per k-group; or, for the
// int8 codes, which need no decoding, packed once when the layer is prepared (pack_panels). Activations
// stay row-major ([rows][ldx], rows padded with zeros to a multiple of 8): a k-group of one row
// is one 32-bit broadcast. Every output element is summed by one thread in k order, whatever the split.
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX512)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "../../numeric/half.hpp"
#include "../../tensor/aligned.hpp"
#include "gemm_amx.hpp"
#include "threading.hpp"

namespace quant::cpu::avx512 {

// 8 x 48 measured best of 12 x 32, 14 x 32, 8 x 48, 6 x 64 and 4 x 96 (24 to 28 accumulators)
// on the BERT shapes at m = 128 and 1024, by 3-10% for int8 and bf16.
inline constexpr std::size_t gemm_mr = 8;                // activation rows per micro-kernel
inline constexpr std::size_t gemm_nv = 3;                // 16-output vectors per micro-kernel
inline constexpr std::size_t gemm_nr = 16 * gemm_nv;     // weight rows (outputs) per micro-kernel
inline constexpr std::size_t gemm_panel = 3 * gemm_nr;   // weight rows decoded at a time

// activation rows a GEMM reads: m rounded up to whole micro-kernels (the extra rows are zeros)
inline constexpr std::size_t gemm_rows(std::size_t m) { return (m + gemm_mr - 1) / gemm_mr * gemm_mr; }

// The row stride of a GEMM's activations, in elements: the row length plus one cache line. The
// kernel reads 8 rows at once; rows a multiple of 4 KB apart (float32 rows of 1024, 3072, 4096)
// all fall into one set of the 8-way L1 and evict each other at every k-group (3072 x 768 at
// m = 1024: 85 -> 140 GFLOP/s with the extra line).
template <class E>
inline constexpr std::size_t gemm_stride(std::size_t ld) { return ld + 64 / sizeof(E); }

inline __m512i broadcast_dword(const void* p) {
    std::int32_t v;
    std::memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

struct op_f32 {
    using elem = float;
    using acc = __m512;
    static constexpr std::size_t step = 1;
    static acc zero() { return _mm512_setzero_ps(); }
    static acc madd(acc c, __m512i x, __m512i w) { return _mm512_fmadd_ps(_mm512_castsi512_ps(x), _mm512_castsi512_ps(w), c); }
};

#if defined(QUANT_CPU_BF16)
struct op_bf16 {
    using elem = std::uint16_t;  // bf16 bits
    using acc = __m512;
    static constexpr std::size_t step = 2;
    static acc zero() { return _mm512_setzero_ps(); }
    static acc madd(acc c, __m512i x, __m512i w) { return _mm512_dpbf16_ps(c, (__m512bh)x, (__m512bh)w); }
};
#endif

#if defined(QUANT_CPU_VNNI)
struct op_s8 {
    using elem = std::int8_t;  // weights; activations are u8 (s8 + 128) in the same bytes
    using acc = __m512i;
    static constexpr std::size_t step = 4;
    static acc zero() { return _mm512_setzero_si512(); }
    static acc madd(acc c, __m512i x, __m512i w) { return _mm512_dpbusd_epi32(c, x, w); }
};
#endif

// Transposes 16 x 16 dwords in registers: r[i] lane j -> r[j] lane i.
inline void transpose16x16(__m512i (&r)[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {  // r[4 i + c], 128-bit lane L: rows 4i..4i+3 of column 4L + c
        r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int c = 0; c < 4; ++c) {
        const __m512i u0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x88), u1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xdd);
        const __m512i u2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x88), u3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xdd);
        t[c] = _mm512_shuffle_i32x4(u0, u2, 0x88);
        t[8 + c] = _mm512_shuffle_i32x4(u0, u2, 0xdd);
        t[4 + c] = _mm512_shuffle_i32x4(u1, u3, 0x88);
        t[12 + c] = _mm512_shuffle_i32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Packs gemm_nr rows of `groups` dwords (row stride `ld_dwords`, groups % 16 == 0) into
// dst[g * gemm_nr + row]: the k-group-major micro-panel the kernel loads a k-group from.
inline void pack_micro_panel(const std::uint32_t* src, std::size_t ld_dwords, std::size_t groups, std::uint32_t* dst) {
    for (std::size_t h = 0; h < gemm_nr; h += 16)
        for (std::size_t g0 = 0; g0 < groups; g0 += 16) {
            __m512i r[16];
            for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + (h + i) * ld_dwords + g0);
            transpose16x16(r);
            for (std::size_t j = 0; j < 16; ++j) _mm512_store_si512(dst + (g0 + j) * gemm_nr + h, r[j]);
        }
}

// res[i][v] = sum over k-groups of X[i] . W^T, for gemm_mr activation rows from x (rows ld
// elements apart) and one packed micro-panel wp of gemm_nr weight rows. The accumulators are locals (an
// array the caller owns stays in memory: every madd became a load, a madd and a store).
template <class Op>
inline void micro_kernel(const typename Op::elem* x, std::size_t ld, const std::uint32_t* wp, std::size_t groups,
                         typename Op::acc (&res)[gemm_mr][gemm_nv]) {
    typename Op::acc c[gemm_mr][gemm_nv];
    for (std::size_t i = 0; i < gemm_mr; ++i)
        for (std::size_t v = 0; v < gemm_nv; ++v) c[i][v] = Op::zero();
    for (std::size_t g = 0; g < groups; ++g) {
        __m512i w[gemm_nv];
        for (std::size_t v = 0; v < gemm_nv; ++v) w[v] = _mm512_load_si512(wp + g * gemm_nr + 16 * v);
        const typename Op::elem* xk = x + g * Op::step;
        for (std::size_t i = 0; i < gemm_mr; ++i) {
            const __m512i b = broadcast_dword(xk + i * ld);
            for (std::size_t v = 0; v < gemm_nv; ++v) c[i][v] = Op::madd(c[i][v], b, w[v]);
        }
    }
    for (std::size_t i = 0; i < gemm_mr; ++i)
        for (std::size_t v = 0; v < gemm_nv; ++v) res[i][v] = c[i][v];
}

// Every micro-panel of weight rows [o0, o0 + n) (rows past n zero) against activation blocks
// [b0, b1): kernel(q, b, c) fills c with the sums of the micro-panel of rows o0 + q .. against
// block b, and store(i, o, acc, mask) receives them for outputs o .. o+15 of activation row
// i < m, mask = the lanes with o + lane < out. The one loop of every GEMM here (float, bf16, s8,
// and the block-scaled q8 of q8_gemm_avx512.hpp).
template <class Acc, class Kernel, class Store>
void for_micro_panels(std::size_t o0, std::size_t n, std::size_t out, std::size_t m, std::size_t b0, std::size_t b1,
                      const Kernel& kernel, const Store& store) {
    Acc c[gemm_mr][gemm_nv];
    for (std::size_t q = 0; q < n; q += gemm_nr) {
        const std::size_t o = o0 + q;
        __mmask16 mk[gemm_nv];  // the lanes below out
        for (std::size_t v = 0; v < gemm_nv; ++v) {
            const std::size_t left = out > o + 16 * v ? out - o - 16 * v : 0;
            mk[v] = first_lanes(left);
        }
        for (std::size_t b = b0; b < b1; ++b) {
            kernel(q, b, c);
            const std::size_t nx = std::min(gemm_mr, m - b * gemm_mr);
            for (std::size_t i = 0; i < nx; ++i)
                for (std::size_t v = 0; v < gemm_nv; ++v)
                    if (mk[v]) store(b * gemm_mr + i, o + 16 * v, c[i][v], mk[v]);
        }
    }
}

#if defined(QUANT_CPU_AMX)
// multiply_panels on AMX tiles (gemm_amx.hpp; s8 and bf16): activation blocks two at a time, an
// odd last one with 8-row A and C tiles; the same store calls.
template <class Op, class Store>
void multiply_panels_amx(const std::uint32_t* pk, std::size_t o0, std::size_t n, std::size_t out, std::size_t groups,
                         const typename Op::elem* x, std::size_t ldx, std::size_t m, std::size_t b0, std::size_t b1,
                         const Store& store) {
    using Acc = typename Op::acc;
    constexpr bool s8 = std::is_same_v<Op, op_s8>;
    using S = std::conditional_t<s8, std::int32_t, float>;
    alignas(64) S c[2 * gemm_mr * gemm_nr];
    const amx::tile_config full = amx::kernel_config(2 * gemm_mr), half = amx::kernel_config(gemm_mr);
    bool is_full = true;
    _tile_loadconfig(&full);
    // Micro-panels in groups of about 1 MB (L2 holds them while every activation block passes),
    // so the activations are read once per group rather than once per micro-panel. Against
    // micro-panel by micro-panel, m = 1024, 3 rounds, us: int8 4096 x 4096 (4 MB of activations,
    // from L3) 11310 -> 8868, 3072 x 768 1896 -> 1610, 768 x 3072 1485 -> 1334; NF4 bf16 -10%.
    const std::size_t group = std::max<std::size_t>(1, (std::size_t{1} << 20) / (gemm_nr * groups * 4)) * gemm_nr;
    for (std::size_t q0 = 0; q0 < n; q0 += group)
        for (std::size_t b = b0; b < b1; b += 2) {
            const bool two = b + 1 < b1;
            if (two != is_full) {
                _tile_loadconfig(two ? &full : &half);
                is_full = two;
            }
            const std::size_t rows = (two ? 2 : 1) * gemm_mr, nx = std::min(rows, m - b * gemm_mr);
            for (std::size_t q = q0; q < std::min(n, q0 + group); q += gemm_nr) {
                const std::size_t o = o0 + q;
                amx::kernel<s8 ? amx::tile_op::s8 : amx::tile_op::bf16>(x + b * gemm_mr * ldx, ldx * sizeof(typename Op::elem),
                                                                         rows, pk + q * groups, groups, c);
                for (std::size_t v = 0; v < gemm_nv; ++v) {
                    const __mmask16 mk = first_lanes(out > o + 16 * v ? out - o - 16 * v : 0);  // the lanes below out
                    if (!mk) continue;
                    for (std::size_t i = 0; i < nx; ++i) {
                        const S* row = c + i * gemm_nr + 16 * v;
                        Acc a;
                        if constexpr (s8) a = _mm512_load_si512(row);
                        else a = _mm512_load_ps(row);
                        store(b * gemm_mr + i, o + 16 * v, a, mk);
                    }
                }
            }
        }
    _tile_release();
}
#endif

// for_micro_panels with Op's micro-kernel on the micro-panels packed at pk (micro-panel after
// micro-panel, groups k-groups each): on AMX tiles for s8 and bf16 where the process has them.
template <class Op, class Store>
void multiply_panels(const std::uint32_t* pk, std::size_t o0, std::size_t n, std::size_t out, std::size_t groups,
                     const typename Op::elem* x, std::size_t ldx, std::size_t m, std::size_t b0, std::size_t b1,
                     const Store& store) {
    using Acc = typename Op::acc;
#if defined(QUANT_CPU_AMX)
    if constexpr (!std::is_same_v<Op, op_f32>)
        if (amx_ready()) return multiply_panels_amx<Op>(pk, o0, n, out, groups, x, ldx, m, b0, b1, store);
#endif
    for_micro_panels<Acc>(o0, n, out, m, b0, b1, [&](std::size_t q, std::size_t b, Acc(&c)[gemm_mr][gemm_nv]) {
        micro_kernel<Op>(x + b * gemm_mr * ldx, ldx, pk + q * groups, groups, c);
    }, store);
}

// Runs run(r0, r1, b0, b1) (weight rows [r0, r1) against activation blocks [b0, b1)) on the
// threads: split by weight rows (in multiples of 48), or, when there are too few rows for every
// thread to get a whole panel and enough activation blocks, by activation blocks (each thread then
// takes every weight row: cheap for such small layers). Either way each result is one
// micro-kernel's sum in k order: it does not depend on the split.
template <class Run>
void split_gemm(std::size_t out, std::size_t m, int threads, const Run& run) {
    const std::size_t blocks = gemm_rows(m) / gemm_mr;
    const std::size_t nt = static_cast<std::size_t>(threads > 0 ? threads : max_threads());
    if (nt > 1 && out < nt * gemm_panel && blocks >= nt)
        parallel_ranges(blocks, 1, threads, [&](std::size_t b0, std::size_t b1) { run(0, out, b0, b1); });
    else
        parallel_ranges(out, gemm_nr, threads, [&](std::size_t r0, std::size_t r1) { run(r0, r1, 0, blocks); });
}

// Decodes weight rows [o0, o0 + n), n <= gemm_panel, through decode(o, dst) (one row of ld
// elements, ld a multiple of 16 dwords) into rows (gemm_panel * ld elements), zeroes the rows up
// to the next multiple of 48 and packs them into micro-panels at pk (micro-panel j, rows o0 + 48 j
// .., at j * 48 * groups dwords). The one way weights reach the kernel: per call (gemm) or once
// (pack_panels).
template <class E, class Decode>
void decode_and_pack(std::size_t o0, std::size_t n, std::size_t ld, std::span<E> rows, const Decode& decode,
                     std::uint32_t* pk) {
    const std::size_t groups = ld * sizeof(E) / 4, npad = (n + gemm_nr - 1) / gemm_nr * gemm_nr;
    for (std::size_t r = 0; r < n; ++r) decode(o0 + r, rows.data() + r * ld);
    std::fill(rows.begin() + static_cast<std::ptrdiff_t>(n * ld), rows.begin() + static_cast<std::ptrdiff_t>(npad * ld), E{});
    for (std::size_t q = 0; q < npad; q += gemm_nr)
        pack_micro_panel(reinterpret_cast<const std::uint32_t*>(rows.data() + q * ld), groups, groups, pk + q * groups);
}

// Y = X W^T for weight rows [0, out): decode as in decode_and_pack; x holds gemm_rows(m) rows of
// ld elements, ldx apart (gemm_stride; rows past m zero); store as in multiply_panels. Each thread
// decodes its rows a panel (144 rows) at a time and packs them into its own scratch.
template <class Op, class Decode, class Store>
void gemm(std::size_t out, std::size_t ld, const typename Op::elem* x, std::size_t ldx, std::size_t m, int threads,
          const Decode& decode, const Store& store) {
    using E = typename Op::elem;
    static_assert(sizeof(E) * Op::step == 4, "a k-group is one dword");
    const std::size_t groups = ld / Op::step;
    split_gemm(out, m, threads, [&](std::size_t r0, std::size_t r1, std::size_t b0, std::size_t b1) {
        const std::span<E> rows = scratch<E, 3>(gemm_panel * ld);  // the worker thread's own
        std::uint32_t* const pk = scratch<std::uint32_t, 5>(gemm_panel * groups).data();  // 64-byte aligned
        for (std::size_t p0 = r0; p0 < r1; p0 += gemm_panel) {
            const std::size_t np = std::min(gemm_panel, r1 - p0);
            decode_and_pack(p0, np, ld, rows, decode, pk);
            multiply_panels<Op>(pk, p0, np, out, groups, x, ldx, m, b0, b1, store);
        }
    });
}

// A whole weight packed once, for gemm_packed: rows [0, out) as decode writes them, rows up to
// the next multiple of 48 zero; micro-panel j (rows 48 j ..) at j * 48 * groups dwords. As many
// bytes as the decoded weight (the int8 codes: as the codes themselves, plus the padding).
template <class E, class Decode>
aligned_vector<std::uint32_t> pack_panels(std::size_t out, std::size_t ld, const Decode& decode) {
    const std::size_t groups = ld * sizeof(E) / 4, npad = (out + gemm_nr - 1) / gemm_nr * gemm_nr;
    aligned_vector<std::uint32_t> packed(npad * groups);
    aligned_vector<E> rows(gemm_panel * ld);
    for (std::size_t p0 = 0; p0 < out; p0 += gemm_panel)
        decode_and_pack(p0, std::min(gemm_panel, out - p0), ld, std::span<E>(rows), decode, packed.data() + p0 * groups);
    return packed;
}

// gemm over weights packed once (pack_panels): no decoding or packing per call.
template <class Op, class Store>
void gemm_packed(std::size_t out, std::size_t ld, const std::uint32_t* packed, const typename Op::elem* x, std::size_t ldx,
                 std::size_t m, int threads, const Store& store) {
    const std::size_t groups = ld / Op::step;
    split_gemm(out, m, threads, [&](std::size_t r0, std::size_t r1, std::size_t b0, std::size_t b1) {
        multiply_panels<Op>(packed + r0 * groups, r0, r1 - r0, out, groups, x, ldx, m, b0, b1, store);
    });
}

}  // namespace quant::cpu::avx512

#endif
