// The schemes against bitsandbytes' own output (tests/data/bnb_fixtures.safetensors, written by
// tools/make_bnb_fixtures.py): equal bytes and equal float bits, case by case.
#include <catch2/catch.hpp>

#include "support/helpers.hpp"

using namespace quant;

namespace {

template <class S>
void check_bnb4bit_case(const nlohmann::json& c) {
    const auto& f = fixture::bnb();
    const std::string name = c["name"];
    const std::size_t rows = c["rows"], cols = c["cols"];
    typename S::params p;
    p.block = c["blocksize"];
    p.double_quant = c["double_quant"];
    INFO("case " << name << " (" << rows << "x" << cols << ", block " << p.block << ", dq " << p.double_quant << ")");
    const auto q = th::quantize_input<S>(f[name + ".input"], rows, cols, p);
    const auto& st = q.data();

    const auto packed = f[name + ".packed"].as<std::uint8_t>();
    REQUIRE(packed.size() == (rows * cols + 1) / 2);
    CHECK(th::describe_mismatch(st.packed, packed) == "equal");
    if (p.double_quant) {
        CHECK(th::describe_mismatch(st.qabsmax, f[name + ".absmax"].as<std::uint8_t>()) == "equal");
        CHECK(th::describe_mismatch(st.nested_absmax, f[name + ".nested_absmax"].as<float>()) == "equal");
        CHECK(std::bit_cast<std::uint32_t>(st.offset) == std::bit_cast<std::uint32_t>(f[name + ".offset"].as<float>()[0]));
        CHECK(th::describe_mismatch(f[name + ".nested_code"].as<float>(), numeric::dynamic_map_signed) == "equal");
    } else {
        CHECK(th::describe_mismatch(st.absmax, f[name + ".absmax"].as<float>()) == "equal");
    }
    if (c["dequant"].get<bool>()) CHECK(th::describe_mismatch(q.dequantize(), f[name + ".dequant"].as<float>()) == "equal");
}

}  // namespace

TEST_CASE("codebooks and the dynamic map are bitsandbytes' values", "[bnb]") {
    const auto& f = fixture::bnb();
    CHECK(th::describe_mismatch(f["nf4_code"].as<float>(), numeric::nf4_codebook.values) == "equal");
    CHECK(th::describe_mismatch(f["fp4_code"].as<float>(), numeric::fp4_codebook.values) == "equal");
    CHECK(th::describe_mismatch(f["dynamic_map"].as<float>(), numeric::dynamic_map_signed) == "equal");
}

TEST_CASE("NF4 and FP4: bytes, absmax, nested stats and dequantized values equal bitsandbytes", "[bnb][nf4]") {
    int n = 0;
    for (const auto& c : fixture::bnb().cases()) {
        if (c["kind"] == "nf4") check_bnb4bit_case<NF4>(c), ++n;
        if (c["kind"] == "fp4") check_bnb4bit_case<FP4>(c), ++n;
    }
    CHECK(n == 22);
}

TEST_CASE("int8: CB and SCB equal bitsandbytes' Int8Params", "[bnb][int8]") {
    const auto& f = fixture::bnb();
    int n = 0;
    for (const auto& c : f.cases()) {
        if (c["kind"] != "int8") continue;
        ++n;
        const std::string name = c["name"];
        INFO("case " << name);
        const auto q = th::quantize_input<AbsmaxInt8>(f[name + ".input"], c["rows"], c["cols"], {});
        CHECK(th::describe_mismatch(q.data().CB, f[name + ".CB"].as<std::int8_t>()) == "equal");
        CHECK(th::describe_mismatch(q.data().SCB, f[name + ".SCB"].as<float>()) == "equal");
    }
    CHECK(n == 4);
}

TEST_CASE("the nested 8-bit step equals bitsandbytes' CPU quantize_blockwise", "[bnb][dq]") {
    const auto& f = fixture::bnb();
    int n = 0;
    for (const auto& c : f.cases()) {
        if (c["kind"] != "blockwise8") continue;
        ++n;
        const std::string name = c["name"];
        INFO("case " << name);
        const auto x = f[name + ".input"].as<float>();
        std::vector<std::uint8_t> codes(x.size());
        std::vector<float> absmax((x.size() + 255) / 256);
        numeric::quantize_dynamic8(x, 256, codes, absmax);
        CHECK(th::describe_mismatch(codes, f[name + ".codes"].as<std::uint8_t>()) == "equal");
        CHECK(th::describe_mismatch(absmax, f[name + ".absmax"].as<float>()) == "equal");
    }
    CHECK(n == 3);
}

TEST_CASE("int4: codes, scales and dequantized values equal the written definition", "[int4]") {
    const auto& f = fixture::bnb();
    int n = 0;
    for (const auto& c : f.cases()) {
        if (c["kind"] != "int4") continue;
        ++n;
        const std::string name = c["name"];
        const std::size_t rows = c["rows"], cols = c["cols"], B = c["blocksize"];
        INFO("case " << name);
        const auto q = th::quantize_input<BlockwiseInt4>(f[name + ".input"], rows, cols, {.block = B});
        const auto& st = q.data();
        const auto scale = f[name + ".scale"].as<float>();
        const auto codes = f[name + ".codes"].as<std::uint8_t>();
        std::vector<float> got_scale;
        std::vector<std::uint8_t> got_codes;
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t k = 0; k < st.blocks_per_row(); ++k) {
                got_scale.push_back(st.scale(r, k));
                got_codes.insert(got_codes.end(), st.codes(r, k), st.codes(r, k) + B / 2);
            }
        CHECK(th::describe_mismatch(got_scale, scale) == "equal");
        CHECK(th::describe_mismatch(got_codes, codes) == "equal");
        CHECK(th::describe_mismatch(q.dequantize(), f[name + ".dequant"].as<float>()) == "equal");
    }
    CHECK(n == 4);
}

TEST_CASE("Linear forward matches bitsandbytes' Linear4bit and Linear8bitLt on the CPU", "[bnb][linear]") {
    const auto& f = fixture::bnb();
    int n = 0;
    for (const auto& c : f.cases()) {
        const std::string kind = c["kind"];
        if (kind != "linear_nf4" && kind != "linear_int8") continue;
        ++n;
        const std::string name = c["name"];
        const std::size_t in = c["in_features"], out = c["out_features"], m = c["m"];
        INFO("case " << name);
        const auto w = f[name + ".weight"].as<float>();
        const auto b = f[name + ".bias"].as<float>();
        const auto x = f[name + ".x"].as<float>();
        const auto want = f[name + ".y"].as<float>();
        std::vector<float> y(m * out);
        const const_matrix_view<float> wv(w.data(), out, in), xv(x.data(), m, in);
        if (kind == "linear_nf4") {
            const auto layer = QuantizedLinear<NF4>::from_dense(wv, b, {.block = 64, .double_quant = c["double_quant"]});
            layer.forward(xv, matrix_view<float>(y.data(), m, out));
        } else {
            const auto act = c["int8_activations"].get<bool>() ? int8_activations::rowwise : int8_activations::none;
            const auto layer = QuantizedLinear<AbsmaxInt8>::from_dense(
                wv, b, {.activations = act, .threshold = c["threshold"].get<float>()});
            layer.forward(xv, matrix_view<float>(y.data(), m, out));
        }
        // bitsandbytes sums in float32 in another order: agreement to float32 summation error
        for (std::size_t i = 0; i < y.size(); ++i) {
            INFO("element " << i);
            CHECK(y[i] == Approx(want[i]).epsilon(1e-5).margin(1e-5));
        }
    }
    CHECK(n == 7);
}
