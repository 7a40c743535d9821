// The CPU backend: SIMD (AVX-512 where the build has it, xsimd's best otherwise), multi-threaded.
//
// Semantics (what the tests hold it to, against the reference backend):
//   weight-only schemes: x is rounded to the compute dtype; weights are decoded exactly (the
//   reference's dequantized values) and multiplied in float32 with float32 accumulation; the bias
//   is added and the result rounded to the compute dtype. (The reference also rounds each weight
//   to the compute dtype; here the weight keeps full precision, so bf16/f16 results differ from
//   the reference by about one rounding of the output.)
//   int8 with int8 activations: the same int32 sums as the reference (exact), then its float
//   epilogue; outlier columns in float32.
// Paths:
//   m <= gemv_max_m   decode-in-register GEMV (backends/cpu/decoders_avx512.hpp), up to 8
//                     activation rows per pass over the weights; activation tiles beyond L1:
//                     2 or 4 weight rows decoded in step share each activation load (float32),
//                     or k-blocks of the activations with the rows' sums carried (bf16);
//                     bf16 compute from 4 rows where the process has AMX tiles: the 4-bit
//                     weights dequantized to bf16 as A tiles (cpu/gemv_amx.hpp), rounded as the
//                     reference rounds them
//   m >  gemv_max_m   AVX-512: weights decoded panel by panel (144 rows) into the compute type
//                     (float32 or bf16), packed into micro-panels, and an 8 x 48 register-blocked
//                     micro-kernel (cpu/gemm_avx512.hpp), so the decode cost is amortised over m;
//                     otherwise float32 panels of 64 rows and Eigen
//   int8 x int8       AVX-512 VNNI vpdpbusd (u8 x s8: activations offset by +128, corrected with
//                     the precomputed row sums of the weights): a row GEMV at m = 1, 2, from m = 3
//                     the micro-kernel GEMM on the codes packed into micro-panels when the layer
//                     is prepared (a second copy of the weights); a scalar loop without VNNI.
//   4-bit x int8      (activation_quant::int8) AVX-512 VNNI, activations quantized in blocks of 32:
//                     m < q8_gemm_min_m codes to u8 in registers and vpdpbusd (cpu/q8_gemv_avx512.hpp;
//                     tiles of 8 activation rows against panels of 32 weight rows), the weights
//                     read from a second copy in 16-row tiles (cpu/q8_tiles.hpp, made when the
//                     layer is prepared for int8 activations);
//                     from q8_gemm_min_m panels decoded to u8 codes and packed, and an 8 x 48
//                     micro-kernel with int32 sums per block of 32 folded into float
//                     (cpu/q8_gemm_avx512.hpp); without VNNI the same values in float32.
//   AVX2 builds       (AVX2 + FMA + F16C, no AVX-512) the same shapes with 8-float vectors:
//                     decode-in-register GEMV up to 16 rows (cpu/decoders_avx2.hpp), a 6 x 16
//                     float32 micro-kernel GEMM beyond (cpu/gemm_avx2.hpp), LLM.int8() by
//                     vpmaddwd on int16 (cpu/int8_avx2.hpp), 4-bit x int8 activations up to
//                     gemv_max_m the codes to int8 in registers and vpmaddubsw
//                     (cpu/q8_gemv_avx2.hpp), beyond as the float32 values of both sides through
//                     the float32 decoders and GEMM.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "../numeric/fp.hpp"
#include "../schemes/absmax_int8.hpp"
#include "../schemes/blockwise_int4.hpp"
#include "../schemes/bnb4bit.hpp"
#include "../schemes/float16.hpp"
#include "backend.hpp"
#include "cpu/arch.hpp"
#include "cpu/decoders_avx2.hpp"
#include "cpu/decoders_avx512.hpp"
#include "cpu/gemm_avx2.hpp"
#include "cpu/gemm_avx512.hpp"
#include "cpu/gemv_amx.hpp"
#include "cpu/int8_avx2.hpp"
#include "cpu/q8_gemv_avx2.hpp"
#include "cpu/q8_gemm_avx512.hpp"
#include "cpu/q8_gemv_avx512.hpp"
#include "cpu/q8_tiles.hpp"
#include "cpu/threading.hpp"

namespace quant {

struct cpu_backend {
    static constexpr std::string_view name = "cpu";
    static constexpr std::size_t gemv_max_m = 16;  // above: dequantized panels + GEMM
    static constexpr std::size_t panel_rows = 64;
};

namespace cpu {

// What the CPU backend derives from a weight once, when the layer is built (or its activations
// option changes): for int8 activations on VNNI builds the 4-bit weights once more, in tiles.
template <Scheme S>
struct prepared_weight {};

template <class Traits>
struct prepared_weight<Bnb4bit<Traits>> {
    aligned_vector<float> absmax;  // per block, double quantization decoded, padded by 16
    bool rows_hold_whole_blocks = false;
    q8_tiles tiles;                // for int8 activations (VNNI builds): the weights in 16-row tiles
};

template <>
struct prepared_weight<BlockwiseInt4> {
    q8_tiles tiles;  // as above
};

template <>
struct prepared_weight<AbsmaxInt8> {
    aligned_vector<std::int32_t> row_sums;  // sum_k CB[o, k], for the u8 x s8 correction
    // LLM.int8() activations on VNNI builds: the codes once more, in the GEMM's micro-panels
    // (avx512::pack_panels), so a GEMM does not copy and pack them at every call
    aligned_vector<std::uint32_t> panels;
};

// The row length of int8 codes and u8 activations in the VNNI kernels: whole zmm of 64 bytes.
inline constexpr std::size_t int8_row_bytes(std::size_t in) { return (in + 63) / 64 * 64; }

// LLM.int8() on VNNI builds runs the GEMM on its prepacked codes from m = 3 (the micro-kernel's
// 8 activation rows, partly zero): against the row GEMV, 768 x 768 / 768 x 3072 / 4096 x 4096,
// m = 2: 0.84 / 0.84 / 0.71x, m = 3: 1.10 / 1.19 / 1.05x, m = 8: 2.58 / 2.67 / 2.79x. Both give
// the same int32 sums.
inline constexpr std::size_t int8_gemm_min_m = 3;

template <Scheme S>
prepared_weight<S> prepare(const QuantizedTensor<S>& w, const forward_options& opt = {}) {
    prepared_weight<S> p;
    const auto& st = w.data();
#if defined(QUANT_CPU_VNNI)
    const bool tiles = opt.activations == activation_quant::int8;
#else
    const bool tiles = (static_cast<void>(opt), false);  // no VNNI kernel to read them
#endif
    if constexpr (requires { st.packed; }) {  // bnb 4-bit
        p.absmax.assign(st.blocks() + 16, 0.0f);
        for (std::size_t b = 0; b < st.blocks(); ++b) p.absmax[b] = st.block_absmax(b);
        p.rows_hold_whole_blocks = st.cols % st.params.block == 0;
        if (tiles && p.rows_hold_whole_blocks) p.tiles = make_q8_tiles<typename S::traits>(st, p.absmax.data());
    } else if constexpr (std::is_same_v<S, BlockwiseInt4>) {
        if (tiles) p.tiles = make_q8_tiles(st);
    } else if constexpr (std::is_same_v<S, AbsmaxInt8>) {
        p.row_sums.resize(st.rows);
        for (std::size_t o = 0; o < st.rows; ++o) {
            std::int32_t s = 0;
            for (std::size_t k = 0; k < st.cols; ++k) s += st.CB[o * st.cols + k];
            p.row_sums[o] = s;
        }
#if defined(QUANT_CPU_VNNI)
        if (st.params.activations == int8_activations::rowwise) {
            const std::size_t in = st.cols, ld = int8_row_bytes(in);
            p.panels = avx512::pack_panels<std::int8_t>(st.rows, ld, [&](std::size_t o, std::int8_t* dst) {
                std::copy_n(st.CB.data() + o * in, in, dst);
                std::fill(dst + in, dst + ld, std::int8_t{0});
            });
        }
#endif
    }
    return p;
}

inline float dot(const float* a, const float* b, std::size_t n) {
    constexpr std::size_t L = float_batch::size;
    float_batch acc(0.0f);
    std::size_t k = 0;
    for (; k + L <= n; k += L) acc = xsimd::fma(float_batch::load_unaligned(a + k), float_batch::load_unaligned(b + k), acc);
    float s = xsimd::hadd(acc);
    for (; k < n; ++k) s += a[k] * b[k];
    return s;
}

#if defined(QUANT_CPU_AVX512)
// 16 floats rounded to the dtype and back: the same round-to-nearest-even as round_to (vcvtps2ph
// for f16; the bf16 integer rule for bf16, a NaN kept quiet with its sign as bfloat16 does).
inline __m512 round_vec(__m512 x, dtype c) {
    if (c == dtype::f32) return x;
    if (c == dtype::f16) return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    const __m512i u = _mm512_castps_si512(x), hi = _mm512_set1_epi32(int(0xffff0000u));
    const __m512i r = _mm512_and_si512(
        _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1)))), hi);
    const __m512i quiet_nan = _mm512_or_si512(_mm512_and_si512(u, hi), _mm512_set1_epi32(0x00400000));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), r, quiet_nan));
}

