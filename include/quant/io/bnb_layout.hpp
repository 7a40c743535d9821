// Quantized weights in a checkpoint, named the way transformers + bitsandbytes store them, so
// checkpoints move between Python and C++ both ways. `<m>` is the module (e.g.
// "bert.encoder.layer.0.attention.self.query"); facts from bitsandbytes 0.50.2 (nn/modules.py,
// functional.py QuantState.as_dict(packed=True)).
//
// NF4 / FP4 (bnb Linear4bit / Params4bit):
//   <m>.weight                                U8  [(n+1)/2, 1]   packed codes, n = rows*cols
//   <m>.weight.absmax                         F32 [blocks]        (U8 [blocks] when nested)
//   <m>.weight.quant_map                      F32 [16]            the codebook
//   <m>.weight.nested_absmax                  F32 [ceil(blocks/256)]       (nested only)
//   <m>.weight.nested_quant_map               F32 [256]           dynamic map  (nested only)
//   <m>.weight.quant_state.bitsandbytes__nf4  U8  [len]  (…__fp4) the UTF-8 bytes of
//       {"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [rows, cols],
//        "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": <float>}
//       (the nested_* keys only when nested; written with Python's json.dumps spacing.)
// int8 (bnb Linear8bitLt, LLM.int8()):
//   <m>.weight I8 [rows, cols] (CB);  <m>.SCB F32 [rows];  <m>.weight_format U8 [] = 0 ("row")
// int4 (ours, blockwise_int4.hpp; bitsandbytes has no such format):
//   <m>.weight                                U8  [rows, blocks_per_row * (4 + B/2)]
//       each row: its int4_block<B> structs as in memory (fp32 scale little-endian, then B/2 code bytes)
//   <m>.weight.quant_state.quant__int4        U8  [len]  {"quant_type": "int4", "blocksize": B,
//       "dtype": "float32", "shape": [rows, cols]}
// A bias stays a dense `<m>.bias`, written by the caller. Loading validates every size and the
// codebooks against ours: a checkpoint is untrusted input.
#pragma once

#include <cmath>
#include <cstring>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../error.hpp"
#include "../schemes/absmax_int8.hpp"
#include "../schemes/blockwise_int4.hpp"
#include "../schemes/fp4.hpp"
#include "../schemes/nf4.hpp"
#include "../tensor/quantized_tensor.hpp"
#include "checkpoint.hpp"
#include "safetensors_writer.hpp"

