// What a quantization scheme is: the full specification of one weight format.
//
// A scheme is a type with static members only (no state): its options (`params`), its owning
// storage (`storage`, which knows its shape and params), the scalar reference quantize /
// dequantize that define the format, its size and bits per weight, and the round-trip error bound
// its tests hold it to. Kernels are generic over schemes; backends specialise on them.
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>

namespace quant {

template <class S>
concept Scheme = requires {
    { S::name } -> std::convertible_to<std::string_view>;
    typename S::params;
    typename S::storage;
    { S::rmse_bound } -> std::convertible_to<double>;
} && requires(std::span<const float> w, std::size_t rows, std::size_t cols, const typename S::params& p,
              const typename S::storage& st, std::span<float> out) {
    // w is a validated, finite, row-major [rows, cols] weight
    { S::quantize(w, rows, cols, p) } -> std::same_as<typename S::storage>;
    // throws quant::error when the params are not supported
    S::validate(p);
    // row r of the dequantized weight (out.size() == cols), bit-exact with the format's definition
    S::dequantize_row(st, rows, out);
    { S::size_bytes(st) } -> std::convertible_to<std::size_t>;
    { S::bits_per_weight(p, cols) } -> std::convertible_to<double>;
    { st.rows } -> std::convertible_to<std::size_t>;
    { st.cols } -> std::convertible_to<std::size_t>;
    { st.params } -> std::convertible_to<typename S::params>;
};

}  // namespace quant
