// WordPieceTokenizer against BertTokenizerFast (bert-base-uncased), id for id.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "common/wordpiece.hpp"
#include "fixture_cases.hpp"

using quant::examples::padding;
using quant::examples::WordPieceTokenizer;

namespace {

const WordPieceTokenizer& bert() {
    static const auto tok = WordPieceTokenizer::from_file(tokenizer_fixture::path("bert-base-uncased/vocab.txt.gz"));
    return tok;
}

std::vector<std::int32_t> ids_of(const nlohmann::json& j) { return j.get<std::vector<std::int32_t>>(); }

}  // namespace

TEST_CASE("wordpiece: vocabulary facts of bert-base-uncased") {
    CHECK(bert().vocab_size() == 30522);
    CHECK(bert().pad_id() == 0);
    CHECK(bert().unk_id() == 100);
    CHECK(bert().cls_id() == 101);
    CHECK(bert().sep_id() == 102);
    CHECK(bert().token(1996) == "the");
    CHECK(bert().id("##ing") == 2075);
}

TEST_CASE("wordpiece: every fixture text gives HF's ids") {
    std::size_t n = 0;
    for (const auto& c : tokenizer_fixture::cases()) {
        const auto text = c["text"].get<std::string>();
        INFO(c["source"].get<std::string>() << " text: " << text);
        REQUIRE(bert().encode(text) == ids_of(c["bert"]));
        ++n;
    }
    CHECK(n == 452);
}

TEST_CASE("wordpiece: batch with truncation at 128 and padding gives HF's ids and mask") {
    std::vector<std::string> texts;
    for (const auto& c : tokenizer_fixture::cases()) texts.push_back(c["text"].get<std::string>());
    const auto batch = bert().encode_batch(texts, 128, padding::max_length);
    REQUIRE(batch.rows == texts.size());
    REQUIRE(batch.cols == 128);
    for (std::size_t r = 0; r < batch.rows; ++r) {
        const auto& c = tokenizer_fixture::cases()[r];
        INFO("text: " << texts[r]);
        const auto ids = batch.ids_row(r);
        const auto mask = batch.mask_row(r);
        REQUIRE(std::vector<std::int32_t>(ids.begin(), ids.end()) == ids_of(c["bert_128"]));
        REQUIRE(std::vector<std::int32_t>(mask.begin(), mask.end()) == ids_of(c["mask_128"]));
    }
}

TEST_CASE("wordpiece: padding to the longest of the batch, no truncation") {
    const std::vector<std::string> texts{"a b c d e f", "x", ""};
    const auto batch = bert().encode_batch(texts, 0, padding::longest);
    REQUIRE(batch.rows == 3);
    REQUIRE(batch.cols == 8);
    CHECK(std::vector<std::int32_t>(batch.ids_row(1).begin(), batch.ids_row(1).end()) ==
          std::vector<std::int32_t>{101, 1060, 102, 0, 0, 0, 0, 0});
    CHECK(std::vector<std::int32_t>(batch.mask_row(2).begin(), batch.mask_row(2).end()) ==
          std::vector<std::int32_t>{1, 1, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("wordpiece: truncation keeps [CLS] and [SEP]") {
    CHECK(bert().encode("a b c d e f", 4) == std::vector<std::int32_t>{101, 1037, 1038, 102});
    CHECK(bert().encode("a b c d e f", 2) == std::vector<std::int32_t>{101, 102});
    CHECK_THROWS_AS(bert().encode("a", 1), quant::error);
    CHECK_THROWS_AS(bert().encode_batch(std::vector<std::string>{"a"}, 0, padding::max_length), quant::error);
}

TEST_CASE("wordpiece: bad input is a quant::error") {
    CHECK_THROWS_WITH(bert().encode("ok \xC3\x28 bad"), Catch::Contains("invalid UTF-8 at byte 3"));
    CHECK_THROWS_AS(bert().encode("\xED\xA0\x80"), quant::error);  // a surrogate
    CHECK_THROWS_AS(bert().encode("trail \xE2\x82"), quant::error);
    CHECK_THROWS_AS(bert().id("not-a-token-anywhere"), quant::error);
    CHECK_THROWS_AS(bert().token(30522), quant::error);
    CHECK_THROWS_AS(bert().token(-1), quant::error);
    CHECK_THROWS_WITH(WordPieceTokenizer({"a", "b"}), Catch::Contains("[UNK]"));
    CHECK_THROWS_AS(WordPieceTokenizer::from_file(tokenizer_fixture::path("no-such-vocab.txt")), quant::error);
    const auto tmp = std::filesystem::temp_directory_path() / "quant_bad_vocab.txt";
    std::ofstream(tmp) << "[PAD]\n[UNK]\nok\nbad\xC3\n";
    CHECK_THROWS_WITH(WordPieceTokenizer::from_file(tmp), Catch::Contains("quant_bad_vocab.txt:4: invalid UTF-8 at byte 3"));
    std::ofstream(tmp) << "[PAD]\n\n";
    CHECK_THROWS_WITH(WordPieceTokenizer::from_file(tmp), Catch::Contains("quant_bad_vocab.txt:2: empty token"));
    std::filesystem::remove(tmp);
}

TEST_CASE("wordpiece: a tiny vocabulary") {
    const WordPieceTokenizer tok({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "!"});
    CHECK(tok.encode("Unaffable! unaff unx") == std::vector<std::int32_t>{2, 4, 5, 6, 8, 4, 5, 1, 3});
}