namespace quant::io {

// How the weight of module <m> is stored.
enum class stored_format { dense, nf4, fp4, int8, int4 };

inline stored_format detect_format(const checkpoint& c, const std::string& m) {
    const std::string qs = m + ".weight.quant_state.";
    if (c.contains(qs + "bitsandbytes__nf4")) return stored_format::nf4;
    if (c.contains(qs + "bitsandbytes__fp4")) return stored_format::fp4;
    if (c.contains(qs + "quant__int4")) return stored_format::int4;
    if (c.contains(m + ".SCB")) return stored_format::int8;
    return stored_format::dense;
}

namespace detail {

inline std::string json_number(double v) { return nlohmann::json(v).dump(); }

// The quant state JSON with Python json.dumps' separators, so our bytes equal bitsandbytes'.
inline std::string quant_state_json(std::string_view type, std::size_t block, std::string_view dtype, std::size_t rows,
                                    std::size_t cols, const float* nested_offset) {
    std::string s = "{\"quant_type\": \"" + std::string(type) + "\", \"blocksize\": " + std::to_string(block) +
                    ", \"dtype\": \"" + std::string(dtype) + "\", \"shape\": [" + std::to_string(rows) + ", " +
                    std::to_string(cols) + "]";
    if (nested_offset)
        s += ", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": " +
             json_number(static_cast<double>(*nested_offset));
    return s + "}";
}

inline void check_dtype_name(std::string_view dtype) {
    quant::detail::check(dtype == "float32" || dtype == "float16" || dtype == "bfloat16", "quant state dtype '", dtype,
                         "' is not float32, float16 or bfloat16");
}

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
    return std::as_bytes(std::span(v.data(), v.size()));
}

// A tensor of the checkpoint with the stored type and element count the layout requires.
inline const tensor_view& expect(const checkpoint& c, const std::string& name, element_type t, std::uint64_t numel) {
    const tensor_view& v = c.at(name);
    quant::detail::check(v.dtype == t, v.name, ": stored as ", element_type_name(v.dtype), ", expected ",
                         element_type_name(t));
    quant::detail::check(v.numel() == numel, v.name, ": has ", v.numel(), " elements ", shape_string(v.shape),
                         ", expected ", numel);
    return v;
}

template <class Vec>
void copy_into(const tensor_view& v, Vec& out) {
    out.resize(v.numel());
    if (!out.empty()) std::memcpy(out.data(), v.bytes.data(), v.bytes.size());
}

struct quant_state {
    std::string type, dtype;
    std::size_t block = 0, rows = 0, cols = 0;
    bool nested = false;
    float offset = 0.0f;
};

inline quant_state read_quant_state(const checkpoint& c, const std::string& name) {
    using quant::detail::check;
    const tensor_view& v = c.at(name);
    check(v.dtype == element_type::u8 && v.bytes.size() <= 65536, v.name, ": not a quant state (U8, <= 64 KiB)");
    const auto text = std::string_view(reinterpret_cast<const char*>(v.bytes.data()), v.bytes.size());
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    check(!j.is_discarded() && j.is_object(), v.name, ": quant state is not a JSON object");
    quant_state q;
    auto get_uint = [&](const char* key, std::size_t& out) {
        check(j.contains(key) && j[key].is_number_unsigned(), v.name, ": quant state '", key, "' is not a non-negative integer");
        out = j[key].get<std::size_t>();
    };
    check(j.contains("quant_type") && j["quant_type"].is_string(), v.name, ": quant state has no quant_type");
    q.type = j["quant_type"].get<std::string>();
    get_uint("blocksize", q.block);
    check(j.contains("dtype") && j["dtype"].is_string(), v.name, ": quant state has no dtype");
    q.dtype = j["dtype"].get<std::string>();
    try {
        check_dtype_name(q.dtype);
    } catch (const error& e) {
        quant::detail::fail(v.name, ": ", e.what());
    }
    const auto& shape = j.contains("shape") ? j["shape"] : nlohmann::json();
    check(shape.is_array() && shape.size() == 2 && shape[0].is_number_unsigned() && shape[1].is_number_unsigned(),
          v.name, ": quant state shape is not [rows, cols]");
    q.rows = shape[0].get<std::size_t>();
    q.cols = shape[1].get<std::size_t>();
    check(q.rows > 0 && q.cols > 0, v.name, ": quant state shape [", q.rows, ", ", q.cols, "] is empty");
    // 2^48 weights is far beyond any model and keeps every size computed from it from overflowing
    check(io::detail::checked_mul(q.rows, q.cols, v.name) <= (std::uint64_t{1} << 48), v.name, ": quant state shape [",
          q.rows, ", ", q.cols, "] is implausibly large");
    q.nested = j.contains("nested_offset");
    if (q.nested) {
        std::size_t nb = 0;
        get_uint("nested_blocksize", nb);
        check(nb == 256, v.name, ": nested_blocksize ", nb, " is not 256");
        check(j["nested_offset"].is_number(), v.name, ": nested_offset is not a number");
        q.offset = static_cast<float>(j["nested_offset"].get<double>());
        check(std::isfinite(q.offset), v.name, ": nested_offset is not finite");
        check(j.value("nested_dtype", std::string()) == "float32", v.name, ": nested_dtype is not float32");
    }
    return q;
}

template <class Vec>
void check_finite(const Vec& v, const std::string& who) {
    for (float x : v) quant::detail::check(std::isfinite(x), who, ": holds a non-finite value");
}

}  // namespace detail

// ---- NF4 / FP4 --------------------------------------------------------------------------------

template <class Traits>
void save_quantized(safetensors_writer& w, const std::string& m, const QuantizedTensor<Bnb4bit<Traits>>& q,
                    std::string_view dtype = "float32") {
    using S = Bnb4bit<Traits>;
    detail::check_dtype_name(dtype);
    const auto& st = q.data();
    const std::string p = m + ".weight";
    w.add(p, element_type::u8, {st.packed.size(), 1}, detail::bytes_of(st.packed));
    if (st.params.double_quant) w.add<std::uint8_t>(p + ".absmax", st.qabsmax);
    else w.add<float>(p + ".absmax", st.absmax);
    w.add<float>(p + ".quant_map", S::codebook.values);
    if (st.params.double_quant) {
        w.add<float>(p + ".nested_absmax", st.nested_absmax);
        w.add<float>(p + ".nested_quant_map", numeric::dynamic_map_signed);
    }
    const std::string js = detail::quant_state_json(S::name, st.params.block, dtype, st.rows, st.cols,
                                                    st.params.double_quant ? &st.offset : nullptr);
    w.add(p + ".quant_state.bitsandbytes__" + std::string(S::name), element_type::u8, {js.size()},
          std::as_bytes(std::span(js.data(), js.size())));
}

// ---- int8 -------------------------------------------------------------------------------------

inline void save_quantized(safetensors_writer& w, const std::string& m, const QuantizedTensor<AbsmaxInt8>& q) {
    const auto& st = q.data();
    w.add(m + ".weight", element_type::i8, {st.rows, st.cols}, detail::bytes_of(st.CB));
    w.add<float>(m + ".SCB", st.SCB);
    const std::uint8_t row_format = 0;  // bnb LINEAR_8BIT_WEIGHTS_FORMAT_MAPPING["row"]
    w.add(m + ".weight_format", element_type::u8, {}, std::as_bytes(std::span(&row_format, 1)));
}

// ---- int4 (ours) ------------------------------------------------------------------------------

