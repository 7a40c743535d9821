// LLM.int8() on the GPU (int8_activations::rowwise, no outlier threshold): activations quantized
// row-wise to int8 exactly as schemes/absmax_int8.hpp specifies, then int8 x int8 -> int32 with
// dp4a, scaled by SCA * SCB / 127^2. Integer sums are exact, so the result is bit-identical to the
// reference backend.
#pragma once

#include "../weight_format.hpp"
#include "common.cuh"

namespace quant::cuda::kernels {

// One block per activation row: SCA[i] = max |f16(x[i, :])|, CA[i, :] = round_half_even(f16(x) * s)
// with s = (1 / SCA) * 127 (two roundings, as bitsandbytes); CA rows padded with 0 to ld.
template <class T>
__global__ void __launch_bounds__(256)
    quantize_rows_kernel(const T* x, std::size_t ldx, std::size_t cols, std::size_t ld, std::int8_t* ca, float* sca) {
    __shared__ float warp_max[8];
    const T* row = x + static_cast<std::size_t>(blockIdx.x) * ldx;
    float am = 0.0f;
    for (std::size_t k = threadIdx.x; k < cols; k += blockDim.x)
        am = fmaxf(am, fabsf(__half2float(__float2half_rn(to_float(row[k])))));
    for (int o = 16; o > 0; o /= 2) am = fmaxf(am, __shfl_xor_sync(0xffffffffu, am, o));
    if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = am;
    __syncthreads();
    am = 0.0f;
    for (unsigned wi = 0; wi < blockDim.x / 32; ++wi) am = fmaxf(am, warp_max[wi]);
    const float s = am == 0.0f ? 0.0f : __fmul_rn(__fdiv_rn(1.0f, am), 127.0f);
    std::int8_t* out = ca + static_cast<std::size_t>(blockIdx.x) * ld;
    for (std::size_t k = threadIdx.x; k < ld; k += blockDim.x) {
        const float v = k < cols ? __half2float(__float2half_rn(to_float(row[k]))) : 0.0f;
        out[k] = static_cast<std::int8_t>(__float2int_rn(__fmul_rn(v, s)));
    }
    if (threadIdx.x == 0) sca[blockIdx.x] = am;
}

// One warp per output row: 16-byte chunks of CB and CA, four dp4a each.
inline constexpr int i8_gemv_warps = 4;

template <class T, dtype C>
__global__ void __launch_bounds__(i8_gemv_warps * 32)
    gemv_i8i8_kernel(int8_weights w, const std::int8_t* ca, const float* sca, std::size_t m, const float* bias, T* y,
                     std::size_t ldy) {
    constexpr float inv127_squared = 6.200124e-05f;  // AbsmaxInt8::inv127_squared
    const unsigned lane = threadIdx.x % 32;
    const std::size_t r = static_cast<std::size_t>(blockIdx.x) * i8_gemv_warps + threadIdx.x / 32;
    if (r >= w.rows) return;
    const auto* wrow = reinterpret_cast<const std::uint8_t*>(w.codes) + r * w.ld;
    const std::size_t chunks = w.ld / 16;
    for (std::size_t i = blockIdx.y; i < m; i += gridDim.y) {
        const auto* xrow = reinterpret_cast<const std::uint8_t*>(ca) + i * w.ld;
        int acc = 0;
        for (std::size_t k = lane; k < chunks; k += 32) {
            std::uint32_t a[4], b[4];
            load16(wrow + k * 16, b);
            load16(xrow + k * 16, a);
#pragma unroll
            for (int q = 0; q < 4; ++q) acc = __dp4a(static_cast<int>(a[q]), static_cast<int>(b[q]), acc);
        }
#pragma unroll
        for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) {
            float v = __fmul_rn(__fmul_rn(__int2float_rn(acc), __fmul_rn(sca[i], w.scb[r])), inv127_squared);
            if (bias) v = __fadd_rn(v, bias[r]);
            y[i * ldy + r] = from_float<T>(round_to<C>(v));
        }
    }
}

}  // namespace quant::cuda::kernels
