// load_checkpoint: single files, directories, sharded indexes, torch .bin, and the ways an
// index can be wrong.
#include <cstring>

#include "io_helpers.hpp"

using namespace quant::io;

namespace {

void write_shard(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>>>& tensors) {
    safetensors_writer w(path);
    for (const auto& [n, v] : tensors) w.add<float>(n, v);
    w.finish();
}

}  // namespace

TEST_CASE("checkpoint: a file, a directory and a sharded index give the same tensors", "[io][checkpoint]") {
    iot::scratch s("ckpt");
    write_shard(s.path("model-00001-of-00002.safetensors"), {{"a.weight", {1, 2}}, {"b.bias", {3}}});
    write_shard(s.path("model-00002-of-00002.safetensors"), {{"c.weight", {4, 5, 6}}});
    iot::write_all(s.path("model.safetensors.index.json"),
                   R"({"metadata": {"total_size": 24}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                   "b.bias": "model-00001-of-00002.safetensors", "c.weight": "model-00002-of-00002.safetensors"}})");
    const checkpoint c = load_checkpoint(s.dir.string());
    CHECK(c.names() == std::vector<std::string>{"a.weight", "b.bias", "c.weight"});
    CHECK(c.at("c.weight").vector() == std::vector<float>{4, 5, 6});
    CHECK(c.metadata().at("total_size") == "24");
    c.release("c.weight");  // pages go back; the data is still readable
    CHECK(c.at("c.weight").vector() == std::vector<float>{4, 5, 6});
    iot::require_error([&] { (void)c.at("zzz"); }, {"no tensor 'zzz'"});

    const checkpoint one = load_checkpoint(s.path("model-00002-of-00002.safetensors"));
    CHECK(one.names() == std::vector<std::string>{"c.weight"});
}

TEST_CASE("checkpoint: a directory with only pytorch_model.bin", "[io][checkpoint][torch]") {
    iot::scratch s("bindir");
    iot::write_all(s.path("pytorch_model.bin"), iot::read_all(iot::data("io_torch.bin")));
    const checkpoint c = load_checkpoint(s.dir.string());
    CHECK(c.contains("f16"));
    CHECK(c.at("f16").dtype == element_type::f16);
    std::size_t rows = 0, cols = 0;
    const auto w = c.at("f32").matrix(rows, cols);
    CHECK((rows == 6 && cols == 5 && w.size() == 30));
}

TEST_CASE("checkpoint: bad indexes and missing files", "[io][checkpoint][malformed]") {
    iot::scratch s("badidx");
    write_shard(s.path("shard.safetensors"), {{"a", {1}}});
    const std::string idx = s.path("model.safetensors.index.json");
    auto bad = [&](const std::string& text, std::initializer_list<std::string> parts) {
        iot::write_all(idx, text);
        iot::require_error([&] { load_checkpoint(s.dir.string()); }, parts);
    };
    bad("{", {"model.safetensors.index.json", "not valid JSON"});
    bad("[]", {"no \"weight_map\""});
    bad(R"({"weight_map": {"a": 3}})", {"weight_map['a'] is not a file name"});
    bad(R"({"weight_map": {"a": "../shard.safetensors"}})", {"not a plain file name"});
    bad(R"({"weight_map": {"a": "/etc/passwd"}})", {"not a plain file name"});
    bad(R"({"weight_map": {"a": ".."}})", {"not a plain file name"});
    bad(R"({"weight_map": {"b": "shard.safetensors"}})", {"shard.safetensors", "no tensor 'b'"});
    bad(R"({"weight_map": {"a": "missing.safetensors"}})", {"missing.safetensors", "cannot open"});
    iot::fs::remove(idx);
    iot::fs::remove(s.path("shard.safetensors"));
    iot::require_error([&] { load_checkpoint(s.dir.string()); }, {"no model.safetensors"});
    iot::require_error([&] { load_checkpoint(s.path("nope.safetensors")); }, {"nope.safetensors", "no such file"});
}
