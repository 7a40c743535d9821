// BERT for sequence classification (Hugging Face BertForSequenceClassification), forward only.
// Read top to bottom: config, weights, one function per layer, the model.
//
// Sequences are processed without padding: the tokens of a batch are stacked, (T, C) with T the
// sum of the lengths, so every Linear runs once per batch with m = T, and attention runs per
// sequence on its true length (what an attention mask achieves, without the wasted rows).
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nn.hpp"

namespace quant::examples {

// What a checkpoint must offer: tensors by name as float32.
template <class S>
concept weight_source = requires(const S& s, const std::string& n) {
    { s.has(n) } -> std::convertible_to<bool>;
    { s.matrix(n) } -> std::convertible_to<row_matrix>;       // 2-D (rows, cols)
    { s.vector(n) } -> std::convertible_to<std::vector<float>>;  // any shape, flattened
};

struct bert_config {
    int vocab_size = 30522, hidden = 768, layers = 12, heads = 12, intermediate = 3072;
    int max_positions = 512, type_vocab = 2, num_labels = 2;
    float layer_norm_eps = 1e-12f;

    static bert_config from_json(const nlohmann::json& j) {
        bert_config c;
        c.vocab_size = j.value("vocab_size", c.vocab_size);
        c.hidden = j.value("hidden_size", c.hidden);
        c.layers = j.value("num_hidden_layers", c.layers);
        c.heads = j.value("num_attention_heads", c.heads);
        c.intermediate = j.value("intermediate_size", c.intermediate);
        c.max_positions = j.value("max_position_embeddings", c.max_positions);
        c.type_vocab = j.value("type_vocab_size", c.type_vocab);
        c.layer_norm_eps = j.value("layer_norm_eps", c.layer_norm_eps);
        if (j.contains("id2label")) c.num_labels = int(j["id2label"].size());
        else c.num_labels = j.value("num_labels", c.num_labels);
        const std::string act = j.value("hidden_act", std::string("gelu"));
        detail::check(act == "gelu", "bert: hidden_act '", act, "' is not supported (gelu)");
        detail::check(c.hidden % c.heads == 0, "bert: hidden_size ", c.hidden, " is not a multiple of the heads ", c.heads);
        return c;
    }
};

struct bert_layer {
    any_linear query, key, value, attn_out, inter, out;  // attention and feed-forward Linears
    layer_norm_weights ln_attn, ln_out;
};

class bert_classifier {
public:
    bert_config cfg;
    embedding word_emb, pos_emb, type_emb;  // (V, C), (P, C), (2, C)
    layer_norm_weights ln_emb;
    std::vector<bert_layer> layers;
    any_linear pooler, classifier;

    template <weight_source Src>
    static bert_classifier load(const Src& src, const bert_config& cfg, const linear_policy& policy) {
        bert_classifier m;
        m.cfg = cfg;
        const std::string e = "bert.embeddings.";
        const dtype dd = policy.dense_dtype;
        m.word_emb = embedding(src.matrix(e + "word_embeddings.weight"), dd);
        m.pos_emb = embedding(src.matrix(e + "position_embeddings.weight"), dd);
        m.type_emb = embedding(src.matrix(e + "token_type_embeddings.weight"), dd);
        m.ln_emb = ln(src, e + "LayerNorm", cfg.layer_norm_eps, dd);
        auto lin = [&](const std::string& name) {
            return make_linear(name, src.matrix(name + ".weight"), src.vector(name + ".bias"), policy);
        };
        for (int l = 0; l < cfg.layers; ++l) {
            const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
            bert_layer L{lin(p + "attention.self.query"), lin(p + "attention.self.key"),
                         lin(p + "attention.self.value"), lin(p + "attention.output.dense"),
                         lin(p + "intermediate.dense"),   lin(p + "output.dense"),
                         ln(src, p + "attention.output.LayerNorm", cfg.layer_norm_eps, dd),
                         ln(src, p + "output.LayerNorm", cfg.layer_norm_eps, dd)};
            m.layers.push_back(std::move(L));
        }
        m.pooler = lin("bert.pooler.dense");
        m.classifier = lin("classifier");
        return m;
    }

