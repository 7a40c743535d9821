// quant-gpt2: GPT-2 on Penn Treebank, the reports' perplexity tables (seeds 001, 004), and a
// small text generator.
//
//   quant-gpt2 ptb --model-dir gpt2 --ptb ptb.test.txt              # the table
//   quant-gpt2 generate --model-dir gpt2 --prompt "The market" --tokens 40 [--top-k 40 --seed 1]
//
// ptb: the test set joined into one text ("\n\n".join(lines), as the Hugging Face perplexity
// guide; --join changes it), Hugging Face's strided perplexity (max_length = n_positions,
// stride 512). Columns: model_size_mb, memory_mb (peak resident memory of the process while
// this configuration is loaded and evaluated: the peak is reset before each), window_latency_s (per max_length window), token_latency_ms (one generated
// token with the KV cache, batch 1; median of 5 runs), perplexity, scored_tokens, size_reduction, speedup (window
// latency), perplexity_change.
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "common/byte_level_bpe.hpp"
#include "common/datasets.hpp"
#include "common/gpt2.hpp"
#include "common/perplexity.hpp"
#include "common/report.hpp"
#include "common/run_support.hpp"

using namespace quant::examples;
namespace fs = std::filesystem;

namespace {

struct model_files {
    gpt2_config cfg;
    ByteLevelBPETokenizer tok;
    quant::io::checkpoint ckpt;
};

model_files open_model(const std::string& dir) {
    const fs::path d(dir);
    return {gpt2_config::from_json(read_model_config(d)),
            ByteLevelBPETokenizer::from_files(model_file(d, "vocab.json"), model_file(d, "merges.txt")),
            quant::io::load_checkpoint(dir)};
}

// ms per generated token: a 32-token prompt, then `n` greedy tokens with the KV cache; the median
// of 5 such runs (one run of a small model is a few milliseconds, within the noise of the machine)
double token_latency_ms(const gpt2_lm& model, int n) {
    std::vector<std::int32_t> prompt(32);
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = std::int32_t(100 + 37 * i);
    std::vector<double> runs;
    for (int run = 0; run < 5; ++run) {
        kv_cache cache;
        row_matrix lg = model.forward(prompt, cache);
        const auto t0 = std::chrono::steady_clock::now();
        for (int s = 0; s < n; ++s) {
            Eigen::Index next;
            lg.row(lg.rows() - 1).maxCoeff(&next);
            lg = model.forward({std::int32_t(next)}, cache);
        }
        runs.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n);
    }
    std::nth_element(runs.begin(), runs.begin() + 2, runs.end());
    return runs[2];
}

struct ptb_options {
    std::string join = "\n\n";
    std::size_t stride = 512, max_length = 0;
    int threads = 0, gen_tokens = 32;
    float int8_threshold = 6.0f;
    std::string dense = "f16";
    bool quantize_lm_head = false;
    std::vector<std::string> skip{}, selective{"attn"}, configs;
};

