#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/text_file.hpp"
#include "fixture_cases.hpp"

using quant::examples::for_each_line;
using quant::examples::read_text_file;

TEST_CASE("text_file: lines without their newline, CRLF too, a last line without one") {
    std::vector<std::string> lines;
    for_each_line("a\r\nb\n\nc", [&](std::string_view l, std::size_t n) {
        lines.emplace_back(l);
        CHECK(n == lines.size());
    });
    CHECK(lines == std::vector<std::string>{"a", "b", "", "c"});
    std::size_t count = 0;
    for_each_line("", [&](std::string_view, std::size_t) { ++count; });
    CHECK(count == 0);
}

TEST_CASE("text_file: gzip is read, truncated gzip and missing files are errors") {
    const auto vocab = read_text_file(tokenizer_fixture::path("bert-base-uncased/vocab.txt.gz"));
    CHECK(vocab.size() == 231508);
    CHECK(vocab.starts_with("[PAD]\n"));
    CHECK_THROWS_WITH(read_text_file("/no/such/file.txt"), Catch::Contains("/no/such/file.txt"));

    const auto tmp = std::filesystem::temp_directory_path() / "quant_truncated_test.gz";
    const auto gz = read_text_file(tokenizer_fixture::path("tool_input.jsonl"));  // plain file, read as is
    CHECK(gz.starts_with("{\"text\""));
    {
        std::ifstream in(tokenizer_fixture::path("gpt2/merges.txt.gz"), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(tmp, std::ios::binary).write(bytes.data(), 5000);
    }
    CHECK_THROWS_AS(read_text_file(tmp), quant::error);
    std::filesystem::remove(tmp);
}