// (v + bias) rounded to the dtype, 16 outputs at a time (masked lanes untouched): the epilogue
// of a weight-only GEMM. The add is not fused with anything (the reference adds the bias in a
// separate float32 rounding).
inline void store_biased(float* dst, __m512 v, const float* bias, dtype c, __mmask16 mask) {
    if (bias) v = _mm512_add_round_ps(v, _mm512_maskz_loadu_ps(mask, bias), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm512_mask_storeu_ps(dst, mask, round_vec(v, c));
}
#endif

#if defined(QUANT_CPU_AVX2)
// 8 floats rounded to the dtype and back, as round_to rounds them (see the AVX-512 round_vec)
inline __m256 round_vec(__m256 x, dtype c) {
    if (c == dtype::f32) return x;
    if (c == dtype::f16) return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
    const __m256i u = _mm256_castps_si256(x), hi = _mm256_set1_epi32(int(0xffff0000u));
    const __m256i r = _mm256_and_si256(
        _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1)))), hi);
    const __m256i quiet_nan = _mm256_or_si256(_mm256_and_si256(u, hi), _mm256_set1_epi32(0x00400000));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(r, quiet_nan, _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q))));
}

// (v + bias) rounded to the dtype, the first n of 8 outputs: the epilogue of the AVX2 GEMM (the
// add a separate float32 rounding, as the reference adds the bias)
inline void store_biased(float* dst, __m256 v, const float* bias, dtype c, std::size_t n) {
    if (n == 8) {
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
        _mm256_storeu_ps(dst, round_vec(v, c));
        return;
    }
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    for (std::size_t j = 0; j < n; ++j) dst[j] = round_to(c, bias ? t[j] + bias[j] : t[j]);
}
#endif

// v[0:n] rounded to the dtype in place (float32: unchanged), 16 at a time where AVX-512 is there.
inline void round_in_place(float* v, std::size_t n, dtype c) {
    if (c == dtype::f32) return;
    std::size_t k = 0;
#if defined(QUANT_CPU_AVX512)
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(v + k, round_vec(_mm512_loadu_ps(v + k), c));
#endif
    for (; k < n; ++k) v[k] = round_to(c, v[k]);
}

// y = round(acc + bias), row by row (rows split between threads: the per-call work around a
// large-m GEMM is as large as the activations, and on one thread it cost as much as the GEMM)
inline void epilogue(matrix_view<float> y, std::span<const float> bias, dtype c, int threads) {
    parallel_ranges(y.rows, 16, threads, [&](std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i) {
            float* row = y.row(i);
            if (!bias.empty())
                for (std::size_t r = 0; r < y.cols; ++r) row[r] += bias[r];
            round_in_place(row, y.cols, c);
        }
    });
}

// x rounded to the compute dtype, laid out by `layout(x_row, in, out_row)`, rows of length ld;
// `rows` >= x.rows rows, `stride` >= ld apart, the rows past x.rows zero (a GEMM reads whole
// micro-kernels of rows).
template <class Layout>
std::span<const float> prepare_activations(const_matrix_view<float> x, std::size_t ld, dtype c, const Layout& layout,
                                           int threads, std::size_t rows = 0, std::size_t stride = 0) {
    rows = std::max(rows, x.rows);
    stride = std::max(stride, ld);
    const std::span<float> out = scratch<float, 0>(rows * stride);  // layout writes all ld of a row
    std::fill(out.begin() + static_cast<std::ptrdiff_t>(x.rows * stride), out.end(), 0.0f);
    parallel_ranges(x.rows, 16, threads, [&](std::size_t i0, std::size_t i1) {
        std::vector<float> rounded(x.cols);
        for (std::size_t i = i0; i < i1; ++i) {
            std::copy_n(x.row(i), x.cols, rounded.data());
            round_in_place(rounded.data(), x.cols, c);
            layout(rounded.data(), x.cols, out.data() + i * stride);
        }
    });
    return out;
}

// x quantized in blocks of 32 (Q8Activations) and turned back into the float32 values it stands
// for, q * d (exact): xq [x.rows, x.cols], contiguous
inline void q8_values(const_matrix_view<float> x, float* xq, int threads) {
    const std::size_t in = x.cols;
    parallel_ranges(x.rows, 4, threads, [&](std::size_t i0, std::size_t i1) {
        std::vector<std::int8_t> q(in);
        std::vector<float> d(Q8Activations::blocks(in));
        for (std::size_t i = i0; i < i1; ++i) {
            Q8Activations::quantize_row(x.row(i), in, q.data(), d.data());
            for (std::size_t k = 0; k < in; ++k) xq[i * in + k] = float(q[k]) * d[k / Q8Activations::block];
        }
    });
}

// activation rows the GEMM path reads (whole micro-kernels where it is ours), and their stride in
// floats for rows of ld
inline std::size_t gemm_rows(std::size_t m) {
#if defined(QUANT_CPU_AVX512)
    return avx512::gemm_rows(m);
#elif defined(QUANT_CPU_AVX2)
    return avx2::gemm_rows(m);
#else
    return m;
#endif
}
inline std::size_t gemm_stride(std::size_t ld) {
#if defined(QUANT_CPU_AVX512)
    return avx512::gemm_stride<float>(ld);
#elif defined(QUANT_CPU_AVX2)
    return avx2::gemm_stride(ld);
#else
    return ld;
#endif
}

// The GEMM path, shared by every weight format: weight rows dequantized to float32 by
// `deq(r, out_row)` (in the activations' layout, row length ld), multiplied with the float32
// activations xp [m, ld] (rows gemm_stride(ld) apart), then y = round(acc + bias): our AVX-512
// micro-kernel GEMM with the epilogue fused (xp then holds avx512::gemm_rows(m) rows and ld is a
// multiple of 16), the AVX2 one (cpu/gemm_avx2.hpp: 6 x 16, rows to a multiple of 6), or Eigen on
// panels without either.
template <class Deq>
void gemm_by_panels(std::size_t out, std::size_t ld, std::span<const float> xp, std::size_t m, matrix_view<float> y,
                    std::span<const float> bias, dtype c, int threads, const Deq& deq) {
#if defined(QUANT_CPU_AVX512)
    const float* const b = bias.empty() ? nullptr : bias.data();
    avx512::gemm<avx512::op_f32>(out, ld, xp.data(), gemm_stride(ld), m, threads, deq, [&](std::size_t i, std::size_t o, __m512 v, __mmask16 mk) {
        store_biased(y.row(i) + o, v, b ? b + o : nullptr, c, mk);
    });
#elif defined(QUANT_CPU_AVX2)
    const float* const b = bias.empty() ? nullptr : bias.data();
    avx2::gemm(out, ld, xp.data(), gemm_stride(ld), m, threads, deq, [&](std::size_t i, std::size_t o, __m256 v, std::size_t n) {
        store_biased(y.row(i) + o, v, b ? b + o : nullptr, c, n);
    });
#else
    using RowMap = Eigen::Map<const row_matrix>;
    const RowMap X(xp.data(), static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(ld));  // gemm_stride(ld) == ld here
    parallel_ranges(out, cpu_backend::panel_rows, threads, [&](std::size_t r0, std::size_t r1) {
        aligned_vector<float> panel(cpu_backend::panel_rows * ld);
        for (std::size_t p0 = r0; p0 < r1; p0 += cpu_backend::panel_rows) {
            const std::size_t nr = std::min(cpu_backend::panel_rows, r1 - p0);
            for (std::size_t r = 0; r < nr; ++r) deq(p0 + r, panel.data() + r * ld);
            const RowMap P(panel.data(), static_cast<Eigen::Index>(nr), static_cast<Eigen::Index>(ld));
            Eigen::Map<row_matrix, 0, Eigen::OuterStride<>> Y(y.data + p0, static_cast<Eigen::Index>(m),
                                                              static_cast<Eigen::Index>(nr),
                                                              Eigen::OuterStride<>(static_cast<Eigen::Index>(y.stride)));
            Y.noalias() = X * P.transpose();
        }
    });
    epilogue(y, bias, c, threads);
#endif
}


