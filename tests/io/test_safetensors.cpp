// safetensors write -> read round trips, and our reader against the committed fixtures (read
// by the independent test reader, tests/support/fixture.hpp).
#include <cstring>

#include "io_helpers.hpp"
#include "support/fixture.hpp"

using namespace quant::io;

TEST_CASE("safetensors: every dtype, scalars, empty tensors and metadata round-trip", "[io][safetensors]") {
    iot::scratch s("rt");
    const std::string path = s.path("all.safetensors");
    std::vector<std::string> names;
    {
        safetensors_writer w(path);
        for (element_type t : all_element_types) {
            const std::size_t n = 2 * 3;
            std::vector<std::byte> bytes(n * element_size(t));
            for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = std::byte(i * 7 + static_cast<unsigned>(t));
            const std::string name = "t_" + std::string(element_type_name(t));
            w.add(name, t, {2, 3}, bytes);
            names.push_back(name);
        }
        const float pi = 3.25f;
        w.add("scalar", element_type::f32, {}, std::as_bytes(std::span(&pi, 1)));
        w.add("empty", element_type::f16, {0, 5}, {});
        w.set_metadata("format", "pt");
        w.finish();
    }
    const safetensors_file f(path);
    CHECK(f.metadata().at("format") == "pt");
    CHECK(f.tensors().size() == names.size() + 2);
    for (element_type t : all_element_types) {
        const auto v = f.view("t_" + std::string(element_type_name(t)));
        CHECK(v.dtype == t);
        CHECK(v.shape == std::vector<std::uint64_t>{2, 3});
        REQUIRE(v.bytes.size() == 6 * element_size(t));
        for (std::size_t i = 0; i < v.bytes.size(); ++i) CHECK(v.bytes[i] == std::byte(i * 7 + static_cast<unsigned>(t)));
    }
    CHECK(f.view("scalar").rank() == 0);
    CHECK(f.view("scalar").to_float() == std::vector<float>{3.25f});
    CHECK(f.view("empty").numel() == 0);
    // the header is padded so the data section starts 8-aligned
    const std::string raw = iot::read_all(path);
    std::uint64_t hlen;
    std::memcpy(&hlen, raw.data(), 8);
    CHECK(hlen % 8 == 0);
}

TEST_CASE("safetensors: to_float widens every stored type", "[io][safetensors]") {
    iot::scratch s("float");
    const std::string path = s.path("f.safetensors");
    {
        safetensors_writer w(path);
        const std::vector<quant::half> h{quant::half(1.5f), quant::half(-2.0f)};
        const std::vector<quant::bfloat16> b{quant::bfloat16(0.25f), quant::bfloat16(-8.0f)};
        const std::vector<double> d{1e-3, -7.0};
        const std::vector<std::int64_t> l{-5, 1ll << 40};
        const std::vector<std::int8_t> c{-128, 127};
        w.add<quant::half>("h", h);
        w.add<quant::bfloat16>("b", b);
        w.add<double>("d", d);
        w.add<std::int64_t>("l", l);
        w.add<std::int8_t>("c", c);
        w.finish();
    }
    const safetensors_file f(path);
    CHECK(f.view("h").to_float() == std::vector<float>{1.5f, -2.0f});
    CHECK(f.view("b").to_float() == std::vector<float>{0.25f, -8.0f});
    CHECK(f.view("d").to_float() == std::vector<float>{1e-3f, -7.0f});
    CHECK(f.view("l").to_float() == std::vector<float>{-5.0f, 1099511627776.0f});
    CHECK(f.view("c").vector() == std::vector<float>{-128.0f, 127.0f});
    iot::require_error([&] { std::size_t r, c; (void)f.view("c").matrix(r, c); }, {"f.safetensors: c", "2-D"});
    iot::require_error([&] { (void)f.view("c").copy<float>(); }, {"stored as I8"});
    iot::require_error([&] { (void)f.view("nope"); }, {"no tensor 'nope'"});
}

TEST_CASE("safetensors: the committed fixtures read the same as the test reader reads them", "[io][safetensors]") {
    for (const char* name : {"bnb_fixtures.safetensors", "io_bnb.safetensors", "io_dense.safetensors"}) {
        const fixture::file ref(iot::data(name));
        const safetensors_file f(iot::data(name));
        REQUIRE(f.tensors().size() == ref.tensors.size());
        for (const auto& [n, t] : ref.tensors) {
            const auto v = f.view(n);
            CHECK(element_type_name(v.dtype) == t.dtype);
            CHECK(std::vector<std::size_t>(v.shape.begin(), v.shape.end()) == t.shape);
            REQUIRE(v.bytes.size() == t.bytes.size());
            CHECK(std::memcmp(v.bytes.data(), t.bytes.data(), t.bytes.size()) == 0);
        }
    }
}

TEST_CASE("safetensors writer: refuses inconsistent input", "[io][safetensors]") {
    iot::scratch s("wbad");
    safetensors_writer w(s.path("x.safetensors"));
    const std::vector<float> v(6);
    w.add<float>("a", v, {2, 3});
    iot::require_error([&] { w.add<float>("a", v, {2, 3}); }, {"duplicate tensor name 'a'"});
    iot::require_error([&] { w.add<float>("b", v, {4, 3}); }, {"'b'", "needs 48 bytes, got 24"});
    iot::require_error([&] { w.add<float>("c", v, {1ull << 62, 8}); }, {"overflows"});
    w.finish();
    CHECK(safetensors_file(s.path("x.safetensors")).tensors() == std::vector<std::string>{"a"});
    CHECK(!iot::fs::exists(s.path("x.safetensors.data.tmp")));
}
