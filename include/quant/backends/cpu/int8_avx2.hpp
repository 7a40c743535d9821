// AVX2 int8 x int8 dot products: the int32 sums of LLM.int8() (int8 weights, row-wise int8
// activations) on machines without VNNI. AVX2 has no u8 x s8 instruction that cannot saturate
// (vpmaddubsw adds its int16 products with saturation), so both sides widen to int16 and
// vpmaddwd multiplies 16 pairs into 8 int32 pair sums, exactly: |a w| <= 127 * 127, a pair at
// most 32258, and the int32 lanes hold rows of up to 66000 pairs.
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AVX2)

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "threading.hpp"

namespace quant::cpu::avx2 {

inline std::int32_t hsum_epi32(__m256i v) {
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i h = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, 1)));
}

// R int8 weight rows (w, rows `in` apart) against M activation rows xs[i] (int16, zero-padded to
// whole 16s): res[r * M + i] = sum_k w[r][k] xs[i][k]. Each weight load widens once and meets the
// M activation rows; R * M int32 accumulators. The row's last, partial 16 weights are copied into
// a zeroed buffer (reading past them would read the next row, or past the matrix for the last).
template <int R, int M>
inline void int8_dot_rows(const std::int8_t* w, std::size_t in, const std::int16_t* const* xs, std::int32_t* res) {
    __m256i acc[R][M];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) acc[r][i] = _mm256_setzero_si256();
    const auto step = [&](const __m128i (&wb)[R], std::size_t k) {
        __m256i wv[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) wv[r] = _mm256_cvtepi8_epi16(wb[r]);
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) {
            const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(xs[i] + k));
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) acc[r][i] = _mm256_add_epi32(acc[r][i], _mm256_madd_epi16(wv[r], x));
        }
    };
    std::size_t k = 0;
    for (; k + 16 <= in; k += 16) {
        __m128i wb[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            const std::int8_t* q = w + r * in + k;
            if (k % 64 == 0) _mm_prefetch(reinterpret_cast<const char*>(q) + 4096, _MM_HINT_T0);
            wb[r] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        }
        step(wb, k);
    }
    if (k < in) {
        __m128i wb[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            alignas(16) std::int8_t buf[16] = {};
            std::memcpy(buf, w + r * in + k, in - k);
            wb[r] = _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
        }
        step(wb, k);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
        for (int i = 0; i < M; ++i) res[r * M + i] = hsum_epi32(acc[r][i]);
}

// The activation side of LLM.int8() (AbsmaxInt8::quantize_activations), written straight as the
// int16 rows int8_dot_rows reads (ld >= cols, a multiple of 16, zero past cols): the same float16
// rounding (vcvtps2ph, nearest even), per-row absmax over the values below the threshold, scale
// (1/absmax)*127 and rounding (vcvtps2dq, nearest even) as the reference. An element with
// |x| >= threshold (threshold > 0) is left out of its row's absmax and its column becomes an
// outlier column, zero in every row; the columns are returned in ascending order. Rows are split
// between threads (the outlier columns are the union of every row's: the same set in any order).
inline std::vector<std::size_t> quantize_activations_i16(const float* x, std::size_t rows, std::size_t cols, std::size_t stride,
                                                         float threshold, std::size_t ld, std::int16_t* xa, float* sca,
                                                         int threads) {
    const std::size_t groups = (cols + 7) / 8;
    std::vector<std::uint8_t> outlier(groups, 0);  // bit j of group g: column 8 g + j
    std::mutex merge;
    const __m256 thr = _mm256_set1_ps(threshold > 0.0f ? threshold : std::numeric_limits<float>::infinity());
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    parallel_ranges(rows, 8, threads, [&](std::size_t i0, std::size_t i1) {
        std::vector<float> row(groups * 8);
        std::vector<std::uint8_t> mine(groups, 0);
        for (std::size_t i = i0; i < i1; ++i) {
            const float* xr = x + i * stride;
            __m256 am = _mm256_setzero_ps();
            for (std::size_t g = 0, k = 0; g < groups; ++g, k += 8) {
                const std::size_t n = std::min<std::size_t>(8, cols - k);
                __m256 v;
                if (n == 8) {
                    v = _mm256_loadu_ps(xr + k);
                } else {
                    alignas(32) float buf[8] = {};
                    std::copy_n(xr + k, n, buf);
                    v = _mm256_load_ps(buf);
                }
                v = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
                const __m256 big = _mm256_cmp_ps(_mm256_and_ps(v, abs_mask), thr, _CMP_GE_OQ);
                mine[g] |= static_cast<std::uint8_t>(_mm256_movemask_ps(big));
                v = _mm256_andnot_ps(big, v);
                _mm256_storeu_ps(row.data() + k, v);
                am = _mm256_max_ps(_mm256_and_ps(v, abs_mask), am);  // a NaN is left out, as std::max leaves it
            }
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(am), _mm256_extractf128_ps(am, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            const float a = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
            sca[i] = a;
            std::int16_t* dst = xa + i * ld;
            std::fill(dst + groups * 8, dst + ld, std::int16_t{0});
            if (a == 0.0f) {
                std::fill(dst, dst + groups * 8, std::int16_t{0});
                continue;
            }
            const __m256 sc = _mm256_set1_ps((1.0f / a) * 127.0f);
            for (std::size_t k = 0; k < groups * 8; k += 8) {
                const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(row.data() + k), sc));
                _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + k),
                                 _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packs_epi32(q, q), 0x08)));
            }
        }
        const std::lock_guard<std::mutex> lock(merge);
        for (std::size_t g = 0; g < groups; ++g) outlier[g] |= mine[g];
    });
    std::vector<std::size_t> out;
    for (std::size_t g = 0; g < groups; ++g)
        for (unsigned j = 0; j < 8; ++j)
            if (outlier[g] >> j & 1u) out.push_back(8 * g + j);
    for (const std::size_t j : out)
        for (std::size_t i = 0; i < rows; ++i) xa[i * ld + j] = 0;
    return out;
}

// The reference epilogue of LLM.int8(), 8 outputs at a time: float(sum) * (SCA * SCB) * 1/127^2,
// then + bias as a separate rounding (the barrier keeps GCC from contracting the product and the
// add into an FMA, as numeric::fp::no_contract does for the reference).
inline __m256 int8_rescale(__m256i sum, float sca, const float* scb, const float* bias, float inv127_squared) {
    const __m256 s = _mm256_mul_ps(_mm256_set1_ps(sca), _mm256_loadu_ps(scb));
    __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(sum), s), _mm256_set1_ps(inv127_squared));
    if (!bias) return v;
    asm("" : "+x"(v));
    return _mm256_add_ps(v, _mm256_loadu_ps(bias));
}

}  // namespace quant::cpu::avx2

#endif
