// safetensors_writer: writes a safetensors file (format: safetensors.hpp) tensor by tensor.
// Tensor bytes go to a spill file as they are added, so a writer never holds more than one
// tensor in memory; finish() writes the header (padded with spaces to 8 bytes, as the reference
// writer does, so the data section is 8-aligned) and appends the spilled data, into `path.tmp`
// renamed over `path`: a crash never leaves a half-written checkpoint under the real name.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "element_type.hpp"
#include "tensor_view.hpp"

namespace quant::io {

class safetensors_writer {
public:
    explicit safetensors_writer(std::string path) : path_(std::move(path)), spill_path_(path_ + ".data.tmp") {
        spill_.reset(std::fopen(spill_path_.c_str(), "wb"));
        quant::detail::check(spill_ != nullptr, spill_path_, ": cannot create: ", std::strerror(errno));
    }
    safetensors_writer(const safetensors_writer&) = delete;
    safetensors_writer& operator=(const safetensors_writer&) = delete;
    ~safetensors_writer() {
        spill_.reset();
        std::remove(spill_path_.c_str());
    }

    // Appends one tensor; bytes.size() must equal numel(shape) * element_size(dtype).
    void add(const std::string& name, element_type dtype, std::vector<std::uint64_t> shape,
             std::span<const std::byte> bytes) {
        quant::detail::check(!finished_, path_, ": add('", name, "') after finish()");
        quant::detail::check(name != "__metadata__" && names_.insert(name).second, path_, ": duplicate tensor name '",
                             name, "'");
        std::uint64_t n = element_size(dtype);
        for (auto d : shape) n = detail::checked_mul(n, d, path_ + ": tensor '" + name + "'");
        quant::detail::check(n == bytes.size(), path_, ": tensor '", name, "' ", element_type_name(dtype), " ",
                             shape_string(shape), " needs ", n, " bytes, got ", bytes.size());
        if (!bytes.empty())
            quant::detail::check(std::fwrite(bytes.data(), 1, bytes.size(), spill_.get()) == bytes.size(), spill_path_,
                                 ": write failed: ", std::strerror(errno));
        header_[name] = {{"dtype", element_type_name(dtype)}, {"shape", shape}, {"data_offsets", {size_, size_ + n}}};
        size_ += n;
    }
    template <class T>
    void add(const std::string& name, std::span<const T> values, std::vector<std::uint64_t> shape) {
        add(name, detail::element_type_of<T>(), std::move(shape), std::as_bytes(values));
    }
    // A 1-D tensor of the values.
    template <class T>
    void add(const std::string& name, std::span<const T> values) {
        add(name, values, {values.size()});
    }

    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }

    void finish() {
        quant::detail::check(!finished_, path_, ": finish() called twice");
        finished_ = true;
        quant::detail::check(std::fflush(spill_.get()) == 0, spill_path_, ": write failed: ", std::strerror(errno));
        spill_.reset();
        nlohmann::ordered_json h = nlohmann::ordered_json::object();
        if (!metadata_.empty()) h["__metadata__"] = metadata_;
        for (auto& [k, v] : header_.items()) h[k] = v;
        std::string text = h.dump();
        text.append((8 - text.size() % 8) % 8, ' ');
        const std::string tmp = path_ + ".tmp";
        {
            file_ptr out(std::fopen(tmp.c_str(), "wb"));
            quant::detail::check(out != nullptr, tmp, ": cannot create: ", std::strerror(errno));
            unsigned char len[8];
            for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(std::uint64_t{text.size()} >> (8 * i));
            bool ok = std::fwrite(len, 1, 8, out.get()) == 8 && std::fwrite(text.data(), 1, text.size(), out.get()) == text.size();
            file_ptr in(std::fopen(spill_path_.c_str(), "rb"));
            ok = ok && in != nullptr;
            std::vector<char> buf(1 << 20);
            while (ok) {
                const std::size_t got = std::fread(buf.data(), 1, buf.size(), in.get());
                if (got == 0) break;
                ok = std::fwrite(buf.data(), 1, got, out.get()) == got;
            }
            ok = ok && std::fflush(out.get()) == 0;
            if (!ok) {
                std::remove(tmp.c_str());
                quant::detail::fail(tmp, ": write failed: ", std::strerror(errno));
            }
        }
        std::remove(spill_path_.c_str());
        quant::detail::check(std::rename(tmp.c_str(), path_.c_str()) == 0, path_, ": cannot rename from ", tmp, ": ",
                             std::strerror(errno));
    }

    const std::string& path() const { return path_; }

private:
    struct closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    using file_ptr = std::unique_ptr<std::FILE, closer>;

    std::string path_, spill_path_;
    file_ptr spill_;
    nlohmann::ordered_json header_ = nlohmann::ordered_json::object();
    std::map<std::string, std::string> metadata_;
    std::unordered_set<std::string> names_;
    std::uint64_t size_ = 0;
    bool finished_ = false;
};

}  // namespace quant::io