// Weight-only forward, any format, any arch: dequantize a row, dot it (xsimd); y = round(x W^T + b).
template <Scheme S>
void forward_weight_only(generic, const QuantizedTensor<S>& w, const prepared_weight<S>&, std::span<const float> bias,
                         const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, in = w.cols(), out = w.rows();
    if (m > cpu_backend::gemv_max_m) {
        const std::size_t ld = (in + 15) / 16 * 16;  // whole dword groups for the GEMM's packing
        const auto copy = [](const float* src, std::size_t n, float* dst) { std::copy_n(src, n, dst); };
        const auto xp = prepare_activations(x, ld, opt.compute,
                                            [&](const float* src, std::size_t n, float* dst) {
                                                copy(src, n, dst);
                                                std::fill(dst + n, dst + ld, 0.0f);
                                            },
                                            opt.threads, gemm_rows(m), gemm_stride(ld));
        gemm_by_panels(out, ld, xp, m, y, bias, opt.compute, opt.threads, [&](std::size_t r, float* dst) {
            w.dequantize_row(r, std::span<float>(dst, in));
            std::fill(dst + in, dst + ld, 0.0f);
        });
        return;
    }
    const auto copy = [](const float* src, std::size_t n, float* dst) { std::copy_n(src, n, dst); };
    const auto xp = prepare_activations(x, in, opt.compute, copy, opt.threads);
    parallel_ranges(out, 16, opt.threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<float> row(in);
        for (std::size_t r = r0; r < r1; ++r) {
            w.dequantize_row(r, row);
            for (std::size_t i = 0; i < m; ++i) y(i, r) = dot(xp.data() + i * in, row.data(), in);
        }
    });
    epilogue(y, bias, opt.compute, opt.threads);
}

#if defined(QUANT_CPU_AVX2)

// The AVX2 GEMVs' tiling (m <= gemv_max_m): the weight rows in panels of 16 (their codes stay
// in L1 while every tile of a larger m meets them), each against tiles of up to 8 activation rows;
// dot.template operator()<M, A, P>(r, i0, res) writes res[i] = w_r . x_{i0 + i}, i < M, with M
// rows times A partial sums as independent chains, P: scale each decoded vector first.
template <class Dot>
void gemv_tiles_avx2(std::size_t out, std::size_t m, matrix_view<float> y, int threads, const Dot& dot) {
    parallel_ranges(out, 16, threads, [&](std::size_t r0, std::size_t r1) {
        constexpr std::size_t panel = 16;
        float res[8];
        for (std::size_t p0 = r0; p0 < r1; p0 += panel) {
            const std::size_t p1 = m <= 8 ? r1 : std::min(r1, p0 + panel);
            for (std::size_t i0 = 0; i0 < m; i0 += 8) {
                const std::size_t mt = std::min<std::size_t>(8, m - i0);
                const auto rows = [&]<int M, int A, bool P>() {
                    for (std::size_t r = p0; r < p1; ++r) {
                        dot.template operator()<M, A, P>(r, i0, res);
                        for (int i = 0; i < M; ++i) y(i0 + std::size_t(i), r) = res[i];
                    }
                };
                switch (mt) {
                    case 1: rows.template operator()<1, 4, false>(); break;
                    case 2: rows.template operator()<2, 2, false>(); break;
                    case 3: rows.template operator()<3, 1, false>(); break;
                    case 4: rows.template operator()<4, 1, false>(); break;
                    case 5: rows.template operator()<5, 1, true>(); break;
                    case 6: rows.template operator()<6, 1, true>(); break;
                    case 7: rows.template operator()<7, 1, true>(); break;
                    default: rows.template operator()<8, 1, true>(); break;
                }
            }
            if (m <= 8) break;
        }
    });
}

// AVX2: GEMV (m <= gemv_max_m) decoding in registers (cpu/decoders_avx2.hpp), one weight row
// against a tile of activation rows. Beyond, the GEMM path on rows dequantized by the same
// decoders.
template <class D>
void gemv_avx2(const D& d, std::size_t out, std::size_t chunks, const float* xp, std::size_t ld, std::size_t m,
               matrix_view<float> y, int threads) {
    gemv_tiles_avx2(out, m, y, threads, [&]<int M, int A, bool P>(std::size_t r, std::size_t i0, float* res) {
        const float* xs[M];
        for (int i = 0; i < M; ++i) xs[i] = xp + (i0 + std::size_t(i)) * ld;
        avx2::dot_row<M, A, P>(d, r, chunks, xs, res);
    });
}

// x is rounded to the compute dtype (x_dtype), unless it is (int8 activations: the values of the
// quantized activations, which are not rounded again)
template <class D>
void forward_avx2(const D& d, std::size_t out, std::size_t in, std::span<const float> bias, const_matrix_view<float> x,
                  matrix_view<float> y, const forward_options& opt, dtype x_dtype) {
    const std::size_t m = x.rows, chunks = (in + D::chunk - 1) / D::chunk, ld = chunks * D::chunk;
    if (m <= cpu_backend::gemv_max_m) {
        const auto xp = prepare_activations(x, ld, x_dtype, &D::prepare_x, opt.threads);
        gemv_avx2(d, out, chunks, xp.data(), ld, m, y, opt.threads);
        epilogue(y, bias, opt.compute, opt.threads);
        return;
    }
    const auto xp = prepare_activations(x, ld, x_dtype, &D::prepare_x, opt.threads, gemm_rows(m), gemm_stride(ld));
    gemm_by_panels(out, ld, xp, m, y, bias, opt.compute, opt.threads,
                   [&](std::size_t r, float* dst) { avx2::dequantize_prepared(d, r, chunks, dst); });
}

// run(the AVX2 decoder Decoder<B> of an int4 weight's block size B: avx2::int4_decoder for
// float32, avx2::int4_q8_decoder for int8 activations)
template <template <std::size_t> class Decoder = avx2::int4_decoder, class F>
void with_int4_decoder(const BlockwiseInt4::storage& st, const F& run) {
    switch (st.params.block) {
        case 32: return run(Decoder<32>{st.bytes.data(), st.blocks_per_row()});
        case 64: return run(Decoder<64>{st.bytes.data(), st.blocks_per_row()});
        default: return run(Decoder<128>{st.bytes.data(), st.blocks_per_row()});
    }
}

template <Scheme S>
void forward_weight_only(xsimd::fma3<xsimd::avx2>, const QuantizedTensor<S>& w, const prepared_weight<S>& p,
                         std::span<const float> bias, const_matrix_view<float> x, matrix_view<float> y,
                         const forward_options& opt) {
    const auto run = [&](const auto& d) { forward_avx2(d, w.rows(), w.cols(), bias, x, y, opt, opt.compute); };
    const auto& st = w.data();
    if constexpr (std::is_same_v<S, BlockwiseInt4>) {
        return with_int4_decoder(st, run);
    } else if constexpr (std::is_same_v<S, AbsmaxInt8>) {
        return run(avx2::int8_decoder{st.CB.data(), st.SCB.data(), w.cols()});
    } else if constexpr (std::is_same_v<S, Float16>) {
        return run(avx2::f16_decoder{st.values.data(), w.cols()});
    } else {
        // blocks that straddle rows: no chunk-aligned decoding; the generic path handles it
        if (!p.rows_hold_whole_blocks) return forward_weight_only(generic{}, w, p, bias, x, y, opt);
        return run(avx2::bnb4bit_decoder<typename S::traits>(st.packed.data(), p.absmax.data(), w.cols(), w.parameters().block));
    }
}

// 4-bit weights with int8 activations on AVX2, m <= gemv_max_m: the int8 GEMV
// (cpu/q8_gemv_avx2.hpp), activations quantized and laid out once, tiled as gemv_avx2.
template <class D>
void forward_q8_gemv_avx2(const D& d, std::size_t out, std::size_t in, std::span<const float> bias, const_matrix_view<float> x,
                          matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, chunks = (in + D::chunk - 1) / D::chunk, units = chunks * D::units;
    // rows one cache line longer than their data (rows 4 KB apart would share L1 sets)
    const std::size_t ldq = units * 128 + 64, ldd = units * 8 + 16;
    std::int8_t* const q = scratch<std::int8_t, 27>(m * ldq).data();
    float* const dl = scratch<float, 28>(m * ldd).data();
    parallel_ranges(m, 4, opt.threads, [&](std::size_t i0, std::size_t i1) {
        std::int8_t* const tq = scratch<std::int8_t, 29>(units * 64).data();
        float* const td = scratch<float, 30>(units * 2).data();
        for (std::size_t i = i0; i < i1; ++i) avx2::prepare_q8_row<D>(x.row(i), in, units, q + i * ldq, dl + i * ldd, tq, td);
    });
    std::vector<avx2::q8_row_avx2> xr(m);
    for (std::size_t i = 0; i < m; ++i) xr[i] = {q + i * ldq, dl + i * ldd};
    gemv_tiles_avx2(out, m, y, opt.threads, [&]<int M, int A, bool>(std::size_t r, std::size_t i0, float* res) {
        avx2::dot_row_q8<M, A>(d, r, chunks, xr.data() + i0, res);
    });
    epilogue(y, bias, opt.compute, opt.threads);
}

