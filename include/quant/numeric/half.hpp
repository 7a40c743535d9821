// IEEE binary16 (`half`) and bfloat16 as storage types: explicit construction from float with
// round-to-nearest-even, implicit widening to float. Written out in integer arithmetic so the
// results do not depend on the compiler's or the CPU's half support (F16C, AVX512_BF16, ...).
#pragma once

#include <bit>
#include <cstdint>

namespace quant {

enum class dtype : std::uint8_t { f32, f16, bf16 };

constexpr const char* dtype_name(dtype t) {
    switch (t) {
        case dtype::f32: return "f32";
        case dtype::f16: return "f16";
        case dtype::bf16: return "bf16";
    }
    return "?";
}

struct bfloat16 {
    std::uint16_t bits = 0;

    bfloat16() = default;
    static constexpr bfloat16 from_bits(std::uint16_t b) {
        bfloat16 r;
        r.bits = b;
        return r;
    }
    // Round to nearest even; NaN stays a (quiet) NaN with its sign.
    constexpr explicit bfloat16(float f) {
        std::uint32_t u = std::bit_cast<std::uint32_t>(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            bits = static_cast<std::uint16_t>((u >> 16) | 0x0040u);
        } else {
            u += 0x7fffu + ((u >> 16) & 1u);
            bits = static_cast<std::uint16_t>(u >> 16);
        }
    }
    constexpr operator float() const { return std::bit_cast<float>(std::uint32_t{bits} << 16); }
};

struct half {
    std::uint16_t bits = 0;

    half() = default;
    static constexpr half from_bits(std::uint16_t b) {
        half r;
        r.bits = b;
        return r;
    }
    // Round to nearest even, overflow to +-inf, gradual underflow to subnormals.
    constexpr explicit half(float f) {
        const std::uint32_t u = std::bit_cast<std::uint32_t>(f);
        const std::uint32_t sign = (u >> 16) & 0x8000u;
        const std::uint32_t a = u & 0x7fffffffu;
        if (a > 0x7f800000u) {  // NaN: keep it quiet
            bits = static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
            return;
        }
        if (a >= 0x477ff000u) {  // >= 65520 rounds to infinity
            bits = static_cast<std::uint16_t>(sign | 0x7c00u);
            return;
        }
        if (a < 0x38800000u) {  // below 2^-14: subnormal half (or zero)
            if (a < 0x33000000u) {  // below 2^-25: rounds to zero
                bits = static_cast<std::uint16_t>(sign);
                return;
            }
            const std::uint32_t e = a >> 23;
            const std::uint32_t m = (a & 0x7fffffu) | 0x800000u;
            const std::uint32_t shift = 126u - e;  // 14..24 (bits dropped below the half's lsb)
            std::uint32_t r = m >> shift;
            const std::uint32_t rem = m & ((1u << shift) - 1u);
            const std::uint32_t halfway = 1u << (shift - 1u);
            if (rem > halfway || (rem == halfway && (r & 1u))) ++r;
            bits = static_cast<std::uint16_t>(sign | r);
            return;
        }
        std::uint32_t r = a - 0x38000000u;  // rebias exponent 127 -> 15
        r += 0xfffu + ((r >> 13) & 1u);
        bits = static_cast<std::uint16_t>(sign | (r >> 13));
    }
    constexpr operator float() const {
        const std::uint32_t sign = std::uint32_t{bits & 0x8000u} << 16;
        const std::uint32_t e = (bits >> 10) & 0x1fu;
        std::uint32_t m = bits & 0x3ffu;
        if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
        if (e == 0) {
            if (m == 0) return std::bit_cast<float>(sign);
            int k = 0;  // normalise the subnormal
            while (!(m & 0x400u)) {
                m <<= 1;
                ++k;
            }
            return std::bit_cast<float>(sign | ((113u - k) << 23) | ((m & 0x3ffu) << 13));
        }
        return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
    }
};

static_assert(sizeof(half) == 2 && sizeof(bfloat16) == 2);

// Rounds a float through the storage type of `t` and back: what a value becomes when a
// computation is carried out "in" that dtype.
constexpr float round_to(dtype t, float x) {
    switch (t) {
        case dtype::f16: return static_cast<float>(half(x));
        case dtype::bf16: return static_cast<float>(bfloat16(x));
        case dtype::f32: break;
    }
    return x;
}

template <class T>
constexpr float to_float(T v) {
    return static_cast<float>(v);
}

}  // namespace quant
