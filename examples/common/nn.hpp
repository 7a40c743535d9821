// Building blocks of the example models: the per-layer Linear choice (dense or any scheme),
// layer norm, activations, attention. Shapes in comments: (T, C) = tokens x channels.
#pragma once

#include <cmath>
#include <cstdint>
#include <regex>
#include <string>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include <quant/quant.hpp>

namespace quant::examples {

using row_matrix = quant::row_matrix;

// Which format each Linear gets. Model loading is where this really is a runtime choice, so the
// layer type is a variant here and nowhere else.
enum class scheme_kind { dense, int8, int4, nf4, nf4_dq, fp4 };

inline const char* scheme_name(scheme_kind s) {
    switch (s) {
        case scheme_kind::dense: return "fp32";
        case scheme_kind::int8: return "int8";
        case scheme_kind::int4: return "int4";
        case scheme_kind::nf4: return "nf4";
        case scheme_kind::nf4_dq: return "nf4-dq";
        case scheme_kind::fp4: return "fp4";
    }
    return "?";
}

struct linear_policy {
    scheme_kind scheme = scheme_kind::dense;
    std::size_t block = 64;
    int8_activations int8_act = int8_activations::rowwise;
    float int8_threshold = 0.0f;  // transformers' default 6.0; report 003 used 1.0
    dtype compute = dtype::f32;   // bnb_4bit_compute_dtype
    // modules kept dense: a module is skipped when any pattern matches (std::regex_search) its
    // full name, the way bitsandbytes' llm_int8_skip_modules matches substrings
    std::vector<std::string> skip{};
    int threads = 0;
    // storage of every parameter left dense (embeddings, layer norms, skipped Linears): float32,
    // or float16 as transformers stores them when it loads a model with bitsandbytes (its
    // torch_dtype default there, which the reports' model sizes reflect); the arithmetic stays
    // float32 either way (float16 values widen exactly)
    dtype dense_dtype = dtype::f32;

    bool quantizes(const std::string& module) const {
        if (scheme == scheme_kind::dense) return false;
        for (const auto& s : skip)
            if (std::regex_search(module, std::regex(s))) return false;
        return true;
    }
};

// y = x W^T + b in float32 through Eigen (the "original" model of the reports)
struct dense_linear {
    row_matrix w;  // (out, in)
    std::vector<float> b;
    std::size_t in_features() const { return std::size_t(w.cols()); }
    std::size_t out_features() const { return std::size_t(w.rows()); }
    std::size_t size_bytes() const { return std::size_t(w.size()) * 4 + b.size() * 4; }
    void forward(const row_matrix& x, row_matrix& y) const {
        y.noalias() = x * w.transpose();
        if (!b.empty()) y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(b.data(), Eigen::Index(b.size()));
    }
};

template <class S>
struct quantized_linear {
    QuantizedLinear<S, cpu_backend> layer;
    std::size_t in_features() const { return layer.in_features(); }
    std::size_t out_features() const { return layer.out_features(); }
    std::size_t size_bytes() const { return layer.size_bytes(); }
    void forward(const row_matrix& x, row_matrix& y) const { layer.forward(view(x), view(y)); }
};

class any_linear {
public:
    using variant = std::variant<dense_linear, quantized_linear<Float16>, quantized_linear<AbsmaxInt8>,
                                 quantized_linear<BlockwiseInt4>, quantized_linear<NF4>, quantized_linear<FP4>>;
    any_linear() = default;
    explicit any_linear(variant v) : v_(std::move(v)) {}

