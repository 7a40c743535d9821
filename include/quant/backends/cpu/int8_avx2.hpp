// AVX2 int8 x int8 dot products: the int32 sums of LLM.int8() (int8 weights, row-wise int8
// activations) on machines without VNNI. AVX2 has no u8 x s8 instruction that cannot saturate
// (vpmaddubsw adds its int16 products with saturation), so both sides widen to int16 and
// vpmaddwd multiplies 16 pairs into 8 int32 pair sums, exactly: |a w| <= 127 * 127, a pair at
// most 32258, and the int32 lanes hold rows of up to 66000 pairs.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

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

}  // namespace quant::cpu::avx2

#endif
