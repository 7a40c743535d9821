// QuantizedTensor<Scheme>: an owning quantized weight matrix [rows = out_features, cols = in_features].
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../numeric/half.hpp"
#include "../schemes/scheme.hpp"
#include "view.hpp"

namespace quant {

namespace detail {

// Copies a weight of any supported element type into a contiguous float32 buffer, rejecting
// empty shapes and non-finite values (policy: a NaN or Inf weight is always a bug upstream, and a
// quantizer would silently turn it into garbage codes for its whole block).
template <class T>
std::vector<float> finite_weight(const_matrix_view<T> w, std::string_view who) {
    check(w.device == device_kind::host, who, ": the weight must be in host memory");
    check(!w.empty(), who, ": weight is empty (", w.rows, "x", w.cols, ")");
    check(w.data != nullptr, who, ": weight data is null");
    check(w.stride >= w.cols, who, ": row stride ", w.stride, " is smaller than the row length ", w.cols);
    std::vector<float> out(w.rows * w.cols);
    for (std::size_t r = 0; r < w.rows; ++r) {
        for (std::size_t c = 0; c < w.cols; ++c) {
            const float v = static_cast<float>(w(r, c));
            check(std::isfinite(v), who, ": weight [", r, ", ", c, "] is ", v, "; quantization needs finite weights");
            out[r * w.cols + c] = v;
        }
    }
    return out;
}

}  // namespace detail

template <Scheme S>
class QuantizedTensor {
public:
    using scheme = S;
    using params = typename S::params;
    using storage = typename S::storage;

    QuantizedTensor() = default;

    // Quantizes a dense [rows, cols] weight (float, quant::half or quant::bfloat16).
    template <class T>
    static QuantizedTensor quantize(const_matrix_view<T> w, const params& p = {}) {
        S::validate(p);
        const std::vector<float> dense = detail::finite_weight(w, S::name);
        return QuantizedTensor(S::quantize(dense, w.rows, w.cols, p));
    }
    template <class T>
    static QuantizedTensor quantize(matrix_view<T> w, const params& p = {}) {
        return quantize(const_matrix_view<T>(w), p);
    }

    // Adopts storage built elsewhere (e.g. read from a checkpoint).
    explicit QuantizedTensor(storage st) : st_(std::move(st)) {}

    std::size_t rows() const { return st_.rows; }
    std::size_t cols() const { return st_.cols; }
    const params& parameters() const { return st_.params; }
    const storage& data() const { return st_; }
    std::size_t size_bytes() const { return S::size_bytes(st_); }
    double bits_per_weight() const { return S::bits_per_weight(st_.params, st_.cols); }

    void dequantize_row(std::size_t r, std::span<float> out) const {
        detail::check(r < rows() && out.size() == cols(), S::name, ": dequantize_row(", r, ") out of range");
        S::dequantize_row(st_, r, out);
    }
    // Row-major [rows, cols] float32.
    std::vector<float> dequantize() const {
        std::vector<float> out(rows() * cols());
        for (std::size_t r = 0; r < rows(); ++r) S::dequantize_row(st_, r, std::span<float>(out).subspan(r * cols(), cols()));
        return out;
    }

private:
    storage st_;
};

}  // namespace quant