int run_ptb(const std::string& model_dir, const std::string& ptb, const ptb_options& o, const std::string& out_dir) {
    fs::create_directories(out_dir);  // first: a bad --out must not cost a whole evaluation
    auto mf = open_model(model_dir);
    const auto lines = read_ptb(ptb);
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) text += (i ? o.join : std::string()) + lines[i];
    std::vector<std::int32_t> ids;
    mf.tok.encode(text, ids);
    const std::size_t max_length = o.max_length ? o.max_length : std::size_t(mf.cfg.n_positions);
    const checkpoint_source src{mf.ckpt};
    report rep;
    rep.title = "GPT-2 on Penn Treebank (" + std::to_string(ids.size()) + " tokens, window " + std::to_string(max_length) +
                ", stride " + std::to_string(o.stride) + ")";
    rep.columns = {{"model_size_mb", "Model size (MB)", 2},     {"memory_mb", "Peak resident memory (MB)", 1},
                   {"window_latency_s", "Latency per window (s)", 4}, {"token_latency_ms", "Latency per token (ms)", 2},
                   {"perplexity", "Perplexity", 3},             {"scored_tokens", "Scored tokens", 0}};
    for (auto c : select_configs(report_configs(o.int8_threshold, o.skip, o.selective, parse_dense_dtype(o.dense)), o.configs)) {
        c.policy.threads = o.threads;
        malloc_trim(0);  // the previous configuration's freed memory back to the kernel, then the peak from here
        reset_peak_resident();
        const auto model = gpt2_lm::load(src, mf.cfg, c.policy, o.quantize_lm_head);
        progress_bar pb(c.name);
        const auto r = strided_perplexity(model, ids, max_length, o.stride, [&](std::size_t d, std::size_t t) { pb.update(d, t); });
        double win = 0;
        for (double s : r.window_seconds) win += s;
        rep.rows.push_back({c.name,
                            {{"model_size_mb", double(model.size_bytes()) / (1024.0 * 1024.0)},
                             {"memory_mb", resident_mb("VmHWM:")},
                             {"window_latency_s", win / double(r.window_seconds.size())},
                             {"token_latency_ms", token_latency_ms(model, o.gen_tokens)},
                             {"perplexity", r.perplexity()},
                             {"scored_tokens", double(r.scored)}}});
    }
    rep.derive("model_size_mb", {"size_reduction", "Size reduction", 4}, size_reduction);
    rep.derive("window_latency_s", {"speedup", "Speedup (window)", 3}, speedup);
    rep.derive("perplexity", {"perplexity_change", "Perplexity change", 4}, relative_change);
    rep.write(out_dir, "gpt2_ptb", {"model_size_mb", "window_latency_s", "token_latency_ms", "perplexity"});
    std::cout << "## " << rep.title << "\n\n";
    rep.markdown(std::cout);
    return 0;
}

