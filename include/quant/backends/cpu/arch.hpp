// Instruction sets as types. Each inherits the set it extends (xsimd's own tags do the same:
// avx512bw : avx512dq : ... : avx2 : ... : generic), so a kernel written for a base set serves
// every descendant, and overload resolution picks the most derived overload that exists.
// xsimd 8.1 has no VNNI or BF16 operations: the two tags below add them, and kernels for them use
// intrinsics.
#pragma once

#include <cstddef>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace quant::cpu {

using xsimd::generic;

struct avx512_vnni : xsimd::avx512bw {  // + vpdpbusd (u8 x s8 -> s32 dot products)
    static constexpr const char* name() noexcept { return "avx512_vnni"; }
};
struct avx512_bf16 : avx512_vnni {  // + vdpbf16ps (bf16 x bf16 -> f32 dot products)
    static constexpr const char* name() noexcept { return "avx512_bf16"; }
};

// The one ordered list: the best set this translation unit is compiled for (-march decides;
// header-only code must not pick at run time what the compiler was not allowed to emit).
using best_arch =
#if defined(__AVX512BF16__) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
    avx512_bf16;
#elif defined(__AVX512VNNI__) && defined(__AVX512BW__)
    avx512_vnni;
#elif defined(__AVX512BW__)
    xsimd::avx512bw;
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
    xsimd::fma3<xsimd::avx2>;
#else
    generic;
#endif

// x[0 .. in) followed by zeros up to whole chunks: the activation layout of the decoders that
// keep a row's elements in order.
template <std::size_t Chunk>
inline void copy_padded(const float* x, std::size_t in, float* out) {
    const std::size_t padded = (in + Chunk - 1) / Chunk * Chunk;
    for (std::size_t k = 0; k < padded; ++k) out[k] = k < in ? x[k] : 0.0f;
}

// The widest float batch xsimd offers for this build (generic kernels use it).
using float_batch = xsimd::batch<float>;

#if defined(__AVX512F__)
// The first min(n, 16) lanes of a 16-lane vector: the mask of a row's last, partial vector.
inline __mmask16 first_lanes(std::size_t n) { return n >= 16 ? __mmask16(0xffff) : __mmask16((1u << n) - 1); }
#endif

}  // namespace quant::cpu
