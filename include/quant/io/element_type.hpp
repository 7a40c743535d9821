// The element types a checkpoint may store, with their safetensors names ("F32", ...) and sizes.
// Wider than quant::dtype (f32/f16/bf16, what the kernels compute in): a checkpoint also holds
// integer codes, token ids and masks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace quant::io {

enum class element_type : std::uint8_t { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

inline constexpr element_type all_element_types[] = {element_type::f64, element_type::f32, element_type::f16,
                                                     element_type::bf16, element_type::i64, element_type::i32,
                                                     element_type::i16, element_type::i8, element_type::u8,
                                                     element_type::boolean};

// The safetensors spelling (https://github.com/huggingface/safetensors, Dtype enum).
constexpr std::string_view element_type_name(element_type t) {
    switch (t) {
        case element_type::f64: return "F64";
        case element_type::f32: return "F32";
        case element_type::f16: return "F16";
        case element_type::bf16: return "BF16";
        case element_type::i64: return "I64";
        case element_type::i32: return "I32";
        case element_type::i16: return "I16";
        case element_type::i8: return "I8";
        case element_type::u8: return "U8";
        case element_type::boolean: return "BOOL";
    }
    return "?";
}

constexpr std::size_t element_size(element_type t) {
    switch (t) {
        case element_type::f64:
        case element_type::i64: return 8;
        case element_type::f32:
        case element_type::i32: return 4;
        case element_type::f16:
        case element_type::bf16:
        case element_type::i16: return 2;
        case element_type::i8:
        case element_type::u8:
        case element_type::boolean: return 1;
    }
    return 0;
}

constexpr bool is_floating(element_type t) {
    return t == element_type::f64 || t == element_type::f32 || t == element_type::f16 || t == element_type::bf16;
}

constexpr std::optional<element_type> parse_element_type(std::string_view s) {
    for (element_type t : all_element_types)
        if (element_type_name(t) == s) return t;
    return std::nullopt;
}

}  // namespace quant::io
