// GEMV for few activation rows (m <= 8): y[m, out] = x[m, in] . W^T + bias, memory-bound on W.
//
// Organisation (the one bitsandbytes' kgemm_4bit_inference_naive uses, generic over formats): one
// warp per output row; each lane streams 16-byte chunks of that row (32 weights for 4-bit, 16 for
// int8) with one vector load, decodes them in registers (codebook from shared memory, the block
// scale on the fly, double-quantized absmax included), rounds them to the compute dtype C and
// multiplies with the MT activation rows in float32; a warp shuffle reduces, lane 0 adds the bias.
// Semantics: backends/reference.hpp (x and W rounded to C, float32 accumulation).
#pragma once

#include "../weight_format.hpp"
#include "common.cuh"

namespace quant::cuda::kernels {

inline constexpr int gemv_warps = 4;  // output rows per block

template <class W, class T, dtype C, int MT>
__global__ void __launch_bounds__(gemv_warps * 32)
    gemv_kernel(W w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, int m) {
    __shared__ float tab[W::table_size > 0 ? W::table_size : 1];
    load_tables(w, tab);
    __syncthreads();
    const unsigned lane = threadIdx.x % 32;
    const std::size_t r = static_cast<std::size_t>(blockIdx.x) * gemv_warps + threadIdx.x / 32;
    if (r >= w.rows) return;

    float acc[MT];
#pragma unroll
    for (int i = 0; i < MT; ++i) acc[i] = 0.0f;
    const auto* row = reinterpret_cast<const std::uint8_t*>(w.codes) + r * w.ld;
    const std::size_t chunks = w.ld / 16;
    for (std::size_t k = lane; k < chunks; k += 32) {
        std::uint32_t raw[4];
        load16(row + k * 16, raw);
        const std::size_t c0 = k * W::chunk;
        float wv[W::chunk];
        w.decode_chunk(r, c0, raw, tab, wv);
#pragma unroll
        for (unsigned j = 0; j < W::chunk; ++j) wv[j] = round_to<C>(wv[j]);
#pragma unroll
        for (int i = 0; i < MT; ++i) {
            if (i < m) {
                float xv[W::chunk];
                load_x<C>(x + static_cast<std::size_t>(i) * ldx, c0, w.cols, xv);
#pragma unroll
                for (unsigned j = 0; j < W::chunk; ++j) acc[i] = fmaf(xv[j], wv[j], acc[i]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int o = 16; o > 0; o /= 2) acc[i] += __shfl_xor_sync(0xffffffffu, acc[i], o);
    if (lane != 0) return;
    const float b = bias ? round_to<C>(bias[r]) : 0.0f;
#pragma unroll
    for (int i = 0; i < MT; ++i)
        if (i < m) y[static_cast<std::size_t>(i) * ldy + r] = from_float<T>(round_to<C>(acc[i] + b));
}

}  // namespace quant::cuda::kernels
