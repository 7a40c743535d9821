// The reports' configurations by name, as the evaluation programs and bench_models run them.
#pragma once

#include <string>
#include <vector>

#include "nn.hpp"

namespace quant::examples {

struct named_config {
    std::string name;  // as the reports name them
    linear_policy policy;
};

// The reports' configurations; `skip` (bitsandbytes' llm_int8_skip_modules) applies to all of
// them; `selective` names the modules the selective variants keep dense; `dense` is the storage
// of what the quantized configurations keep dense (f16: as transformers loads a bitsandbytes
// model, which the reports' sizes show; the original is float32 throughout).
//   8 bit            load_in_8bit (LLM.int8(), int8 activations, outlier threshold)
//   4 bit set 1      load_in_4bit, nf4, double quant, bf16 compute (report 002)
//   4 bit set 2      the same with fp16 compute (report 002)
//   nf4 fp32         nf4 without double quant, bitsandbytes' default fp32 compute (reports 001, 004)
//   fp4              load_in_4bit's default quant type (report 001's "4-bit")
//   int4             our blockwise int4, bf16 compute
inline std::vector<named_config> report_configs(float int8_threshold, const std::vector<std::string>& skip,
                                                const std::vector<std::string>& selective, dtype dense = dtype::f16) {
    std::vector<std::string> sel = skip;
    sel.insert(sel.end(), selective.begin(), selective.end());
    const auto q = [&](scheme_kind k, dtype compute, const std::vector<std::string>& sk) {
        return linear_policy{.scheme = k, .int8_threshold = int8_threshold, .compute = compute, .skip = sk, .dense_dtype = dense};
    };
    return {
        {"original", {}},
        {"quantized_model_8_bit", q(scheme_kind::int8, dtype::f32, skip)},
        {"quantized_model_8_bit_selective", q(scheme_kind::int8, dtype::f32, sel)},
        {"quantized_model_4_bit_set1", q(scheme_kind::nf4_dq, dtype::bf16, skip)},
        {"quantized_model_4_bit_set2", q(scheme_kind::nf4_dq, dtype::f16, skip)},
        {"quantized_model_nf4_fp32", q(scheme_kind::nf4, dtype::f32, skip)},
        {"quantized_model_fp4", q(scheme_kind::fp4, dtype::f32, skip)},
        {"quantized_model_int4", q(scheme_kind::int4, dtype::bf16, skip)},
    };
}

inline dtype parse_dense_dtype(const std::string& s) {
    detail::check(s == "f16" || s == "f32", "dense dtype '", s, "' is not f16 or f32");
    return s == "f16" ? dtype::f16 : dtype::f32;
}

inline std::vector<named_config> select_configs(const std::vector<named_config>& all, const std::vector<std::string>& names) {
    if (names.empty()) return all;
    std::vector<named_config> out;
    for (const auto& n : names) {
        bool found = false;
        for (const auto& c : all)
            if (c.name == n) out.push_back(c), found = true;
        detail::check(found, "unknown configuration '", n, "'");
    }
    detail::check(out.front().name == "original", "the first configuration must be 'original' (the ratios refer to it)");
    return out;
}

}  // namespace quant::examples
