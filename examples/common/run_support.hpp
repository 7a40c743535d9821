// What the evaluation programs share: a checkpoint as a weight source, the reports'
// configurations by name, a progress bar on stderr, the process's resident memory.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <quant/io/checkpoint.hpp>

#include "nn.hpp"
#include "text_file.hpp"

namespace quant::examples {

// A file of a Hugging Face model folder: `name`, or `name.gz` where only that is there (the
// repository's reference models ship their vocabularies compressed).
inline std::filesystem::path model_file(const std::filesystem::path& dir, const std::string& name) {
    if (std::filesystem::exists(dir / name)) return dir / name;
    if (std::filesystem::exists(dir / (name + ".gz"))) return dir / (name + ".gz");
    detail::fail((dir / name).string(), ": no such file (nor ", name, ".gz) in the model folder");
}

inline nlohmann::json read_model_config(const std::filesystem::path& dir) {
    const auto path = model_file(dir, "config.json");
    try {
        return nlohmann::json::parse(read_text_file(path));
    } catch (const nlohmann::json::exception& e) {
        detail::fail(path.string(), ": not valid JSON (", e.what(), ")");
    }
}

// A Hugging Face checkpoint (safetensors, sharded, or pytorch_model.bin) as float32 tensors.
struct checkpoint_source {
    const io::checkpoint& ckpt;
    bool has(const std::string& n) const { return ckpt.contains(n); }
    row_matrix matrix(const std::string& n) const {
        std::size_t r = 0, c = 0;
        const std::vector<float> v = ckpt.at(n).matrix(r, c);
        return Eigen::Map<const row_matrix>(v.data(), Eigen::Index(r), Eigen::Index(c));
    }
    std::vector<float> vector(const std::string& n) const { return ckpt.at(n).vector(); }
};

struct named_config {
    std::string name;  // as the reports name them
    linear_policy policy;
};

// The reports' configurations; `skip` (bitsandbytes' llm_int8_skip_modules) applies to all of
// them; `selective` names the modules the selective variants keep dense.
inline std::vector<named_config> report_configs(float int8_threshold, const std::vector<std::string>& skip,
                                                const std::vector<std::string>& selective) {
    std::vector<std::string> sel = skip;
    sel.insert(sel.end(), selective.begin(), selective.end());
    return {
        {"original", {}},
        {"quantized_model_8_bit", {.scheme = scheme_kind::int8, .int8_threshold = int8_threshold, .skip = skip}},
        {"quantized_model_8_bit_selective", {.scheme = scheme_kind::int8, .int8_threshold = int8_threshold, .skip = sel}},
        {"quantized_model_4_bit_set1", {.scheme = scheme_kind::nf4_dq, .compute = dtype::bf16, .skip = skip}},
        {"quantized_model_4_bit_set2", {.scheme = scheme_kind::nf4, .compute = dtype::f16, .skip = skip}},
        {"quantized_model_nf4_fp32", {.scheme = scheme_kind::nf4, .skip = skip}},
        {"quantized_model_int4", {.scheme = scheme_kind::int4, .compute = dtype::bf16, .skip = skip}},
    };
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

// [=====>      ] 42% label, redrawn in place on stderr
class progress_bar {
public:
    explicit progress_bar(std::string label) : label_(std::move(label)) {}
    void update(std::size_t done, std::size_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (done < total && now - last_ < std::chrono::milliseconds(200)) return;
        last_ = now;
        const int w = 30, fill = total ? int(w * done / total) : w;
        std::fprintf(stderr, "\r[%s%s] %3d%% %s", std::string(std::size_t(fill), '=').c_str(),
                     std::string(std::size_t(w - fill), ' ').c_str(), total ? int(100 * done / total) : 100, label_.c_str());
        if (done >= total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    }

private:
    std::string label_;
    std::chrono::steady_clock::time_point last_{};
};

// Resets this process's peak resident memory (VmHWM) to the current one (Linux >= 4.0:
// /proc/self/clear_refs, "5"), so that each configuration's peak can be read on its own.
inline void reset_peak_resident() {
    std::ofstream f("/proc/self/clear_refs");
    if (f) f << "5";
}

// VmRSS (current) and VmHWM (peak) of this process, in MiB; 0 where /proc is not there.
inline double resident_mb(const char* field = "VmRSS:") {
    std::ifstream f("/proc/self/status");
    std::string key;
    double kb = 0;
    while (f >> key) {
        if (key == field) {
            f >> kb;
            return kb / 1024.0;
        }
        f.ignore(1 << 12, '\n');
    }
    return 0;
}

}  // namespace quant::examples
