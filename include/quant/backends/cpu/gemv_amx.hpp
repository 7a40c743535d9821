// The small-m GEMV with bf16 compute on AMX tiles (m <= 16 activation rows), for the 4-bit
// decoders that offer decode_block_amx (decoders_avx512.hpp).
//
// vdpbf16ps is no help on the Xeons that have AMX: on this project's (Sapphire Rapids class) it
// issues one per 2 cycles, 32 products, where two float32 FMAs give the same 32 per cycle
// (measured with 12 independent chains: 0.64 ns against 0.16 ns an instruction), so the
// register GEMV at m = 8 ran bf16 slower than float32. Here the weights are the A side:
//   A  16 weight rows x 32 k (bf16), the rows' block b decoded and stored, 64 bytes a row
//   B  the activations as 16 k-pairs x m rows (bf16 pairs, 4m bytes a row), packed once a call
//   C  16 weight rows x m activation rows, float32, summed over the whole row in the tile
// One tdpbf16ps is 16 x 32 x m products; the decoding (a vpermw per 32 weights from the block's
// codebook, scaled and rounded once per block) and the 64-byte stores are the cost, not the
// products. Two groups of 16 weight rows share each B tile. The weights are the GEMM path's
// bf16(code x scale); a row's sum is one tile accumulation in a fixed k order, independent of
// the threads (whole groups of rows each).
#pragma once

#include "gemm_amx.hpp"

#if defined(QUANT_CPU_AMX)

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "decoders_avx512.hpp"
#include "threading.hpp"

namespace quant::cpu::avx512::amx {

// From 4 activation rows. Against the vdpbf16ps GEMV, 3 interleaved rounds, medians, us (hot:
// from cache; cold: weights from DRAM): m = 4 NF4 768 x 3072 hot 153 -> 94, cold 163 -> 133,
// 4096 x 4096 cold 1161 -> 1010, int4 4096 x 11008 cold 2704 -> 2043; m = 8 NF4 4096 x 4096 hot
// 1849 -> 658, int4 768 x 768 77 -> 31; m = 16 NF4 4096 x 11008 9768 -> 1999. At m = 2 and 3 the
// hot cases gain less and NF4 from DRAM loses (4096 x 11008 m = 2 1747 -> 2744): 32 rows at a
// time are 64 streams (codes and absmax) that the prefetchers do not keep up with.
inline constexpr std::size_t gemv_min_m = 4;
inline constexpr std::size_t gemv_max_m = 16;  // C and B tiles hold 16 columns
inline constexpr std::size_t gemv_max_block = 256;

// tiles 0, 1: C of row groups 0, 1; k-tiles of even index: 2, 3 A of groups 0, 1, 4 B; odd: 5, 6, 7
inline tile_config gemv_config(std::size_t m) {
    tile_config c;
    const auto cols = static_cast<std::uint16_t>(4 * m);
    for (int t = 0; t < 8; ++t) {
        const bool a = t == 2 || t == 3 || t == 5 || t == 6;
        c.colsb[t] = a ? 64 : cols;
        c.rows[t] = 16;
    }
    return c;
}

// The activations (prepare_x_amx layout, rows ld apart, bf16 values) as B tiles: k-tile kt
// (block kt / T, vector kt % T, T = block / 32) at xt + 16 m kt, row g, column i = the bf16 pair
// of lanes 2g, 2g + 1 of that vector for activation row i.
template <class D>
void pack_activations(const float* xp, std::size_t ld, std::size_t m, std::size_t block, std::size_t blocks, std::uint32_t* xt) {
    const std::size_t T = block / 32;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(static_cast<int>(m)));
    for (std::size_t b = 0; b < blocks; ++b)
        for (std::size_t t = 0; t < T; ++t)
            for (std::size_t i = 0; i < m; ++i)
                _mm512_i32scatter_epi32(xt + 16 * m * (b * T + t) + i, idx, D::amx_pairs(xp + i * ld + b * block, t), 4);
}

