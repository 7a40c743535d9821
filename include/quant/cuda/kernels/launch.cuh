// Host-side launchers: pick the kernel for (m, compute dtype) and launch it on a stream. The
// arguments are validated by device_linear before they get here.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "../../tensor/view.hpp"
#include "../check.hpp"
#include "dequantize.cuh"
#include "gemm.cuh"
#include "gemv.cuh"
#include "int8_rowwise.cuh"

namespace quant::cuda::kernels {

// m <= gemv_max_rows: GEMV (each weight byte read once per launch); above: tensor-core GEMM.
inline constexpr std::size_t gemv_max_rows = 8;

template <class W, class T, dtype C, int MT>
void launch_gemv_rows(const W& w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, int m,
                      cudaStream_t s) {
    const unsigned blocks = static_cast<unsigned>((w.rows + gemv_rows_per_block - 1) / gemv_rows_per_block);
    gemv_kernel<W, T, C, MT><<<blocks, gemv_warps * 32, 0, s>>>(w, x, ldx, y, ldy, bias, m);
    QUANT_CUDA_CHECK(cudaGetLastError());
}

template <class W, class T, dtype C>
void launch_gemv(const W& w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, std::size_t m,
                 cudaStream_t s) {
    // f32 compute has no tensor-core path: large m runs the GEMV on groups of 8 rows
    for (std::size_t i0 = 0; i0 < m; i0 += gemv_max_rows) {
        const int mm = static_cast<int>(std::min(gemv_max_rows, m - i0));
        const T* xi = x + i0 * ldx;
        T* yi = y + i0 * ldy;
        if (mm == 1)
            launch_gemv_rows<W, T, C, 1>(w, xi, ldx, yi, ldy, bias, mm, s);
        else if (mm == 2)
            launch_gemv_rows<W, T, C, 2>(w, xi, ldx, yi, ldy, bias, mm, s);
        else if (mm <= 4)
            launch_gemv_rows<W, T, C, 4>(w, xi, ldx, yi, ldy, bias, mm, s);
        else
            launch_gemv_rows<W, T, C, 8>(w, xi, ldx, yi, ldy, bias, mm, s);
    }
}

template <class W, class T, dtype C, int BM>
void launch_gemm_tiles(const W& w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, std::size_t m,
                       cudaStream_t s) {
    const std::size_t tiles_n = (w.rows + gemm_bn - 1) / gemm_bn, tiles_m = (m + BM - 1) / BM;
    // split-k: enough blocks for two per SM, each split keeping at least 8 steps of gemm_bk
    int dev = 0, sms = 1;
    QUANT_CUDA_CHECK(cudaGetDevice(&dev));
    QUANT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const std::size_t steps = (w.cols + gemm_bk - 1) / gemm_bk, want = 2 * static_cast<std::size_t>(sms);
    std::size_t splits = tiles_n * tiles_m >= want ? 1 : (want + tiles_n * tiles_m - 1) / (tiles_n * tiles_m);
    splits = std::max<std::size_t>(1, std::min(splits, steps / 8));
    const std::size_t k_per_split = (steps + splits - 1) / splits * gemm_bk;
    splits = (w.cols + k_per_split - 1) / k_per_split;
    const dim3 grid(static_cast<unsigned>(tiles_n), static_cast<unsigned>(tiles_m), static_cast<unsigned>(splits));
    if (splits == 1) {
        gemm_kernel<W, T, C, BM><<<grid, 128, 0, s>>>(w, x, ldx, y, ldy, bias, m, k_per_split, nullptr);
        QUANT_CUDA_CHECK(cudaGetLastError());
        return;
    }
    // stream-ordered workspace for the partial sums: safe with concurrent forwards on other streams
    float* part = nullptr;
    QUANT_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&part), splits * m * w.rows * sizeof(float), s));
    gemm_kernel<W, T, C, BM><<<grid, 128, 0, s>>>(w, x, ldx, y, ldy, bias, m, k_per_split, part);
    const cudaError_t launched = cudaGetLastError();
    if (launched == cudaSuccess) {
        const unsigned blocks = static_cast<unsigned>((m * w.rows + 255) / 256);
        gemm_reduce_kernel<T, C><<<blocks, 256, 0, s>>>(part, static_cast<int>(splits), m, w.rows, bias, y, ldy);
    }
    const cudaError_t reduced = cudaGetLastError();
    QUANT_CUDA_CHECK(cudaFreeAsync(part, s));
    QUANT_CUDA_CHECK(launched);
    QUANT_CUDA_CHECK(reduced);
}

