// GEMV for few activation rows (m <= 8): y[m, out] = x[m, in] . W^T + bias, memory-bound on W.
//
// Organisation (the one of bitsandbytes' kgemm_4bit_inference_naive, generic over formats): a
// warp owns gemv_rows_per_warp output rows; each lane streams 16-byte chunks of those rows (32
// weights for 4-bit, 16 for int8) with vector loads, gemv_chunks_in_flight chunks per row issued
// before any is used (to keep enough bytes in flight for HBM). It decodes them in registers one
// 32-bit word at a time (codebook from shared memory, block scale on the fly, double-quantized
// absmax included), rounds them to the compute dtype C and multiplies with the MT activation rows
// in float32; each activation word is loaded once for all rows of the warp. A warp shuffle
// reduces; lane 0 adds the bias. Semantics: backends/reference.hpp (x and W rounded to C, float32
// accumulation).
#pragma once

#include "../weight_format.hpp"
#include "common.cuh"

namespace quant::cuda::kernels {

inline constexpr int gemv_warps = 4;             // warps per block
inline constexpr int gemv_rows_per_warp = 2;     // output rows per warp
inline constexpr int gemv_chunks_in_flight = 2;  // 16-byte loads per row issued together
inline constexpr int gemv_rows_per_block = gemv_warps * gemv_rows_per_warp;

template <class W, class T, dtype C, int MT>
__global__ void __launch_bounds__(gemv_warps * 32)
    gemv_kernel(W w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, int m) {
    constexpr int R = gemv_rows_per_warp, U = gemv_chunks_in_flight;
    constexpr unsigned N = W::chunk;
    __shared__ float tab[W::table_size > 0 ? W::table_size : 1];
    load_tables(w, tab);
    __syncthreads();
    const unsigned lane = threadIdx.x % 32;
    const std::size_t r0 = (static_cast<std::size_t>(blockIdx.x) * gemv_warps + threadIdx.x / 32) * R;
    if (r0 >= w.rows) return;
    const int rows_here = static_cast<int>(w.rows - r0 < R ? w.rows - r0 : R);  // warp-uniform

    float acc[R][MT];
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
#pragma unroll
        for (int i = 0; i < MT; ++i) acc[rr][i] = 0.0f;
    const auto* codes = reinterpret_cast<const std::uint8_t*>(w.codes);
    const std::size_t chunks = w.ld / 16;  // per row
    for (std::size_t k0 = lane; k0 < chunks; k0 += 32 * U) {
        std::uint32_t raw[U][R][4];
#pragma unroll
        for (int u = 0; u < U; ++u)
#pragma unroll
            for (int rr = 0; rr < R; ++rr)
                if (rr < rows_here && k0 + 32 * u < chunks)
                    load16(codes + (r0 + rr) * w.ld + (k0 + 32 * u) * 16, raw[u][rr]);
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const std::size_t k = k0 + 32 * u;
            if (k >= chunks) break;
            const std::size_t c0 = k * N;
            typename W::scale_type sc[R];
#pragma unroll
            for (int rr = 0; rr < R; ++rr)
                if (rr < rows_here) sc[rr] = w.chunk_scale(r0 + rr, c0, tab);
            // word by word (8 weights for 4-bit, 4 for int8): few values live at a time
#pragma unroll
            for (unsigned q = 0; q < 4; ++q) {
                constexpr unsigned P = W::per_word;
                float wv[R][P];
#pragma unroll
                for (int rr = 0; rr < R; ++rr) {
                    if (rr < rows_here) {
                        w.decode_word(sc[rr], raw[u][rr][q], q, tab, wv[rr]);
#pragma unroll
                        for (unsigned j = 0; j < P; ++j) wv[rr][j] = round_to<C>(wv[rr][j]);
                    } else {
#pragma unroll
                        for (unsigned j = 0; j < P; ++j) wv[rr][j] = 0.0f;
                    }
                }
#pragma unroll
                for (int i = 0; i < MT; ++i) {
                    if (i < m) {
                        float xv[P];
                        load_x<C>(x + static_cast<std::size_t>(i) * ldx, c0 + q * P, w.cols, xv);
#pragma unroll
                        for (int rr = 0; rr < R; ++rr)
#pragma unroll
                            for (unsigned j = 0; j < P; ++j) acc[rr][i] = fmaf(xv[j], wv[rr][j], acc[rr][i]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < R; ++rr)
#pragma unroll
        for (int i = 0; i < MT; ++i)
#pragma unroll
            for (int o = 16; o > 0; o /= 2) acc[rr][i] += __shfl_xor_sync(0xffffffffu, acc[rr][i], o);
    if (lane != 0) return;
#pragma unroll
    for (int rr = 0; rr < R; ++rr) {
        if (rr >= rows_here) break;
        const std::size_t r = r0 + rr;
        const float b = bias ? round_to<C>(bias[r]) : 0.0f;
#pragma unroll
        for (int i = 0; i < MT; ++i)
            if (i < m) y[static_cast<std::size_t>(i) * ldy + r] = from_float<T>(round_to<C>(acc[rr][i] + b));
    }
}

}  // namespace quant::cuda::kernels
