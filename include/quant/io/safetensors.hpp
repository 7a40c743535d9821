// safetensors reading: a strict, bounded validator of the format, and safetensors_file, a
// memory-mapped file whose tensors are zero-copy views.
//
// The format (https://github.com/huggingface/safetensors, README "Format"):
//   * 8 bytes: N, the header length, unsigned 64-bit little-endian;
//   * N bytes: a UTF-8 JSON object {"<name>": {"dtype": "F32", "shape": [2, 3],
//     "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<string value>"}}
//     (the writer pads it with spaces to a multiple of 8 bytes);
//   * the data section: offsets are relative to its start, byte ranges are row-major
//     little-endian tensors.
// What we enforce (a checkpoint is untrusted input): N <= 100 MB and inside the file; the header
// is UTF-8 JSON of exactly that shape (nothing nested deeper, no unknown keys in a tensor entry,
// integers where integers belong); known dtypes; no duplicate names; shape product x element size
// == end - begin without overflow; the byte ranges, sorted, are contiguous from 0 and cover the
// data section exactly (no gap, no overlap, nothing after). Anything else is a quant::error that
// names the file. The JSON is parsed with a SAX handler, so a hostile header cannot make us build
// a deep or huge document: we keep only the entries, and reject a shape of more than 16 dims.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "element_type.hpp"
#include "mapped_file.hpp"
#include "tensor_view.hpp"

namespace quant::io {

inline constexpr std::uint64_t safetensors_max_header = 100'000'000;  // the reference reader's limit
inline constexpr std::size_t safetensors_max_rank = 16;

struct safetensors_entry {
    std::string name;
    element_type dtype = element_type::f32;
    std::vector<std::uint64_t> shape;
    std::uint64_t begin = 0, end = 0;  // relative to the data section
};

struct safetensors_header {
    std::vector<safetensors_entry> entries;  // in header order
    std::map<std::string, std::string> metadata;
    std::uint64_t data_start = 0;  // 8 + N
};

namespace detail {

// Builds the entries straight from the SAX events; returns false (and sets `error`) at the first
// event that does not fit the format.
class safetensors_sax {
public:
    safetensors_header& out;
    std::string error;

    explicit safetensors_sax(safetensors_header& h) : out(h) {}

    bool null() { return bad("null"); }
    bool boolean(bool) { return bad("boolean"); }
    bool number_integer(std::int64_t v) {
        if (depth_ == 3 && v < 0) return fail_at("negative ", field_, " value ", v);
        return bad("number");  // nlohmann reports non-negative integers as number_unsigned
    }
    bool number_unsigned(std::uint64_t v) {
        if (depth_ != 3) return bad("number");
        auto& e = out.entries.back();
        if (field_ == "shape") {
            if (e.shape.size() >= safetensors_max_rank) return fail_at("shape has more than ", safetensors_max_rank, " dims");
            e.shape.push_back(v);
        } else {
            if (offsets_seen_ >= 2) return fail_at("data_offsets has more than 2 values");
            (offsets_seen_++ == 0 ? e.begin : e.end) = v;
        }
        return true;
    }
    bool number_float(double, const std::string&) { return bad("non-integer number"); }
    bool binary(nlohmann::json::binary_t&) { return bad("binary"); }
    bool string(std::string& s) {
        if (depth_ == 2 && in_meta_) {
            out.metadata[key_] = s;
            return true;
        }
        if (depth_ == 2 && field_ == "dtype") {
            const auto t = parse_element_type(s);
            if (!t) return fail_at("unknown dtype \"", s, "\"");
            out.entries.back().dtype = *t;
            seen_dtype_ = true;
            return true;
        }
        return bad("string");
    }
    bool start_object(std::size_t) {
        if (depth_ == 0) return ++depth_, true;
        if (depth_ == 1) {
            in_meta_ = key_ == "__metadata__";
            if (!in_meta_) {
                out.entries.push_back({});
                out.entries.back().name = key_;
                seen_dtype_ = seen_shape_ = false;
                offsets_seen_ = 0;
                seen_offsets_ = false;
                field_.clear();
            }
            return ++depth_, true;
        }
        return bad("object");
    }
    bool end_object() {
        if (depth_ == 2 && !in_meta_) {
            if (!seen_dtype_ || !seen_shape_ || !seen_offsets_)
                return fail_at("needs \"dtype\", \"shape\" and \"data_offsets\"");
        }
        if (depth_ == 2) in_meta_ = false;
        field_.clear();
        --depth_;
        return true;
    }
    bool start_array(std::size_t) {
        if (depth_ == 2 && !in_meta_ && (field_ == "shape" || field_ == "data_offsets")) {
            (field_ == "shape" ? seen_shape_ : seen_offsets_) = true;
            return ++depth_, true;
        }
        return bad("array");
    }
    bool end_array() {
        if (field_ == "data_offsets" && offsets_seen_ != 2) return fail_at("data_offsets needs 2 values");
        --depth_;
        return true;
    }
    bool key(std::string& k) {
        if (depth_ == 1) {
            if (k == "__metadata__" ? seen_meta_ : names_.count(k) != 0) return fail_at_key(k, "duplicate name");
            if (k == "__metadata__") seen_meta_ = true; else names_.emplace(k, 0);
            key_ = k;
            return true;
        }
        if (in_meta_) {
            if (out.metadata.count(k)) return fail_at_key(k, "duplicate __metadata__ key");
            key_ = k;
            return true;
        }
        if (k != "dtype" && k != "shape" && k != "data_offsets") return fail_at("unknown field \"", k, "\"");
        if ((k == "dtype" && seen_dtype_) || (k == "shape" && seen_shape_) || (k == "data_offsets" && seen_offsets_))
            return fail_at("duplicate field \"", k, "\"");
        field_ = k;
        return true;
    }
    bool parse_error(std::size_t pos, const std::string&, const nlohmann::json::exception& e) {
        if (error.empty()) error = "not valid JSON at byte " + std::to_string(pos) + " (" + e.what() + ")";
        return false;
    }

private:
    template <class... P>
    bool fail_at(P&&... parts) {
        std::ostringstream os;
        if (in_meta_) os << "__metadata__: ";
        else if (!out.entries.empty()) os << "tensor '" << out.entries.back().name << "': ";
        (os << ... << parts);
        error = os.str();
        return false;
    }
    bool fail_at_key(const std::string& k, const char* what) {
        error = std::string(what) + " '" + k + "'";
        return false;
    }
    bool bad(const char* what) {
        if (depth_ == 0) return fail_at("the header is not a JSON object");
        if (depth_ == 1) return fail_at_key(key_, "expected an object for");
        if (in_meta_) return fail_at("value of '", key_, "' is a ", what, ", not a string");
        return fail_at("unexpected ", what, field_.empty() ? "" : " in \"", field_, field_.empty() ? "" : "\"");
    }