    // x (T, in) -> y (T, out)
    row_matrix operator()(const row_matrix& x) const {
        row_matrix y(x.rows(), Eigen::Index(out_features()));
        std::visit([&](const auto& l) { l.forward(x, y); }, v_);
        return y;
    }
    std::size_t in_features() const { return std::visit([](const auto& l) { return l.in_features(); }, v_); }
    std::size_t out_features() const { return std::visit([](const auto& l) { return l.out_features(); }, v_); }
    std::size_t size_bytes() const { return std::visit([](const auto& l) { return l.size_bytes(); }, v_); }
    bool quantized() const { return v_.index() > 1; }  // not float32 or float16

private:
    variant v_;
};

inline void check_dense_dtype(dtype t) {
    detail::check(t == dtype::f32 || t == dtype::f16, "dense parameters are stored in f32 or f16, not ", dtype_name(t));
}

// weight (out, in), bias (out) or empty
inline any_linear make_linear(const std::string& module, row_matrix w, std::vector<float> b, const linear_policy& p) {
    check_dense_dtype(p.dense_dtype);
    if (!p.quantizes(module)) {
        if (p.dense_dtype == dtype::f16)
            return any_linear(quantized_linear<Float16>{
                QuantizedLinear<Float16, cpu_backend>::from_dense(view(w), b, {}, {.threads = p.threads})});
        return any_linear(dense_linear{std::move(w), std::move(b)});
    }
    const forward_options opt{.compute = p.compute, .threads = p.threads};
    auto q = [&]<class S>(const typename S::params& sp) {
        return any_linear(quantized_linear<S>{QuantizedLinear<S, cpu_backend>::from_dense(view(w), b, sp, opt)});
    };
    switch (p.scheme) {
        case scheme_kind::int8: return q.template operator()<AbsmaxInt8>({.activations = p.int8_act, .threshold = p.int8_threshold});
        case scheme_kind::int4: return q.template operator()<BlockwiseInt4>({.block = p.block});
        case scheme_kind::nf4: return q.template operator()<NF4>({.block = p.block, .double_quant = false});
        case scheme_kind::nf4_dq: return q.template operator()<NF4>({.block = p.block, .double_quant = true});
        case scheme_kind::fp4: return q.template operator()<FP4>({.block = p.block, .double_quant = false});
        case scheme_kind::dense: break;
    }
    return any_linear(dense_linear{std::move(w), std::move(b)});
}

// A lookup table (rows, C) of token or position vectors, stored in float32 or float16
// (linear_policy::dense_dtype); a language model's tied output layer multiplies with it in place.
class embedding {
public:
    embedding() = default;
    embedding(const row_matrix& w, dtype storage) : half_(storage == dtype::f16) {
        check_dense_dtype(storage);
        if (half_) f16_ = QuantizedTensor<Float16>::quantize(view(w));
        else f32_ = w;
    }
    Eigen::Index rows() const { return half_ ? Eigen::Index(f16_.rows()) : f32_.rows(); }
    Eigen::Index cols() const { return half_ ? Eigen::Index(f16_.cols()) : f32_.cols(); }
    std::size_t size_bytes() const { return half_ ? f16_.size_bytes() : std::size_t(f32_.size()) * 4; }

    // dst (C) += row r
    void add_row(Eigen::Index r, float* dst) const {
        if (!half_) {
            Eigen::Map<Eigen::RowVectorXf>(dst, f32_.cols()) += f32_.row(r);
            return;
        }
        const auto* h = f16_.data().values.data() + std::size_t(r) * f16_.cols();
        for (std::size_t c = 0; c < f16_.cols(); ++c) dst[c] += static_cast<float>(h[c]);
    }

    // y (T, rows) = x (T, C) . table^T
    row_matrix project(const row_matrix& x, int threads) const {
        row_matrix y(x.rows(), rows());
        if (!half_) {
            y.noalias() = x * f32_.transpose();
        } else {
            using kernel = linear_kernel<cpu_backend, Float16>;
            kernel::forward(f16_, kernel::prepare(f16_), {}, view(x), view(y), {.threads = threads});
        }
        return y;
    }

private:
    bool half_ = false;
    row_matrix f32_;
    QuantizedTensor<Float16> f16_;
};

struct layer_norm_weights {
    std::vector<float> gamma, beta;     // float32 storage, or
    std::vector<half> gamma16, beta16;  // float16 storage (linear_policy::dense_dtype)
    float eps = 1e-5f;