// 4-bit weights with int8 activations on AVX2: up to gemv_max_m the int8 GEMV above; beyond, the
// activations quantized (Q8Activations) and turned back into the float32 values they stand for
// (q * d, exact), the weights decoded with their int8 codebook (int4: the codes -8 .. 7
// themselves; NF4/FP4: round(127 v) in units of absmax / 127) by the float32 decoders and the
// float32 GEMM: the definition's products, in float32 sums.
template <Scheme S>
void forward_q8(xsimd::fma3<xsimd::avx2>, const QuantizedTensor<S>& w, const prepared_weight<S>& p, std::span<const float> bias,
                const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
    if constexpr (requires { p.rows_hold_whole_blocks; }) {
        if (!p.rows_hold_whole_blocks) return forward_q8(generic{}, w, p, bias, x, y, opt);
    }
    const std::size_t m = x.rows, in = w.cols();
    if (m <= cpu_backend::gemv_max_m) {
        const auto& st = w.data();
        const auto gemv = [&](const auto& d) { forward_q8_gemv_avx2(d, w.rows(), in, bias, x, y, opt); };
        if constexpr (std::is_same_v<S, BlockwiseInt4>) {
            return with_int4_decoder<avx2::int4_q8_decoder>(st, gemv);
        } else {
            return gemv(avx2::bnb4bit_q8_decoder<typename S::traits>(st.packed.data(), p.absmax.data(), in, w.parameters().block));
        }
    }
    float* const xq = scratch<float, 22>(m * in).data();
    q8_values(x, xq, opt.threads);
    const const_matrix_view<float> xv{xq, m, in, in};
    const auto run = [&](const auto& d) { forward_avx2(d, w.rows(), in, bias, xv, y, opt, dtype::f32); };
    const auto& st = w.data();
    if constexpr (std::is_same_v<S, BlockwiseInt4>) {  // int8_codebook[c] = c - 8: the float decoder's values
        return with_int4_decoder(st, run);
    } else {
        static constexpr auto book = [] {
            std::array<float, 16> b{};
            for (std::size_t c = 0; c < 16; ++c) b[c] = float(S::int8_codebook[c]);
            return b;
        }();
        return run(avx2::bnb4bit_decoder<typename S::traits>(st.packed.data(), p.absmax.data(), in, w.parameters().block,
                                                             book.data(), S::int8_unit));
    }
}

#endif

#if defined(QUANT_CPU_AVX512)

// The decoder for a format, or void when this weight has no AVX-512 decoder.
template <class Traits>
inline avx512::bnb4bit_decoder<Traits> make_decoder(const QuantizedTensor<Bnb4bit<Traits>>& w,
                                                    const prepared_weight<Bnb4bit<Traits>>& p) {
    return {w.data().packed.data(), p.absmax.data(), w.cols(), w.parameters().block};
}
inline avx512::int8_decoder make_decoder(const QuantizedTensor<AbsmaxInt8>& w, const prepared_weight<AbsmaxInt8>&) {
    return {w.data().CB.data(), w.data().SCB.data(), w.cols()};
}
inline avx512::f16_decoder make_decoder(const QuantizedTensor<Float16>& w, const prepared_weight<Float16>&) {
    return {w.data().values.data(), w.cols()};
}

// How a GEMV walks the chunks of its rows: all at once (kc == chunks), or in k-blocks of kc
// chunks, each block over a group of `group` weight rows whose vector sums wait in carry
// (group * M vectors, 64-byte aligned) for the next block.
struct k_blocking {
    std::size_t chunks, kc = chunks;
    float* carry = nullptr;
    static constexpr std::size_t group = 32;  // a multiple of every R
};

// Weight rows r0 .. r1 against activation rows i0 .. i0+M: dot<Q>(r, k, res) adds chunks
// [k.c0, k.c1) of Q weight rows from r and, after their last chunk, writes res[q * M + i] =
// w_{r+q} . x_{i0+i}; R rows at a time, the rest one by one, into y.
template <int R, int M, class Dot>
[[gnu::always_inline]] inline void row_tiles(matrix_view<float> y, std::size_t i0, std::size_t r0, std::size_t r1, const k_blocking& kb,
                                             const Dot& dot) {
    float res[R * M];
    const bool blocked = kb.kc < kb.chunks;
    for (std::size_t g0 = r0; g0 < r1; g0 += blocked ? k_blocking::group : r1 - r0) {
        const std::size_t g1 = blocked ? std::min(r1, g0 + k_blocking::group) : r1;
        for (std::size_t c0 = 0; c0 < kb.chunks; c0 += kb.kc) {
            const std::size_t c1 = std::min(kb.chunks, c0 + kb.kc);
            const auto tile = [&]<int Q>(std::size_t r) {
                dot.template operator()<Q>(r, avx512::chunk_range{c0, c1, kb.chunks, blocked ? kb.carry + 16 * M * (r - g0) : nullptr}, res);
                if (c1 < kb.chunks) return;
                for (int q = 0; q < Q; ++q)
                    for (int i = 0; i < M; ++i) y(i0 + std::size_t(i), r + std::size_t(q)) = res[q * M + i];
            };
            std::size_t r = g0;
            for (; r + R <= g1; r += R) tile.template operator()<R>(r);
            for (; r < g1; ++r) tile.template operator()<1>(r);
        }
    }
}

// GEMV (m <= gemv_max_m): decode in registers, R weight rows at a time against up to 8
// activation rows (dot_rows); y = acc, then the epilogue.
template <class D>
void gemv_decoded(const D& d, std::size_t out, std::size_t chunks, std::size_t ld, const float* xp, std::size_t m,
                  matrix_view<float> y, int threads) {
    parallel_ranges(out, 16, threads, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t i0 = 0; i0 < m; i0 += 8) {
            const std::size_t mt = std::min<std::size_t>(8, m - i0);
            const float* xs[8];
            for (std::size_t i = 0; i < mt; ++i) xs[i] = xp + (i0 + i) * ld;
            // R weight rows at a time (M = activation rows, P = prescaled weights): see dot_rows
            // no k-blocking: with long rows it measured 1-30% slower at m = 8 (NF4 3072 x 768
            // 238 -> 291 us, 4096 x 11008 4681 -> 6709; R rows decoded in step already halve the
            // activation traffic, and the blocks cut the weight stream into slices), unlike bf16
            const auto rows = [&]<int R, int M, bool P, int A = 1>() {
                row_tiles<R, M>(y, i0, r0, r1, k_blocking{chunks}, [&]<int Q>(std::size_t r, const avx512::chunk_range& k, float* res) { avx512::dot_rows<Q, M, P, A>(d, r, k, xs, res); });
            };
            // From 4 activation rows, R = 2 or 4 weight rows decoded in step share each activation
            // load (prescaled weights free the registers for that). With long rows (activations
            // beyond L1): 3072 x 768 at m = 8 +35% against one row; in step rather than row after
            // row, NF4 at m = 8 346 -> 281 us (3072 x 768), 2695 -> 1891 (4096 x 4096), 7724 ->
            // 6958 (4096 x 11008), int4 within the noise. With short rows, two rows in step against
            // one, m = 8, medians, us: on an Intel Xeon (Sapphire Rapids class, 3 rounds) NF4
            // 768 x 768 52.1 -> 44.0, 768 x 3072 179.6 -> 154.9, int8 768 x 3072 186.9 -> 146.7,
            // int4 768 x 2304 137.0 -> 109.1; on AMD Zen 4 (9 rounds; one row at a time had once
            // measured faster there) NF4 768 x 768 85.0 -> 68.3, 768 x 2304 209.9 -> 197.7, 768 x
            // 3072 282.9 -> 267.3, int4 83.7 -> 65.7, 206.0 -> 203.8, 279.7 -> 244.9, int8 72.4 ->
            // 64.3, 219.5 -> 200.5, 287.9 -> 246.0 (Eigen and OpenBLAS in the same rounds moved
            // 0.95-1.16x). At m <= 3 R rows (or partial sums) keep the FMA chains apart.
            switch (mt) {
                case 1: rows.template operator()<D::m1_rows, 1, false, 4 / D::m1_rows>(); break;
                case 2: rows.template operator()<4, 2, false>(); break;
                case 3: rows.template operator()<2, 3, false>(); break;
                case 4: rows.template operator()<4, 4, true>(); break;
                case 5: rows.template operator()<2, 5, true>(); break;
                case 6: rows.template operator()<2, 6, true>(); break;
                case 7: rows.template operator()<2, 7, true>(); break;
                default: rows.template operator()<2, 8, true>(); break;
            }
        }
    });
}

