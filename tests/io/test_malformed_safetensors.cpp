// Every kind of malformed safetensors file, derived from a valid one, is a quant::error naming
// the file and the problem: never a crash, a hang or a giant allocation (run under ASan too).
#include <string>

#include "io_helpers.hpp"

using namespace quant::io;

namespace {

const std::string good_a = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";
const std::string good_b = R"("b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]})";
const std::string good_meta = R"("__metadata__":{"format":"pt"})";
const std::string good_header = "{" + good_a + "," + good_b + "," + good_meta + "}";
const std::string good_data(19, '\x01');

// Writes the file and opens it; expects an error containing the file name and `parts`.
void expect_bad(const iot::scratch& s, const std::string& bytes, std::initializer_list<std::string> parts) {
    const std::string path = s.path("bad.safetensors");
    iot::write_all(path, bytes);
    std::vector<std::string> all{"bad.safetensors"};
    all.insert(all.end(), parts);
    try {
        safetensors_file f(path);
    } catch (const quant::error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        for (const auto& p : all) CHECK(msg.find(p) != std::string::npos);
        return;
    }
    FAIL("no quant::error for " << bytes.substr(0, 200));
}
void expect_bad_header(const iot::scratch& s, const std::string& header, std::initializer_list<std::string> parts,
                       const std::string& data = good_data) {
    expect_bad(s, iot::safetensors_bytes(header, data), parts);
}
std::string with_a(const std::string& a) { return "{" + a + "," + good_b + "}"; }

}  // namespace

TEST_CASE("malformed safetensors: the valid base file opens", "[io][malformed]") {
    iot::scratch s("good");
    iot::write_all(s.path("good.safetensors"), iot::safetensors_bytes(good_header, good_data));
    const safetensors_file f(s.path("good.safetensors"));
    CHECK(f.tensors().size() == 2);
}

TEST_CASE("malformed safetensors: length prefix", "[io][malformed]") {
    iot::scratch s("len");
    expect_bad(s, "", {"shorter than the 8-byte header length"});
    expect_bad(s, "\x10\0\0", {"shorter than the 8-byte header length"});
    expect_bad(s, iot::le64(~0ull) + good_header + good_data, {"over the 100 MB limit"});
    expect_bad(s, iot::le64(200'000'000) + good_header + good_data, {"over the 100 MB limit"});
    expect_bad(s, iot::le64(good_header.size() + good_data.size() + 1) + good_header + good_data,
               {"runs past the end of the file"});
    expect_bad(s, iot::le64(good_header.size() - 3) + good_header + good_data, {"not valid JSON"});
}

TEST_CASE("malformed safetensors: every truncation of a valid file is an error", "[io][malformed]") {
    iot::scratch s("trunc");
    const std::string full = iot::safetensors_bytes(good_header, good_data);
    for (std::size_t n = 0; n < full.size(); ++n) {
        iot::write_all(s.path("t.safetensors"), full.substr(0, n));
        CHECK_THROWS_AS(safetensors_file(s.path("t.safetensors")), quant::error);
    }
}

TEST_CASE("malformed safetensors: JSON that is not a header", "[io][malformed]") {
    iot::scratch s("json");
    expect_bad_header(s, "not json", {"not valid JSON"});
    expect_bad_header(s, "{\"a\":", {"not valid JSON"});
    expect_bad_header(s, good_header + " trailing", {"not valid JSON"});
    expect_bad_header(s, "{\"\xff\xfe\":{}}", {"not valid JSON"});  // not UTF-8
    expect_bad_header(s, "[1,2]", {"not a JSON object"});
    expect_bad_header(s, "\"str\"", {"not a JSON object"});
    expect_bad_header(s, "{\"a\":\"F32\"}", {"expected an object for 'a'"});
    expect_bad_header(s, "{\"a\":[" + std::string(1'000'000, '[') + "]}", {"expected an object for 'a'"});
    expect_bad_header(s, "{\"a\":{\"dtype\":" + std::string(1'000'000, '[') + "}}", {"tensor 'a'", "unexpected array"});
    expect_bad_header(s, "{" + good_a + "," + good_a + "}", {"duplicate name 'a'"});
    expect_bad_header(s, "{" + good_meta + "," + good_meta + "}", {"duplicate name '__metadata__'"});
}

TEST_CASE("malformed safetensors: wrong types and unknown values in a tensor entry", "[io][malformed]") {
    iot::scratch s("types");
    expect_bad_header(s, with_a(R"("a":{"dtype":"F8","shape":[2,2],"data_offsets":[0,16]})"), {"tensor 'a'", "unknown dtype \"F8\""});
    expect_bad_header(s, with_a(R"("a":{"dtype":7,"shape":[2,2],"data_offsets":[0,16]})"), {"tensor 'a'", "unexpected number"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":"2x2","data_offsets":[0,16]})"), {"unexpected string"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,16]})"), {"negative shape value -2"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2.0],"data_offsets":[0,16]})"), {"non-integer number"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,99999999999999999999999],"data_offsets":[0,16]})"), {"non-integer number"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[[2],2],"data_offsets":[0,16]})"), {"unexpected array"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16],"x":1})"), {"unknown field \"x\""});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","dtype":"F32","shape":[2,2],"data_offsets":[0,16]})"), {"duplicate field \"dtype\""});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2]})"), {"needs \"dtype\", \"shape\" and \"data_offsets\""});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0]})"), {"data_offsets needs 2 values"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16,16]})"), {"more than 2 values"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,4],"data_offsets":[0,16]})"), {"more than 16 dims"});
    expect_bad_header(s, with_a(R"("a":{"dtype":null,"shape":[2,2],"data_offsets":[0,16]})"), {"unexpected null"});
    expect_bad_header(s, "{\"__metadata__\":{\"k\":1}}", {"__metadata__", "not a string"}, "");
    expect_bad_header(s, "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", {"__metadata__"}, "");
    expect_bad_header(s, "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", {"duplicate __metadata__ key 'k'"}, "");
}

TEST_CASE("malformed safetensors: shapes, sizes and offsets that do not add up", "[io][malformed]") {
    iot::scratch s("sizes");
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]})"), {"tensor 'a'", "needs 24 bytes", "hold 16"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]})"), {"tensor 'a'", "overflows"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F64","shape":[2305843009213693952,1],"data_offsets":[0,16]})"), {"overflows"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,0]})"), {"reversed"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[1000,1016]})"), {"run past the data section"});
    expect_bad_header(s, with_a(R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[18446744073709551600,18446744073709551615]})"), {"run past"});
    // b overlaps a
    expect_bad_header(s, "{" + good_a + R"(,"b":{"dtype":"U8","shape":[3],"data_offsets":[8,11]}})", {"'b'", "overlapping"}, std::string(16, 'x'));
    // a gap before b, and bytes after the last tensor
    expect_bad_header(s, "{" + good_a + R"(,"b":{"dtype":"U8","shape":[3],"data_offsets":[17,20]}})", {"'b'", "gap"}, std::string(20, 'x'));
    expect_bad_header(s, good_header, {"5 bytes that belong to no tensor"}, good_data + "extra");
    // two tensors on the same bytes
    expect_bad_header(s, "{" + good_a + R"(,"c":{"dtype":"I32","shape":[4],"data_offsets":[0,16]}})", {"overlapping"}, std::string(16, 'x'));
}