int run_generate(const std::string& model_dir, const std::string& prompt, int tokens, int top_k, std::uint64_t seed,
                 const std::string& scheme, const std::string& compute, const std::string& dense, bool quantize_lm_head) {
    auto mf = open_model(model_dir);
    linear_policy p;
    if (scheme == "int8") p.scheme = scheme_kind::int8;
    else if (scheme == "nf4") p.scheme = scheme_kind::nf4;
    else if (scheme == "nf4-dq") p.scheme = scheme_kind::nf4_dq;
    else if (scheme == "fp4") p.scheme = scheme_kind::fp4;
    else if (scheme == "int4") p.scheme = scheme_kind::int4;
    else quant::detail::check(scheme == "fp32", "unknown scheme '", scheme, "'");
    p.compute = compute == "bf16" ? quant::dtype::bf16 : compute == "f16" ? quant::dtype::f16 : quant::dtype::f32;
    if (p.scheme != scheme_kind::dense) p.dense_dtype = parse_dense_dtype(dense);
    const auto model = gpt2_lm::load(checkpoint_source{mf.ckpt}, mf.cfg, p, quantize_lm_head);
    std::vector<std::int32_t> ids;
    mf.tok.encode(prompt, ids);
    quant::detail::check(!ids.empty(), "the prompt is empty");
    std::mt19937_64 rng(seed);
    kv_cache cache;
    row_matrix lg = model.forward(ids, cache);
    std::cout << prompt << std::flush;
    for (int s = 0; s < tokens && cache.length() < mf.cfg.n_positions; ++s) {
        const auto row = lg.row(lg.rows() - 1);
        Eigen::Index next = 0;
        if (top_k <= 1) {
            row.maxCoeff(&next);
        } else {  // sample among the k most likely, softmax over them
            std::vector<std::pair<float, Eigen::Index>> cand;
            for (Eigen::Index v = 0; v < row.size(); ++v) cand.emplace_back(row(v), v);
            const auto k = std::min<std::size_t>(std::size_t(top_k), cand.size());
            std::partial_sort(cand.begin(), cand.begin() + std::ptrdiff_t(k), cand.end(), std::greater<>());
            std::vector<double> w(k);
            for (std::size_t i = 0; i < k; ++i) w[i] = std::exp(double(cand[i].first - cand[0].first));
            next = cand[std::discrete_distribution<std::size_t>(w.begin(), w.end())(rng)].second;
        }
        const std::vector<std::int32_t> one{std::int32_t(next)};
        std::cout << mf.tok.decode(one) << std::flush;
        lg = model.forward(one, cache);
    }
    std::cout << '\n';
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    // A window's logits are T x 50257 floats (51 MB at T = 256): glibc would hand each such block
    // back to the OS when freed and fault it in again for the next window (a third of the run's
    // time, in the kernel). Keep freed memory in the heap instead.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    CLI::App app{"GPT-2: Penn Treebank perplexity tables, and text generation"};
    app.require_subcommand(1);
    std::string model_dir, ptb, out_dir = "results", prompt = "The", scheme = "fp32", compute = "f32", gen_dense = "f16";
    ptb_options o;
    int tokens = 40, top_k = 0;
    bool gen_head = false;
    std::uint64_t seed = 1;
    auto* p = app.add_subcommand("ptb", "the perplexity table");
    p->add_option("--model-dir", model_dir, "config.json, vocab.json, merges.txt, model.safetensors or pytorch_model.bin")->required();
    p->add_option("--ptb", ptb, "ptb.test.txt (one sentence per line), plain or .gz")->required();
    p->add_option("--join", o.join, "separator between lines (the HF guide: two newlines)");
    p->add_option("--stride", o.stride)->capture_default_str();
    p->add_option("--max-length", o.max_length, "window; 0 = n_positions")->capture_default_str();
    p->add_option("--threads", o.threads)->capture_default_str();
    p->add_option("--gen-tokens", o.gen_tokens, "tokens generated for the per-token latency")->capture_default_str();
    p->add_option("--int8-threshold", o.int8_threshold, "LLM.int8() outlier threshold (transformers' default 6.0; 0 = off)")
        ->capture_default_str();
    p->add_option("--skip", o.skip, "modules kept dense in every quantized configuration (regex)");
    p->add_option("--selective", o.selective, "modules also kept dense by the selective configuration")->capture_default_str();
    p->add_option("--configs", o.configs, "subset of configurations, 'original' first");
    p->add_option("--dense-dtype", o.dense,
                  "storage of what the quantized configurations keep dense: f16 (as transformers loads a bitsandbytes model) or f32")
        ->check(CLI::IsMember({"f16", "f32"}))
        ->capture_default_str();
    p->add_flag("--quantize-lm-head", o.quantize_lm_head, "quantize the output layer too (a second, quantized copy of wte)");
    p->add_option("--out", out_dir)->capture_default_str();
    auto* g = app.add_subcommand("generate", "continue a prompt");
    g->add_option("--model-dir", model_dir)->required();
    g->add_option("--prompt", prompt)->capture_default_str();
    g->add_option("--tokens", tokens)->capture_default_str();
    g->add_option("--top-k", top_k, "0 or 1: greedy")->capture_default_str();
    g->add_option("--seed", seed)->capture_default_str();
    g->add_option("--scheme", scheme, "fp32, int8, int4, nf4, nf4-dq, fp4")->capture_default_str();
    g->add_option("--compute", compute, "compute dtype of the quantized layers")->check(CLI::IsMember({"f32", "bf16", "f16"}))->capture_default_str();
    g->add_option("--dense-dtype", gen_dense, "storage of what a quantized model keeps dense")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
    g->add_flag("--quantize-lm-head", gen_head, "quantize the output layer too");
    CLI11_PARSE(app, argc, argv);
    try {
        if (p->parsed()) return run_ptb(model_dir, ptb, o, out_dir);
        return run_generate(model_dir, prompt, tokens, top_k, seed, scheme, compute, gen_dense, gen_head);
    } catch (const std::exception& e) {
        std::cerr << "quant-gpt2: " << e.what() << '\n';
        return 1;
    }
}
