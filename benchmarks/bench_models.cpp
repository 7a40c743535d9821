// Whole models with random weights (timing only): BERT-base classifier at sequence 128, batch 1
// and 8 (the reports' setting), and GPT-2 small: generation tokens/s at batch 1 with the KV
// cache, and the latency of one 1024-token perplexity window. Every configuration of the reports
// beside the float32 original, in one run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "common/bert.hpp"
#include "common/gpt2.hpp"
#include "common/configs.hpp"

using namespace quant::examples;

namespace {

// A checkpoint of random N(0, 0.02) tensors, made on first use with the shape it is asked for.
struct random_source {
    std::map<std::string, std::pair<Eigen::Index, Eigen::Index>> shapes;
    bool has(const std::string& n) const { return shapes.count(n) != 0; }
    row_matrix matrix(const std::string& n) const {
        const auto [r, c] = shapes.at(n);
        std::mt19937 rng(unsigned(std::hash<std::string>{}(n)));
        std::normal_distribution<float> d(0.0f, 0.02f);
        row_matrix m(r, c);
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
        return m;
    }
    std::vector<float> vector(const std::string& n) const {
        const row_matrix m = matrix(n);
        std::vector<float> v(m.data(), m.data() + m.size());
        if (n.find("LayerNorm.weight") != std::string::npos || n.find("ln_") != std::string::npos)
            if (n.size() > 7 && n.substr(n.size() - 7) == ".weight") std::fill(v.begin(), v.end(), 1.0f);
        return v;
    }
};

random_source bert_weights(const bert_config& c) {
    random_source s;
    const Eigen::Index H = c.hidden, I = c.intermediate;
    auto lin = [&](const std::string& n, Eigen::Index o, Eigen::Index i) {
        s.shapes[n + ".weight"] = {o, i};
        s.shapes[n + ".bias"] = {o, 1};
    };
    auto ln = [&](const std::string& n) { s.shapes[n + ".weight"] = s.shapes[n + ".bias"] = {H, 1}; };
    s.shapes["bert.embeddings.word_embeddings.weight"] = {c.vocab_size, H};
    s.shapes["bert.embeddings.position_embeddings.weight"] = {c.max_positions, H};
    s.shapes["bert.embeddings.token_type_embeddings.weight"] = {c.type_vocab, H};
    ln("bert.embeddings.LayerNorm");
    for (int l = 0; l < c.layers; ++l) {
        const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
        lin(p + "attention.self.query", H, H);
        lin(p + "attention.self.key", H, H);
        lin(p + "attention.self.value", H, H);
        lin(p + "attention.output.dense", H, H);
        lin(p + "intermediate.dense", I, H);
        lin(p + "output.dense", H, I);
        ln(p + "attention.output.LayerNorm");
        ln(p + "output.LayerNorm");
    }
    lin("bert.pooler.dense", H, H);
    lin("classifier", c.num_labels, H);
    return s;
}

random_source gpt2_weights(const gpt2_config& c) {
    random_source s;
    const Eigen::Index C = c.n_embd;
    auto conv = [&](const std::string& n, Eigen::Index i, Eigen::Index o) {  // stored (in, out)
        s.shapes[n + ".weight"] = {i, o};
        s.shapes[n + ".bias"] = {o, 1};
    };
    auto ln = [&](const std::string& n) { s.shapes[n + ".weight"] = s.shapes[n + ".bias"] = {C, 1}; };
    s.shapes["wte.weight"] = {c.vocab_size, C};
    s.shapes["wpe.weight"] = {c.n_positions, C};
    for (int l = 0; l < c.n_layer; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        ln(p + "ln_1");
        ln(p + "ln_2");
        conv(p + "attn.c_attn", C, 3 * C);
        conv(p + "attn.c_proj", C, C);
        conv(p + "mlp.c_fc", C, 4 * C);
        conv(p + "mlp.c_proj", 4 * C, C);
    }
    ln("ln_f");
    return s;
}

struct config {
    std::string name;
    linear_policy policy;
};

// The reports' configurations (examples/common/configs.hpp): the float32 original, and the
// quantized models as transformers + bitsandbytes hold them (what they keep dense in float16;
// int8 with transformers' outlier threshold 6.0), plus two with everything else in float32, to
// show what float16 storage of the dense rest adds (for GPT-2: the tied 50257 x 768 head).
std::vector<config> configs(const std::vector<std::string>& skip, const std::vector<std::string>& selective) {
    std::vector<config> out;
    for (const auto& c : report_configs(6.0f, skip, selective)) out.push_back({c.name, c.policy});
    for (const auto& name : {"quantized_model_8_bit", "quantized_model_4_bit_set1"}) {
        auto c = *std::find_if(out.begin(), out.end(), [&](const config& x) { return x.name == name; });
        c.name += "/dense_f32";
        c.policy.dense_dtype = quant::dtype::f32;
        out.push_back(c);
    }
    return out;
}

void bert(benchmark::State& st, const config& c, std::size_t batch) {
    const bert_config cfg;  // bert-base
    const auto model = bert_classifier::load(bert_weights(cfg), cfg, c.policy);
    std::vector<std::vector<std::int32_t>> ids(batch, std::vector<std::int32_t>(128));
    std::mt19937 rng(1);
    for (auto& s : ids)
        for (auto& t : s) t = std::int32_t(rng() % 30000);
    for (auto _ : st) benchmark::DoNotOptimize(model.logits(ids).data());
    st.counters["sample_ms"] = benchmark::Counter(double(batch) * 1e-3, benchmark::Counter::kIsIterationInvariantRate |
                                                                              benchmark::Counter::kInvert);
    st.counters["model_MB"] = double(model.size_bytes()) / (1 << 20);
}

void gpt2_generate(benchmark::State& st, const config& c) {
    const gpt2_config cfg;  // gpt2 small
    const auto model = gpt2_lm::load(gpt2_weights(cfg), cfg, c.policy);
    const std::vector<std::int32_t> prompt(32, 464);
    std::size_t tokens = 0;
    for (auto _ : st) {
        kv_cache cache;
        row_matrix lg = model.forward(prompt, cache);
        for (int s = 0; s < 32; ++s) {  // greedy
            Eigen::Index next;
            lg.row(lg.rows() - 1).maxCoeff(&next);
            lg = model.forward({std::int32_t(next)}, cache);
            ++tokens;
        }
    }
    st.counters["tokens_per_s"] = benchmark::Counter(double(tokens), benchmark::Counter::kIsRate);
    st.counters["model_MB"] = double(model.size_bytes()) / (1 << 20);
}

void gpt2_window(benchmark::State& st, const config& c) {
    const gpt2_config cfg;
    const auto model = gpt2_lm::load(gpt2_weights(cfg), cfg, c.policy);
    std::vector<std::int32_t> ids(1024);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = std::int32_t((i * 7919) % 50000);
    for (auto _ : st) benchmark::DoNotOptimize(model.forward(ids).data());
}

}  // namespace

int main(int argc, char** argv) {
    static const auto bert_configs = configs({"classifier"}, {"attention"}), gpt2_configs = configs({}, {"attn"});
    for (const auto& c : bert_configs)
        for (std::size_t b : {1, 8})
            benchmark::RegisterBenchmark(("bert_base/seq128/batch:" + std::to_string(b) + "/" + c.name).c_str(),
                                         [&c, b](benchmark::State& st) { bert(st, c, b); })
                ->Unit(benchmark::kMillisecond)->UseRealTime();
    for (const auto& c : gpt2_configs) {
        benchmark::RegisterBenchmark(("gpt2/generate32/" + c.name).c_str(), [&c](benchmark::State& st) { gpt2_generate(st, c); })
            ->Unit(benchmark::kMillisecond)->UseRealTime();
        benchmark::RegisterBenchmark(("gpt2/window1024/" + c.name).c_str(), [&c](benchmark::State& st) { gpt2_window(st, c); })
            ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
