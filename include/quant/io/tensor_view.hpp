// tensor_view: a non-owning view of one stored tensor: element type, shape and the raw
// little-endian bytes (row-major, contiguous), usually pointing into a memory-mapped file.
// The bytes may be unaligned (safetensors does not align its data section), so typed access
// copies with memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../numeric/half.hpp"
#include "element_type.hpp"

namespace quant::io {

namespace detail {

// a * b, or an error when it does not fit in 64 bits (shapes come from untrusted files)
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, std::string_view what) {
    std::uint64_t r = 0;
    quant::detail::check(!__builtin_mul_overflow(a, b, &r), what, ": size overflows 64 bits");
    return r;
}

template <class T>
constexpr element_type element_type_of() {
    if constexpr (std::is_same_v<T, double>) return element_type::f64;
    else if constexpr (std::is_same_v<T, float>) return element_type::f32;
    else if constexpr (std::is_same_v<T, half>) return element_type::f16;
    else if constexpr (std::is_same_v<T, bfloat16>) return element_type::bf16;
    else if constexpr (std::is_same_v<T, std::int64_t>) return element_type::i64;
    else if constexpr (std::is_same_v<T, std::int32_t>) return element_type::i32;
    else if constexpr (std::is_same_v<T, std::int16_t>) return element_type::i16;
    else if constexpr (std::is_same_v<T, std::int8_t>) return element_type::i8;
    else if constexpr (std::is_same_v<T, std::uint8_t>) return element_type::u8;
    else if constexpr (std::is_same_v<T, bool>) return element_type::boolean;
    else static_assert(sizeof(T) == 0, "no checkpoint element type for this C++ type");
}

}  // namespace detail

struct tensor_view {
    std::string name;                 // for error messages: "file: tensor"
    element_type dtype = element_type::f32;
    std::vector<std::uint64_t> shape;  // empty = scalar
    std::span<const std::byte> bytes;  // numel() * element_size(dtype) bytes

    std::size_t rank() const { return shape.size(); }
    std::uint64_t numel() const {
        std::uint64_t n = 1;
        for (auto d : shape) n *= d;  // validated not to overflow when the view was made
        return n;
    }

    // Typed copy; T must be the stored type exactly (no conversion).
    template <class T>
    std::vector<T> copy() const {
        quant::detail::check(detail::element_type_of<T>() == dtype, name, ": stored as ", element_type_name(dtype),
                             ", not ", element_type_name(detail::element_type_of<T>()));
        std::vector<T> out(numel());
        if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
        return out;
    }

    // Any numeric element type widened (or narrowed, f64/i64) to float32, row-major.
    std::vector<float> to_float() const {
        std::vector<float> out(numel());
        const std::byte* p = bytes.data();
        auto load = [&]<class T>(std::size_t i, T) {
            T v;
            std::memcpy(&v, p + i * sizeof(T), sizeof(T));
            return static_cast<float>(v);
        };
        for (std::size_t i = 0; i < out.size(); ++i) {
            switch (dtype) {
                case element_type::f64: out[i] = load(i, double{}); break;
                case element_type::f32: out[i] = load(i, float{}); break;
                case element_type::f16: out[i] = load(i, half{}); break;
                case element_type::bf16: out[i] = load(i, bfloat16{}); break;
                case element_type::i64: out[i] = load(i, std::int64_t{}); break;
                case element_type::i32: out[i] = load(i, std::int32_t{}); break;
                case element_type::i16: out[i] = load(i, std::int16_t{}); break;
                case element_type::i8: out[i] = load(i, std::int8_t{}); break;
                case element_type::u8: out[i] = load(i, std::uint8_t{}); break;
                case element_type::boolean: out[i] = static_cast<float>(std::to_integer<std::uint8_t>(p[i]) != 0); break;
            }
        }
        return out;
    }

    // A 2-D tensor as float32 [rows, cols] (row-major), checking the rank.
    std::vector<float> matrix(std::size_t& rows, std::size_t& cols) const {
        quant::detail::check(rank() == 2, name, ": expected a 2-D tensor, shape has rank ", rank());
        rows = shape[0];
        cols = shape[1];
        return to_float();
    }
    // A 1-D tensor as float32, checking the rank.
    std::vector<float> vector() const {
        quant::detail::check(rank() == 1, name, ": expected a 1-D tensor, shape has rank ", rank());
        return to_float();
    }
};

inline std::string shape_string(const std::vector<std::uint64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

}  // namespace quant::io