    layer_norm_weights() = default;
    layer_norm_weights(std::vector<float> g, std::vector<float> b, float e, dtype storage = dtype::f32) : eps(e) {
        check_dense_dtype(storage);
        if (storage == dtype::f32) {
            gamma = std::move(g), beta = std::move(b);
            return;
        }
        for (float v : g) gamma16.push_back(half(v));
        for (float v : b) beta16.push_back(half(v));
    }
    std::size_t size_bytes() const { return (gamma.size() + beta.size()) * 4 + (gamma16.size() + beta16.size()) * 2; }
};

// x (T, C) normalised per row, in place: (x - mean) / sqrt(var + eps) * gamma + beta
inline void layer_norm(row_matrix& x, const layer_norm_weights& w) {
    layer_norm_weights wide;  // float16 parameters widened once per call (C values)
    if (!w.gamma16.empty())
        for (std::size_t c = 0; c < w.gamma16.size(); ++c)
            wide.gamma.push_back(static_cast<float>(w.gamma16[c])), wide.beta.push_back(static_cast<float>(w.beta16[c]));
    const auto& ln = w.gamma16.empty() ? w : wide;
    const float eps = w.eps;
    const Eigen::Index C = x.cols();
    // rows are independent: threads change no result (the same holds for every loop marked so below)
#pragma omp parallel for schedule(static) if (x.rows() >= 64)
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        auto r = x.row(t);
        const float mean = r.mean();
        const float var = (r.array() - mean).square().mean();
        const float inv = 1.0f / std::sqrt(var + eps);
        for (Eigen::Index c = 0; c < C; ++c) r(c) = (r(c) - mean) * inv * ln.gamma[std::size_t(c)] + ln.beta[std::size_t(c)];
    }
}

// BERT's "gelu": exact, with erf
template <class F>
void apply_rows(row_matrix& x, const F& f) {
#pragma omp parallel for schedule(static) if (x.rows() >= 64)
    for (Eigen::Index t = 0; t < x.rows(); ++t) x.row(t) = x.row(t).unaryExpr(f);
}
inline void gelu_erf(row_matrix& x) {
    apply_rows(x, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)); });
}
// GPT-2's "gelu_new": the tanh approximation
inline void gelu_tanh(row_matrix& x) {
    apply_rows(x, [](float v) { return 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v))); });
}

// Multi-head attention for one sequence. q (T, C), k and v (S, C) with C = heads * d;
// causal: query t sees keys 0 .. (S - T + t). Returns (T, C).
inline row_matrix attention(const Eigen::Ref<const row_matrix>& q, const Eigen::Ref<const row_matrix>& k,
                            const Eigen::Ref<const row_matrix>& v, int heads, bool causal) {
    const Eigen::Index T = q.rows(), S = k.rows(), C = q.cols(), d = C / heads;
    const float scale = 1.0f / std::sqrt(float(d));
    row_matrix out(T, C);
    // heads in parallel (when not already inside a parallel loop, e.g. over a batch's sequences)
#pragma omp parallel for schedule(static) if (T * S >= 4096)
    for (int h = 0; h < heads; ++h) {
        row_matrix att(T, S);
        att.noalias() = (q.middleCols(h * d, d) * k.middleCols(h * d, d).transpose()) * scale;  // (T, S)
        for (Eigen::Index t = 0; t < T; ++t) {
            const Eigen::Index visible = causal ? S - T + t + 1 : S;
            auto r = att.row(t);
            const float mx = r.head(visible).maxCoeff();
            float sum = 0.0f;
            for (Eigen::Index s = 0; s < visible; ++s) sum += (r(s) = std::exp(r(s) - mx));
            r.head(visible) /= sum;
            r.tail(S - visible).setZero();
        }
        out.middleCols(h * d, d).noalias() = att * v.middleCols(h * d, d);  // (T, d)
    }
    return out;
}

}  // namespace quant::examples
