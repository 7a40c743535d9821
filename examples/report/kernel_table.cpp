// quant-kernel-table: the kernel table of the main job from bench_linear's Google Benchmark JSON
// (run with --benchmark_repetitions and aggregates: the medians are read).
//
//   quant-kernel-table build/results.json --out results      # -> results/kernels.{md,csv,json,svg}
//
// One row per (shape, m, warm/cold): GFLOP/s = 2*m*in*out/t of the dense fp32 baselines (Eigen,
// OpenBLAS) and of every quantized case, and each quantized case's speedup over the best dense
// fp32 of its row (the chart). For m = 1 also the weight bytes per second of NF4 and the DRAM read
// bandwidth measured in the same run (stream/read), the bound a memory-bound GEMV runs into.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <tuple>

#include "common/report.hpp"
#include "common/text_file.hpp"

using namespace quant::examples;

namespace {

struct impl {
    const char* key;    // bench_linear's name
    const char* title;  // chart title
};
const impl dense[] = {{"eigen_f32", "Eigen fp32"}, {"openblas_f32", "OpenBLAS fp32"}};
const impl quantized[] = {{"int8_w", "int8 (fp32 activations)"}, {"int8_a8", "int8 (int8 activations, VNNI)"},
                          {"int4_b64", "int4 block 64"},          {"int4_b64_bf16", "int4, bf16 compute"},
                          {"nf4_b64", "NF4 block 64"},
                          {"nf4dq_b64", "NF4 + double quant"},    {"nf4_b64_bf16", "NF4, bf16 compute"}};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Kernel table (GFLOP/s, speedup over dense fp32) from bench_linear's JSON"};
    std::string in, out_dir = "results";
    app.add_option("json", in, "bench_linear --benchmark_out=FILE --benchmark_out_format=json")->required();
    app.add_option("--out", out_dir)->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    try {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_text_file(in));
        } catch (const nlohmann::json::exception& e) {
            quant::detail::fail(in, ": not valid JSON (", e.what(), ")");
        }
        quant::detail::check(j.contains("benchmarks") && j["benchmarks"].is_array(), in, ": no \"benchmarks\" array");
        // (in*out, shape, m, cold) -> impl -> {GFLOP/s, weight GB/s}
        std::map<std::tuple<long, std::string, int, bool>, std::map<std::string, std::pair<double, double>>> cells;
        double stream = std::nan("");
        for (const auto& b : j["benchmarks"]) {
            if (b.value("aggregate_name", "") != "median") continue;
            std::string name = b.value("run_name", "");
            if (const auto p = name.find("/real_time"); p != std::string::npos) name.erase(p);
            if (name.rfind("stream", 0) == 0) {
                stream = b.value("GBs", std::nan(""));
                continue;
            }
            // impl/INxOUT/m:M[/cold]
            const auto s1 = name.find('/'), s2 = name.find('/', s1 + 1);
            quant::detail::check(s1 != std::string::npos && s2 != std::string::npos && name.compare(s2 + 1, 2, "m:") == 0,
                                 in, ": unexpected benchmark name '", name, "'");
            const std::string im = name.substr(0, s1), shape = name.substr(s1 + 1, s2 - s1 - 1);
            const bool cold = name.size() > 5 && name.compare(name.size() - 5, 5, "/cold") == 0;
            const int m = std::stoi(name.substr(s2 + 3));
            const auto x = shape.find('x');
            const long area = std::stol(shape.substr(0, x)) * std::stol(shape.substr(x + 1));
            cells[{area, shape, m, cold}][im] = {b.value("GFLOPs", std::nan("")), b.value("GBs", std::nan(""))};
        }
        quant::detail::check(!cells.empty(), in, ": no median results (run with --benchmark_repetitions >= 2)");

        report rep;
        rep.title = "Linear layer kernels, GFLOP/s and speedup over the best dense fp32 (2*m*in*out / time)";
        if (!std::isnan(stream)) rep.title += "; DRAM read bandwidth in this run " + std::to_string(int(std::lround(stream))) + " GB/s";
        for (const auto& d : dense) rep.columns.push_back({d.key, d.title, 0});
        for (const auto& q : quantized) rep.columns.push_back({q.key, q.title, 0});
        for (const auto& q : quantized) rep.columns.push_back({std::string(q.key) + "_x", std::string(q.title) + ", x dense", 2, 1.0});
        rep.columns.push_back({"nf4_weight_gbs", "NF4 weight GB/s (m = 1)", 1});
        for (const auto& [k, r] : cells) {
            const auto& [area, shape, m, cold] = k;
            report::row row{shape + " m=" + std::to_string(m) + (cold ? " cold" : ""), {}};
            double best = 0;
            for (const auto& d : dense)
                if (const auto it = r.find(d.key); it != r.end()) {
                    row.values[d.key] = it->second.first;
                    best = std::max(best, it->second.first);
                }
            for (const auto& q : quantized)
                if (const auto it = r.find(q.key); it != r.end()) {
                    row.values[q.key] = it->second.first;
                    if (best > 0) row.values[std::string(q.key) + "_x"] = it->second.first / best;
                }
            if (const auto it = r.find("nf4_b64"); m == 1 && it != r.end()) row.values["nf4_weight_gbs"] = it->second.second;
            rep.rows.push_back(std::move(row));
        }
        std::vector<std::string> chart;
        for (const auto& q : quantized)
            if (std::string(q.key) != "int8_w") chart.push_back(std::string(q.key) + "_x");
        std::filesystem::create_directories(out_dir);
        rep.write(out_dir, "kernels", chart);
        std::cout << "## " << rep.title << "\n\n";
        rep.markdown(std::cout);
    } catch (const std::exception& e) {
        std::cerr << "quant-kernel-table: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
