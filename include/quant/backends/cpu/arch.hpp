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

// The kernel families this translation unit is compiled for, named once (-march decides;
// header-only code must not pick at run time what the compiler was not allowed to emit). Every
// kernel header and dispatch branch tests these, not the compiler's macros:
//   QUANT_CPU_AVX512  AVX-512 F and BW: the zmm kernels (cpu/*_avx512.hpp)
//   QUANT_CPU_VNNI    + VNNI: vpdpbusd (int8 activations)
//   QUANT_CPU_BF16    + BF16: vdpbf16ps (bf16 compute)
//   QUANT_CPU_AMX     + AMX tiles (INT8, BF16; Linux: the tile state is granted per process):
//                     cpu/gemm_amx.hpp, cpu/gemv_amx.hpp
//   QUANT_CPU_AVX2    AVX2, FMA and F16C without QUANT_CPU_AVX512: the ymm kernels (cpu/*_avx2.hpp)
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define QUANT_CPU_AVX512 1
#if defined(__AVX512VNNI__)
#define QUANT_CPU_VNNI 1
#endif
#if defined(__AVX512BF16__)
#define QUANT_CPU_BF16 1
#endif
#if defined(QUANT_CPU_BF16) && defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__AMX_BF16__) && defined(__linux__)
#define QUANT_CPU_AMX 1
#endif
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define QUANT_CPU_AVX2 1
#endif

// The one ordered list: the best set this translation unit is compiled for.
using best_arch =
#if defined(QUANT_CPU_BF16) && defined(QUANT_CPU_VNNI)
    avx512_bf16;
#elif defined(QUANT_CPU_VNNI)
    avx512_vnni;
#elif defined(QUANT_CPU_AVX512)
    xsimd::avx512bw;
#elif defined(QUANT_CPU_AVX2)
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
