// Dequantization kernel: out[rows, cols] (float, half or bfloat16) = the weights' exact float32
// values, rounded to the output type. One thread per 16-byte chunk of codes.
#pragma once

#include "../weight_format.hpp"
#include "common.cuh"

namespace quant::cuda::kernels {

template <class W, class T>
__global__ void __launch_bounds__(256) dequantize_kernel(W w, T* out, std::size_t ldo) {
    __shared__ float tab[W::table_size > 0 ? W::table_size : 1];
    load_tables(w, tab);
    __syncthreads();
    const std::size_t per_row = w.ld / 16;  // chunks per row
    const std::size_t q = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (q >= w.rows * per_row) return;
    const std::size_t r = q / per_row, c0 = (q % per_row) * W::chunk;
    std::uint32_t raw[4];
    load16(reinterpret_cast<const std::uint8_t*>(w.codes) + r * w.ld + c0 * 16 / W::chunk, raw);
    float v[W::chunk];
    w.decode_chunk(r, c0, raw, tab, v);
#pragma unroll
    for (unsigned j = 0; j < W::chunk; ++j)
        if (c0 + j < w.cols) out[r * ldo + c0 + j] = from_float<T>(v[j]);
}

}  // namespace quant::cuda::kernels
