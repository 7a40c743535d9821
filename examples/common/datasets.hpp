// Readers for the examples' evaluation data, and a seeded random subset.
//
// IMDB (Large Movie Review Dataset v1.0), in either layout:
//   - the aclImdb folder: SPLIT/neg/ID_RATING.txt and SPLIT/pos/ID_RATING.txt, one review a file;
//   - JSON Lines {"label": 0|1, "text": "..."}, plain or .gz (shared/data/imdb/imdb_test.jsonl.gz).
//   label 0 = negative, 1 = positive. The folder is read in the order the JSON Lines file has:
//   all neg by numeric file id, then all pos.
// Penn Treebank (Mikolov's word-level ptb.test.txt, or one sentence per line as the HF
// ptb_text_only data set has it): one sentence per line, spaces trimmed at both ends as
// ptb_text_only does; "<unk>" and "N" are kept as they are.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <quant/error.hpp>

#include "text_file.hpp"

namespace quant::examples {

struct imdb_review {
    int label = 0;  // 0 negative, 1 positive
    std::string text;
};

namespace detail_datasets {

inline std::vector<imdb_review> read_imdb_jsonl(const std::filesystem::path& path) {
    std::vector<imdb_review> out;
    for_each_line(read_text_file(path), [&](std::string_view line, std::size_t number) {
        if (line.empty()) return;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {
            detail::fail(path.string(), ":", number, ": not JSON: ", e.what());
        }
        detail::check(j.is_object() && j.contains("label") && j.contains("text") && j["text"].is_string() &&
                          j["label"].is_number_integer() && (j["label"] == 0 || j["label"] == 1),
                      path.string(), ":", number, ": expected {\"label\": 0 or 1, \"text\": \"...\"}");
        out.push_back({j["label"].get<int>(), j["text"].get<std::string>()});
    });
    return out;
}

// ID_RATING.txt -> ID; files not named that way are an error (a stray file is a wrong folder).
inline std::uint64_t imdb_file_id(const std::filesystem::path& file) {
    const std::string stem = file.stem().string();
    const auto underscore = stem.find('_');
    std::uint64_t id = 0;
    detail::check(underscore != std::string::npos && underscore > 0 && underscore <= 9, file.string(),
                  ": expected a name ID_RATING.txt");
    for (std::size_t i = 0; i < underscore; ++i) {
        detail::check(stem[i] >= '0' && stem[i] <= '9', file.string(), ": expected a name ID_RATING.txt");
        id = id * 10 + std::uint64_t(stem[i] - '0');
    }
    return id;
}

inline std::vector<imdb_review> read_imdb_folder(const std::filesystem::path& split) {
    std::vector<imdb_review> out;
    for (const int label : {0, 1}) {
        const auto dir = split / (label == 0 ? "neg" : "pos");
        detail::check(std::filesystem::is_directory(dir), dir.string(), " is missing (expected SPLIT/neg and SPLIT/pos)");
        std::vector<std::pair<std::uint64_t, std::filesystem::path>> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (entry.is_regular_file() && entry.path().extension() == ".txt")
                files.emplace_back(imdb_file_id(entry.path()), entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& [id, file] : files) out.push_back({label, read_text_file(file)});
    }
    return out;
}

}  // namespace detail_datasets

// path: an aclImdb split folder (holding neg/ and pos/), or a JSON Lines file (.gz too).
inline std::vector<imdb_review> read_imdb(const std::filesystem::path& path) {
    if (std::filesystem::is_directory(path)) return detail_datasets::read_imdb_folder(path);
    return detail_datasets::read_imdb_jsonl(path);
}

// One sentence per line (plain or .gz), trimmed; empty lines are skipped.
inline std::vector<std::string> read_ptb(const std::filesystem::path& path) {
    std::vector<std::string> out;
    for_each_line(read_text_file(path), [&](std::string_view line, std::size_t) {
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
        if (!line.empty()) out.emplace_back(line);
    });
    return out;
}

// n distinct indices out of [0, total), drawn with the seed, returned in increasing order (so
// a subset keeps the data set's order). The same on every platform: mt19937_64 is fully
// specified, and the bounded draw is written here (std::uniform_int_distribution is not).
inline std::vector<std::size_t> random_indices(std::size_t total, std::size_t n, std::uint64_t seed) {
    detail::check(n <= total, "cannot draw ", n, " items out of ", total);
    std::mt19937_64 rng(seed);
    const auto below = [&](std::uint64_t bound) {  // uniform in [0, bound), by rejection
        const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
        std::uint64_t x;
        do x = rng();
        while (x >= limit);
        return x % bound;
    };
    std::vector<std::size_t> all(total);
    for (std::size_t i = 0; i < total; ++i) all[i] = i;
    for (std::size_t i = 0; i < n; ++i) std::swap(all[i], all[i + below(total - i)]);  // partial Fisher-Yates
    all.resize(n);
    std::sort(all.begin(), all.end());
    return all;
}

template <class T>
std::vector<T> random_subset(const std::vector<T>& items, std::size_t n, std::uint64_t seed) {
    std::vector<T> out;
    out.reserve(n);
    for (const auto i : random_indices(items.size(), n, seed)) out.push_back(items[i]);
    return out;
}

}  // namespace quant::examples
