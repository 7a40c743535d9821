// BERT's WordPiece tokenizer, uncased: the same ids as Hugging Face's BertTokenizerFast for
// bert-base-uncased (tokenizers' BertNormalizer + BertPreTokenizer + WordPiece + the
// [CLS] A [SEP] template), checked against it in examples/tests on IMDB, PTB and hard cases.
//
// Pipeline, for each stretch of text between special tokens ([CLS], [SEP], ... are matched
// literally in the raw text first):
//   1. clean: drop NUL, U+FFFD and "other" characters (Cc, Cf, Co; not Cn), map white space to ' '
//   2. put spaces around CJK ideographs
//   3. NFD, then drop nonspacing marks (Mn): strips accents
//   4. lowercase (per character, simple mapping: U+0130, the one character whose full
//      lowercase differs, was decomposed in step 3)
//   5. split on spaces and around punctuation (ASCII punctuation and Unicode P*)
//   6. each word: greedy longest match against the vocabulary, pieces after the first with
//      "##"; a word with no complete split, or longer than 100 characters, is [UNK]
#pragma once

#include <utf8proc.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <quant/error.hpp>

#include "special_tokens.hpp"
#include "text_file.hpp"
#include "token_batch.hpp"
#include "utf8.hpp"

namespace quant::examples {

namespace bert_chars {

// Rust's char::is_whitespace (the Unicode White_Space property), which HF uses; note that
// U+001C..U+001F are not in it (Python's str.isspace would say they are).
inline bool is_whitespace(char32_t c) {
    switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
    }
}

inline utf8proc_category_t category(char32_t c) {
    return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// HF's is_control: "other" characters except \t \n \r. Unassigned code points (Cn) stay:
// the table HF uses has none, so e.g. U+0378 survives and becomes [UNK] (checked in the fixtures).
inline bool is_control(char32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    const auto cat = category(c);
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
           cat == UTF8PROC_CATEGORY_CS;
}

// The CJK Unified Ideographs blocks as HF tokenizers lists them (bert.rs is_chinese_char;
// its Extension E range starts at 0x2B920, not 0x2B820 as in transformers' Python code).
inline bool is_cjk(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// ASCII punctuation (Rust's is_ascii_punctuation: symbols such as $ + < = > ^ ` | ~ count)
// or any Unicode P* category.
inline bool is_punctuation(char32_t c) {
    if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    const auto cat = category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

}  // namespace bert_chars

class WordPieceTokenizer {
public:
    static constexpr std::size_t max_input_chars_per_word = 100;  // HF WordPiece default

    // tokens[i] has id i. [UNK], [CLS], [SEP], [PAD] must be among them; [MASK] is optional.
    explicit WordPieceTokenizer(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
        vocab_.reserve(tokens_.size());
        for (std::size_t i = 0; i < tokens_.size(); ++i) {
            vocab_.insert_or_assign(tokens_[i], static_cast<std::int32_t>(i));  // a later duplicate wins, as in HF
            max_token_bytes_ = std::max(max_token_bytes_, tokens_[i].size());
        }
        unk_ = id("[UNK]");
        cls_ = id("[CLS]");
        sep_ = id("[SEP]");
        pad_ = id("[PAD]");
        for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})
            if (auto it = vocab_.find(std::string_view(s)); it != vocab_.end()) specials_.add(s, it->second);
    }

    // vocab.txt: one token per line, the line number (from 0) is the id; .gz is read too.
    static WordPieceTokenizer from_file(const std::filesystem::path& path) {
        const std::string text = read_text_file(path);
        std::vector<std::string> tokens;
        for_each_line(text, [&](std::string_view line, std::size_t number) {
            try {
                utf8::validate(line);
            } catch (const error& e) {
                detail::fail(path.string(), ":", number, ": ", e.what());
            }
            while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);  // HF trims the end
            detail::check(!line.empty(), path.string(), ":", number, ": empty token");
            tokens.emplace_back(line);
        });
        detail::check(!tokens.empty(), path.string(), ": empty vocabulary");
        return WordPieceTokenizer(std::move(tokens));
    }

    std::int32_t id(std::string_view token) const {
        const auto it = vocab_.find(token);
        detail::check(it != vocab_.end(), "token \"", token, "\" is not in the vocabulary");
        return it->second;
    }
    const std::string& token(std::int32_t id) const {
        detail::check(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(), "token id ", id, " out of range [0, ",
                      tokens_.size(), ")");
        return tokens_[static_cast<std::size_t>(id)];
    }
    std::size_t vocab_size() const { return tokens_.size(); }
    std::int32_t cls_id() const { return cls_; }
    std::int32_t sep_id() const { return sep_; }
    std::int32_t pad_id() const { return pad_; }
    std::int32_t unk_id() const { return unk_; }

    // Appends the ids of the text, without [CLS]/[SEP]. Throws on invalid UTF-8.
    void tokenize(std::string_view text, std::vector<std::int32_t>& out) const {
        specials_.split(text, [&](std::string_view piece) { tokenize_ordinary(piece, out); },
                        [&](std::int32_t special) { out.push_back(special); });
    }

    // [CLS] text [SEP]; with max_length > 0 the text is cut so that the whole fits
    // (HF truncation=True, max_length=N).
    std::vector<std::int32_t> encode(std::string_view text, std::size_t max_length = 0) const {
        detail::check(max_length == 0 || max_length >= 2, "max_length ", max_length, " leaves no room for [CLS] and [SEP]");
        std::vector<std::int32_t> ids{cls_};
        tokenize(text, ids);
        if (max_length > 0 && ids.size() + 1 > max_length) ids.resize(max_length - 1);
        ids.push_back(sep_);
        return ids;
    }

