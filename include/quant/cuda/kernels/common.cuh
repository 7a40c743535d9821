// Device helpers shared by the kernels: element types, rounding to the compute dtype, loads.
// nvcc only.
#pragma once

#if !defined(__CUDACC__)
#error "quant/cuda/kernels/*.cuh are CUDA sources: include them from a .cu file compiled by nvcc"
#endif

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../numeric/half.hpp"

namespace quant::cuda::kernels {

// quant's storage types have the bits of CUDA's.
template <class T>
struct device_type {
    using type = T;
};
template <>
struct device_type<quant::half> {
    using type = __half;
};
template <>
struct device_type<quant::bfloat16> {
    using type = __nv_bfloat16;
};
static_assert(sizeof(__half) == sizeof(quant::half) && sizeof(__nv_bfloat16) == sizeof(quant::bfloat16));

template <class T>
inline constexpr dtype dtype_of = dtype::f32;
template <>
inline constexpr dtype dtype_of<__half> = dtype::f16;
template <>
inline constexpr dtype dtype_of<__nv_bfloat16> = dtype::bf16;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_float(float v) {
    if constexpr (std::is_same_v<T, __half>)
        return __float2half_rn(v);
    else if constexpr (std::is_same_v<T, __nv_bfloat16>)
        return __float2bfloat16_rn(v);
    else
        return v;
}

// What a float becomes when the computation is carried out in dtype C (quant::round_to).
template <dtype C>
__device__ __forceinline__ float round_to(float v) {
    if constexpr (C == dtype::f16)
        return __half2float(__float2half_rn(v));
    else if constexpr (C == dtype::bf16)
        return __bfloat162float(__float2bfloat16_rn(v));
    else
        return v;
}

// The 16 bytes at p (16-byte aligned), read through the non-coherent cache: weights are read-only.
__device__ __forceinline__ void load16(const void* p, std::uint32_t (&w)[4]) {
    const uint4 v = __ldg(reinterpret_cast<const uint4*>(p));
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
}

// N activations x[c0 .. c0+N) of one row, as floats rounded to C; zero past `cols` (the weights'
// row padding decodes to zero, so the padded products are 0 * 0). Vector loads when the run is
// whole and 16-byte aligned, scalar loads otherwise.
template <dtype C, int N, class T>
__device__ __forceinline__ void load_x(const T* row, std::size_t c0, std::size_t cols, float (&v)[N]) {
    constexpr bool exact = dtype_of<T> == C;  // already in the compute dtype: no rounding needed
    const T* p = row + c0;
    constexpr int per16 = 16 / sizeof(T);
    if constexpr (N % per16 == 0) {
        if (c0 + N <= cols && reinterpret_cast<std::uintptr_t>(p) % 16 == 0) {
#pragma unroll
            for (int q = 0; q < N / per16; ++q) {
                const uint4 u = *reinterpret_cast<const uint4*>(p + q * per16);
                T e[per16];
                static_assert(sizeof(e) == sizeof(u));
                memcpy(e, &u, sizeof u);
#pragma unroll
                for (int j = 0; j < per16; ++j) {
                    const float f = to_float(e[j]);
                    v[q * per16 + j] = exact ? f : round_to<C>(f);
                }
            }
            return;
        }
    }
#pragma unroll
    for (int j = 0; j < N; ++j) {
        const float f = c0 + j < cols ? to_float(p[j]) : 0.0f;
        v[j] = exact ? f : round_to<C>(f);
    }
}

// Copies the weights' decode tables into shared memory (call from every thread, then sync).
template <class W>
__device__ __forceinline__ void load_tables(const W& w, float* tab) {
    if constexpr (W::table_size > 0)
        for (unsigned i = threadIdx.x; i < W::table_size; i += blockDim.x) tab[i] = w.tables[i];
}

}  // namespace quant::cuda::kernels
