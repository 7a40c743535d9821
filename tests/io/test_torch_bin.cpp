// PyTorch .bin: a torch.save fixture read tensor for tensor against the same tensors in
// safetensors; hostile pickles and damaged zips are errors, never executed, never a crash.
#include <cstring>

#include "io_helpers.hpp"

using namespace quant::io;

namespace {

std::string u32(std::uint32_t v) { return iot::le64(v).substr(0, 4); }
std::string str(const std::string& s) { return "X" + u32(static_cast<std::uint32_t>(s.size())) + s; }
std::string ints(std::initializer_list<unsigned> v) {
    std::string s = "(";
    for (unsigned x : v) s += "J" + u32(x);
    return s + "t";
}
// A state_dict {"w": tensor} as torch pickles it, with a FloatStorage of `numel` under `key`.
std::string tensor_pickle(std::initializer_list<unsigned> shape, std::initializer_list<unsigned> stride, unsigned offset,
                          unsigned numel, const std::string& key = "0") {
    return "\x80\x02}" + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") +
           "ctorch\nFloatStorage\n" + str(key) + str("cpu") + "J" + u32(numel) + "tQJ" + u32(offset) + ints(shape) +
           ints(stride) + "\x89" + "ccollections\nOrderedDict\n)RtRs.";
}
std::string torch_zip(const std::string& pickle, const std::string& storage, bool zip64 = false) {
    return iot::zip_stored({{"archive/data.pkl", pickle}, {"archive/byteorder", "little"}, {"archive/data/0", storage}},
                           zip64);
}
void expect_bad_bin(const iot::scratch& s, const std::string& bytes, std::initializer_list<std::string> parts) {
    const std::string path = s.path("bad.bin");
    iot::write_all(path, bytes);
    std::vector<std::string> all{"bad.bin"};
    all.insert(all.end(), parts);
    try {
        torch_bin_file f(path);
    } catch (const quant::error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        for (const auto& p : all) CHECK(msg.find(p) != std::string::npos);
        return;
    }
    FAIL("no quant::error");
}

}  // namespace

TEST_CASE("torch .bin: every tensor equals the safetensors copy written by PyTorch", "[io][torch]") {
    const torch_bin_file bin(iot::data("io_torch.bin"));
    const safetensors_file ref(iot::data("io_torch_ref.safetensors"));
    auto names = bin.tensors();
    std::sort(names.begin(), names.end());
    auto ref_names = ref.tensors();
    std::sort(ref_names.begin(), ref_names.end());
    REQUIRE(names == ref_names);
    for (const auto& n : names) {
        INFO(n);
        const auto& a = bin.view(n);
        const auto b = ref.view(n);
        CHECK(a.dtype == b.dtype);
        CHECK(a.shape == b.shape);
        REQUIRE(a.bytes.size() == b.bytes.size());
        CHECK(std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0);
    }
    // "tied" and "f32" share one storage: zero copy means the same bytes
    CHECK(bin.view("tied").bytes.data() == bin.view("f32").bytes.data());
}

TEST_CASE("torch .bin: hand-made pickles of the accepted kind load", "[io][torch]") {
    iot::scratch s("pk");
    std::string storage(24, '\0');
    for (int i = 0; i < 6; ++i) {
        const float v = float(i);
        std::memcpy(storage.data() + 4 * i, &v, 4);
    }
    iot::write_all(s.path("ok.bin"), torch_zip(tensor_pickle({2, 2}, {2, 1}, 2, 6), storage));
    const torch_bin_file f(s.path("ok.bin"));
    CHECK(f.view("w").to_float() == std::vector<float>{2, 3, 4, 5});
    // the same archive with zip64 records, as torch.save writes files over 4 GB
    iot::write_all(s.path("ok64.bin"), torch_zip(tensor_pickle({2, 2}, {2, 1}, 2, 6), storage, true));
    const torch_bin_file f64(s.path("ok64.bin"));
    CHECK(f64.view("w").to_float() == std::vector<float>{2, 3, 4, 5});
    // and a zip64 archive whose every truncation is an error
    const std::string z = iot::read_all(s.path("ok64.bin"));
    for (std::size_t n = 0; n < z.size(); ++n) {
        iot::write_all(s.path("t64.bin"), z.substr(0, n));
        CHECK_THROWS_AS(torch_bin_file(s.path("t64.bin")), quant::error);
    }
}

