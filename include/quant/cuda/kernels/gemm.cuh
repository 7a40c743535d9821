// GEMM on tensor cores for larger m: y[m, out] = x[m, in] . W^T + bias, C = f16 or bf16.
//
// Organisation (deliberately plain, to be correct first; tuning needs a GPU): a block of 4 warps
// computes a BM x 64 tile of y (BM = 16 for m <= 16, else 64) over one range of in (split-k:
// with few output tiles the in dimension is split so that every SM has work, and the float32
// partial sums are added in a fixed order by gemm_reduce_kernel). Per 64-wide step along in:
// x[BM, 64] is loaded, rounded to C and stored to shared memory; W[64, 64] is streamed in 16-byte
// chunks and dequantized in registers with the same decode as the GEMV (so the two paths cannot
// disagree about a format), rounded to C and stored to shared memory as the K-major B operand;
// each warp then runs mma.sync.m16n8k16 (C inputs, float32 accumulators) on its sub-tile.
// Not yet done (the Marlin recipe): cp.async multi-stage pipelining, ldmatrix, weights repacked
// into fragment order.
#pragma once

#include "../weight_format.hpp"
#include "common.cuh"

namespace quant::cuda::kernels {

inline constexpr int gemm_bn = 64, gemm_bk = 64;

// One m16n8k16 tensor-core product, float32 accumulators (PTX ISA fragment layouts:
// a: rows g, g+8 x cols 2t.., 2t+8..; b: k 2t.., 2t+8.. x col g; d: rows g, g+8 x cols 2t, 2t+1,
// where g = lane / 4, t = lane % 4).
template <dtype C>
__device__ __forceinline__ void mma_16816(float (&d)[4], const std::uint32_t (&a)[4], const std::uint32_t (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (C == dtype::f16)
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)d, (void)a, (void)b;
    __trap();  // the host refuses to launch below sm_80 (device_linear::forward)
#endif
}

// Warp layout of a BM x 64 tile: 4 warps, each MI x NI mma tiles of 16 x 8.
template <int BM>
struct gemm_tile {
    static_assert(BM == 16 || BM == 64, "quant::cuda: GEMM tiles are 16 or 64 rows");
    static constexpr int MI = BM == 16 ? 1 : 2;
    static constexpr int warps_m = BM / (16 * MI), warps_n = 4 / warps_m;
    static constexpr int NI = gemm_bn / (8 * warps_n);
    static constexpr int x_per_thread = BM * gemm_bk / 128;  // activations each thread stages
};

// splits == 1: y = acc + bias, rounded.  splits > 1: part[z][m][out] = float32 partial sums of
// the z-th range of in (ranges of k_per_split columns), finished by gemm_reduce_kernel.
template <class W, class T, dtype C, int BM>
__global__ void __launch_bounds__(128)
    gemm_kernel(W w, const T* x, std::size_t ldx, T* y, std::size_t ldy, const float* bias, std::size_t m,
                std::size_t k_per_split, float* part) {
    static_assert(C == dtype::f16 || C == dtype::bf16, "quant::cuda: the tensor-core GEMM computes in f16 or bf16");
    using E = std::conditional_t<C == dtype::f16, __half, __nv_bfloat16>;
    using tile = gemm_tile<BM>;
    constexpr int BN = gemm_bn, BK = gemm_bk, LDS = BK + 8;   // +8: no bank conflicts on fragments
    constexpr int per_row = BK / static_cast<int>(W::chunk);  // weight chunks per tile row
    constexpr int XN = tile::x_per_thread;
    __shared__ float tab[W::table_size > 0 ? W::table_size : 1];
    __shared__ alignas(16) E As[BM][LDS];
    __shared__ alignas(16) E Bs[BN][LDS];
    load_tables(w, tab);

    const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
    const int wm = warp / tile::warps_n, wn = warp % tile::warps_n;  // this warp's sub-tile
    const std::size_t m0 = static_cast<std::size_t>(blockIdx.y) * BM, n0 = static_cast<std::size_t>(blockIdx.x) * BN;
    const std::size_t k_begin = static_cast<std::size_t>(blockIdx.z) * k_per_split;
    const std::size_t k_end = k_begin + k_per_split < w.cols ? k_begin + k_per_split : w.cols;
    float acc[tile::MI][tile::NI][4] = {};

    for (std::size_t k0 = k_begin; k0 < k_end; k0 += BK) {
        __syncthreads();  // tables loaded; previous step's fragments consumed
        {                 // x tile: each thread XN consecutive values of one row (zero past k_end: another split's)
            const int ar = tid / (BK / XN), ac = (tid % (BK / XN)) * XN;
            float v[XN];
            if (m0 + ar < m) {
                load_x<C>(x + (m0 + ar) * ldx, k0 + ac, k_end, v);
            } else {
#pragma unroll
                for (int j = 0; j < XN; ++j) v[j] = 0.0f;
            }
#pragma unroll
            for (int j = 0; j < XN; ++j) As[ar][ac + j] = from_float<E>(v[j]);
        }
        for (int q = tid; q < BN * per_row; q += 128) {  // weight tile, decoded like the GEMV does
            const int br = q / per_row, bc = (q % per_row) * static_cast<int>(W::chunk);
            const std::size_t r = n0 + br, c0 = k0 + bc;
            float v[W::chunk];
            if (r < w.rows && c0 < k_end) {
                std::uint32_t raw[4];
                load16(reinterpret_cast<const std::uint8_t*>(w.codes) + r * w.ld + c0 * 16 / W::chunk, raw);
                w.decode_chunk(r, c0, raw, tab, v);
            } else {
#pragma unroll
                for (unsigned j = 0; j < W::chunk; ++j) v[j] = 0.0f;
            }
#pragma unroll
            for (unsigned j = 0; j < W::chunk; ++j) Bs[br][bc + j] = from_float<E>(v[j]);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            std::uint32_t a[tile::MI][4], b[tile::NI][2];
#pragma unroll
            for (int mi = 0; mi < tile::MI; ++mi) {
                const int r = wm * 16 * tile::MI + mi * 16 + g;
                a[mi][0] = *reinterpret_cast<const std::uint32_t*>(&As[r][kk + 2 * t]);
                a[mi][1] = *reinterpret_cast<const std::uint32_t*>(&As[r + 8][kk + 2 * t]);
                a[mi][2] = *reinterpret_cast<const std::uint32_t*>(&As[r][kk + 2 * t + 8]);
                a[mi][3] = *reinterpret_cast<const std::uint32_t*>(&As[r + 8][kk + 2 * t + 8]);
            }
#pragma unroll
            for (int ni = 0; ni < tile::NI; ++ni) {
                const int n = wn * 8 * tile::NI + ni * 8 + g;
                b[ni][0] = *reinterpret_cast<const std::uint32_t*>(&Bs[n][kk + 2 * t]);
                b[ni][1] = *reinterpret_cast<const std::uint32_t*>(&Bs[n][kk + 2 * t + 8]);
            }
#pragma unroll
            for (int mi = 0; mi < tile::MI; ++mi)
#pragma unroll
                for (int ni = 0; ni < tile::NI; ++ni) mma_16816<C>(acc[mi][ni], a[mi], b[ni]);
        }
    }

#pragma unroll
    for (int mi = 0; mi < tile::MI; ++mi)
#pragma unroll
        for (int ni = 0; ni < tile::NI; ++ni)
#pragma unroll
            for (int h = 0; h < 4; ++h) {  // d[h]: row g (+8 for h >= 2), col 2t + (h & 1)
                const std::size_t i = m0 + wm * 16 * tile::MI + mi * 16 + g + (h >= 2 ? 8 : 0);
                const std::size_t o = n0 + wn * 8 * tile::NI + ni * 8 + 2 * t + (h & 1);
                if (i >= m || o >= w.rows) continue;
                if (part) {
                    part[(blockIdx.z * m + i) * w.rows + o] = acc[mi][ni][h];
                } else {
                    const float b = bias ? round_to<C>(bias[o]) : 0.0f;
                    y[i * ldy + o] = from_float<T>(round_to<C>(acc[mi][ni][h] + b));
                }
            }
}

// y[i, o] = sum over z (in order) of part[z][i][o] + bias[o], rounded to C.
template <class T, dtype C>
__global__ void __launch_bounds__(256) gemm_reduce_kernel(const float* part, int splits, std::size_t m, std::size_t out,
                                                          const float* bias, T* y, std::size_t ldy) {
    const std::size_t q = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (q >= m * out) return;
    const std::size_t i = q / out, o = q % out;
    float s = 0.0f;
    for (int z = 0; z < splits; ++z) s += part[static_cast<std::size_t>(z) * m * out + q];
    const float b = bias ? round_to<C>(bias[o]) : 0.0f;
    y[i * ldy + o] = from_float<T>(round_to<C>(s + b));
}

}  // namespace quant::cuda::kernels
