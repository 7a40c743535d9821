// Float16: weights stored as IEEE binary16, the way Hugging Face transformers keeps every layer
// it does not quantize when it loads a model with bitsandbytes (torch_dtype float16, its default
// there). Not a quantizer in the 8/4-bit sense, but the same container and kernels: a model whose
// quantized layers are NF4 keeps its skipped layers (classifier, lm_head, ...) in this format,
// so the reports' model sizes come out as transformers counts them.
//
// Layout: one `half` per weight, row-major [rows, cols]: 16 bits per weight.
// Rounding: float32 -> binary16 round to nearest even (torch's .half()); a weight beyond the
// binary16 range (|w| >= 65520 rounds to infinity) is an error, never a silent infinity.
// Dequantization is exact.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>

#include "../error.hpp"
#include "../numeric/half.hpp"
#include "../tensor/aligned.hpp"

namespace quant {

static_assert(sizeof(half) == 2, "binary16: 16 bits per weight");

struct Float16 {
    static constexpr std::string_view name = "f16";
    // Round-trip relative RMSE on N(0,1) weights [256, 768]: measured 2.07e-4 (rounding errors of
    // up to half an ulp, 2^-11 relative at most, spread uniformly).
    static constexpr double rmse_bound = 2.5e-4;

    struct params {};

    struct storage {
        std::size_t rows = 0, cols = 0;
        Float16::params params{};
        aligned_vector<half> values;  // [rows, cols]
    };

    static constexpr double bits_per_weight(const params& = {}, std::size_t /*cols*/ = 0) { return 16.0; }

    static void validate(const params&) {}

    static storage quantize(std::span<const float> w, std::size_t rows, std::size_t cols, const params& p) {
        detail::check(w.size() == rows * cols, name, ": weight has ", w.size(), " values, expected ", rows, "x", cols);
        storage st;
        st.rows = rows;
        st.cols = cols;
        st.params = p;
        st.values.resize(rows * cols);
        for (std::size_t i = 0; i < w.size(); ++i) {
            st.values[i] = half(w[i]);
            detail::check(std::isfinite(static_cast<float>(st.values[i])), name, ": weight [", i / cols, ", ", i % cols,
                          "] = ", w[i], " is beyond the float16 range");
        }
        return st;
    }

    static void dequantize_row(const storage& st, std::size_t r, std::span<float> out) {
        for (std::size_t k = 0; k < st.cols; ++k) out[k] = static_cast<float>(st.values[r * st.cols + k]);
    }

    static std::size_t size_bytes(const storage& st) { return st.values.size() * sizeof(half); }
};

}  // namespace quant
