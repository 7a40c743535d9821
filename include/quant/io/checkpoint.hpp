// checkpoint: every tensor of a Hugging Face model checkpoint by name, whatever the files:
//   * a `.safetensors` file, or a directory with `model.safetensors`;
//   * a sharded checkpoint: `model.safetensors.index.json` (or `pytorch_model.bin.index.json`),
//     {"metadata": {...}, "weight_map": {"<tensor>": "<shard file>", ...}}, shards in the same
//     directory (a shard name with a path separator or ".." is refused);
//   * a PyTorch `pytorch_model.bin` (torch.save zip), or a directory with one.
// Tensors are zero-copy views into memory-mapped files; a caller that walks them one by one can
// release() each after use to keep its resident memory bounded.
//
//   auto ckpt = quant::io::load_checkpoint("bert-base-uncased-imdb/");
//   for (const auto& name : ckpt.names()) ...
//   std::size_t rows, cols;
//   std::vector<float> w = ckpt.at("bert.encoder.layer.0.attention.self.query.weight").matrix(rows, cols);
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "safetensors.hpp"
#include "tensor_view.hpp"
#include "torch_bin.hpp"

namespace quant::io {

class checkpoint {
public:
    // Sorted tensor names.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [k, v] : tensors_) out.push_back(k);
        return out;
    }
    bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
    const tensor_view& at(const std::string& name) const {
        const auto it = tensors_.find(name);
        quant::detail::check(it != tensors_.end(), origin_, ": no tensor '", name, "'");
        return it->second.view;
    }
    std::size_t size() const { return tensors_.size(); }
    const std::string& origin() const { return origin_; }
    // Metadata of a safetensors file (or the index's "metadata"), string to string.
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // Hands the pages of a tensor back to the kernel (it stays readable).
    void release(const std::string& name) const {
        const auto it = tensors_.find(name);
        if (it != tensors_.end()) it->second.file->release(it->second.view.bytes);
    }

    friend checkpoint load_checkpoint(const std::string& path);

private:
    struct entry {
        tensor_view view;
        const mapped_file* file;
    };
    void add_file(const std::filesystem::path& p, const std::vector<std::string>* only = nullptr);

    std::string origin_;
    std::vector<std::unique_ptr<safetensors_file>> st_;
    std::vector<std::unique_ptr<torch_bin_file>> bin_;
    std::map<std::string, entry> tensors_;
    std::map<std::string, std::string> metadata_;
};

namespace detail {

inline bool starts_with_zip_magic(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    char m[4] = {};
    in.read(m, 4);
    return in.gcount() == 4 && m[0] == 'P' && m[1] == 'K' && m[2] == 3 && m[3] == 4;
}

}  // namespace detail

// Opens one data file: a torch zip (by content, or a .bin/.pt/.pth name, so a legacy torch file
// is reported as such) or else safetensors; `only`: the names to take.
inline void checkpoint::add_file(const std::filesystem::path& p, const std::vector<std::string>* only) {
    auto take = [&](const auto& file, const std::vector<std::string>& names, auto view_of) {
        for (const auto& n : names) {
            if (tensors_.count(n)) quant::detail::fail(file.path(), ": tensor '", n, "' is also in another shard");
            tensors_.emplace(n, entry{view_of(n), &file.file()});
        }
    };
    const auto ext = p.extension();
    if (detail::starts_with_zip_magic(p) || ext == ".bin" || ext == ".pt" || ext == ".pth") {
        auto& f = *bin_.emplace_back(std::make_unique<torch_bin_file>(p.string()));
        take(f, only ? *only : f.tensors(), [&](const std::string& n) { return f.view(n); });
    } else {
        auto& f = *st_.emplace_back(std::make_unique<safetensors_file>(p.string()));
        if (!only) metadata_ = f.metadata();
        take(f, only ? *only : f.tensors(), [&](const std::string& n) { return f.view(n); });
    }
}

// Loads a checkpoint file or directory (see the top of this file for what is recognised).
inline checkpoint load_checkpoint(const std::string& path) {
    namespace fs = std::filesystem;
    using quant::detail::check;
    using quant::detail::fail;
    checkpoint c;
    c.origin_ = path;
    fs::path p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        for (const char* name : {"model.safetensors.index.json", "model.safetensors", "pytorch_model.bin.index.json",
                                 "pytorch_model.bin"})
            if (fs::exists(p / name, ec)) {
                p /= name;
                break;
            }
        check(!fs::is_directory(p, ec), path, ": no model.safetensors(.index.json) or pytorch_model.bin(.index.json)");
    }
    check(fs::is_regular_file(p, ec), p.string(), ": no such file");
    if (p.extension() != ".json") {
        c.add_file(p);
        return c;
    }
    // a shard index
    const auto size = fs::file_size(p, ec);
    check(!ec && size <= safetensors_max_header, p.string(), ": index file too large or unreadable");
    std::ifstream in(p, std::ios::binary);
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        fail(p.string(), ": not valid JSON (", e.what(), ")");
    }
    check(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), p.string(),
          ": no \"weight_map\" object");
    std::map<std::string, std::vector<std::string>> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
        check(file.is_string(), p.string(), ": weight_map['", name, "'] is not a file name");
        const auto f = file.get<std::string>();
        check(!f.empty() && f != "." && f != ".." && f.find('/') == std::string::npos &&
                  f.find('\\') == std::string::npos,
              p.string(), ": weight_map['", name, "'] = '", f, "' is not a plain file name in the same directory");
        shards[f].push_back(name);
    }
    if (j.contains("metadata") && j["metadata"].is_object())
        for (const auto& [k, v] : j["metadata"].items())
            c.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    for (const auto& [file, names] : shards) {
        const fs::path shard = p.parent_path() / file;
        c.add_file(shard, &names);
    }
    return c;
}

}  // namespace quant::io
