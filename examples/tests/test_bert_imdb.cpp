// BERT end to end on real reviews, against transformers: tests/data/models/bert_imdb_tiny
// (tools/make_model_fixtures.py) is a small random BertForSequenceClassification whose vocabulary
// is bert-base-uncased's cut to the tokens of eight IMDB test reviews. BertTokenizerFast
// tokenized them with truncation to 64 tokens and padding; transformers computed the logits in
// float32 and with bitsandbytes NF4 (double quant) Linears. Here the same folder goes through the
// evaluation program's path: vocab.txt -> our WordPiece, model.safetensors -> quant::io ->
// bert_classifier.
#include <catch2/catch.hpp>

#include "common/bert.hpp"
#include "common/datasets.hpp"
#include "common/run_support.hpp"
#include "common/wordpiece.hpp"

using namespace quant::examples;

namespace {

const std::string dir = std::string(QUANT_MODEL_DATA_DIR) + "/bert_imdb_tiny";

row_matrix golden_matrix(const quant::io::checkpoint& g, const std::string& name) {
    std::size_t r = 0, c = 0;
    const std::vector<float> v = g.at(name).matrix(r, c);
    return Eigen::Map<const row_matrix>(v.data(), Eigen::Index(r), Eigen::Index(c));
}

double rel(const row_matrix& a, const row_matrix& b) { return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff(); }

}  // namespace

TEST_CASE("bert on IMDB reviews: our tokenizer and model give transformers' ids and logits", "[models]") {
    const auto tok = WordPieceTokenizer::from_file(dir + "/vocab.txt");
    const auto reviews = read_imdb(dir + "/reviews.jsonl");
    const auto golden = quant::io::load_checkpoint(dir + "/golden.safetensors");
    const row_matrix want_ids = golden_matrix(golden, "input_ids"), mask = golden_matrix(golden, "attention_mask");
    REQUIRE(reviews.size() == std::size_t(want_ids.rows()));

    std::vector<std::vector<std::int32_t>> batch;
    bool truncated = false, padded = false;
    for (std::size_t b = 0; b < reviews.size(); ++b) {
        const auto ids = tok.encode(reviews[b].text, 64);
        const auto n = Eigen::Index(mask.row(Eigen::Index(b)).sum());
        INFO("review " << b);
        REQUIRE(ids.size() == std::size_t(n));
        for (Eigen::Index t = 0; t < n; ++t) CHECK(ids[std::size_t(t)] == std::int32_t(want_ids(Eigen::Index(b), t)));
        truncated |= n == 64;
        padded |= n < 64;
        batch.push_back(ids);
    }
    CHECK(truncated);
    CHECK(padded);

    const auto ckpt = quant::io::load_checkpoint(dir);
    const checkpoint_source src{ckpt};
    const auto cfg = bert_config::from_json(read_model_config(dir));
    const auto fp32 = bert_classifier::load(src, cfg, {});
    CHECK(rel(fp32.logits(batch), golden_matrix(golden, "logits")) < 1e-4);
    const auto nf4 = bert_classifier::load(src, cfg, {.scheme = scheme_kind::nf4_dq, .skip = {"classifier"}});
    CHECK(rel(nf4.logits(batch), golden_matrix(golden, "logits_nf4_dq")) < 1e-4);
    CHECK(rel(nf4.logits(batch), golden_matrix(golden, "logits")) > 1e-4);  // it did quantize
}