    // The reports' model size: every parameter, quantized storage included, in bytes.
    std::size_t size_bytes() const {
        std::size_t n = word_emb.size_bytes() + pos_emb.size_bytes() + type_emb.size_bytes() + ln_emb.size_bytes();
        for (const auto& L : layers)
            n += L.query.size_bytes() + L.key.size_bytes() + L.value.size_bytes() + L.attn_out.size_bytes() +
                 L.inter.size_bytes() + L.out.size_bytes() + L.ln_attn.size_bytes() + L.ln_out.size_bytes();
        return n + pooler.size_bytes() + classifier.size_bytes();
    }

    // token ids per sequence (ragged, token type 0) -> logits (B, num_labels)
    row_matrix logits(const std::vector<std::vector<std::int32_t>>& batch) const {
        std::vector<Eigen::Index> offset{0};
        for (const auto& s : batch) offset.push_back(offset.back() + Eigen::Index(s.size()));
        row_matrix h = embed(batch, offset.back());  // (T, C)
        for (const auto& L : layers) encoder_layer(L, h, offset);
        row_matrix cls(Eigen::Index(batch.size()), h.cols());  // (B, C): the first token of each
        for (std::size_t b = 0; b < batch.size(); ++b) cls.row(Eigen::Index(b)) = h.row(offset[b]);
        row_matrix pooled = pooler(cls);
        pooled = pooled.array().tanh();
        return classifier(pooled);  // (B, labels)
    }

    // the encoder's output (T, C) for one sequence (tests compare it with transformers)
    row_matrix last_hidden_state(const std::vector<std::int32_t>& ids) const {
        std::vector<Eigen::Index> offset{0, Eigen::Index(ids.size())};
        row_matrix h = embed({ids}, offset.back());
        for (const auto& L : layers) encoder_layer(L, h, offset);
        return h;
    }

private:
    template <class Src>
    static layer_norm_weights ln(const Src& src, const std::string& p, float eps, dtype storage) {
        return {src.vector(p + ".weight"), src.vector(p + ".bias"), eps, storage};
    }

    // word + position + token type 0, then layer norm: (T, C)
    row_matrix embed(const std::vector<std::vector<std::int32_t>>& batch, Eigen::Index T) const {
        row_matrix h(T, word_emb.cols());
        Eigen::Index t = 0;
        for (const auto& seq : batch) {
            detail::check(seq.size() <= std::size_t(cfg.max_positions), "bert: sequence of ", seq.size(),
                          " tokens exceeds max_position_embeddings ", cfg.max_positions);
            for (std::size_t p = 0; p < seq.size(); ++p, ++t) {
                detail::check(seq[p] >= 0 && seq[p] < word_emb.rows(), "bert: token id ", seq[p], " outside the vocabulary");
                h.row(t).setZero();
                word_emb.add_row(seq[p], h.row(t).data());
                pos_emb.add_row(Eigen::Index(p), h.row(t).data());
                type_emb.add_row(0, h.row(t).data());
            }
        }
        layer_norm(h, ln_emb);
        return h;
    }

    // h (T, C) <- LN(h + attn(h)); h <- LN(h + W2 gelu(W1 h))
    void encoder_layer(const bert_layer& L, row_matrix& h, const std::vector<Eigen::Index>& offset) const {
        const row_matrix q = L.query(h), k = L.key(h), v = L.value(h);  // (T, C) each
        row_matrix ctx(h.rows(), h.cols());
        // sequences in parallel (each writes its own rows)
        const auto seqs = static_cast<std::ptrdiff_t>(offset.size()) - 1;
#pragma omp parallel for schedule(static) if (seqs > 1)
        for (std::ptrdiff_t b = 0; b < seqs; ++b) {
            const Eigen::Index s = offset[std::size_t(b)], n = offset[std::size_t(b) + 1] - s;
            ctx.middleRows(s, n) = attention(q.middleRows(s, n), k.middleRows(s, n), v.middleRows(s, n), cfg.heads, false);
        }
        h += L.attn_out(ctx);
        layer_norm(h, L.ln_attn);
        row_matrix f = L.inter(h);  // (T, 4C)
        gelu_erf(f);
        h += L.out(f);
        layer_norm(h, L.ln_out);
    }
};

}  // namespace quant::examples
