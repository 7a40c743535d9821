// The GEMM micro-kernel on AMX tiles (AMX-INT8 and AMX-BF16: Intel Xeon from Sapphire Rapids),
// for the s8 and bf16 GEMMs of gemm_avx512.hpp (multiply_panels_amx there), on the same packed
// micro-panels and activations.
//
// An AMX B tile is 16 rows of 64 bytes, row g holding the 4-byte k-group g of 16 columns: in a
// micro-panel ([group][48 rows] dwords) the 64 bytes at wp + 48 g + 16 v are k-group g of
// outputs 16 v .. 16 v + 15, so 16 k-groups of them, 192 bytes apart, are B tile v as they lie.
// An A tile is 16 activation rows of 64 bytes (16 k-groups), ldx elements apart. One kernel call:
// 16 activation rows x 48 outputs over all k-groups, 3 C tiles + 1 A + 3 B (7 of the 8 tiles),
// 3 tile products per 4 tile loads.
//   s8    tdpbusd    A u8 activations (s8 + 128), B s8 codes: the sums vpdpbusd gives, exactly
//   bf16  tdpbf16ps  A, B bf16 pairs, float32 sums (pairs added in another order than vdpbf16ps)
// Compiled where -march allows AMX (as every kernel here); at run time Linux grants tile state
// only on request (arch_prctl ARCH_REQ_XCOMP_PERM): amx_ready() asks once per process. Refused,
// or QUANT_AMX=0 in the environment, the AVX-512 micro-kernel runs.
#pragma once

#include "arch.hpp"  // QUANT_CPU_*

#if defined(QUANT_CPU_AMX)

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace quant::cpu::avx512 {

// True when this process may use the tiles (asked once; QUANT_AMX=0 says no without asking).
inline bool amx_ready() {
    static const bool ready = [] {
        const char* env = std::getenv("QUANT_AMX");
        if (env && std::string_view(env) == "0") return false;
        // arch/x86/include/uapi/asm/prctl.h: ARCH_REQ_XCOMP_PERM; XFEATURE_XTILEDATA = 18
        constexpr long req_xcomp_perm = 0x1023, xtiledata = 18;
        return syscall(SYS_arch_prctl, req_xcomp_perm, xtiledata) == 0;
    }();
    return ready;
}

}  // namespace quant::cpu::avx512

namespace quant::cpu::avx512::amx {

// The LDTILECFG operand (Intel SDM vol. 2, LDTILECFG): palette 1, bytes per row and rows per tile.
struct alignas(64) tile_config {
    std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
    std::uint16_t colsb[16] = {};
    std::uint8_t rows[16] = {};
};
static_assert(sizeof(tile_config) == 64, "LDTILECFG reads 64 bytes");

// tiles 0-2: C (rows activation rows x 16 int32/float32), 3: A (rows x 64 bytes), 4-6: B (16 x 64)
inline tile_config kernel_config(std::uint8_t rows) {
    tile_config c;
    for (int t = 0; t < 7; ++t) {
        c.colsb[t] = 64;
        c.rows[t] = t < 4 ? rows : 16;
    }
    return c;
}

// GCC's tile intrinsics are asm statements without a memory operand: the barrier keeps the
// compiler from moving stores to the panels after the tile loads, or reads of c before the stores.
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

// The tile product of the kernel: int8 (u8 A x s8 B -> s32) or bf16 (-> f32).
enum class tile_op { s8, bf16 };

template <tile_op Op>
[[gnu::always_inline]] inline void dot3() {
    if constexpr (Op == tile_op::s8) {
        _tile_dpbusd(0, 3, 4);
        _tile_dpbusd(1, 3, 5);
        _tile_dpbusd(2, 3, 6);
    } else {
        _tile_dpbf16ps(0, 3, 4);
        _tile_dpbf16ps(1, 3, 5);
        _tile_dpbf16ps(2, 3, 6);
    }
}

// c[i * 48 + o] = sum over k-groups [0, groups) of activation row i (from x, rows xs bytes apart)
// . output o of the micro-panel wp (k-group g of outputs 0..47 at wp + 48 g), for the configured
// rows; groups a multiple of 16.
template <tile_op Op, class S>
inline void kernel(const void* x, std::size_t xs, std::size_t rows, const std::uint32_t* wp, std::size_t groups, S* c) {
    constexpr std::size_t nr = 48;
    const auto* xb = static_cast<const char*>(x);
    const long ws = static_cast<long>(nr * 4);
    compiler_barrier();
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    for (std::size_t g = 0; g < groups; g += 16) {
        if (g + 32 < groups)
            for (std::size_t i = 0; i < rows; ++i) _mm_prefetch(xb + i * xs + 4 * (g + 32), _MM_HINT_T0);
        _tile_loadd(3, xb + 4 * g, static_cast<long>(xs));
        _tile_loadd(4, wp + g * nr, ws);
        _tile_loadd(5, wp + g * nr + 16, ws);
        _tile_loadd(6, wp + g * nr + 32, ws);
        dot3<Op>();
    }
    _tile_stored(0, c, ws);
    _tile_stored(1, c + 16, ws);
    _tile_stored(2, c + 32, ws);
    compiler_barrier();
}

}  // namespace quant::cpu::avx512::amx

#endif