    int depth_ = 0;
    bool in_meta_ = false, seen_meta_ = false;
    bool seen_dtype_ = false, seen_shape_ = false, seen_offsets_ = false;
    int offsets_seen_ = 0;
    std::string key_, field_;
    std::unordered_map<std::string, char> names_;
};

}  // namespace detail

// Validates a whole safetensors file held in memory; `path` only names it in errors.
inline safetensors_header parse_safetensors(std::span<const std::byte> file, const std::string& path) {
    using quant::detail::check;
    using quant::detail::fail;
    check(file.size() >= 8, path, ": not a safetensors file: ", file.size(), " bytes, shorter than the 8-byte header length");
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | std::to_integer<std::uint64_t>(file[static_cast<std::size_t>(i)]);
    check(n <= safetensors_max_header, path, ": safetensors header length ", n, " is over the 100 MB limit");
    check(n <= file.size() - 8, path, ": safetensors header length ", n, " runs past the end of the file (",
          file.size(), " bytes)");
    safetensors_header h;
    h.data_start = 8 + n;
    const char* text = reinterpret_cast<const char*>(file.data() + 8);
    detail::safetensors_sax sax(h);
    bool ok = false;
    try {
        ok = nlohmann::json::sax_parse(text, text + n, &sax, nlohmann::json::input_format_t::json, true);
    } catch (const nlohmann::json::exception& e) {
        sax.error = e.what();
    }
    if (!ok) fail(path, ": safetensors header: ", sax.error.empty() ? "invalid JSON" : sax.error);

    const std::uint64_t data_size = file.size() - h.data_start;
    std::vector<const safetensors_entry*> order;
    for (const auto& e : h.entries) {
        const std::string who = path + ": tensor '" + e.name + "'";
        std::uint64_t bytes = element_size(e.dtype);
        for (auto d : e.shape) bytes = detail::checked_mul(bytes, d, who + " shape " + shape_string(e.shape));
        check(e.begin <= e.end, who, ": data_offsets [", e.begin, ", ", e.end, "] are reversed");
        check(e.end <= data_size, who, ": data_offsets [", e.begin, ", ", e.end, "] run past the data section (",
              data_size, " bytes)");
        check(e.end - e.begin == bytes, who, ": ", element_type_name(e.dtype), " ", shape_string(e.shape), " needs ",
              bytes, " bytes, data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin);
        order.push_back(&e);
    }
    std::sort(order.begin(), order.end(),
              [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
    std::uint64_t at = 0;
    for (auto* e : order) {
        check(e->begin == at, path, ": tensor '", e->name, "' starts at byte ", e->begin, " of the data section, ",
              e->begin < at ? "overlapping the previous tensor" : "leaving a gap", " (expected ", at, ")");
        at = e->end;
    }
    check(at == data_size, path, ": the data section has ", data_size - at, " bytes that belong to no tensor");
    return h;
}

// A memory-mapped safetensors file. Views stay valid while the file object lives.
class safetensors_file {
public:
    explicit safetensors_file(std::string path) : file_(std::move(path)) {
        header_ = parse_safetensors(file_.bytes(), file_.path());
        for (std::size_t i = 0; i < header_.entries.size(); ++i) index_.emplace(header_.entries[i].name, i);
    }

    const std::string& path() const { return file_.path(); }
    const mapped_file& file() const { return file_; }
    // Tensor names in header order.
    std::vector<std::string> tensors() const {
        std::vector<std::string> names;
        for (const auto& e : header_.entries) names.push_back(e.name);
        return names;
    }
    const std::vector<safetensors_entry>& entries() const { return header_.entries; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }

    tensor_view view(const std::string& name) const {
        const auto it = index_.find(name);
        quant::detail::check(it != index_.end(), path(), ": no tensor '", name, "'");
        const auto& e = header_.entries[it->second];
        tensor_view v;
        v.name = path() + ": " + e.name;
        v.dtype = e.dtype;
        v.shape = e.shape;
        v.bytes = file_.bytes().subspan(header_.data_start + e.begin, e.end - e.begin);
        return v;
    }
    // Gives the pages of a tensor already read back to the kernel (bounded memory when streaming).
    void release(const tensor_view& v) const { file_.release(v.bytes); }

private:
    mapped_file file_;
    safetensors_header header_;
    std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace quant::io
