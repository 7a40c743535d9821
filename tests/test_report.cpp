// The report writer reproduces report 003's derived columns from its measured ones.
#include <catch2/catch.hpp>

#include <sstream>

#include "common/report.hpp"

using namespace quant::examples;

TEST_CASE("report: derived columns as the reports define them (report 003's table)", "[report]") {
    report r;
    r.title = "BERT on IMDB";
    r.columns = {{"model_size_mb", "Model size (MB)", 6}, {"avg_latency_seconds", "Latency (s)", 6}, {"accuracy", "Accuracy", 4}};
    r.rows = {{"original", {{"model_size_mb", 417.655281}, {"avg_latency_seconds", 0.001119}, {"accuracy", 0.8920}}},
              {"quantized_model_4_bit_set1", {{"model_size_mb", 86.487797}, {"avg_latency_seconds", 0.003318}, {"accuracy", 0.8915}}},
              {"quantized_model_8_bit", {{"model_size_mb", 127.269047}, {"avg_latency_seconds", 0.007918}, {"accuracy", 0.8875}}}};
    r.derive("model_size_mb", {"size_reduction", "Size reduction", 6}, size_reduction);
    r.derive("avg_latency_seconds", {"avg_speedup", "Speedup", 6}, speedup);
    r.derive("accuracy", {"accuracy_retention", "Accuracy retention", 6}, retention);
    // the report's own figures
    CHECK(r.get(r.rows[1], "size_reduction") == Approx(0.792921).margin(1e-6));
    CHECK(r.get(r.rows[1], "avg_speedup") == Approx(0.337251).margin(2e-4));  // report: 0.337765 (unrounded latencies)
    CHECK(r.get(r.rows[1], "accuracy_retention") == Approx(0.999439).margin(1e-6));
    CHECK(r.get(r.rows[2], "size_reduction") == Approx(0.695277).margin(1e-6));
    CHECK(r.get(r.rows[2], "accuracy_retention") == Approx(0.994955).margin(1e-6));
    CHECK(std::isnan(r.get(r.rows[0], "avg_speedup")));  // NaN for the original, as the reports

    std::ostringstream md, csv;
    r.markdown(md);
    r.csv(csv);
    CHECK(md.str().find("| quantized_model_8_bit | 127.269047 | 0.007918 | 0.8875 | 0.695277 |") != std::string::npos);
    CHECK(md.str().find("| original | 417.655281 | 0.001119 | 0.8920 | NaN | NaN | NaN |") != std::string::npos);
    CHECK(csv.str().find("\"original\",417.655281,0.001119,0.892,,,") != std::string::npos);
    const auto j = r.json();
    CHECK(j["rows"][1]["size_reduction"].get<double>() == Approx(0.792921).margin(1e-6));
    CHECK(j["rows"][0]["avg_speedup"].is_null());
    const std::string svg = r.svg({"model_size_mb", "avg_latency_seconds", "accuracy"});
    CHECK(svg.rfind("<svg", 0) == 0);
    std::size_t bars = 0;
    for (std::size_t p = svg.find("<rect x="); p != std::string::npos; p = svg.find("<rect x=", p + 1)) ++bars;
    CHECK(bars == 9);  // 3 panels x 3 configurations
    CHECK_THROWS_AS(r.svg({"no_such_column"}), quant::error);
}
