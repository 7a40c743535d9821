// GPT-2 language model (Hugging Face GPT2LMHeadModel), forward only, with a KV cache.
// Pre-LN blocks: h += attn(ln_1(h)); h += mlp(ln_2(h)); logits = ln_f(h) wte^T (tied head).
// HF's Conv1D stores weights (in, out): they are transposed once, at load, to (out, in).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bert.hpp"  // weight_source
#include "nn.hpp"

namespace quant::examples {

struct gpt2_config {
    int vocab_size = 50257, n_positions = 1024, n_embd = 768, n_layer = 12, n_head = 12, n_inner = 0;
    float layer_norm_eps = 1e-5f;

    static gpt2_config from_json(const nlohmann::json& j) {
        gpt2_config c;
        c.vocab_size = j.value("vocab_size", c.vocab_size);
        c.n_positions = j.value("n_positions", c.n_positions);
        c.n_embd = j.value("n_embd", c.n_embd);
        c.n_layer = j.value("n_layer", c.n_layer);
        c.n_head = j.value("n_head", c.n_head);
        c.n_inner = j.contains("n_inner") && !j["n_inner"].is_null() ? j["n_inner"].get<int>() : 4 * c.n_embd;
        c.layer_norm_eps = j.value("layer_norm_epsilon", c.layer_norm_eps);
        const std::string act = j.value("activation_function", std::string("gelu_new"));
        detail::check(act == "gelu_new", "gpt2: activation_function '", act, "' is not supported (gelu_new)");
        detail::check(c.n_embd % c.n_head == 0, "gpt2: n_embd ", c.n_embd, " is not a multiple of n_head ", c.n_head);
        return c;
    }
};

struct gpt2_block {
    layer_norm_weights ln_1, ln_2;
    any_linear c_attn, attn_proj, c_fc, mlp_proj;  // (3C, C), (C, C), (4C, C), (C, 4C)
};

// keys and values of the tokens seen so far, per layer: (S, C) each
struct kv_cache {
    std::vector<row_matrix> k, v;
    Eigen::Index length() const { return k.empty() ? 0 : k[0].rows(); }
};

class gpt2_lm {
public:
    gpt2_config cfg;
    embedding wte, wpe;  // (V, C), (P, C)
    std::vector<gpt2_block> blocks;
    layer_norm_weights ln_f;
    any_linear lm_head;  // a quantized copy of wte when asked for; else the head multiplies with wte itself

    // `lm_head` is kept dense unless the policy names it, as bitsandbytes does
    template <weight_source Src>
    static gpt2_lm load(const Src& src, const gpt2_config& cfg, const linear_policy& policy,
                        bool quantize_lm_head = false) {
        gpt2_lm m;
        m.cfg = cfg;
        // checkpoints name tensors "transformer.h.0..." (GPT2LMHeadModel) or "h.0..." (GPT2Model)
        const std::string pre = src.has("transformer.wte.weight") ? "transformer." : "";
        const dtype dd = policy.dense_dtype;
        const row_matrix wte = src.matrix(pre + "wte.weight");
        m.wte = embedding(wte, dd);
        m.wpe = embedding(src.matrix(pre + "wpe.weight"), dd);
        m.threads = policy.threads;
        auto ln = [&](const std::string& p) {
            return layer_norm_weights{src.vector(p + ".weight"), src.vector(p + ".bias"), cfg.layer_norm_eps, dd};
        };
        auto conv1d = [&](const std::string& name) {  // (in, out) stored -> (out, in)
            row_matrix w = src.matrix(pre + name + ".weight").transpose();
            return make_linear(name, std::move(w), src.vector(pre + name + ".bias"), policy);
        };
        for (int l = 0; l < cfg.n_layer; ++l) {
            const std::string p = "h." + std::to_string(l) + ".";
            m.blocks.push_back({ln(pre + p + "ln_1"), ln(pre + p + "ln_2"), conv1d(p + "attn.c_attn"),
                                conv1d(p + "attn.c_proj"), conv1d(p + "mlp.c_fc"), conv1d(p + "mlp.c_proj")});
        }
        m.ln_f = ln(pre + "ln_f");
        if (quantize_lm_head && policy.quantizes("lm_head")) m.lm_head = make_linear("lm_head", wte, {}, policy);
        return m;
    }

    // Every parameter once (the tied head counts once, with wte), quantized storage included.
    std::size_t size_bytes() const {
        std::size_t n = wte.size_bytes() + wpe.size_bytes() + ln_f.size_bytes();
        for (const auto& b : blocks)
            n += b.ln_1.size_bytes() + b.ln_2.size_bytes() + b.c_attn.size_bytes() + b.attn_proj.size_bytes() +
                 b.c_fc.size_bytes() + b.mlp_proj.size_bytes();
        if (quantized_head()) n += lm_head.size_bytes();  // a quantized head is a second copy
        return n;
    }

    // ids (T) -> logits (T, V), causal, continuing the cache (which grows by T)
    row_matrix forward(const std::vector<std::int32_t>& ids, kv_cache& cache) const {
        const Eigen::Index T = Eigen::Index(ids.size()), past = cache.length(), C = wte.cols();
        detail::check(past + T <= cfg.n_positions, "gpt2: ", past + T, " positions exceed n_positions ", cfg.n_positions);
        if (cache.k.empty()) cache.k.resize(blocks.size()), cache.v.resize(blocks.size());
        row_matrix h(T, C);  // (T, C)
        for (Eigen::Index t = 0; t < T; ++t) {
            detail::check(ids[std::size_t(t)] >= 0 && ids[std::size_t(t)] < wte.rows(), "gpt2: token id ",
                          ids[std::size_t(t)], " outside the vocabulary");
            h.row(t).setZero();
            wte.add_row(ids[std::size_t(t)], h.row(t).data());
            wpe.add_row(past + t, h.row(t).data());
        }
        for (std::size_t l = 0; l < blocks.size(); ++l) block(blocks[l], h, cache.k[l], cache.v[l]);
        layer_norm(h, ln_f);
        return quantized_head() ? lm_head(h) : wte.project(h, threads);  // (T, V)
    }

    row_matrix forward(const std::vector<std::int32_t>& ids) const {
        kv_cache c;
        return forward(ids, c);
    }

private:
    int threads = 0;
    bool quantized_head() const { return lm_head.out_features() != 0 && lm_head.quantized(); }

    void block(const gpt2_block& b, row_matrix& h, row_matrix& K, row_matrix& V) const {
        const Eigen::Index T = h.rows(), C = h.cols();
        row_matrix a = h;
        layer_norm(a, b.ln_1);
        const row_matrix qkv = b.c_attn(a);  // (T, 3C): q | k | v
        const Eigen::Index S = K.rows() + T;
        row_matrix K2(S, C), V2(S, C);  // the cache grows by T rows
        if (K.rows() > 0) {             // an empty cache is 0x0, not 0xC
            K2.topRows(K.rows()) = K;
            V2.topRows(V.rows()) = V;
        }
        K2.bottomRows(T) = qkv.middleCols(C, C);
        V2.bottomRows(T) = qkv.middleCols(2 * C, C);
        K.swap(K2);
        V.swap(V2);
        h += b.attn_proj(attention(qkv.leftCols(C), K, V, cfg.n_head, true));
        row_matrix f = h;
        layer_norm(f, b.ln_2);
        f = b.c_fc(f);  // (T, 4C)
        gelu_tanh(f);
        h += b.mlp_proj(f);
    }
};

}  // namespace quant::examples