// Rows [r, r + rows) (rows <= 16 G) of the weights against the packed activations:
// c[16 q + i] = w_{r+q} . x_i. a: this thread's A buffer (T G KB, 64-byte aligned).
template <int G, class D>
void gemv_groups(const D& d, std::size_t r, std::size_t rows, std::size_t block, std::size_t blocks, std::size_t m,
                 const std::uint32_t* xt, std::uint16_t* a, float* c) {
    const std::size_t T = block / 32;
    typename D::cursor p[16 * G];
    for (std::size_t q = 0; q < rows; ++q) p[q] = d.row(r + q);
    if (rows < 16 * G) std::memset(a, 0, T * G * 1024);  // rows past the end: zero products
    const long bs = static_cast<long>(4 * m);
    compiler_barrier();
    _tile_zero(0);
    if constexpr (G == 2) _tile_zero(1);
    std::size_t kt = 0;
    for (std::size_t b = 0; b < blocks; ++b) {
        // vector t of group g, row q at a + 32 (16 (G t + g) + q): A tile (t, g) is 1 KB
        for (std::size_t q = 0; q < rows; ++q)
            d.decode_block_amx(p[q], b, [&](std::size_t t, __m512i w) {
                _mm512_store_si512(a + 32 * (16 * (G * t + q / 16) + q % 16), w);
            });
        compiler_barrier();
        for (std::size_t t = 0; t < T; ++t, ++kt) {
            const std::uint16_t* at = a + 512 * G * t;
            const std::uint32_t* bt = xt + 16 * m * kt;
            // k-tiles alternate between two sets of A and B tiles, so that loading one does not
            // wait for the products of the previous one. (Written out twice: GCC's tile intrinsics
            // are macros that paste the tile number into the asm text, so it must be a literal.)
            if (kt % 2 == 0) {
                _tile_loadd(4, bt, bs);
                _tile_loadd(2, at, 64);
                _tile_dpbf16ps(0, 2, 4);
                if constexpr (G == 2) {
                    _tile_loadd(3, at + 512, 64);
                    _tile_dpbf16ps(1, 3, 4);
                }
            } else {
                _tile_loadd(7, bt, bs);
                _tile_loadd(5, at, 64);
                _tile_dpbf16ps(0, 5, 7);
                if constexpr (G == 2) {
                    _tile_loadd(6, at + 512, 64);
                    _tile_dpbf16ps(1, 6, 7);
                }
            }
        }
        compiler_barrier();
    }
    _tile_stored(0, c, 64);
    if constexpr (G == 2) _tile_stored(1, c + 256, 64);
    compiler_barrier();
}

// y[i, r] = w_r . x_i for the m (<= 16) rows of xp (prepare_x_amx layout, ld = blocks x block,
// bf16 values), on `threads` threads.
template <class D>
void gemv_bf16(const D& d, std::size_t out, std::size_t block, std::size_t blocks, const float* xp, std::size_t ld,
               std::size_t m, float* y, std::size_t ldy, std::uint32_t* xt, int threads) {
    pack_activations<D>(xp, ld, m, block, blocks, xt);
    const tile_config cfg = gemv_config(m);
    parallel_ranges(out, 32, threads, [&](std::size_t r0, std::size_t r1) {
        alignas(64) std::uint16_t a[gemv_max_block / 32 * 2 * 512];
        alignas(64) float c[2 * 16 * 16];
        _tile_loadconfig(&cfg);
        for (std::size_t r = r0; r < r1; r += 32) {
            const std::size_t rows = std::min<std::size_t>(32, r1 - r);
            if (rows > 16) gemv_groups<2>(d, r, rows, block, blocks, m, xt, a, c);
            else gemv_groups<1>(d, r, rows, block, blocks, m, xt, a, c);
            for (std::size_t q = 0; q < rows; ++q)
                for (std::size_t i = 0; i < m; ++i) y[i * ldy + r + q] = c[16 * q + i];
        }
        _tile_release();
    });
}

}  // namespace quant::cpu::avx512::amx

#endif
