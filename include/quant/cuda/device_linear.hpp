// quant::cuda::device_linear<S>: a QuantizedLinear's weights resident on the GPU.
//
//   auto dev = quant::cuda::to_device(layer);                 // upload (repacked, cuda/repack.hpp)
//   dev.forward(x, y, stream);  // x [m, in], y [m, out]: device memory, views with device_kind::cuda
//
// Element types of x and y: float, quant::half or quant::bfloat16 (both the same). The compute
// dtype is the layer's linear_options::compute; half and bfloat16 activations compute in their
// own dtype. Semantics: backends/reference.hpp. forward() and dequantize() launch kernels, so
// they are compiled by nvcc (the kernels are .cuh headers); the rest, this class included, builds
// with any C++ compiler and links CUDA::cudart (target quant::cuda).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "../backends/backend.hpp"
#include "../error.hpp"
#include "../linear.hpp"
#include "../schemes/absmax_int8.hpp"
#include "../schemes/blockwise_int4.hpp"
#include "../schemes/bnb4bit.hpp"
#include "../tensor/quantized_tensor.hpp"
#include "../tensor/view.hpp"
#include "buffer.hpp"
#include "check.hpp"
#include "repack.hpp"
#include "weight_format.hpp"

#if defined(__CUDACC__)
#include "kernels/launch.cuh"
#endif

namespace quant::cuda {

// The device layout of scheme S (cuda/weight_format.hpp).
template <class S>
struct device_format {
    static_assert(dependent_false<S>, "quant::cuda: there is no CUDA layout (and no kernel) for this scheme");
};
template <class Traits>
struct device_format<Bnb4bit<Traits>> {
    using weights = packed4_weights;
};
template <>
struct device_format<BlockwiseInt4> {
    using weights = packed4_weights;
};
template <>
struct device_format<AbsmaxInt8> {
    using weights = int8_weights;
};

namespace detail {

template <class Q>
inline constexpr bool is_activation_type_v =
    std::is_same_v<Q, float> || std::is_same_v<Q, quant::half> || std::is_same_v<Q, quant::bfloat16>;

template <class Q>
inline constexpr dtype dtype_of_v = std::is_same_v<Q, quant::half>       ? dtype::f16
                                    : std::is_same_v<Q, quant::bfloat16> ? dtype::bf16
                                                                         : dtype::f32;

// Validates a forward call on the host (no GPU needed; tested on the CPU).
template <class Q>
void check_forward(std::string_view who, std::size_t in, std::size_t out, dtype compute, const_matrix_view<Q> x,
                   matrix_view<Q> y) {
    using quant::detail::check;
    check(x.device == device_kind::cuda && y.device == device_kind::cuda, who,
          ": CUDA forward needs device memory (views with device_kind::cuda)");
    check(x.cols == in, who, ": input has ", x.cols, " features, the layer takes ", in);
    check(y.rows == x.rows && y.cols == out, who, ": output is ", y.rows, "x", y.cols, ", expected ", x.rows, "x", out);
    check(x.stride >= x.cols && y.stride >= y.cols, who, ": row stride smaller than the row");
    check(dtype_of_v<Q> == dtype::f32 || dtype_of_v<Q> == compute, who, ": ", dtype_name(dtype_of_v<Q>),
          " activations compute in ", dtype_name(dtype_of_v<Q>), ", but the layer's compute dtype is ",
          dtype_name(compute));
    if (x.rows == 0) return;
    check(x.data && y.data, who, ": null data");
    const auto* xb = reinterpret_cast<const char*>(x.data);
    const auto* xe = reinterpret_cast<const char*>(x.data + (x.rows - 1) * x.stride + x.cols);
    const auto* yb = reinterpret_cast<const char*>(y.data);
    const auto* ye = reinterpret_cast<const char*>(y.data + (y.rows - 1) * y.stride + y.cols);
    check(ye <= xb || xe <= yb, who, ": output overlaps input");
}

}  // namespace detail

template <Scheme S>
class device_linear {
public:
    using scheme = S;
    using weights_type = typename device_format<S>::weights;

    // Uploads the weight (repacked) and the bias to the current device.
    device_linear(const QuantizedTensor<S>& w, std::span<const float> bias, linear_options opt = {}) : opt_(opt) {
        quant::detail::check(w.rows() > 0, S::name, ": cannot upload an empty layer");
        quant::detail::check(bias.empty() || bias.size() == w.rows(), S::name, ": bias has ", bias.size(),
                             " values, the layer has ", w.rows(), " outputs");
        if constexpr (std::is_same_v<S, AbsmaxInt8>) {
            int8_rowwise_ = w.parameters().activations == int8_activations::rowwise;
            quant::detail::check(!int8_rowwise_ || w.parameters().threshold == 0.0f, S::name,
                                 ": LLM.int8() with an outlier threshold (", w.parameters().threshold,
                                 ") has no CUDA kernel yet; use threshold 0 or int8_activations::none");
        }
        quant::detail::check(opt.activations == activation_quant::none, S::name,
                             ": int8 activations in blocks of 32 have no CUDA kernel; use activation_quant::none");
        upload(repack(w));
        if (!bias.empty()) bias_ = device_buffer<float>(bias);
    }
    template <class Backend>
    explicit device_linear(const QuantizedLinear<S, Backend>& layer)
        : device_linear(layer.weight(), layer.bias(), layer.options()) {}