template <class W, class T, dtype C>
void launch_gemm(const W& w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, std::size_t m,
                 cudaStream_t s) {
    if (m <= 16)
        launch_gemm_tiles<W, T, C, 16>(w, x, ldx, y, ldy, bias, m, s);
    else
        launch_gemm_tiles<W, T, C, 64>(w, x, ldx, y, ldy, bias, m, s);
}

// y = x . W^T + bias with quant's element type Q (float, quant::half, quant::bfloat16).
template <class W, class Q>
void launch_linear(const W& w, const float* bias, const_matrix_view<Q> x, matrix_view<Q> y, dtype compute,
                   bool tensor_cores, cudaStream_t s) {
    using T = typename device_type<Q>::type;
    const auto* xp = reinterpret_cast<const T*>(x.data);
    auto* yp = reinterpret_cast<T*>(y.data);
    auto run = [&]<dtype C>() {
        if constexpr (C == dtype::f32) {
            launch_gemv<W, T, C>(w, xp, x.stride, yp, y.stride, bias, x.rows, s);
        } else {
            if (x.rows <= gemv_max_rows || !tensor_cores)
                launch_gemv<W, T, C>(w, xp, x.stride, yp, y.stride, bias, x.rows, s);
            else
                launch_gemm<W, T, C>(w, xp, x.stride, yp, y.stride, bias, x.rows, s);
        }
    };
    // the compute dtype of half/bfloat16 activations is their own (checked by the caller)
    if constexpr (std::is_same_v<Q, quant::half>)
        run.template operator()<dtype::f16>();
    else if constexpr (std::is_same_v<Q, quant::bfloat16>)
        run.template operator()<dtype::bf16>();
    else if (compute == dtype::f16)
        run.template operator()<dtype::f16>();
    else if (compute == dtype::bf16)
        run.template operator()<dtype::bf16>();
    else
        run.template operator()<dtype::f32>();
}

// LLM.int8(): quantize the activations (stream-ordered workspace), then the int8 GEMV.
template <class Q>
void launch_int8_rowwise(const int8_weights& w, const float* bias, const_matrix_view<Q> x, matrix_view<Q> y,
                         dtype compute, cudaStream_t s) {
    using T = typename device_type<Q>::type;
    const std::size_t m = x.rows;
    void* ws = nullptr;
    const std::size_t ca_bytes = m * w.ld;  // a multiple of 16: SCA stays aligned after it
    QUANT_CUDA_CHECK(cudaMallocAsync(&ws, ca_bytes + m * sizeof(float), s));
    auto* ca = static_cast<std::int8_t*>(ws);
    auto* sca = reinterpret_cast<float*>(static_cast<char*>(ws) + ca_bytes);
    quantize_rows_kernel<T>
        <<<static_cast<unsigned>(m), 256, 0, s>>>(reinterpret_cast<const T*>(x.data), x.stride, w.cols, w.ld, ca, sca);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) {
        const dim3 grid(static_cast<unsigned>((w.rows + i8_gemv_warps - 1) / i8_gemv_warps),
                        static_cast<unsigned>(std::min<std::size_t>(m, 65535)));
        auto* yp = reinterpret_cast<T*>(y.data);
        if constexpr (!std::is_same_v<Q, float>) {
            gemv_i8i8_kernel<T, dtype_of<T>><<<grid, i8_gemv_warps * 32, 0, s>>>(w, ca, sca, m, bias, yp, y.stride);
        } else if (compute == dtype::f16) {
            gemv_i8i8_kernel<T, dtype::f16><<<grid, i8_gemv_warps * 32, 0, s>>>(w, ca, sca, m, bias, yp, y.stride);
        } else if (compute == dtype::bf16) {
            gemv_i8i8_kernel<T, dtype::bf16><<<grid, i8_gemv_warps * 32, 0, s>>>(w, ca, sca, m, bias, yp, y.stride);
        } else {
            gemv_i8i8_kernel<T, dtype::f32><<<grid, i8_gemv_warps * 32, 0, s>>>(w, ca, sca, m, bias, yp, y.stride);
        }
        e = cudaGetLastError();
    }
    QUANT_CUDA_CHECK(cudaFreeAsync(ws, s));
    QUANT_CUDA_CHECK(e);
}

template <class W, class Q>
void launch_dequantize(const W& w, matrix_view<Q> out, cudaStream_t s) {
    using T = typename device_type<Q>::type;
    const std::size_t chunks = w.rows * (w.ld / 16);
    const unsigned blocks = static_cast<unsigned>((chunks + 255) / 256);
    dequantize_kernel<W, T><<<blocks, 256, 0, s>>>(w, reinterpret_cast<T*>(out.data), out.stride);
    QUANT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace quant::cuda::kernels
