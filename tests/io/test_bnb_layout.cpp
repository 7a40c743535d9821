// The transformers + bitsandbytes layout of quantized weights, both ways, against a checkpoint
// that bitsandbytes itself wrote (tests/data/io_bnb.safetensors, from tools/make_io_fixtures.py):
// loading it gives exactly our quantization of the dense weights (io_dense.safetensors), and
// saving ours gives the same tensors, byte for byte (the quant-state JSON included).
#include <cstring>

#include "io_helpers.hpp"

using namespace quant;
using namespace quant::io;

namespace {

struct layer_case {
    const char* module;
    const char* kind;
};
constexpr layer_case layers[] = {{"enc.q_nf4", "nf4"}, {"enc.k_nf4dq", "nf4-dq"}, {"enc.v_fp4", "fp4"},
                                 {"enc.o_int8", "int8"}, {"head.dense", "int8"}};

template <Scheme S>
QuantizedTensor<S> quantize_dense(const checkpoint& dense, const std::string& m, const typename S::params& p) {
    std::size_t rows = 0, cols = 0;
    const auto w = dense.at(m + ".weight").matrix(rows, cols);
    return QuantizedTensor<S>::quantize(const_matrix_view<float>(w.data(), rows, cols), p);
}

template <class T>
bool same_bytes(const T& a, const T& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0);
}

// ours == loaded, field by field, and the dequantized weights agree bit for bit
template <class Traits>
void check_equal(const QuantizedTensor<Bnb4bit<Traits>>& a, const QuantizedTensor<Bnb4bit<Traits>>& b) {
    const auto &x = a.data(), &y = b.data();
    CHECK(x.rows == y.rows);
    CHECK(x.cols == y.cols);
    CHECK(x.params.block == y.params.block);
    CHECK(x.params.double_quant == y.params.double_quant);
    CHECK(same_bytes(x.packed, y.packed));
    CHECK(same_bytes(x.absmax, y.absmax));
    CHECK(same_bytes(x.qabsmax, y.qabsmax));
    CHECK(same_bytes(x.nested_absmax, y.nested_absmax));
    CHECK(std::memcmp(&x.offset, &y.offset, sizeof(float)) == 0);
    CHECK(same_bytes(a.dequantize(), b.dequantize()));
}
void check_equal(const QuantizedTensor<AbsmaxInt8>& a, const QuantizedTensor<AbsmaxInt8>& b) {
    CHECK(a.rows() == b.rows());
    CHECK(same_bytes(a.data().CB, b.data().CB));
    CHECK(same_bytes(a.data().SCB, b.data().SCB));
    CHECK(same_bytes(a.dequantize(), b.dequantize()));
}

template <class F>
void for_each_layer(F&& f) {
    for (const auto& l : layers) {
        INFO(l.module << " (" << l.kind << ")");
        const std::string k = l.kind;
        if (k == "int8") f(l.module, std::type_identity<AbsmaxInt8>{}, AbsmaxInt8::params{});
        else if (k == "fp4") f(l.module, std::type_identity<FP4>{}, FP4::params{.block = 64, .double_quant = false});
        else f(l.module, std::type_identity<NF4>{}, NF4::params{.block = 64, .double_quant = k == "nf4-dq"});
    }
}

}  // namespace

TEST_CASE("bnb layout: a checkpoint written by bitsandbytes loads as our quantization", "[io][bnb]") {
    const checkpoint bnb = load_checkpoint(iot::data("io_bnb.safetensors"));
    const checkpoint dense = load_checkpoint(iot::data("io_dense.safetensors"));
    CHECK(detect_format(bnb, "enc.q_nf4") == stored_format::nf4);
    CHECK(detect_format(bnb, "enc.v_fp4") == stored_format::fp4);
    CHECK(detect_format(bnb, "enc.o_int8") == stored_format::int8);
    CHECK(detect_format(bnb, "embeddings.word_embeddings") == stored_format::dense);
    for_each_layer([&]<class S>(const std::string& m, std::type_identity<S>, const typename S::params& p) {
        check_equal(load_quantized<S>(bnb, m), quantize_dense<S>(dense, m, p));
    });
}

TEST_CASE("bnb layout: what we save equals what bitsandbytes saves, byte for byte", "[io][bnb]") {
    iot::scratch s("bnbsave");
    const checkpoint dense = load_checkpoint(iot::data("io_dense.safetensors"));
    const std::string out = s.path("ours.safetensors");
    {
        safetensors_writer w(out);
        for_each_layer([&]<class S>(const std::string& m, std::type_identity<S>, const typename S::params& p) {
            save_quantized(w, m, quantize_dense<S>(dense, m, p));
        });
        w.finish();
    }
    const safetensors_file ours(out), ref(iot::data("io_bnb.safetensors"));
    std::size_t compared = 0;
    for (const auto& n : ours.tensors()) {
        INFO(n);
        REQUIRE(ref.contains(n));
        const auto a = ours.view(n), b = ref.view(n);
        CHECK(a.dtype == b.dtype);
        CHECK(a.shape == b.shape);
        CHECK((a.bytes.size() == b.bytes.size() && std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0));
        ++compared;
    }
    // every bnb tensor of the quantized layers (all but biases) was written by us
    std::size_t expected = 0;
    for (const auto& n : ref.tensors())
        if (n.find(".bias") == std::string::npos && n.rfind("enc.LayerNorm", 0) && n.rfind("embeddings", 0)) ++expected;
    CHECK(compared == expected);
}