#if defined(QUANT_CPU_BF16)
// GEMV with bf16 compute: weights decoded to bf16 and activations rounded to bf16, vdpbf16ps.
template <class D>
void gemv_decoded_bf16(const D& d, std::size_t out, std::size_t chunks, std::size_t ld, const_matrix_view<float> x,
                       std::size_t m, matrix_view<float> y, int threads) {
    const auto xp = prepare_activations(x, ld, dtype::bf16, &D::prepare_x_bf16, threads);
    std::uint16_t* const xb = scratch<std::uint16_t, 1>(m * ld).data();
    for (std::size_t k = 0; k < m * ld; k += 16)  // exact: the values are bf16 already
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(xb + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xp.data() + k)));
    parallel_ranges(out, 16, threads, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t i0 = 0; i0 < m; i0 += 8) {
            const std::size_t mt = std::min<std::size_t>(8, m - i0);
            const std::uint16_t* xs[8];
            for (std::size_t i = 0; i < mt; ++i) xs[i] = xb + (i0 + i) * ld;
            // Activation rows beyond L1 (32 KB): k-blocks of 16 KB of them, each over 32 weight
            // rows at a time. Against one pass, m = 8, two runs of 3-4 interleaved rounds, medians,
            // us: int4 3072 x 768 207 -> 158 and 237 -> 148, 4096 x 4096 1567 -> 1139 and 1708 ->
            // 1414; NF4 213 -> 160 and 247 -> 144, 1696 -> 1205 and 1801 -> 1393; 4096 x 11008
            // mixed (int4 4388 -> 3509 and 4157 -> 4566, NF4 5169 -> 5575 and 5350 -> 5883)
            k_blocking kb{chunks};
            if (mt * ld * sizeof(std::uint16_t) > (32u << 10)) {
                kb.kc = std::max<std::size_t>(1, (16u << 10) / (mt * D::chunk * sizeof(std::uint16_t)));
                kb.carry = scratch<float, 12>(k_blocking::group * 8 * 16).data();
            }
            const auto rows = [&]<int R, int M, int A = 1>() {
                row_tiles<R, M>(y, i0, r0, r1, kb, [&]<int Q>(std::size_t r, const avx512::chunk_range& k, float* res) { avx512::dot_rows_bf16<Q, M, A>(d, r, k, xs, res); });
            };
            switch (mt) {
                // m = 1: one row at a time, its chunk's products in 4 partial sums. Against four
                // rows, from DRAM (GFLOP/s, 2 runs): NF4 768 x 3072 36 -> 62, 4096 x 11008 42 -> 60,
                // int4 3072 x 768 53 -> 87, 4096 x 11008 75 -> 80; from cache small layers lose
                // (int4 768 x 3072 141 -> 98), as with NF4's float32 GEMV (m1_rows)
                case 1: rows.template operator()<1, 1, 4>(); break;
                case 2: rows.template operator()<4, 2>(); break;
                case 3: rows.template operator()<2, 3>(); break;
                case 4: rows.template operator()<2, 4>(); break;
                case 5: rows.template operator()<1, 5>(); break;
                case 6: rows.template operator()<1, 6>(); break;
                case 7: rows.template operator()<1, 7>(); break;
                default: rows.template operator()<1, 8>(); break;
            }
        }
    });
}
#endif

template <class D>
void forward_decoded(const D& d, std::size_t out, std::size_t in, std::span<const float> bias, const_matrix_view<float> x,
                     matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, chunks = (in + D::chunk - 1) / D::chunk, ld = chunks * D::chunk;
#if defined(QUANT_CPU_AMX)
    if constexpr (requires { D::amx_element(0, 0); }) {
        if (opt.compute == dtype::bf16 && m >= avx512::amx::gemv_min_m && m <= avx512::amx::gemv_max_m && d.amx_block() &&
            avx512::amx_ready()) {
            const std::size_t block = d.amx_block(), blocks = (in + block - 1) / block, lda = blocks * block;
            const auto xp = prepare_activations(x, lda, dtype::bf16, &D::prepare_x_amx, opt.threads);
            const std::span<std::uint32_t> xt = scratch<std::uint32_t, 20>(lda / 2 * m);
            avx512::amx::gemv_bf16(d, out, block, blocks, xp.data(), lda, m, y.data, y.stride, xt.data(), opt.threads);
            epilogue(y, bias, opt.compute, opt.threads);
            return;
        }
    }
#endif
    if (m <= cpu_backend::gemv_max_m) {
#if defined(QUANT_CPU_BF16)
        if constexpr (D::has_bf16) {
            if (opt.compute == dtype::bf16) {
                gemv_decoded_bf16(d, out, chunks, ld, x, m, y, opt.threads);
                epilogue(y, bias, opt.compute, opt.threads);
                return;
            }
        }
#endif
        const auto xp = prepare_activations(x, ld, opt.compute, &D::prepare_x, opt.threads);
        gemv_decoded(d, out, chunks, ld, xp.data(), m, y, opt.threads);
        epilogue(y, bias, opt.compute, opt.threads);
        return;
    }
    const std::size_t rows = gemm_rows(m), ldx = gemm_stride(ld);
    const auto xp = prepare_activations(x, ld, opt.compute, &D::prepare_x, opt.threads, rows, ldx);
#if defined(QUANT_CPU_BF16)
    if (opt.compute == dtype::bf16) {  // vdpbf16ps: weights and activations in bf16
        const std::size_t ldb = avx512::gemm_stride<std::uint16_t>(ld);
        const std::span<std::uint16_t> xb = scratch<std::uint16_t, 1>(rows * ldb);
        parallel_ranges(rows, 16, opt.threads, [&](std::size_t i0, std::size_t i1) {
            for (std::size_t i = i0; i < i1; ++i)
                for (std::size_t k = 0; k < ld; k += 16)  // ld is a multiple of 16
                    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xb.data() + i * ldb + k),
                                        (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(xp.data() + i * ldx + k)));
        });
        const float* const b = bias.empty() ? nullptr : bias.data();
        avx512::gemm<avx512::op_bf16>(
            out, ld, xb.data(), ldb, m, opt.threads,
            [&](std::size_t r, std::uint16_t* dst) {
                float* row = scratch<float, 6>(ld).data();
                avx512::dequantize_prepared(d, r, chunks, row);
                for (std::size_t k = 0; k < ld; k += 16)
                    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(row + k)));
            },
            [&](std::size_t i, std::size_t o, __m512 v, __mmask16 mk) { store_biased(y.row(i) + o, v, b ? b + o : nullptr, opt.compute, mk); });
        return;
    }
#endif
    gemm_by_panels(out, ld, xp, m, y, bias, opt.compute, opt.threads,
                   [&](std::size_t r, float* dst) { avx512::dequantize_prepared(d, r, chunks, dst); });
}

template <Scheme S>
void forward_weight_only(xsimd::avx512bw, const QuantizedTensor<S>& w, const prepared_weight<S>& p, std::span<const float> bias,
                         const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
    if constexpr (std::is_same_v<S, BlockwiseInt4>) {
        const auto& st = w.data();
        const auto run = [&](const auto& d) { forward_decoded(d, w.rows(), w.cols(), bias, x, y, opt); };
        switch (st.params.block) {
            case 32: return run(avx512::int4_decoder<32>(st.bytes.data(), st.blocks_per_row()));
            case 64: return run(avx512::int4_decoder<64>(st.bytes.data(), st.blocks_per_row()));
            default: return run(avx512::int4_decoder<128>(st.bytes.data(), st.blocks_per_row()));
        }
    } else {
        if constexpr (requires { p.rows_hold_whole_blocks; }) {
            // blocks that straddle rows: no chunk-aligned decoding; the generic path handles it
            if (!p.rows_hold_whole_blocks) return forward_weight_only(generic{}, w, p, bias, x, y, opt);
        }
        return forward_decoded(make_decoder(w, p), w.rows(), w.cols(), bias, x, y, opt);
    }
}

#endif

// 4-bit weights with int8 activations (schemes/q8_activations.hpp), any arch: both sides turned
// into the float32 values they stand for (exact: an int8 times a float32 scale), then dotted.
template <Scheme S>
void forward_q8(generic, const QuantizedTensor<S>& w, const prepared_weight<S>&, std::span<const float> bias,
                const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, in = w.cols(), out = w.rows();
    std::vector<float> xq(m * in);
    q8_values(x, xq.data(), opt.threads);
    parallel_ranges(out, 16, opt.threads, [&](std::size_t r0, std::size_t r1) {
        std::vector<std::int8_t> w8(in);
        std::vector<float> ws(in), row(in);
        for (std::size_t r = r0; r < r1; ++r) {
            S::int8_row(w.data(), r, w8, ws);
            for (std::size_t k = 0; k < in; ++k) row[k] = float(w8[k]) * (ws[k] * S::int8_unit);
            for (std::size_t i = 0; i < m; ++i) y(i, r) = dot(xq.data() + i * in, row.data(), in);
        }
    });
    epilogue(y, bias, opt.compute, opt.threads);
}