    std::size_t in_features() const { return w_.cols; }
    std::size_t out_features() const { return w_.rows; }
    const linear_options& options() const { return opt_; }
    void set_compute(dtype t) { opt_.compute = t; }
    // what the kernels stream per forward: codes + scales (+ nested statistics) + bias
    std::size_t weight_bytes() const {
        return codes_.size_bytes() + scales_.size_bytes() + qscales_.size_bytes() + nested_.size_bytes() +
               bias_.size_bytes();
    }
    // kernel-side view (device pointers), for tests and custom kernels
    const weights_type& weights() const { return w_; }

    // y [m, out] = x [m, in] . W^T + bias, enqueued on `stream` (device pointers; y must not overlap x).
    template <class Q>
    void forward(const_matrix_view<Q> x, matrix_view<Q> y, cudaStream_t stream = nullptr) const {
        static_assert(detail::is_activation_type_v<Q>,
                      "quant::cuda: activations are float, quant::half or quant::bfloat16");
#if defined(__CUDACC__)
        detail::check_forward(S::name, in_features(), out_features(), opt_.compute, x, y);
        if (x.rows == 0) return;
        const float* bias = bias_.size() ? bias_.data() : nullptr;
        if constexpr (std::is_same_v<S, AbsmaxInt8>) {
            if (int8_rowwise_) {
                kernels::launch_int8_rowwise(w_, bias, x, y, opt_.compute, stream);
                return;
            }
        }
        kernels::launch_linear(w_, bias, x, y, opt_.compute, tensor_cores(), stream);
#else
        static_assert(dependent_false<Q>,
                      "quant::cuda::device_linear::forward launches CUDA kernels: call it from a .cu file compiled "
                      "by nvcc (the kernels are header-only, include/quant/cuda/kernels/*.cuh)");
#endif
    }
    template <class Q>
    void forward(matrix_view<Q> x, matrix_view<Q> y, cudaStream_t stream = nullptr) const {
        forward(const_matrix_view<Q>(x), y, stream);
    }

    // out [out_features, in_features] = the dequantized weight, rounded to Q (device memory).
    template <class Q>
    void dequantize(matrix_view<Q> out, cudaStream_t stream = nullptr) const {
        static_assert(detail::is_activation_type_v<Q>,
                      "quant::cuda: dequantize to float, quant::half or quant::bfloat16");
#if defined(__CUDACC__)
        quant::detail::check(out.device == device_kind::cuda && out.data, S::name, ": dequantize needs device memory");
        quant::detail::check(out.rows == out_features() && out.cols == in_features() && out.stride >= out.cols, S::name,
                             ": dequantize output is ", out.rows, "x", out.cols, ", expected ", out_features(), "x",
                             in_features());
        kernels::launch_dequantize(w_, out, stream);
#else
        static_assert(dependent_false<Q>,
                      "quant::cuda::device_linear::dequantize launches a CUDA kernel: call it from a .cu file "
                      "compiled by nvcc");
#endif
    }

private:
    // mma.sync needs sm_80; older devices run the GEMV path for every m
    static bool tensor_cores() {
        int dev = 0, major = 0;
        QUANT_CUDA_CHECK(cudaGetDevice(&dev));
        QUANT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
        return major >= 8;
    }

    void upload(const packed4_host& h) {
        codes_ = device_buffer<std::uint8_t>(std::span<const std::uint8_t>(h.codes));
        scales_ = device_buffer<float>(std::span<const float>(h.scales));
        qscales_ = device_buffer<std::uint8_t>(std::span<const std::uint8_t>(h.qscales));
        nested_ = device_buffer<float>(std::span<const float>(h.nested));
        tables_ = device_buffer<float>(std::span<const float>(h.tables));
        w_ = h.meta;
        w_.codes = codes_.data();
        w_.scales = scales_.data();
        w_.qscales = qscales_.data();
        w_.nested = nested_.data();
        w_.tables = tables_.data();
    }
    void upload(const int8_host& h) {
        codes_ = device_buffer<std::uint8_t>(
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(h.codes.data()), h.codes.size()));
        scales_ = device_buffer<float>(std::span<const float>(h.scb));
        w_ = h.meta;
        w_.codes = reinterpret_cast<const std::int8_t*>(codes_.data());
        w_.scb = scales_.data();
    }

    device_buffer<std::uint8_t> codes_, qscales_;
    device_buffer<float> scales_, nested_, tables_, bias_;
    weights_type w_{};
    linear_options opt_{};
    bool int8_rowwise_ = false;  // AbsmaxInt8 with int8_activations::rowwise: LLM.int8() kernels
};

// The same weights on the GPU (DESIGN.md's `layer.to(quant::cuda)`).
template <Scheme S, class Backend>
device_linear<S> to_device(const QuantizedLinear<S, Backend>& layer) {
    return device_linear<S>(layer);
}

}  // namespace quant::cuda