TEST_CASE("bnb layout: int4 (ours) and every scheme round-trip through a file", "[io][bnb][int4]") {
    iot::scratch s("int4");
    const checkpoint dense = load_checkpoint(iot::data("io_dense.safetensors"));
    const auto q4 = quantize_dense<BlockwiseInt4>(dense, "enc.k_nf4dq", {.block = 32});
    const auto fp4dq = quantize_dense<FP4>(dense, "enc.k_nf4dq", {.block = 128, .double_quant = true});
    {
        safetensors_writer w(s.path("q.safetensors"));
        save_quantized(w, "l4", q4);
        save_quantized(w, "lf", fp4dq, "bfloat16");
        w.finish();
    }
    const checkpoint c = load_checkpoint(s.path("q.safetensors"));
    CHECK(detect_format(c, "l4") == stored_format::int4);
    const auto back = load_quantized<BlockwiseInt4>(c, "l4");
    CHECK(back.rows() == q4.rows());
    CHECK(back.parameters().block == 32);
    CHECK(same_bytes(back.data().bytes, q4.data().bytes));
    CHECK(same_bytes(back.dequantize(), q4.dequantize()));
    check_equal(load_quantized<FP4>(c, "lf"), fp4dq);
    // the wrong scheme for a module is an error, not a misread
    iot::require_error([&] { (void)load_quantized<NF4>(c, "lf"); }, {"no tensor 'lf.weight.quant_state.bitsandbytes__nf4'"});
}

TEST_CASE("bnb layout: inconsistent quantized tensors are errors", "[io][bnb][malformed]") {
    iot::scratch s("bnbbad");
    const checkpoint dense = load_checkpoint(iot::data("io_dense.safetensors"));
    const auto q = quantize_dense<NF4>(dense, "enc.q_nf4", {.block = 64, .double_quant = true});
    const auto& st = q.data();
    // writes an NF4 module with one piece replaced, then loads it
    auto attempt = [&](const std::string& qs, std::size_t packed_len, std::size_t absmax_len, bool good_map,
                       std::initializer_list<std::string> parts) {
        const std::string path = s.path("bad.safetensors");
        {
            safetensors_writer w(path);
            std::vector<std::uint8_t> packed(packed_len, 0), qabs(absmax_len, 0);
            w.add<std::uint8_t>("m.weight", packed);
            w.add<std::uint8_t>("m.weight.absmax", qabs);
            auto map = NF4::codebook.values;
            if (!good_map) map[3] += 1.0f;
            w.add<float>("m.weight.quant_map", map);
            w.add<float>("m.weight.nested_absmax", st.nested_absmax);
            w.add<float>("m.weight.nested_quant_map", numeric::dynamic_map_signed);
            w.add("m.weight.quant_state.bitsandbytes__nf4", element_type::u8, {qs.size()}, std::as_bytes(std::span(qs.data(), qs.size())));
            w.finish();
        }
        const checkpoint c = load_checkpoint(path);
        iot::require_error([&] { (void)load_quantized<NF4>(c, "m"); }, parts);
    };
    const std::size_t P = st.packed.size(), A = st.qabsmax.size();
    const std::string good = R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [9, 70], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.01})";
    attempt(good, P + 1, A, true, {"m.weight", "expected 315"});
    attempt(good, P, A - 1, true, {"m.weight.absmax", "expected 10"});
    attempt(good, P, A, false, {"m.weight.quant_map", "not the nf4 codebook"});
    attempt("not json", P, A, true, {"quant_state", "not a JSON object"});
    attempt(R"({"quant_type": "fp4", "blocksize": 64, "dtype": "float32", "shape": [9, 70]})", P, A, true, {"says 'fp4'"});
    attempt(R"({"quant_type": "nf4", "blocksize": 63, "dtype": "float32", "shape": [9, 70], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.01})",
            P, A, true, {"block size 63"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [4294967296, 4294967296]})", P, A, true, {"overflows"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "int7", "shape": [9, 70]})", P, A, true, {"dtype 'int7'"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [1, 18446744073709551615]})", P, A, true,
            {"implausibly large"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [9]})", P, A, true, {"not [rows, cols]"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [0, 70]})", P, A, true, {"is empty"});
    attempt(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [9, 70], "nested_blocksize": 128, "nested_offset": 0.1})",
            P, A, true, {"nested_blocksize 128"});
}
