// QuantizedLinear<Scheme, Backend>: the public layer. y = x . W^T + b with W stored quantized.
//
//   auto layer = quant::QuantizedLinear<quant::NF4>::from_dense(quant::view(W), bias);
//   layer.forward(quant::view(x), quant::view(y));     // x [m, in], y [m, out]
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "backends/backend.hpp"
#include "backends/reference.hpp"
#include "error.hpp"
#include "tensor/aligned.hpp"
#include "tensor/quantized_tensor.hpp"
#include "tensor/view.hpp"

namespace quant {

using linear_options = forward_options;

template <Scheme S, class Backend = reference_backend>
class QuantizedLinear {
public:
    using scheme = S;
    using backend = Backend;
    using params = typename S::params;
    using kernel = linear_kernel<Backend, S>;

    QuantizedLinear() = default;
    QuantizedLinear(QuantizedTensor<S> weight, std::vector<float> bias, linear_options opt = {})
        : w_(std::move(weight)), prep_(kernel::prepare(w_, opt)), bias_(bias.begin(), bias.end()), opt_(opt) {
        detail::check(bias_.empty() || bias_.size() == w_.rows(), S::name, ": bias has ", bias_.size(),
                      " values, the layer has ", w_.rows(), " outputs");
        for (std::size_t o = 0; o < bias_.size(); ++o)
            detail::check(std::isfinite(bias_[o]), S::name, ": bias [", o, "] is ", bias_[o]);
        check_activations(opt_.activations);
    }

    // weight [out, in] (float, half or bfloat16, any row stride), bias [out] or empty.
    template <class T>
    static QuantizedLinear from_dense(const_matrix_view<T> weight, std::span<const float> bias = {},
                                      const params& p = {}, linear_options opt = {}) {
        return QuantizedLinear(QuantizedTensor<S>::quantize(weight, p), std::vector<float>(bias.begin(), bias.end()),
                               opt);
    }
    template <class T>
    static QuantizedLinear from_dense(matrix_view<T> weight, std::span<const float> bias = {}, const params& p = {},
                                      linear_options opt = {}) {
        return from_dense(const_matrix_view<T>(weight), bias, p, opt);
    }
    // Any Eigen matrix (column-major too: it is copied row-major first).
    template <class Derived>
    static QuantizedLinear from_dense(const Eigen::MatrixBase<Derived>& weight, std::span<const float> bias = {},
                                      const params& p = {}, linear_options opt = {}) {
        using Scalar = typename Derived::Scalar;
        const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = weight;
        return from_dense(const_matrix_view<Scalar>(rm.data(), rm.rows(), rm.cols()), bias, p, opt);
    }

    // The same weights served by another backend (no requantization).
    template <class B2>
    QuantizedLinear<S, B2> with_backend() const {
        return QuantizedLinear<S, B2>(w_, std::vector<float>(bias_.begin(), bias_.end()), opt_);
    }

    std::size_t in_features() const { return w_.cols(); }
    std::size_t out_features() const { return w_.rows(); }
    const QuantizedTensor<S>& weight() const { return w_; }
    std::span<const float> bias() const { return bias_; }
    const linear_options& options() const { return opt_; }
    void set_compute(dtype t) { opt_.compute = t; }
    void set_threads(int n) { opt_.threads = n; }
    // int8: activations quantized to int8 in blocks of 32 (4-bit schemes; schemes/q8_activations.hpp).
    // The backend prepares the weights again (the CPU backend on VNNI builds keeps a second copy,
    // in the tiles its int8 kernel reads).
    void set_activations(activation_quant a) {
        check_activations(a);
        if (a == opt_.activations) return;
        opt_.activations = a;
        prep_ = kernel::prepare(w_, opt_);
    }

    // Exact storage: codes + scales + nested statistics + fp32 bias (the reports' model size).
    std::size_t size_bytes() const { return w_.size_bytes() + bias_.size() * sizeof(float); }

    row_matrix dequantize() const {
        row_matrix out(w_.rows(), w_.cols());
        const auto d = w_.dequantize();
        std::copy(d.begin(), d.end(), out.data());
        return out;
    }

    // x [m, in] -> y [m, out]; y must not overlap x.
    void forward(const_matrix_view<float> x, matrix_view<float> y) const {
        detail::check(w_.rows() > 0, S::name, ": forward on an empty layer");
        detail::check(x.device == device_kind::host && y.device == device_kind::host, S::name,
                      ": the ", Backend::name, " backend needs host memory");
        detail::check(x.cols == in_features(), S::name, ": input has ", x.cols, " features, the layer takes ",
                      in_features());
        detail::check(y.rows == x.rows && y.cols == out_features(), S::name, ": output is ", y.rows, "x", y.cols,
                      ", expected ", x.rows, "x", out_features());
        detail::check(x.stride >= x.cols && y.stride >= y.cols, S::name, ": row stride smaller than the row");
        if (x.rows == 0) return;
        detail::check(x.data && y.data, S::name, ": null data");
        const auto* xb = reinterpret_cast<const char*>(x.data);
        const auto* xe = reinterpret_cast<const char*>(x.data + (x.rows - 1) * x.stride + x.cols);
        const auto* yb = reinterpret_cast<const char*>(y.data);
        const auto* ye = reinterpret_cast<const char*>(y.data + (y.rows - 1) * y.stride + y.cols);
        detail::check(ye <= xb || xe <= yb, S::name, ": output overlaps input");
        kernel::forward(w_, prep_, bias_, x, y, opt_);
    }
    void forward(matrix_view<float> x, matrix_view<float> y) const { forward(const_matrix_view<float>(x), y); }

    // Eigen convenience: returns y [m, out].
    row_matrix forward(const row_matrix& x) const {
        row_matrix y(x.rows(), static_cast<Eigen::Index>(out_features()));
        forward(view(x), view(y));
        return y;
    }

private:
    static void check_activations(activation_quant a) {
        detail::check(a == activation_quant::none || int8_activation_scheme<S>, S::name,
                      ": int8 activations in blocks of 32 are for the 4-bit schemes (NF4, FP4, int4); int8 weights "
                      "choose LLM.int8() activations in AbsmaxInt8::params::activations");
    }

    QuantizedTensor<S> w_;
    typename kernel::prepared prep_{};
    aligned_vector<float> bias_;
    linear_options opt_{};
};

}  // namespace quant
