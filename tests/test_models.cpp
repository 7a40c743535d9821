// The example models against Hugging Face transformers (tests/data/models, written by
// tools/make_model_fixtures.py): float32 logits within 1e-4, and the same models with every
// Linear in NF4 (double quant) against transformers + bitsandbytes.
#include <catch2/catch.hpp>

#include <fstream>

#include "common/bert.hpp"
#include "common/gpt2.hpp"
#include "common/perplexity.hpp"
#include "support/fixture.hpp"

using namespace quant::examples;

namespace {

// A weight source over a (trusted, test-only) safetensors file.
struct fixture_source {
    fixture::file f;
    bool has(const std::string& n) const { return f.has(n); }
    row_matrix matrix(const std::string& n) const {
        const auto& t = f[n];
        const auto v = t.floats();
        const Eigen::Index r = Eigen::Index(t.shape.at(0)), c = t.shape.size() > 1 ? Eigen::Index(t.shape[1]) : 1;
        return Eigen::Map<const row_matrix>(v.data(), r, c);
    }
    std::vector<float> vector(const std::string& n) const { return f[n].floats(); }
};

std::string dir(const std::string& model) { return std::string(QUANT_TEST_DATA_DIR) + "/models/" + model; }
nlohmann::json config(const std::string& model) { return nlohmann::json::parse(std::ifstream(dir(model) + "/config.json")); }

row_matrix golden(const fixture::file& g, const std::string& name) {
    const auto& t = g[name];
    const auto v = t.floats();
    const Eigen::Index r = Eigen::Index(t.numel() / t.shape.back());
    return Eigen::Map<const row_matrix>(v.data(), r, Eigen::Index(t.shape.back()));
}

double rel(const row_matrix& a, const row_matrix& b) { return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff(); }

void check_bert(const std::string& model) {
    const fixture_source src{fixture::file(dir(model) + "/model.safetensors")};
    const fixture::file g(dir(model) + "/golden.safetensors");
    const auto cfg = bert_config::from_json(config(model));
    const auto ids = g["input_ids"].as<std::int64_t>();
    const auto lengths = g["lengths"].as<std::int64_t>();
    const std::size_t T = g["input_ids"].shape[1];
    std::vector<std::vector<std::int32_t>> batch;
    for (std::size_t b = 0; b < lengths.size(); ++b)
        batch.emplace_back(ids.begin() + std::ptrdiff_t(b * T), ids.begin() + std::ptrdiff_t(b * T + std::size_t(lengths[b])));

    const auto fp32 = bert_classifier::load(src, cfg, {});
    INFO(model);
    CHECK(rel(fp32.logits(batch), golden(g, "logits")) < 1e-4);
    const row_matrix h = fp32.last_hidden_state(batch[0]);
    CHECK(rel(h, golden(g, "last_hidden_state").topRows(h.rows())) < 1e-4);

    const auto nf4 = bert_classifier::load(src, cfg, {.scheme = scheme_kind::nf4_dq, .block = 64});
    CHECK(rel(nf4.logits(batch), golden(g, "logits_nf4_dq")) < 1e-4);
    CHECK(rel(nf4.logits(batch), golden(g, "logits")) > 1e-4);  // it did quantize
    CHECK(nf4.size_bytes() < fp32.size_bytes());
}

}  // namespace

TEST_CASE("BERT classifier equals transformers (fp32) and transformers+bitsandbytes (NF4)", "[models]") {
    check_bert("bert_tiny");
    check_bert("minilm_tiny");  // another head width and depth
}

TEST_CASE("GPT-2 equals transformers: logits, KV cache, greedy generation, NF4", "[models]") {
    const fixture_source src{fixture::file(dir("gpt2_tiny") + "/model.safetensors")};
    const fixture::file g(dir("gpt2_tiny") + "/golden.safetensors");
    const auto cfg = gpt2_config::from_json(config("gpt2_tiny"));
    const auto ids64 = g["input_ids"].as<std::int64_t>();
    const std::size_t B = g["input_ids"].shape[0], T = g["input_ids"].shape[1];
    const row_matrix want = golden(g, "logits"), want_nf4 = golden(g, "logits_nf4_dq");
    const auto fp32 = gpt2_lm::load(src, cfg, {});
    const auto nf4 = gpt2_lm::load(src, cfg, {.scheme = scheme_kind::nf4_dq, .block = 64});
    for (std::size_t b = 0; b < B; ++b) {
        const std::vector<std::int32_t> ids(ids64.begin() + std::ptrdiff_t(b * T), ids64.begin() + std::ptrdiff_t((b + 1) * T));
        INFO("sequence " << b);
        CHECK(rel(fp32.forward(ids), want.middleRows(Eigen::Index(b * T), Eigen::Index(T))) < 1e-4);
        CHECK(rel(nf4.forward(ids), want_nf4.middleRows(Eigen::Index(b * T), Eigen::Index(T))) < 1e-4);
    }
    // the KV cache: a prefix, then one token at a time, gives the full forward's logits
    const std::vector<std::int32_t> ids(ids64.begin(), ids64.begin() + std::ptrdiff_t(T));
    kv_cache cache;
    fp32.forward({ids.begin(), ids.begin() + 10}, cache);
    for (std::size_t t = 10; t < T; ++t) {
        const row_matrix step = fp32.forward({ids[t]}, cache);
        INFO("position " << t);
        CHECK(rel(step, want.row(Eigen::Index(t))) < 1e-4);
    }
    // greedy generation with the cache equals transformers' generate()
    const auto gen = g["generated"].as<std::int64_t>();
    std::vector<std::int32_t> seq(ids.begin(), ids.begin() + 10);
    kv_cache c2;
    row_matrix lg = fp32.forward(seq, c2);
    for (int s = 0; s < 8; ++s) {
        Eigen::Index next;
        lg.row(lg.rows() - 1).maxCoeff(&next);
        seq.push_back(std::int32_t(next));
        lg = fp32.forward({std::int32_t(next)}, c2);
    }
    CHECK(std::vector<std::int64_t>(seq.begin(), seq.end()) == gen);
    CHECK(nf4.size_bytes() < fp32.size_bytes());
}