    // HF tokenizer(texts, truncation=True, max_length=N, padding=...). max_length 0 with
    // padding::longest: no truncation.
    token_batch encode_batch(std::span<const std::string> texts, std::size_t max_length,
                             padding pad = padding::max_length) const {
        detail::check(pad == padding::longest || max_length > 0, "padding to max_length needs max_length > 0");
        std::vector<std::vector<std::int32_t>> seqs;
        seqs.reserve(texts.size());
        std::size_t longest = 0;
        for (const auto& t : texts) {
            seqs.push_back(encode(t, max_length));
            longest = std::max(longest, seqs.back().size());
        }
        return token_batch::pad(seqs, pad == padding::longest ? longest : max_length, pad_);
    }

private:
    // Steps 1-6 of the header comment on text without special tokens.
    void tokenize_ordinary(std::string_view text, std::vector<std::int32_t>& out) const {
        using namespace bert_chars;
        // 1-4: normalized code points. Combining marks that survive step 3 (Mc, Me) still
        // need the canonical order of NFD, so runs of nonzero combining class are sorted.
        std::vector<char32_t> norm;
        norm.reserve(text.size() + 8);
        bool any_mark = false;
        for (std::size_t pos = 0; pos < text.size();) {
            const char32_t c = utf8::next(text, pos);
            if (c < 0x80) {  // ASCII: no decomposition, no marks
                if (c == 0 || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) continue;
                norm.push_back(is_whitespace(c) ? U' ' : (c >= 'A' && c <= 'Z') ? c + 32 : c);
                continue;
            }
            if (c == 0xFFFD || is_control(c)) continue;
            if (is_whitespace(c)) {
                norm.push_back(U' ');
                continue;
            }
            const bool cjk = is_cjk(c);
            if (cjk) norm.push_back(U' ');
            utf8proc_int32_t buf[16];
            int boundclass = 0;
            const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buf, 16, UTF8PROC_DECOMPOSE, &boundclass);
            detail::check(n > 0 && n <= 16, "cannot decompose U+", std::hex, static_cast<std::uint32_t>(c));
            for (utf8proc_ssize_t i = 0; i < n; ++i) {
                const auto d = static_cast<char32_t>(buf[i]);
                if (category(d) == UTF8PROC_CATEGORY_MN) continue;
                any_mark |= utf8proc_get_property(buf[i])->combining_class != 0;
                norm.push_back(static_cast<char32_t>(utf8proc_tolower(buf[i])));
            }
            if (cjk) norm.push_back(U' ');
        }
        if (any_mark) canonical_order(norm);

        // 5-6: words, then word pieces. word holds the UTF-8 of the current word.
        std::string word, key;
        std::size_t word_chars = 0;
        const auto flush = [&] {
            if (!word.empty()) word_pieces(word, word_chars, key, out);
            word.clear();
            word_chars = 0;
        };
        for (const char32_t c : norm) {
            if (c == U' ') {
                flush();
            } else if (is_punctuation(c)) {
                flush();
                utf8::append(word, c);
                word_chars = 1;
                flush();
            } else {
                utf8::append(word, c);
                ++word_chars;
            }
        }
        flush();
    }

    // NFD's canonical ordering: a stable sort by combining class of each run of marks.
    static void canonical_order(std::vector<char32_t>& cps) {
        const auto ccc = [](char32_t c) { return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class; };
        for (std::size_t i = 0; i < cps.size();) {
            if (ccc(cps[i]) == 0) {
                ++i;
                continue;
            }
            std::size_t j = i;
            while (j < cps.size() && ccc(cps[j]) != 0) ++j;
            std::stable_sort(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j),
                             [&](char32_t a, char32_t b) { return ccc(a) < ccc(b); });
            i = j;
        }
    }

    // Greedy longest-match-first. key is scratch space for "##" + piece.
    void word_pieces(std::string_view word, std::size_t chars, std::string& key, std::vector<std::int32_t>& out) const {
        if (chars > max_input_chars_per_word) {
            out.push_back(unk_);
            return;
        }
        const std::size_t first = out.size();
        for (std::size_t start = 0; start < word.size();) {
            const std::string_view prefix = start > 0 ? "##" : "";
            // Longer candidates than the longest token cannot match; start below that bound.
            const std::size_t room = max_token_bytes_ > prefix.size() ? max_token_bytes_ - prefix.size() : 0;
            std::size_t end = std::min(word.size(), start + room);
            std::int32_t found = -1;
            for (; end > start; --end) {
                if (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) continue;  // mid-character
                key.assign(prefix);
                key.append(word.substr(start, end - start));
                if (const auto it = vocab_.find(std::string_view(key)); it != vocab_.end()) {
                    found = it->second;
                    break;
                }
            }
            if (found < 0) {  // the whole word is unknown
                out.resize(first);
                out.push_back(unk_);
                return;
            }
            out.push_back(found);
            start = end;
        }
    }

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    std::vector<std::string> tokens_;
    std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>> vocab_;
    std::size_t max_token_bytes_ = 0;
    std::int32_t unk_ = 0, cls_ = 0, sep_ = 0, pad_ = 0;
    special_tokens specials_;
};

}  // namespace quant::examples
