// Test-only reader for the committed golden files (safetensors written by tools/*.py).
// It trusts its input: the fixtures are ours. The library's hardened reader is include/quant/io.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <quant/numeric/half.hpp>

namespace fixture {

struct tensor {
    std::string dtype;
    std::vector<std::size_t> shape;
    std::vector<std::uint8_t> bytes;

    std::size_t numel() const {
        std::size_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    template <class T>
    std::vector<T> as() const {
        std::vector<T> out(bytes.size() / sizeof(T));
        std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
        return out;
    }
    // any float dtype widened to float
    std::vector<float> floats() const {
        if (dtype == "F32") return as<float>();
        std::vector<float> out(numel());
        const auto raw = as<std::uint16_t>();
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = dtype == "F16" ? float(quant::half::from_bits(raw[i])) : float(quant::bfloat16::from_bits(raw[i]));
        return out;
    }
};

struct file {
    std::map<std::string, tensor> tensors;
    nlohmann::json metadata;

    explicit file(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::runtime_error("cannot open fixture " + path);
        std::uint64_t hlen = 0;
        in.read(reinterpret_cast<char*>(&hlen), 8);
        std::string header(hlen, '\0');
        in.read(header.data(), static_cast<std::streamsize>(hlen));
        std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto j = nlohmann::json::parse(header);
        for (auto it = j.begin(); it != j.end(); ++it) {
            if (it.key() == "__metadata__") {
                metadata = it.value();
                continue;
            }
            tensor t;
            t.dtype = it.value()["dtype"].get<std::string>();
            t.shape = it.value()["shape"].get<std::vector<std::size_t>>();
            const auto off = it.value()["data_offsets"].get<std::vector<std::size_t>>();
            t.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(off[0]), data.begin() + static_cast<std::ptrdiff_t>(off[1]));
            tensors.emplace(it.key(), std::move(t));
        }
    }
    const tensor& operator[](const std::string& name) const {
        auto it = tensors.find(name);
        if (it == tensors.end()) throw std::runtime_error("fixture has no tensor " + name);
        return it->second;
    }
    bool has(const std::string& name) const { return tensors.count(name) != 0; }
    nlohmann::json cases() const { return nlohmann::json::parse(metadata["cases"].get<std::string>()); }
};

inline const file& bnb() {
    static const file f(std::string(QUANT_TEST_DATA_DIR) + "/bnb_fixtures.safetensors");
    return f;
}

}  // namespace fixture