#if defined(QUANT_CPU_VNNI)
// The VNNI GEMV kernel (cpu/q8_gemv_avx512.hpp), below q8_gemm_min_m: activations quantized and
// laid out once, then per thread panels of 32 weight rows, each met by every tile of up to 8
// activation rows while it sits in L2 (at m <= 8: one pass over the weights).
template <class D>
void forward_q8_decoded(const D& d, std::size_t out, std::size_t in, std::span<const float> bias, const_matrix_view<float> x,
                        matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, groups = (in + D::group - 1) / D::group;
    // Row strides one cache line longer than the rows: the kernel reads the codes, lane sums and
    // lane scales of up to 8 rows at once, and rows a multiple of 4 KB apart (4096-long rows: all
    // three) fall into one set of the 8-way L1, 24 lines for 8 ways (4096 x 4096 at m = 8, int4
    // and NF4: 1.08x against unpadded rows; the other shapes within the noise)
    const std::size_t ldq = groups * D::group + 64, lds = groups * 16 + 16;
    std::int8_t* const q = scratch<std::int8_t, 7>(m * ldq).data();
    std::int32_t* const init = scratch<std::int32_t, 8>(m * lds).data();
    float* const scale = scratch<float, 9>(m * lds).data();
    parallel_ranges(m, 4, opt.threads, [&](std::size_t i0, std::size_t i1) {
        std::int8_t* const tq = scratch<std::int8_t, 10>(groups * D::group).data();
        float* const td = scratch<float, 11>(groups * D::group / 32 + 16).data();
        for (std::size_t i = i0; i < i1; ++i)
            avx512::prepare_q8_row<D>(x.row(i), in, groups, q + i * ldq, init + i * lds, scale + i * lds, tq, td);
    });
    std::vector<avx512::q8_row> xs(m);
    for (std::size_t i = 0; i < m; ++i) xs[i] = {q + i * ldq, init + i * lds, scale + i * lds};
    constexpr std::size_t panel = 32;
    parallel_ranges(out, 16, opt.threads, [&](std::size_t r0, std::size_t r1) {
        for (std::size_t p0 = r0; p0 < r1; p0 += panel) {
            const std::size_t p1 = m <= 8 ? r1 : std::min(r1, p0 + panel);
            for (std::size_t i0 = 0; i0 < m; i0 += 8) {
                const std::size_t mt = std::min<std::size_t>(8, m - i0);
                const auto rows = [&]<int R, int M>() {
                    row_tiles<R, M>(y, i0, p0, p1, k_blocking{groups}, [&]<int Q>(std::size_t r, const avx512::chunk_range&, float* res) {
                        avx512::dot_rows_q8<Q, M>(d, r, groups, xs.data() + i0, res);
                    });
                };
                // m = 1: row-major weights one row at a time, one sequential stream per thread,
                // which the prefetchers serve best: from DRAM 4096 x 4096 took 465-495 us against
                // 649-681 us with R = 4 (which is 10-20% faster from cache, where the decoding
                // bounds it); tiled weights a whole tile (one stream too)
                switch (mt) {
                    case 1: rows.template operator()<D::m1_rows, 1>(); break;
                    case 2: rows.template operator()<4, 2>(); break;
                    case 3: rows.template operator()<2, 3>(); break;
                    case 4: rows.template operator()<2, 4>(); break;
                    case 5: rows.template operator()<2, 5>(); break;
                    case 6: rows.template operator()<2, 6>(); break;
                    case 7: rows.template operator()<2, 7>(); break;
                    default: rows.template operator()<2, 8>(); break;
                }
            }
            if (m <= 8) break;
        }
    });
    epilogue(y, bias, opt.compute, opt.threads);
}

// From this m the 4-bit weights with int8 activations go through the block-scaled int8 GEMM
// (cpu/q8_gemm_avx512.hpp) instead of the GEMV kernel. The GEMM costs the same at m = 9..16 (two
// 8-row blocks), then 17..24; the GEMV grows with m. GEMM against GEMV (us, 2 interleaved rounds):
// m = 16: NF4 1.02-1.18x, int4 0.85-1.10x; m = 24: NF4 1.27-1.40x, int4 1.14-1.48x (3072 x 768
// int4: GEMV 20 us a row, GEMM 416 at m = 17..24: even at m = 20).
inline constexpr std::size_t q8_gemm_min_m = 20;

// The block-scaled int8 GEMM: activations quantized into rows of codes, block scales and block
// code sums (rows past m zero), then the GEMM with the bias and rounding fused into its stores.
template <class Rows>
void forward_q8_gemm(const Rows& rows, std::size_t out, std::size_t in, std::span<const float> bias, const_matrix_view<float> x,
                     matrix_view<float> y, const forward_options& opt) {
    const std::size_t m = x.rows, ld = int8_row_bytes(in), nbk = ld / avx512::q8_block, mr = avx512::gemm_rows(m),
                      ldx = avx512::gemm_stride<std::int8_t>(ld);
    std::int8_t* const q = scratch<std::int8_t, 17>(mr * ldx).data();
    float* const d = scratch<float, 18>(mr * nbk).data();
    std::int32_t* const init = scratch<std::int32_t, 19>(mr * nbk).data();
    std::fill(q + m * ldx, q + mr * ldx, std::int8_t{0});
    std::fill(d + m * nbk, d + mr * nbk, 0.0f);
    std::fill(init + m * nbk, init + mr * nbk, 0);
    parallel_ranges(m, 4, opt.threads, [&](std::size_t i0, std::size_t i1) {
        float* const td = scratch<float, 11>(nbk + 16).data();
        for (std::size_t i = i0; i < i1; ++i)
            avx512::prepare_q8_gemm_row(x.row(i), in, ld, Rows::bias, q + i * ldx, d + i * nbk, init + i * nbk, td);
    });
    const float* const b = bias.empty() ? nullptr : bias.data();
    avx512::q8_gemm(rows, out, ld, {q, ldx, d, init}, m, opt.threads, [&](std::size_t i, std::size_t o, __m512 v, __mmask16 mk) {
        store_biased(y.row(i) + o, v, b ? b + o : nullptr, opt.compute, mk);
    });
}

// the decoder whose code unpacking a scheme's tiles use
template <Scheme S>
struct tile_codes {
    using type = avx512::int4_q8_tile_codes;
};
template <class Traits>
struct tile_codes<Bnb4bit<Traits>> {
    using type = avx512::bnb4bit_q8_decoder<Traits>;
};

template <Scheme S>
void forward_q8(avx512_vnni, const QuantizedTensor<S>& w, const prepared_weight<S>& p, std::span<const float> bias,
                const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
    if (x.rows >= q8_gemm_min_m) {
        if constexpr (std::is_same_v<S, BlockwiseInt4>)
            return forward_q8_gemm(avx512::int4_u8_rows{w.data()}, w.rows(), w.cols(), bias, x, y, opt);
        else if (p.rows_hold_whole_blocks)
            return forward_q8_gemm(avx512::bnb4bit_u8_rows<typename S::traits>{w.data(), p.absmax.data()}, w.rows(), w.cols(), bias, x, y, opt);
    }
    // The weights in 16-row tiles (prepared for int8 activations): at m = 1 a tile at a time
    // (NF4 from DRAM 1.11-1.81x, int4 1.03-1.90x against the row-major layout, 3 interleaved
    // rounds); beyond, 2 or 4 rows of a tile at a time (m = 8 against the row-major layout:
    // int4 1.03-1.81x; NF4 0.55-1.17x while each row had its own cursor, 1.05-1.54x since the
    // tile's rows are read at fixed offsets)
    if (!p.tiles.empty()) {
        using Base = typename tile_codes<S>::type;
        __m512i table = _mm512_setzero_si512();
        if constexpr (!std::is_same_v<S, BlockwiseInt4>) table = Base::make_table();
        const auto run = [&]<int N>() {
            forward_q8_decoded(avx512::tiled_q8_decoder<Base, N>(p.tiles, table), w.rows(), w.cols(), bias, x, y, opt);
        };
        switch (p.tiles.scales) {
            case 1: return run.template operator()<1>();
            case 2: return run.template operator()<2>();
            default: return run.template operator()<4>();
        }
    }
    if constexpr (std::is_same_v<S, BlockwiseInt4>) {
        const auto& st = w.data();
        const auto run = [&](const auto& d) { forward_q8_decoded(d, w.rows(), w.cols(), bias, x, y, opt); };
        switch (st.params.block) {
            case 32: return run(avx512::int4_q8_decoder<32>{st.bytes.data(), st.blocks_per_row()});
            case 64: return run(avx512::int4_q8_decoder<64>{st.bytes.data(), st.blocks_per_row()});
            default: return run(avx512::int4_q8_decoder<128>{st.bytes.data(), st.blocks_per_row()});
        }
    } else {
        // blocks that straddle rows: no chunk-aligned decoding; the generic path handles it
        if (!p.rows_hold_whole_blocks) return forward_q8(generic{}, w, p, bias, x, y, opt);
        using D = avx512::bnb4bit_q8_decoder<typename S::traits>;
        return forward_q8_decoded(D(w.data().packed.data(), p.absmax.data(), w.cols(), w.parameters().block), w.rows(),
                                  w.cols(), bias, x, y, opt);
    }
}
#endif

