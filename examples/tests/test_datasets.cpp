#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/datasets.hpp"

using namespace quant::examples;

namespace {

std::string sample(const std::string& name) { return std::string(QUANT_DATASET_DATA_DIR) + "/" + name; }

// A scratch file with the given content, removed at the end of the scope.
struct temp_file {
    std::filesystem::path path;
    temp_file(const std::string& name, const std::string& content)
        : path(std::filesystem::temp_directory_path() / name) {
        std::ofstream(path, std::ios::binary) << content;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

}  // namespace

TEST_CASE("datasets: IMDB folder and JSON Lines give the same reviews in the same order") {
    const auto folder = read_imdb(sample("imdb/test"));
    const auto jsonl = read_imdb(sample("imdb_test_sample.jsonl.gz"));
    REQUIRE(folder.size() == 7);
    REQUIRE(jsonl.size() == 7);
    for (std::size_t i = 0; i < folder.size(); ++i) {
        CHECK(folder[i].label == jsonl[i].label);
        CHECK(folder[i].text == jsonl[i].text);
    }
    // neg first, by numeric id: 9 before 321 (by name "9" would come last)
    CHECK(folder[0].label == 0);
    CHECK(folder[0].text.size() == 2284);
    CHECK(folder[3].label == 0);
    CHECK(folder[4].label == 1);
}

TEST_CASE("datasets: IMDB errors say where") {
    temp_file bad_label("quant_imdb_bad_label.jsonl", "{\"label\": 0, \"text\": \"ok\"}\n{\"label\": 2, \"text\": \"x\"}\n");
    CHECK_THROWS_WITH(read_imdb(bad_label.path), Catch::Contains(":2: expected"));
    temp_file not_json("quant_imdb_not_json.jsonl", "{\"label\": 0, \"text\": \"ok\"}\n\n{oops\n");
    CHECK_THROWS_WITH(read_imdb(not_json.path), Catch::Contains(":3: not JSON"));
    CHECK_THROWS_WITH(read_imdb(sample("imdb")), Catch::Contains("neg is missing"));
    CHECK_THROWS_AS(read_imdb(sample("no-such.jsonl")), quant::error);
}

TEST_CASE("datasets: PTB sentences, trimmed") {
    const auto s = read_ptb(sample("ptb.test.sample.txt"));
    REQUIRE(s.size() == 20);
    CHECK(s[0] == "no it was n't black monday");
    for (const auto& line : s) {
        CHECK(!line.empty());
        CHECK(line.front() != ' ');
        CHECK(line.back() != ' ');
    }
    temp_file text_only("quant_ptb_text_only.txt", "a b\r\n\nc <unk> N\n");
    CHECK(read_ptb(text_only.path) == std::vector<std::string>{"a b", "c <unk> N"});
}

TEST_CASE("datasets: seeded random subsets") {
    const auto a = random_indices(1000, 50, 42);
    REQUIRE(a.size() == 50);
    CHECK(std::is_sorted(a.begin(), a.end()));
    CHECK(std::set<std::size_t>(a.begin(), a.end()).size() == 50);
    CHECK(a.back() < 1000);
    CHECK(random_indices(1000, 50, 42) == a);
    CHECK(random_indices(1000, 50, 43) != a);
    // pinned, so a change of the draw (which would change every reported subset) is noticed
    CHECK(random_indices(10, 3, 7) == std::vector<std::size_t>{5, 7, 8});
    CHECK(random_indices(25000, 5, 20261125) == std::vector<std::size_t>{461, 2128, 13259, 16295, 20788});
    CHECK(random_indices(5, 5, 1) == std::vector<std::size_t>{0, 1, 2, 3, 4});
    CHECK(random_indices(5, 0, 1).empty());
    CHECK_THROWS_AS(random_indices(5, 6, 1), quant::error);
    const std::vector<std::string> items{"a", "b", "c", "d"};
    const auto sub = random_subset(items, 2, 3);
    REQUIRE(sub.size() == 2);
    CHECK(sub[0] < sub[1]);
}