inline void save_quantized(safetensors_writer& w, const std::string& m, const QuantizedTensor<BlockwiseInt4>& q,
                           std::string_view dtype = "float32") {
    detail::check_dtype_name(dtype);
    const auto& st = q.data();
    static_assert(std::endian::native == std::endian::little, "the int4 layout stores the scale little-endian");
    w.add(m + ".weight", element_type::u8, {st.rows, st.blocks_per_row() * st.block_bytes()}, detail::bytes_of(st.bytes));
    const std::string js = detail::quant_state_json("int4", st.params.block, dtype, st.rows, st.cols, nullptr);
    w.add(m + ".weight.quant_state.quant__int4", element_type::u8, {js.size()},
          std::as_bytes(std::span(js.data(), js.size())));
}

// ---- loading ----------------------------------------------------------------------------------

// The quantized weight of module `m`, validated against the layout above.
template <Scheme S>
QuantizedTensor<S> load_quantized(const checkpoint& c, const std::string& m) {
    using quant::detail::check;
    typename S::storage st;
    const std::string p = m + ".weight";
    if constexpr (std::is_same_v<S, AbsmaxInt8>) {
        const tensor_view& cb = c.at(p);
        check(cb.dtype == element_type::i8 && cb.rank() == 2 && cb.shape[0] > 0 && cb.shape[1] > 0, cb.name,
              ": an int8 weight must be I8 [rows, cols], is ", element_type_name(cb.dtype), " ", shape_string(cb.shape));
        st.rows = cb.shape[0];
        st.cols = cb.shape[1];
        detail::copy_into(cb, st.CB);
        detail::copy_into(detail::expect(c, m + ".SCB", element_type::f32, st.rows), st.SCB);
        detail::check_finite(st.SCB, c.at(m + ".SCB").name);
        if (c.contains(m + ".weight_format")) {
            const auto& f = detail::expect(c, m + ".weight_format", element_type::u8, 1);
            check(f.bytes[0] == std::byte{0}, f.name, ": only the 'row' weight format (0) is supported");
        }
    } else if constexpr (std::is_same_v<S, BlockwiseInt4>) {
        const auto q = detail::read_quant_state(c, p + ".quant_state.quant__int4");
        check(q.type == "int4" && !q.nested, c.at(p + ".quant_state.quant__int4").name, ": not an int4 quant state");
        st.rows = q.rows;
        st.cols = q.cols;
        st.params.block = q.block;
        try {
            S::validate(st.params);
        } catch (const error& e) {
            quant::detail::fail(c.at(p).name, ": ", e.what());
        }
        const std::uint64_t n = io::detail::checked_mul(q.rows, st.blocks_per_row() * st.block_bytes(), p);
        detail::copy_into(detail::expect(c, p, element_type::u8, n), st.bytes);
        for (std::size_t r = 0; r < st.rows; ++r)
            for (std::size_t k = 0; k < st.blocks_per_row(); ++k)
                check(std::isfinite(st.scale(r, k)), c.at(p).name, ": block scale (", r, ", ", k, ") is not finite");
    } else {  // Bnb4bit<Traits>
        const std::string qs_name = p + ".quant_state.bitsandbytes__" + std::string(S::name);
        const auto q = detail::read_quant_state(c, qs_name);
        const std::string& who = c.at(p).name;
        check(q.type == S::name, who, ": quant state says '", q.type, "', expected '", S::name, "'");
        st.rows = q.rows;
        st.cols = q.cols;
        st.params.block = q.block;
        st.params.double_quant = q.nested;
        try {
            S::validate(st.params);
        } catch (const error& e) {
            quant::detail::fail(who, ": ", e.what());
        }
        const std::uint64_t n = st.rows * st.cols;  // checked by read_quant_state
        const std::size_t blocks = st.blocks();
        detail::copy_into(detail::expect(c, p, element_type::u8, (n + 1) / 2), st.packed);
        const auto map = detail::expect(c, p + ".quant_map", element_type::f32, 16).template copy<float>();
        check(std::memcmp(map.data(), S::codebook.values.data(), sizeof(float) * 16) == 0, c.at(p + ".quant_map").name,
              ": is not the ", S::name, " codebook");
        if (q.nested) {
            detail::copy_into(detail::expect(c, p + ".absmax", element_type::u8, blocks), st.qabsmax);
            const std::size_t nested = (blocks + S::nested_block - 1) / S::nested_block;
            detail::copy_into(detail::expect(c, p + ".nested_absmax", element_type::f32, nested), st.nested_absmax);
            detail::check_finite(st.nested_absmax, c.at(p + ".nested_absmax").name);
            const auto dmap = detail::expect(c, p + ".nested_quant_map", element_type::f32, 256).template copy<float>();
            check(std::memcmp(dmap.data(), numeric::dynamic_map_signed.data(), sizeof(float) * 256) == 0,
                  c.at(p + ".nested_quant_map").name, ": is not bitsandbytes' signed dynamic map");
            st.offset = q.offset;
        } else {
            detail::copy_into(detail::expect(c, p + ".absmax", element_type::f32, blocks), st.absmax);
            detail::check_finite(st.absmax, c.at(p + ".absmax").name);
        }
    }
    return QuantizedTensor<S>(std::move(st));
}

}  // namespace quant::io
