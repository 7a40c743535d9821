// The golden cases of tools/make_tokenizer_fixtures.py (HF transformers), read once.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "common/text_file.hpp"

namespace tokenizer_fixture {

inline std::string path(const std::string& name) { return std::string(QUANT_TOKENIZER_DATA_DIR) + "/" + name; }

inline const std::vector<nlohmann::json>& cases() {
    static const std::vector<nlohmann::json> all = [] {
        std::vector<nlohmann::json> v;
        quant::examples::for_each_line(quant::examples::read_text_file(path("cases.jsonl.gz")),
                                       [&](std::string_view line, std::size_t) { v.push_back(nlohmann::json::parse(line)); });
        return v;
    }();
    return all;
}

}  // namespace tokenizer_fixture