namespace {

// Linear biases stay float32 in a float16-stored layer (QuantizedLinear's bias is float32);
// everything else of a dense_dtype = f16 model takes 2 bytes per value.
std::size_t f16_model_bytes(const fixture_source& src) {
    std::size_t n = 0;
    for (const auto& [name, t] : src.f.tensors) {
        const bool linear_bias = name.size() > 5 && name.substr(name.size() - 5) == ".bias" && name.find("LayerNorm") == std::string::npos &&
                                 name.find("ln_") == std::string::npos;
        n += t.numel() * (linear_bias ? 4 : 2);
    }
    return n;
}

}  // namespace

TEST_CASE("dense parameters stored in float16 (transformers' torch_dtype): sizes, and the float32 arithmetic on them", "[models]") {
    // The fixtures hold float16 values, so float16 storage loses nothing: the models must give the
    // float32 models' logits up to summation order, in about half the bytes.
    {
        const fixture_source src{fixture::file(dir("bert_tiny") + "/model.safetensors")};
        const fixture::file g(dir("bert_tiny") + "/golden.safetensors");
        const auto cfg = bert_config::from_json(config("bert_tiny"));
        const auto ids = g["input_ids"].as<std::int64_t>();
        const std::vector<std::int32_t> seq(ids.begin(), ids.begin() + 40);
        const auto fp32 = bert_classifier::load(src, cfg, {});
        const auto f16 = bert_classifier::load(src, cfg, {.dense_dtype = quant::dtype::f16});
        CHECK(rel(f16.logits({seq}), fp32.logits({seq})) < 1e-5);
        CHECK(f16.size_bytes() == f16_model_bytes(src));
        // NF4 Linears, the rest float16 (the reports' bitsandbytes models): smaller than NF4 alone
        const auto nf4 = bert_classifier::load(src, cfg, {.scheme = scheme_kind::nf4_dq});
        const auto nf4_f16 = bert_classifier::load(src, cfg, {.scheme = scheme_kind::nf4_dq, .dense_dtype = quant::dtype::f16});
        CHECK(rel(nf4_f16.logits({seq}), nf4.logits({seq})) < 1e-5);
        CHECK(nf4_f16.size_bytes() < nf4.size_bytes());
        CHECK_THROWS_WITH(bert_classifier::load(src, cfg, {.dense_dtype = quant::dtype::bf16}), Catch::Contains("f32 or f16"));
    }
    {
        const fixture_source src{fixture::file(dir("gpt2_tiny") + "/model.safetensors")};
        const auto cfg = gpt2_config::from_json(config("gpt2_tiny"));
        const std::vector<std::int32_t> ids{5, 17, 230, 99, 3, 3, 250, 1, 0, 77};
        const auto fp32 = gpt2_lm::load(src, cfg, {});
        const auto f16 = gpt2_lm::load(src, cfg, {.dense_dtype = quant::dtype::f16});  // the tied head reads wte in f16
        CHECK(rel(f16.forward(ids), fp32.forward(ids)) < 1e-5);
        CHECK(f16.size_bytes() == f16_model_bytes(src));
        // a quantized lm_head is a second copy of wte, and changes the logits
        const auto nf4 = gpt2_lm::load(src, cfg, {.scheme = scheme_kind::nf4_dq});
        const auto nf4_head = gpt2_lm::load(src, cfg, {.scheme = scheme_kind::nf4_dq}, true);
        CHECK(nf4_head.size_bytes() > nf4.size_bytes());
        CHECK(rel(nf4_head.forward(ids), nf4.forward(ids)) > 1e-4);
        CHECK(rel(nf4_head.forward(ids), fp32.forward(ids)) < 0.2);
    }
}

TEST_CASE("strided perplexity equals the same computation in transformers", "[models]") {
    const fixture_source src{fixture::file(dir("gpt2_tiny") + "/model.safetensors")};
    const fixture::file g(dir("gpt2_tiny") + "/golden.safetensors");
    const auto cfg = gpt2_config::from_json(config("gpt2_tiny"));
    const auto model = gpt2_lm::load(src, cfg, {});
    const auto text64 = g["ppl_text"].as<std::int64_t>();
    const std::vector<std::int32_t> text(text64.begin(), text64.end());
    const auto stride = std::size_t(g["ppl_stride"].as<std::int64_t>()[0]);
    const auto r = strided_perplexity(model, text, std::size_t(cfg.n_positions), stride);
    CHECK(r.scored == std::size_t(g["ppl_scored"].as<std::int64_t>()[0]));
    CHECK(r.scored == text.size() - 1);  // every token but the first, once
    CHECK(r.nll_sum == Approx(g["ppl_nll_sum"].as<double>()[0]).epsilon(1e-5));
    CHECK(r.window_seconds.size() == 1 + (text.size() - cfg.n_positions + stride - 1) / stride);
    CHECK_THROWS_AS(strided_perplexity(model, text, 64, 0), quant::error);
}

TEST_CASE("model configs: unsupported settings are errors", "[models][errors]") {
    auto j = config("bert_tiny");
    j["hidden_act"] = "relu";
    CHECK_THROWS_AS(bert_config::from_json(j), quant::error);
    auto k = config("gpt2_tiny");
    k["n_head"] = 5;
    CHECK_THROWS_AS(gpt2_config::from_json(k), quant::error);
}
