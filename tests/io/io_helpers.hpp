// Helpers for the quant/io tests: a scratch directory, whole-file bytes, a raw safetensors
// builder (header text + data, so tests can lie in any way they like) and a stored-only zip
// writer (to wrap hand-made pickles the way torch.save does).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <quant/io.hpp>
#include <unistd.h>

namespace iot {

namespace fs = std::filesystem;

inline std::string data(const std::string& name) { return std::string(QUANT_TEST_DATA_DIR) + "/" + name; }

// A fresh directory per test case, removed at the end.
struct scratch {
    fs::path dir;
    explicit scratch(const std::string& tag) {
        dir = fs::temp_directory_path() / ("quant_io_" + tag + "_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir);
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string path(const std::string& name) const { return (dir / name).string(); }
};

inline std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_all(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
inline std::string le64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
    return s;
}
// A safetensors file from its header text and data section, with an honest length prefix.
inline std::string safetensors_bytes(const std::string& header, const std::string& data) {
    return le64(header.size()) + header + data;
}

inline std::span<const std::byte> as_span(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

// Zip with stored entries (method 0), as torch.save writes. zip64: every size and offset is
// saturated and given in zip64 extra fields and records instead (what large archives do).
inline std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& entries, bool zip64 = false) {
    auto u16 = [](unsigned v) { return std::string{char(v & 0xff), char((v >> 8) & 0xff)}; };
    auto u32 = [&](std::uint32_t v) { return u16(v & 0xffff) + u16(v >> 16); };
    const std::uint32_t sat = 0xffffffffu;
    std::string out, cd;
    for (const auto& [name, body] : entries) {
        const auto off = static_cast<std::uint32_t>(out.size());
        const auto n = static_cast<std::uint32_t>(body.size());
        const auto nlen = static_cast<unsigned>(name.size());
        out += u32(0x04034b50) + u16(20) + u16(0) + u16(0) + u16(0) + u16(0) + u32(0) + u32(zip64 ? sat : n) +
               u32(zip64 ? sat : n) + u16(nlen) + u16(0) + name + body;
        const std::string extra = zip64 ? u16(1) + u16(24) + le64(n) + le64(n) + le64(off) : "";
        cd += u32(0x02014b50) + u16(45) + u16(45) + u16(0) + u16(0) + u16(0) + u16(0) + u32(0) +
              u32(zip64 ? sat : n) + u32(zip64 ? sat : n) + u16(nlen) + u16(static_cast<unsigned>(extra.size())) +
              u16(0) + u16(0) + u16(0) + u32(0) + u32(zip64 ? sat : off) + name + extra;
    }
    const auto cd_off = static_cast<std::uint32_t>(out.size());
    const auto count = static_cast<unsigned>(entries.size());
    out += cd;
    if (zip64) {
        const auto rec = out.size();
        out += u32(0x06064b50) + le64(44) + u16(45) + u16(45) + u32(0) + u32(0) + le64(count) + le64(count) +
               le64(cd.size()) + le64(cd_off);
        out += u32(0x07064b50) + u32(0) + le64(rec) + u32(1);
        out += u32(0x06054b50) + u16(0) + u16(0) + u16(0xffff) + u16(0xffff) + u32(sat) + u32(sat) + u16(0);
        return out;
    }
    out += u32(0x06054b50) + u16(0) + u16(0) + u16(count) + u16(count) + u32(static_cast<std::uint32_t>(cd.size())) +
           u32(cd_off) + u16(0);
    return out;
}

// Runs f, expects a quant::error whose message contains every one of `parts`.
template <class F>
void require_error(F&& f, std::initializer_list<std::string> parts) {
    try {
        f();
    } catch (const quant::error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        for (const auto& p : parts) CHECK(msg.find(p) != std::string::npos);
        return;
    }
    FAIL("no quant::error was thrown");
}

}  // namespace iot
