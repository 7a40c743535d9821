// ByteLevelBPETokenizer against GPT2TokenizerFast, id for id, and decode back to the text.
#include <catch2/catch.hpp>

#include "common/byte_level_bpe.hpp"
#include "fixture_cases.hpp"

using quant::examples::ByteLevelBPETokenizer;

namespace {

const ByteLevelBPETokenizer& gpt2() {
    static const auto tok = ByteLevelBPETokenizer::from_files(tokenizer_fixture::path("gpt2/vocab.json.gz"),
                                                              tokenizer_fixture::path("gpt2/merges.txt.gz"));
    return tok;
}

}  // namespace

TEST_CASE("bpe: vocabulary facts of gpt2") {
    CHECK(gpt2().vocab_size() == 50257);
    CHECK(gpt2().eos_id() == 50256);
    CHECK(gpt2().encode("Hello world") == std::vector<std::int32_t>{15496, 995});
}

TEST_CASE("bpe: every fixture text gives HF's ids and decodes back") {
    std::size_t n = 0;
    for (const auto& c : tokenizer_fixture::cases()) {
        const auto text = c["text"].get<std::string>();
        INFO(c["source"].get<std::string>() << " text: " << text);
        const auto ids = gpt2().encode(text);
        REQUIRE(ids == c["gpt2"].get<std::vector<std::int32_t>>());
        REQUIRE(gpt2().decode(ids) == c["gpt2_text"].get<std::string>());
        ++n;
    }
    CHECK(n == 452);
}

TEST_CASE("bpe: the cache gives the same ids the second time") {
    const std::string text = "the cache, the cache; THE CACHE!";
    const auto first = gpt2().encode(text);
    CHECK(gpt2().encode(text) == first);
}

TEST_CASE("bpe: bad input is a quant::error") {
    CHECK_THROWS_WITH(gpt2().encode("ok \xC3\x28"), Catch::Contains("invalid UTF-8 at byte 3"));
    CHECK_THROWS_AS(gpt2().decode(std::vector<std::int32_t>{50257}), quant::error);
    CHECK_THROWS_AS(gpt2().decode(std::vector<std::int32_t>{-1}), quant::error);
    const std::string bytes = [] {  // a minimal byte-level vocabulary: the 256 single bytes
        nlohmann::json v;
        for (unsigned b = 0; b < 256; ++b) {
            std::string s;
            quant::examples::utf8::append(s, quant::examples::gpt2_bytes::byte_to_char()[b]);
            v[s] = b;
        }
        return v.dump();
    }();
    CHECK_NOTHROW(ByteLevelBPETokenizer(bytes, "#version: 0.2\n"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer(bytes, "a b\n"), Catch::Contains("merges line 1"));  // "ab" missing
    CHECK_THROWS_WITH(ByteLevelBPETokenizer(bytes, "#version: 0.2\na  b\n"), Catch::Contains("merges line 2"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("[1, 2]", ""), Catch::Contains("object"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("{\"a\": 0", ""), Catch::Contains("not JSON"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("{\"a\": -3}", ""), Catch::Contains("no valid id"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("{\"a\": 0, \"b\": 0}", ""), Catch::Contains("used twice"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("{\"a\": 0}", ""), Catch::Contains("byte 0 has no token"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer("{\" \": 0}", "", "v.json"), Catch::Contains("v.json: vocab.json: token \" \" has a character outside"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer(bytes, "#version: 0.2\na \xff\n", "m"), Catch::Contains("m: merges line 2: invalid UTF-8"));
    CHECK_THROWS_WITH(ByteLevelBPETokenizer(bytes, "a \t\n", "m"), Catch::Contains("m: merges line 1: token"));
}
