// The reference backend: scalar, obvious, slow. Its results define what every fast path must
// produce (up to float summation order).
//
// Weight-only schemes, compute dtype T (f32, bf16, f16), as bitsandbytes' Linear4bit does it:
//   x and the dequantized weight are rounded to T, products are summed exactly (in double here),
//   the bias (rounded to T) is added and the sum is rounded to T.
// int8 with int8 activations: schemes/absmax_int8.hpp (LLM.int8()).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "../numeric/fp.hpp"
#include "../schemes/absmax_int8.hpp"
#include "backend.hpp"

namespace quant {

template <Scheme S>
struct linear_kernel<reference_backend, S> {
    struct prepared {};
    static prepared prepare(const QuantizedTensor<S>&, const forward_options& = {}) { return {}; }

    static void forward(const QuantizedTensor<S>& w, const prepared&, std::span<const float> bias,
                        const_matrix_view<float> x, matrix_view<float> y, const forward_options& opt) {
        const dtype compute = opt.compute;
        if constexpr (std::is_same_v<S, AbsmaxInt8>) {
            if (w.parameters().activations == int8_activations::rowwise) {
                forward_int8_rowwise(w, bias, x, y, compute);
                return;
            }
        }
        if constexpr (int8_activation_scheme<S>) {
            if (opt.activations == activation_quant::int8) {
                forward_q8(w, bias, x, y, compute);
                return;
            }
        }
        const std::size_t m = x.rows, in = w.cols(), out = w.rows();
        std::vector<float> xc(m * in);
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t k = 0; k < in; ++k) xc[i * in + k] = round_to(compute, x(i, k));
        std::vector<float> wrow(in);
        for (std::size_t o = 0; o < out; ++o) {
            w.dequantize_row(o, wrow);
            for (float& v : wrow) v = round_to(compute, v);
            const double b = bias.empty() ? 0.0 : round_to(compute, bias[o]);
            for (std::size_t i = 0; i < m; ++i) {
                double acc = 0.0;
                for (std::size_t k = 0; k < in; ++k) acc += static_cast<double>(xc[i * in + k]) * wrow[k];
                y(i, o) = round_to(compute, static_cast<float>(acc + b));
            }
        }
    }

    // 4-bit weights as int8 values times their block scale, activations quantized to int8 in
    // blocks of 32 (schemes/q8_activations.hpp); the products summed in double.
    static void forward_q8(const QuantizedTensor<S>& w, std::span<const float> bias, const_matrix_view<float> x,
                           matrix_view<float> y, dtype compute) {
        const std::size_t m = x.rows, in = w.cols(), out = w.rows();
        std::vector<std::int8_t> q(m * in), w8(in);
        std::vector<float> d(m * Q8Activations::blocks(in)), ws(in);
        for (std::size_t i = 0; i < m; ++i)
            Q8Activations::quantize_row(x.row(i), in, q.data() + i * in, d.data() + i * Q8Activations::blocks(in));
        for (std::size_t o = 0; o < out; ++o) {
            S::int8_row(w.data(), o, w8, ws);
            const double b = bias.empty() ? 0.0 : round_to(compute, bias[o]);
            for (std::size_t i = 0; i < m; ++i) {
                double acc = 0.0;
                for (std::size_t k = 0; k < in; ++k)
                    acc += double(w8[k]) * double(ws[k]) * double(q[i * in + k]) *
                           double(d[i * Q8Activations::blocks(in) + k / Q8Activations::block]);
                y(i, o) = round_to(compute, static_cast<float>(acc * double(S::int8_unit) + b));
            }
        }
    }

    static void forward_int8_rowwise(const QuantizedTensor<AbsmaxInt8>& w, std::span<const float> bias,
                                     const_matrix_view<float> x, matrix_view<float> y, dtype compute) {
        const auto& st = w.data();
        const std::size_t m = x.rows, in = w.cols(), out = w.rows();
        const auto qa = AbsmaxInt8::quantize_activations(x.data, m, in, x.stride, st.params.threshold);
        std::vector<float> wrow(in);
        for (std::size_t o = 0; o < out; ++o) {
            if (!qa.outliers.empty()) w.dequantize_row(o, wrow);
            for (std::size_t i = 0; i < m; ++i) {
                std::int64_t acc = 0;
                for (std::size_t k = 0; k < in; ++k)
                    acc += std::int32_t{qa.CA[i * in + k]} * std::int32_t{st.CB[o * in + k]};
                float v = static_cast<float>(acc) * (qa.SCA[i] * st.SCB[o]) * AbsmaxInt8::inv127_squared;
                if (!bias.empty()) v = numeric::fp::no_contract(v) + bias[o];
                double outl = 0.0;
                for (std::size_t k : qa.outliers) outl += static_cast<double>(x(i, k)) * wrow[k];
                y(i, o) = round_to(compute, static_cast<float>(v + outl));
            }
        }
    }
};

}  // namespace quant