// LLM.int8(): the int32 sums of int8 activations and weights [m, out], then the reference's float
// epilogue, row by row (contiguous writes); outlier columns in float32 against the dequantized
// weight columns, gathered once.
inline void int8_epilogue(const QuantizedTensor<AbsmaxInt8>& w, const AbsmaxInt8::quantized_activations& qa,
                          std::span<const std::int32_t> sums, std::span<const float> bias, const_matrix_view<float> x,
                          matrix_view<float> y, const forward_options& opt) {
    const auto& st = w.data();
    const std::size_t m = x.rows, out = w.rows(), nout = qa.outliers.size();
    // the outlier columns of the dequantized weight (as dequantize_row), transposed: [nout][out]
    std::vector<float> wo(nout * out);
    for (std::size_t t = 0; t < nout; ++t)
        for (std::size_t o = 0; o < out; ++o)
            wo[t * out + o] = static_cast<float>(st.CB[o * w.cols() + qa.outliers[t]]) * st.SCB[o] * AbsmaxInt8::inv127;
    parallel_ranges(out, 64, opt.threads, [&](std::size_t o0, std::size_t o1) {
        std::vector<float> outl(o1 - o0);
        for (std::size_t i = 0; i < m; ++i) {
            // x's outlier columns against wo, over t in order for every output (vectorised over o)
            std::fill(outl.begin(), outl.end(), 0.0f);
            for (std::size_t t = 0; t < nout; ++t) {
                const float xv = x(i, qa.outliers[t]);
                const float* wt = wo.data() + t * out + o0;
                for (std::size_t o = 0; o < o1 - o0; ++o) outl[o] += xv * wt[o];
            }
            for (std::size_t o = o0; o < o1; ++o) {
                float v = static_cast<float>(sums[i * out + o]) * (qa.SCA[i] * st.SCB[o]) * AbsmaxInt8::inv127_squared;
                if (!bias.empty()) v = numeric::fp::no_contract(v) + bias[o];
                y(i, o) = round_to(opt.compute, v + outl[o - o0]);
            }
        }
    });
}

inline void forward_int8_rowwise(generic, const QuantizedTensor<AbsmaxInt8>& w, const prepared_weight<AbsmaxInt8>&,
                                 std::span<const float> bias, const_matrix_view<float> x, matrix_view<float> y,
                                 const forward_options& opt) {
    const auto& st = w.data();
    const std::size_t in = w.cols(), m = x.rows, out = w.rows();
    const auto qa = AbsmaxInt8::quantize_activations(x.data, m, in, x.stride, st.params.threshold);
    std::vector<std::int32_t> sums(m * out);
    parallel_ranges(out, 16, opt.threads, [&](std::size_t o0, std::size_t o1) {
        for (std::size_t o = o0; o < o1; ++o)
            for (std::size_t i = 0; i < m; ++i) {
                std::int32_t acc = 0;
                for (std::size_t k = 0; k < in; ++k) acc += std::int32_t{qa.CA[i * in + k]} * std::int32_t{st.CB[o * in + k]};
                sums[i * out + o] = acc;
            }
    });
    int8_epilogue(w, qa, sums, bias, x, y, opt);
}

#if defined(QUANT_CPU_AVX2)
// LLM.int8() on AVX2: the int32 sums by vpmaddwd on int16 (cpu/int8_avx2.hpp), 2 weight rows
// against tiles of up to 4 activation rows (8 accumulators: 16 ymm registers); the weight rows in
// panels of 32 (32 KB at 1024-long rows, in L1/L2 while every tile meets them); then the
// reference's float epilogue.
inline void forward_int8_rowwise(xsimd::fma3<xsimd::avx2>, const QuantizedTensor<AbsmaxInt8>& w,
                                 const prepared_weight<AbsmaxInt8>&, std::span<const float> bias, const_matrix_view<float> x,
                                 matrix_view<float> y, const forward_options& opt) {
    const auto& st = w.data();
    const std::size_t in = w.cols(), m = x.rows, out = w.rows(), ld = (in + 15) / 16 * 16;
    std::int16_t* const xa = scratch<std::int16_t, 4>(m * ld).data();
    AbsmaxInt8::quantized_activations qa;
    qa.rows = m;
    qa.cols = in;
    qa.SCA.resize(m);
    qa.outliers = avx2::quantize_activations_i16(x.data, m, in, x.stride, st.params.threshold, ld, xa, qa.SCA.data(), opt.threads);
    std::int32_t* const sums = scratch<std::int32_t, 26>(m * out).data();
    parallel_ranges(out, 16, opt.threads, [&](std::size_t o0, std::size_t o1) {
        constexpr std::size_t panel = 32;
        std::int32_t res[8];
        for (std::size_t p0 = o0; p0 < o1; p0 += panel) {
            const std::size_t p1 = m <= 4 ? o1 : std::min(o1, p0 + panel);
            for (std::size_t i0 = 0; i0 < m; i0 += 4) {
                const std::size_t mt = std::min<std::size_t>(4, m - i0);
                const std::int16_t* xs[4];
                for (std::size_t i = 0; i < mt; ++i) xs[i] = xa + (i0 + i) * ld;
                const auto rows = [&]<int M>() {
                    const auto tile = [&]<int R>(std::size_t o) {
                        avx2::int8_dot_rows<R, M>(st.CB.data() + o * in, in, xs, res);
                        for (int r = 0; r < R; ++r)
                            for (int i = 0; i < M; ++i) sums[(i0 + std::size_t(i)) * out + o + std::size_t(r)] = res[r * M + i];
                    };
                    std::size_t o = p0;
                    for (; o + 2 <= p1; o += 2) tile.template operator()<2>(o);
                    if (o < p1) tile.template operator()<1>(o);
                };
                switch (mt) {
                    case 1: rows.template operator()<1>(); break;
                    case 2: rows.template operator()<2>(); break;
                    case 3: rows.template operator()<3>(); break;
                    default: rows.template operator()<4>(); break;
                }
            }
            if (m <= 4) break;
        }
    });
    if (!qa.outliers.empty()) return int8_epilogue(w, qa, std::span<const std::int32_t>(sums, m * out), bias, x, y, opt);
    // no outliers: the reference epilogue 8 outputs at a time
    const float* const b = bias.empty() ? nullptr : bias.data();
    parallel_ranges(m, 4, opt.threads, [&](std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i) {
            std::size_t o = 0;
            for (; o + 8 <= out; o += 8) {
                const __m256i sv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums + i * out + o));
                _mm256_storeu_ps(y.row(i) + o, round_vec(avx2::int8_rescale(sv, qa.SCA[i], st.SCB.data() + o, b ? b + o : nullptr,
                                                                            AbsmaxInt8::inv127_squared), opt.compute));
            }
            for (; o < out; ++o) {
                float v = static_cast<float>(sums[i * out + o]) * (qa.SCA[i] * st.SCB[o]) * AbsmaxInt8::inv127_squared;
                if (b) v = numeric::fp::no_contract(v) + b[o];
                y(i, o) = round_to(opt.compute, v);
            }
        }
    });
}
#endif

