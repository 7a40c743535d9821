// absmax int8: bitsandbytes' LLM.int8() weight format. One fp32 scale per output row.
//
// Weights (bnb Int8Params._quantize + int8_vectorwise_quant):
//   * the weight is first rounded to float16, as bitsandbytes does; a value outside the float16
//     range is an error (bitsandbytes would store inf/NaN).
//   * SCB[r] = max_j |w16[r, j]| (fp32);  CB[r, j] = round_half_even(w16[r, j] * s) in float32 with
//     s = (1.0f / SCB[r]) * 127.0f: bitsandbytes writes `127.0 / row_stats`, which torch evaluates
//     as reciprocal-then-multiply (Tensor.__rtruediv__), and that rounds differently from one
//     division. A row of zeros has SCB 0 and CB 0.
//   * dequantized: w = (CB * SCB) * 7.874015718698502e-3f in float32 (bnb int8_vectorwise_dequant).
// Block: one row of `in` int8 codes plus one fp32 SCB: 8 + 32/in bits per weight.
//
// Activations (what int8_vectorwise_quant does to the input in MatMul8bitLt), when the layer is
// asked for int8 activations (`params::activations = int8_activations::rowwise`):
//   * x is rounded to float16 (bitsandbytes casts the input to fp16 before quantizing);
//   * outliers: elements with |x| >= threshold (threshold > 0). They are set to 0 *before* the
//     row absmax is taken; every column that holds an outlier in any row is then zeroed in the
//     int8 matrix and computed instead in floating point, x[:, cols] @ deq(W)[:, cols]^T;
//   * SCA[i] = max |x[i, :]| over the remaining elements; CA = round_half_even(x * s), s as above;
//   * y = (CA @ CB^T) * (SCA * SCB) / 127^2 + bias (+ the outlier part).
// With activations = none the layer dequantizes the weights and multiplies in floating point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "../error.hpp"
#include "../numeric/half.hpp"
#include "../tensor/aligned.hpp"

namespace quant {

enum class int8_activations : std::uint8_t {
    none,     // weight-only: dequantize, multiply in floating point
    rowwise,  // LLM.int8(): activations quantized row-wise to int8, int8 x int8 -> int32
};

struct AbsmaxInt8 {
    static constexpr std::string_view name = "int8";
    // Round-trip relative RMSE on N(0,1) weights [256, 768]: measured 0.00766; the step is
    // absmax/127 with absmax ~ 3.2 sigma, so ~ 3.2/127/sqrt(12) = 0.0073 is expected.
    static constexpr double rmse_bound = 0.0080;

    struct params {
        int8_activations activations = int8_activations::rowwise;
        float threshold = 0.0f;  // outlier threshold, 0 = off; transformers' default is 6.0
    };

    struct storage {
        std::size_t rows = 0, cols = 0;
        AbsmaxInt8::params params{};
        aligned_vector<std::int8_t> CB;  // [rows, cols]
        aligned_vector<float> SCB;       // [rows]
    };

    static constexpr double bits_per_weight(const params&, std::size_t cols) {
        return 8.0 + 32.0 / static_cast<double>(cols);
    }

    static void validate(const params& p) {
        detail::check(std::isfinite(p.threshold) && p.threshold >= 0.0f, name, ": outlier threshold ", p.threshold,
                      " must be finite and >= 0");
    }

    // Row-wise absmax quantization of one row (weights or activations), on float16-rounded input.
    static float quantize_row(const float* x, std::size_t n, std::int8_t* q) {
        float am = 0.0f;
        for (std::size_t j = 0; j < n; ++j) am = std::max(am, std::fabs(x[j]));
        if (am == 0.0f) {
            std::fill(q, q + n, std::int8_t{0});
            return am;
        }
        const float s = (1.0f / am) * 127.0f;  // torch's `127.0 / t`, see above
        for (std::size_t j = 0; j < n; ++j) q[j] = static_cast<std::int8_t>(std::nearbyint(x[j] * s));
        return am;
    }

    static storage quantize(std::span<const float> w, std::size_t rows, std::size_t cols, const params& p) {
        validate(p);
        detail::check(w.size() == rows * cols, name, ": weight has ", w.size(), " values, expected ", rows, "x", cols);
        storage st;
        st.rows = rows;
        st.cols = cols;
        st.params = p;
        st.CB.resize(rows * cols);
        st.SCB.resize(rows);
        std::vector<float> w16(cols);
        for (std::size_t r = 0; r < rows; ++r) {
            for (std::size_t j = 0; j < cols; ++j) {
                w16[j] = round_to(dtype::f16, w[r * cols + j]);
                detail::check(std::isfinite(w16[j]), name, ": weight [", r, ", ", j, "] = ", w[r * cols + j],
                              " is outside the float16 range the int8 format passes through");
            }
            st.SCB[r] = quantize_row(w16.data(), cols, st.CB.data() + r * cols);
        }
        return st;
    }

    static constexpr float inv127 = 7.874015718698502e-3f;          // bnb's constant for 1/127
    static constexpr float inv127_squared = 6.200124e-05f;            // bnb's constant for 1/127^2

    static void dequantize_row(const storage& st, std::size_t r, std::span<float> out) {
        for (std::size_t j = 0; j < st.cols; ++j)
            out[j] = static_cast<float>(st.CB[r * st.cols + j]) * st.SCB[r] * inv127;
    }

    // The activation side of LLM.int8() (rules in the header comment).
    struct quantized_activations {
        std::size_t rows = 0, cols = 0;
        std::vector<std::int8_t> CA;         // [rows, cols], outlier columns zeroed
        std::vector<float> SCA;              // [rows]
        std::vector<std::size_t> outliers;   // column indices, ascending
    };

    static quantized_activations quantize_activations(const float* x, std::size_t rows, std::size_t cols,
                                                      std::size_t stride, float threshold) {
        quantized_activations qa;
        qa.rows = rows;
        qa.cols = cols;
        qa.CA.resize(rows * cols);
        qa.SCA.resize(rows);
        std::vector<char> is_outlier(cols, 0);
        std::vector<float> row(cols);
        for (std::size_t i = 0; i < rows; ++i) {
            for (std::size_t j = 0; j < cols; ++j) {
                float v = round_to(dtype::f16, x[i * stride + j]);
                if (threshold > 0.0f && std::fabs(v) >= threshold) {
                    is_outlier[j] = 1;
                    v = 0.0f;
                }
                row[j] = v;
            }
            qa.SCA[i] = quantize_row(row.data(), cols, qa.CA.data() + i * cols);
        }
        for (std::size_t j = 0; j < cols; ++j) {
            if (!is_outlier[j]) continue;
            qa.outliers.push_back(j);
            for (std::size_t i = 0; i < rows; ++i) qa.CA[i * cols + j] = 0;
        }
        return qa;
    }

    static std::size_t size_bytes(const storage& st) { return st.CB.size() + st.SCB.size() * sizeof(float); }
};

static_assert(AbsmaxInt8::bits_per_weight({}, 768) == 8.0 + 32.0 / 768);

}  // namespace quant
