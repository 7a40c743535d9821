// quant-tokenize: text to token ids with the examples' tokenizers, to check them against
// Hugging Face from the shell or to feed other tools.
//
//   quant-tokenize --vocab-dir DIR [--max-length N] < in.jsonl > out.jsonl
//
// Input: JSON Lines, {"text": "..."} per line. Output: {"ids": [...]} per line, in order.
// DIR decides the tokenizer: vocab.txt -> BERT WordPiece (uncased), ids with [CLS]/[SEP];
// vocab.json + merges.txt -> GPT-2 byte-level BPE, no special tokens added. Each file may
// also be gzipped (name.gz). --max-length N truncates (BERT: [CLS]/[SEP] included in N).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include "common/byte_level_bpe.hpp"
#include "common/wordpiece.hpp"

namespace fs = std::filesystem;
using quant::examples::ByteLevelBPETokenizer;
using quant::examples::WordPieceTokenizer;

namespace {

// name or name.gz in dir, if either exists
std::optional<fs::path> find_file(const fs::path& dir, const std::string& name) {
    for (const auto& candidate : {dir / name, dir / (name + ".gz")})
        if (fs::is_regular_file(candidate)) return candidate;
    return std::nullopt;
}

using encoder = std::function<std::vector<std::int32_t>(const std::string&)>;

encoder load(const fs::path& dir, std::size_t max_length) {
    const auto wordpiece = find_file(dir, "vocab.txt");
    const auto bpe_vocab = find_file(dir, "vocab.json");
    const auto merges = find_file(dir, "merges.txt");
    quant::detail::check(!wordpiece || !bpe_vocab, dir.string(), " holds both vocab.txt and vocab.json: which tokenizer?");
    if (wordpiece) {
        auto tok = std::make_shared<WordPieceTokenizer>(WordPieceTokenizer::from_file(*wordpiece));
        return [tok, max_length](const std::string& text) { return tok->encode(text, max_length); };
    }
    quant::detail::check(bpe_vocab && merges, dir.string(), " holds neither vocab.txt nor vocab.json + merges.txt");
    auto tok = std::make_shared<ByteLevelBPETokenizer>(ByteLevelBPETokenizer::from_files(*bpe_vocab, *merges));
    return [tok, max_length](const std::string& text) {
        auto ids = tok->encode(text);
        if (max_length > 0 && ids.size() > max_length) ids.resize(max_length);
        return ids;
    };
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Tokenize JSON Lines {\"text\": ...} from stdin into {\"ids\": [...]} on stdout"};
    std::string vocab_dir;
    std::size_t max_length = 0;
    app.add_option("--vocab-dir", vocab_dir, "folder with vocab.txt (BERT) or vocab.json + merges.txt (GPT-2)")
        ->required()
        ->check(CLI::ExistingDirectory);
    app.add_option("--max-length", max_length, "truncate to N ids (BERT: [CLS] and [SEP] included)")
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);

    std::size_t line_number = 0;
    try {
        const auto encode = load(vocab_dir, max_length);
        std::ios::sync_with_stdio(false);
        std::string line, out;
        while (std::getline(std::cin, line)) {
            ++line_number;
            if (line.empty()) continue;
            const auto j = nlohmann::json::parse(line);
            quant::detail::check(j.is_object() && j.contains("text") && j["text"].is_string(),
                                 "expected an object with a string \"text\"");
            out = "{\"ids\": [";
            bool first = true;
            for (const auto id : encode(j["text"].get_ref<const std::string&>())) {
                if (!first) out += ", ";
                first = false;
                out += std::to_string(id);
            }
            out += "]}\n";
            std::cout << out;
        }
        std::cout.flush();
        if (!std::cout) throw quant::error("cannot write the output");
    } catch (const std::exception& e) {
        std::cerr << "quant-tokenize: ";
        if (line_number > 0) std::cerr << "stdin line " << line_number << ": ";
        std::cerr << e.what() << "\n";
        return 1;
    }
}