TEST_CASE("torch .bin: hostile pickles are refused without executing anything", "[io][torch][malformed]") {
    iot::scratch s("hostile");
    const std::string st(24, '\0');
    auto bad_pickle = [&](const std::string& pkl, std::initializer_list<std::string> parts) {
        expect_bad_bin(s, torch_zip(pkl, st), parts);
    };
    bad_pickle("\x80\x02" "cos\nsystem\n" + str("echo pwned") + "\x85R.", {"global 'os.system' is not allowed"});
    bad_pickle("\x80\x02" "cbuiltins\neval\n" + str("1") + "\x85R.", {"global 'builtins.eval' is not allowed"});
    bad_pickle("\x80\x04\x8c\x02os\x8c\x06system\x93.", {"global 'os.system' is not allowed"});
    bad_pickle("\x80\x02})R.", {"REDUCE of a callable that is not allowed"});
    bad_pickle("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R.", {"OrderedDict with arguments"});
    bad_pickle("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n)R.", {"6 or 7 arguments"});
    bad_pickle("\x80\x02" "ctorch\nFloatStorage\n)R.", {"not allowed"});
    bad_pickle("\x80\x02}\x81.", {"opcode 0x81 is not allowed"});
    bad_pickle("\x80\x02(cos\nsystem\ni.", {"not allowed"});
    bad_pickle("\x80\x02j\xff\xff\xff\xff.", {"memo index 4294967295 is not defined"});
    bad_pickle("\x80\x02h\x05.", {"memo index 5 is not defined"});
    bad_pickle("\x80\x02X\xff\xff\xff\xff", {"truncated"});
    bad_pickle("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff", {"truncated"});
    bad_pickle("\x80\x02\x8a\xc8" + std::string(200, '\x01') + ".", {"does not fit 64 bits"});
    bad_pickle("\x80\x02}", {"truncated (no STOP)"});
    bad_pickle("", {"truncated"});
    bad_pickle(".", {"stack underflow"});
    bad_pickle("\x80\x02" + std::string(100000, '(') + ".", {"stack underflow"});
    bad_pickle("\x80\x02}(K\x01.", {"STOP inside a MARK"});
    bad_pickle("\x80\x02" + std::string(1'000'000, ']') + std::string(999'999, 'a') + ".", {"top-level object"});
    bad_pickle("\x80\x02}" + str("a") + "K\x01s.", {"state_dict entry 'a' is not a tensor"});
    bad_pickle("\x80\x02K\x01" + str("k") + str("v") + "s.", {"SETITEM(S) on something that is not a dict"});
    bad_pickle("\x80\x02}(" + str("storage") + "K\x01t" "Q.", {"persistent id is not"});
    bad_pickle("\x80\x02}(" + str("storage") + "ctorch\nFloatStorage\nK\x01" + str("cpu") + "K\x01t" "Q.",
               {"storage key is not a string"});
    // tensors that do not fit their storage, or are strided
    bad_pickle(tensor_pickle({10}, {1}, 0, 6), {"tensor 'w'", "run past its storage"});
    bad_pickle(tensor_pickle({2, 2}, {2, 1}, 4, 6), {"run past its storage"});
    bad_pickle(tensor_pickle({2, 2}, {1, 2}, 0, 6), {"not contiguous"});
    bad_pickle(tensor_pickle({65536, 65536, 65536, 65536}, {1, 1, 1, 1}, 0, 6), {"overflows"});
    bad_pickle(tensor_pickle({2}, {1}, 0, 6, "7"), {"zip entry 'archive/data/7' is missing"});
}

TEST_CASE("torch .bin: damaged or foreign archives are refused", "[io][torch][malformed]") {
    iot::scratch s("zip");
    expect_bad_bin(s, iot::read_all(iot::data("io_torch_legacy.bin")), {"legacy"});
    expect_bad_bin(s, iot::zip_stored({{"a.txt", "hi"}}), {"no <archive>/data.pkl"});
    expect_bad_bin(s, "PK\x03\x04", {"not a zip archive"});
    expect_bad_bin(s, iot::zip_stored({{"archive/data.pkl", tensor_pickle({2}, {1}, 0, 6)}, {"archive/byteorder", "big"},
                                       {"archive/data/0", std::string(24, '\0')}}),
                   {"big-endian"});
    // every truncation of the real file is an error (most lose the end-of-directory record)
    const std::string full = iot::read_all(iot::data("io_torch.bin"));
    for (std::size_t n = 0; n < full.size(); n += 13) {
        iot::write_all(s.path("t.bin"), full.substr(0, n));
        CHECK_THROWS_AS(torch_bin_file(s.path("t.bin")), quant::error);
    }
    // a central directory pointing outside the file
    std::string lie = full;
    const auto eocd = lie.rfind(std::string("PK\x05\x06", 4));
    REQUIRE(eocd != std::string::npos);
    lie[eocd + 16] = '\xff';
    lie[eocd + 17] = '\xff';
    lie[eocd + 18] = '\xff';
    lie[eocd + 19] = '\x7f';
    expect_bad_bin(s, lie, {"central directory"});
}
