// What the evaluation programs share: a checkpoint as a weight source, a progress bar on
// stderr, the process's resident memory (and configs.hpp: the reports' configurations).
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <quant/io/checkpoint.hpp>

#include "configs.hpp"
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
// Each tensor's mapped pages go back to the kernel once it is read: the process's resident
// memory is then the model's, not the file's.
struct checkpoint_source {
    const io::checkpoint& ckpt;
    bool has(const std::string& n) const { return ckpt.contains(n); }
    row_matrix matrix(const std::string& n) const {
        std::size_t r = 0, c = 0;
        const std::vector<float> v = ckpt.at(n).matrix(r, c);
        ckpt.release(n);
        return Eigen::Map<const row_matrix>(v.data(), Eigen::Index(r), Eigen::Index(c));
    }
    std::vector<float> vector(const std::string& n) const {
        std::vector<float> v = ckpt.at(n).vector();
        ckpt.release(n);
        return v;
    }
};

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