#if defined(QUANT_CPU_VNNI)
// The activation side of LLM.int8() (AbsmaxInt8::quantize_activations), written as the u8
// operand of vpdpbusd (s8 + 128) directly: the same float16 rounding (vcvtps2ph, nearest even),
// per-row absmax over the values below the threshold, scale (1/absmax)*127 and rounding
// (vcvtps2dq, nearest even) as the reference. Outliers (threshold > 0): an element with
// |x| >= threshold is left out of its row's absmax, and its column becomes an outlier column,
// zero (u8 128) in every row; the columns are returned in ascending order. Rows are split between
// `threads` (each row's scale and codes are its own; the outlier columns are the union of every
// row's, merged under a lock: the same set in any order).
inline std::vector<std::size_t> quantize_activations_u8(const_matrix_view<float> x, float threshold, std::size_t ld,
                                                        std::uint8_t* xu, std::vector<float>& sca, int threads = 1) {
    const std::size_t in = x.cols, lanes = (in + 15) / 16;
    std::vector<__mmask16> outlier(lanes, 0);  // bit j of lane group g: column 16 g + j
    std::mutex merge;
    const __m512 thr = _mm512_set1_ps(threshold > 0.0f ? threshold : std::numeric_limits<float>::infinity());
    parallel_ranges(x.rows, 8, threads, [&](std::size_t i0, std::size_t i1) {
        std::vector<float> row(lanes * 16);
        std::vector<__mmask16> mine(lanes, 0);
        for (std::size_t i = i0; i < i1; ++i) {
            __m512 am = _mm512_setzero_ps();
            for (std::size_t g = 0, k = 0; g < lanes; ++g, k += 16) {
                const __mmask16 mk = first_lanes(in - k);
                __m512 v = _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_maskz_loadu_ps(mk, x.row(i) + k), _MM_FROUND_TO_NEAREST_INT));
                const __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(v), thr, _CMP_GE_OQ);
                mine[g] |= big;
                v = _mm512_maskz_mov_ps(__mmask16(~big), v);
                _mm512_storeu_ps(row.data() + k, v);
                am = _mm512_max_ps(am, _mm512_abs_ps(v));
            }
            const float a = _mm512_reduce_max_ps(am);
            sca[i] = a;
            std::uint8_t* dst = xu + i * ld;
            std::fill(dst + in, dst + ld, std::uint8_t{128});  // padding: s8 zero
            if (a == 0.0f) {
                std::fill(dst, dst + in, std::uint8_t{128});
                continue;
            }
            const __m512 s = _mm512_set1_ps((1.0f / a) * 127.0f);
            const __m512i off = _mm512_set1_epi32(128);
            for (std::size_t k = 0; k < in; k += 16) {
                const __mmask16 mk = first_lanes(in - k);
                const __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row.data() + k), s),
                                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                _mm512_mask_cvtepi32_storeu_epi8(dst + k, mk, _mm512_add_epi32(q, off));
            }
        }
        const std::lock_guard<std::mutex> lock(merge);
        for (std::size_t g = 0; g < lanes; ++g) outlier[g] |= mine[g];
    });
    std::vector<std::size_t> cols;
    for (std::size_t g = 0; g < lanes; ++g)
        for (unsigned j = 0; j < 16; ++j)
            if (outlier[g] >> j & 1u) cols.push_back(16 * g + j);
    for (const std::size_t j : cols)
        for (std::size_t i = 0; i < x.rows; ++i) xu[i * ld + j] = 128;
    return cols;
}

// The reference epilogue of LLM.int8(), 16 outputs at a time: float(sum) * (SCA * SCB) * 1/127^2,
// then + bias as a separate rounding (the reference's no_contract; an intrinsic with a rounding
// mode is never fused into an FMA).
inline __m512 int8_rescale(__m512i sum, float sca, const float* scb, const float* bias, __mmask16 mk) {
    const __m512 s = _mm512_mul_ps(_mm512_set1_ps(sca), _mm512_maskz_loadu_ps(mk, scb));
    const __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), s), _mm512_set1_ps(AbsmaxInt8::inv127_squared));
    return bias ? _mm512_add_round_ps(v, _mm512_maskz_loadu_ps(mk, bias), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) : v;
}

inline void forward_int8_rowwise(avx512_vnni, const QuantizedTensor<AbsmaxInt8>& w, const prepared_weight<AbsmaxInt8>& p,
                                 std::span<const float> bias, const_matrix_view<float> x, matrix_view<float> y,
                                 const forward_options& opt) {
    const auto& st = w.data();
    const std::size_t in = w.cols(), m = x.rows, out = w.rows();
    // vpdpbusd multiplies u8 by s8: activations as u8 = s8 + 128, and sum(u8 w) - 128 sum(w) is the
    // exact s8 sum. Rows padded to 64 bytes: the weight bytes there are masked or padded to 0, so
    // the padding adds nothing.
    const std::size_t ld = int8_row_bytes(in);
    const bool gemm = m >= int8_gemm_min_m;
    const std::size_t rows = gemm ? avx512::gemm_rows(m) : m, ldx = gemm ? avx512::gemm_stride<std::uint8_t>(ld) : ld;
    std::uint8_t* const xu = scratch<std::uint8_t, 4>(rows * ldx).data();
    std::fill(xu + m * ldx, xu + rows * ldx, std::uint8_t{128});  // rows past m: s8 zeros
    AbsmaxInt8::quantized_activations qa;
    qa.rows = m;
    qa.cols = in;
    qa.SCA.resize(m);
    qa.outliers = quantize_activations_u8(x, st.params.threshold, ldx, xu, qa.SCA, opt.threads);
    // Without outliers and with float32 output, the GEMM finishes each result itself (the
    // reference epilogue, 16 outputs at a time): no [m, out] int32 buffer to allocate, fault in
    // and read again (at m = 1024 that was a third of the time).
    const bool fused = qa.outliers.empty() && opt.compute == dtype::f32;
    const float* const b = bias.empty() ? nullptr : bias.data();
    std::vector<std::int32_t> sums(gemm && fused ? 0 : m * out);
    if (gemm) {  // the micro-kernel GEMM on the codes packed when the layer was prepared
        const auto* xs = reinterpret_cast<const std::int8_t*>(xu);
        // the s8 sum: sum(u8 w) - 128 sum(w)
        const auto exact = [&](std::size_t o, __m512i v, __mmask16 mk) {
            return _mm512_sub_epi32(v, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(mk, p.row_sums.data() + o), 7));
        };
        if (fused)
            avx512::gemm_packed<avx512::op_s8>(out, ld, p.panels.data(), xs, ldx, m, opt.threads, [&](std::size_t i, std::size_t o, __m512i v, __mmask16 mk) {
                _mm512_mask_storeu_ps(y.row(i) + o, mk, int8_rescale(exact(o, v, mk), qa.SCA[i], st.SCB.data() + o, b ? b + o : nullptr, mk));
            });
        else
            avx512::gemm_packed<avx512::op_s8>(out, ld, p.panels.data(), xs, ldx, m, opt.threads, [&](std::size_t i, std::size_t o, __m512i v, __mmask16 mk) {
                _mm512_mask_storeu_epi32(sums.data() + i * out + o, mk, exact(o, v, mk));
            });
        if (fused) return;
    } else {
        const __mmask64 tail = in % 64 ? (~__mmask64{0} >> (64 - in % 64)) : ~__mmask64{0};
        parallel_ranges(out, 16, opt.threads, [&](std::size_t o0, std::size_t o1) {
            for (std::size_t o = o0; o < o1; ++o) {
                const std::int8_t* wr = st.CB.data() + o * in;
                avx512::prefetch(wr);
                for (std::size_t i = 0; i < m; ++i) {
                    const std::uint8_t* xr = xu + i * ld;
                    __m512i acc = _mm512_setzero_si512();
                    std::size_t k = 0;
                    for (; k + 64 <= in; k += 64)
                        acc = _mm512_dpbusd_epi32(acc, _mm512_load_si512(xr + k), _mm512_loadu_si512(wr + k));
                    if (k < in)
                        acc = _mm512_dpbusd_epi32(acc, _mm512_load_si512(xr + k), _mm512_maskz_loadu_epi8(tail, wr + k));
                    sums[i * out + o] = _mm512_reduce_add_epi32(acc) - 128 * p.row_sums[o];
                }
            }
        });
    }
    if (!fused) return int8_epilogue(w, qa, sums, bias, x, y, opt);
    parallel_ranges(out, 64, opt.threads, [&](std::size_t o0, std::size_t o1) {
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t o = o0; o < o1; o += 16) {
                const __mmask16 mk = first_lanes(o1 - o);
                const __m512i sv = _mm512_maskz_loadu_epi32(mk, sums.data() + i * out + o);
                _mm512_mask_storeu_ps(y.row(i) + o, mk, int8_rescale(sv, qa.SCA[i], st.SCB.data() + o, b ? b + o : nullptr, mk));
            }
    });
}
#endif

}  // namespace cpu

template <Scheme S>
struct linear_kernel<cpu_backend, S> {
    using prepared = cpu::prepared_weight<S>;
    static prepared prepare(const QuantizedTensor<S>& w, const forward_options& opt = {}) { return cpu::prepare(w, opt); }

    static void forward(const QuantizedTensor<S>& w, const prepared& p, std::span<const float> bias,
                        const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
        if (opt.compute != dtype::f32 && !bias.empty()) {
            // the bias in the compute dtype, as the reference (and bitsandbytes, which casts it to
            // the input's dtype) adds it; added unrounded, the bf16 outputs differed from the
            // reference's in about half the elements by one rounding
            const std::span<float> b = cpu::scratch<float, 21>(bias.size());
            std::copy(bias.begin(), bias.end(), b.begin());
            cpu::round_in_place(b.data(), b.size(), opt.compute);
            bias = b;
        }
        if constexpr (std::is_same_v<S, AbsmaxInt8>) {
            if (w.parameters().activations == int8_activations::rowwise) {
                cpu::forward_int8_rowwise(cpu::best_arch{}, w, p, bias, x, y, opt);
                return;
            }
        }
        if constexpr (int8_activation_scheme<S>) {
            if (opt.activations == activation_quant::int8) {
                cpu::forward_q8(cpu::best_arch{}, w, p, bias, x, y, opt);
                return;
            }
        }
        cpu::forward_weight_only(cpu::best_arch{}, w, p, bias, x, y, opt);
    }
};

}  // namespace quant
