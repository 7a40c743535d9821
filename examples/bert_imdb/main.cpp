// quant-bert-imdb: the BERT-on-IMDB table of the reports (seeds 000, 002, 003) for any
// BERT-architecture sequence classifier, e.g. textattack/bert-base-uncased-imdb.
//
//   quant-bert-imdb --model-dir bert-base-uncased-imdb --imdb aclImdb/test --samples 2000 --runs 10
//
// Columns as the reports: model_size_mb, avg_latency_seconds (per sample), accuracy,
// size_reduction, avg_speedup, accuracy_retention. Output: Markdown on stdout, and
// <out>/bert_imdb.{md,csv,json,svg}; progress on stderr.
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common/bert.hpp"
#include "common/datasets.hpp"
#include "common/report.hpp"
#include "common/run_support.hpp"
#include "common/wordpiece.hpp"

using namespace quant::examples;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
    CLI::App app{"BERT on IMDB: original vs quantized (the reports' table)"};
    std::string model_dir, imdb, out_dir = "results";
    std::size_t samples = 2000, max_length = 128, batch = 8;
    std::uint64_t seed = 42;
    int runs = 10, threads = 0;
    float threshold = 6.0f;
    std::vector<std::string> skip{"classifier"}, selective{"attention"}, configs;
    std::string dense = "f16";
    app.add_option("--model-dir", model_dir, "config.json, vocab.txt, model.safetensors or pytorch_model.bin")->required();
    app.add_option("--imdb", imdb, "aclImdb/test folder or JSON Lines {label, text} (.gz)")->required();
    app.add_option("--samples", samples, "random test reviews evaluated (0 = all)")->capture_default_str();
    app.add_option("--seed", seed, "seed of the random subset")->capture_default_str();
    app.add_option("--max-length", max_length, "tokens per review, [CLS] and [SEP] included")->capture_default_str();
    app.add_option("--batch-size", batch)->capture_default_str();
    app.add_option("--runs", runs, "timed passes over the subset (the reports used 10)")->capture_default_str();
    app.add_option("--threads", threads, "0 = all cores")->capture_default_str();
    app.add_option("--int8-threshold", threshold, "LLM.int8() outlier threshold (report 003 used 1.0)")->capture_default_str();
    app.add_option("--skip", skip, "modules kept dense in every quantized configuration (regex)")->capture_default_str();
    app.add_option("--selective", selective, "modules also kept dense by the selective configuration")->capture_default_str();
    app.add_option("--configs", configs, "subset of configurations, 'original' first");
    app.add_option("--dense-dtype", dense,
                   "storage of what the quantized configurations keep dense: f16 (as transformers loads a bitsandbytes model) or f32")
        ->check(CLI::IsMember({"f16", "f32"}))
        ->capture_default_str();
    app.add_option("--out", out_dir, "folder for the .md/.csv/.json/.svg results")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        fs::create_directories(out_dir);  // first: a bad --out must not cost a whole evaluation
        const fs::path dir(model_dir);
        const auto cfg = bert_config::from_json(read_model_config(dir));
        const auto tok = WordPieceTokenizer::from_file(model_file(dir, "vocab.txt"));
        auto reviews = read_imdb(imdb);
        if (samples && samples < reviews.size()) reviews = random_subset(reviews, samples, seed);
        std::vector<std::vector<std::int32_t>> ids;
        std::vector<int> labels;
        progress_bar tb("tokenizing");
        for (std::size_t i = 0; i < reviews.size(); ++i) {
            ids.push_back(tok.encode(reviews[i].text, max_length));
            labels.push_back(reviews[i].label);
            tb.update(i + 1, reviews.size());
        }
        const auto ckpt = quant::io::load_checkpoint(model_dir);
        const checkpoint_source src{ckpt};

        report rep;
        rep.title = "BERT on IMDB (" + std::to_string(ids.size()) + " test reviews, max length " + std::to_string(max_length) + ")";
        rep.columns = {{"model_size_mb", "Model size (MB)", 6}, {"avg_latency_seconds", "Latency per sample (s)", 6},
                       {"accuracy", "Accuracy", 4}};
        for (auto c : select_configs(report_configs(threshold, skip, selective, parse_dense_dtype(dense)), configs)) {
            c.policy.threads = threads;
            const auto model = bert_classifier::load(src, cfg, c.policy);
            // warm-up: one batch
            model.logits({ids.begin(), ids.begin() + std::ptrdiff_t(std::min(batch, ids.size()))});
            double seconds = 0;
            std::size_t correct = 0;
            progress_bar pb(c.name);
            for (int r = 0; r < runs; ++r) {
                correct = 0;
                for (std::size_t b = 0; b < ids.size(); b += batch) {
                    const std::vector<std::vector<std::int32_t>> chunk(ids.begin() + std::ptrdiff_t(b),
                                                                       ids.begin() + std::ptrdiff_t(std::min(ids.size(), b + batch)));
                    const auto t0 = std::chrono::steady_clock::now();
                    const row_matrix lg = model.logits(chunk);
                    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                    for (Eigen::Index i = 0; i < lg.rows(); ++i) {
                        Eigen::Index arg;
                        lg.row(i).maxCoeff(&arg);
                        correct += int(arg) == labels[b + std::size_t(i)];
                    }
                    pb.update(std::size_t(r) * ids.size() + b + chunk.size(), std::size_t(runs) * ids.size());
                }
            }
            rep.rows.push_back({c.name,
                                {{"model_size_mb", double(model.size_bytes()) / (1024.0 * 1024.0)},
                                 {"avg_latency_seconds", seconds / double(runs) / double(ids.size())},
                                 {"accuracy", double(correct) / double(ids.size())}}});
        }
        rep.derive("model_size_mb", {"size_reduction", "Size reduction", 6}, size_reduction);
        rep.derive("avg_latency_seconds", {"avg_speedup", "Speedup", 6}, speedup);
        rep.derive("accuracy", {"accuracy_retention", "Accuracy retention", 6}, retention);
        rep.write(out_dir, "bert_imdb", {"model_size_mb", "avg_latency_seconds", "accuracy"});
        std::cout << "## " << rep.title << "\n\n";
        rep.markdown(std::cout);
    } catch (const std::exception& e) {
        std::cerr << "quant-bert-imdb: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
