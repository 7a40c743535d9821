// GPT-2's byte-level BPE tokenizer: the same ids as Hugging Face's GPT2TokenizerFast (no
// special tokens added, no prefix space), checked against it in examples/tests.
//
//   1. special tokens (<|endoftext|>) are matched literally in the raw text first
//   2. pre-tokenization: GPT-2's regex (below), run by PCRE2 with Unicode properties
//   3. each piece's UTF-8 bytes start as one symbol each; then the merge with the lowest
//      rank in merges.txt is applied, leftmost first, until none applies
// The files store tokens in GPT-2's byte-to-unicode alphabet (so that every byte is a
// printable character); this class converts them to raw bytes once, at load time, and then
// works on bytes only. decode() is the concatenation of the tokens' bytes.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <functional>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <quant/error.hpp>

#include "special_tokens.hpp"
#include "text_file.hpp"
#include "utf8.hpp"

namespace quant::examples {

namespace gpt2_bytes {

// GPT-2's bytes_to_unicode (encoder.py): bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for
// themselves, the other 68 bytes for U+0100, U+0101, ... in byte order.
inline const std::array<char32_t, 256>& byte_to_char() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 0x100;
        for (unsigned b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            t[b] = printable ? char32_t(b) : next++;
        }
        return t;
    }();
    return table;
}

// A token as stored in vocab.json / merges.txt, back to its raw bytes.
inline std::string to_bytes(std::string_view token) {
    static const std::unordered_map<char32_t, char> inverse = [] {
        std::unordered_map<char32_t, char> m;
        for (unsigned b = 0; b < 256; ++b) m.emplace(byte_to_char()[b], static_cast<char>(b));
        return m;
    }();
    std::string out;
    for (std::size_t pos = 0; pos < token.size();) {
        const char32_t c = utf8::next(token, pos);
        const auto it = inverse.find(c);
        detail::check(it != inverse.end(), "token \"", token, "\" has a character outside the byte-level alphabet");
        out.push_back(it->second);
    }
    return out;
}

}  // namespace gpt2_bytes

class ByteLevelBPETokenizer {
public:
    // GPT-2's pre-tokenization pattern (tokenizers' ByteLevel pre-tokenizer, which runs it
    // with Oniguruma). Oniguruma's \s is the White_Space property; PCRE2's \s with UCP also
    // takes U+180E, so \s is spelled out as White_Space.
    static constexpr const char* white_space = R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

    // vocab_json: {"token": id, ...}; merges: "a b" per line, rank = order, "#version" lines skipped.
    ByteLevelBPETokenizer(std::string_view vocab_json, std::string_view merges, std::string_view source = "vocabulary") {
        load_vocab(vocab_json, source);
        load_merges(merges, source);
        for (unsigned b = 0; b < 256; ++b) {
            const auto it = vocab_.find(std::string(1, static_cast<char>(b)));
            detail::check(it != vocab_.end(), source, ": byte ", b, " has no token; not a byte-level vocabulary");
            byte_id_[b] = it->second;
        }
        if (const auto it = vocab_.find(std::string_view("<|endoftext|>")); it != vocab_.end()) {
            eos_ = it->second;
            specials_.add("<|endoftext|>", eos_);
        }
        compile_pattern();
    }

    static ByteLevelBPETokenizer from_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges) {
        return ByteLevelBPETokenizer(read_text_file(vocab_json), read_text_file(merges),
                                     vocab_json.string() + " + " + merges.string());
    }

    // Appends the ids of the text. Throws on invalid UTF-8.
    void encode(std::string_view text, std::vector<std::int32_t>& out) const {
        utf8::validate(text);
        specials_.split(text, [&](std::string_view piece) { encode_ordinary(piece, out); },
                        [&](std::int32_t special) { out.push_back(special); });
    }
    std::vector<std::int32_t> encode(std::string_view text) const {
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3);
        encode(text, ids);
        return ids;
    }

    // The bytes of the tokens, concatenated (HF decodes them as UTF-8, lossy; for ids that
    // came from encode() the bytes are the original text).
    std::string decode(std::span<const std::int32_t> ids) const {
        std::string out;
        for (const auto id : ids) {
            detail::check(id >= 0 && static_cast<std::size_t>(id) < bytes_.size() && has_id_[static_cast<std::size_t>(id)],
                          "token id ", id, " is not in the vocabulary");
            out += bytes_[static_cast<std::size_t>(id)];
        }
        return out;
    }

    std::size_t vocab_size() const { return bytes_.size(); }
    // <|endoftext|>, or -1 when the vocabulary has none.
    std::int32_t eos_id() const { return eos_; }

private:
    struct merge {
        std::uint32_t rank;
        std::int32_t id;
    };
    static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
        return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b);
    }

    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using string_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

    void load_vocab(std::string_view text, std::string_view source) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            detail::fail(source, ": vocab.json is not JSON: ", e.what());
        }
        detail::check(j.is_object() && !j.empty(), source, ": vocab.json must be a non-empty object {token: id}");
        constexpr std::int64_t max_id = std::numeric_limits<std::int32_t>::max() - 1;
        for (const auto& [token, value] : j.items()) {
            detail::check(value.is_number_integer() && value.get<std::int64_t>() >= 0 && value.get<std::int64_t>() <= max_id,
                          source, ": token \"", token, "\" has no valid id");
            const auto id = static_cast<std::size_t>(value.get<std::int64_t>());
            detail::check(id < (std::size_t(1) << 24), source, ": id ", id, " is implausibly large");
            if (id >= bytes_.size()) {
                bytes_.resize(id + 1);
                has_id_.resize(id + 1, false);
            }
            detail::check(!has_id_[id], source, ": id ", id, " is used twice");
            try {
                bytes_[id] = gpt2_bytes::to_bytes(token);
            } catch (const error& e) {
                detail::fail(source, ": vocab.json: ", e.what());
            }
            has_id_[id] = true;
            vocab_.insert_or_assign(bytes_[id], static_cast<std::int32_t>(id));
        }
    }

    void load_merges(std::string_view text, std::string_view source) {
        std::uint32_t rank = 0;
        for_each_line(text, [&](std::string_view line, std::size_t number) {
            if (line.empty() || line.starts_with("#version")) return;
            const auto space = line.find(' ');
            detail::check(space != std::string_view::npos && line.find(' ', space + 1) == std::string_view::npos, source,
                          ": merges line ", number, " is not \"a b\"");
            std::string left, right;
            try {
                left = gpt2_bytes::to_bytes(line.substr(0, space));
                right = gpt2_bytes::to_bytes(line.substr(space + 1));
            } catch (const error& e) {
                detail::fail(source, ": merges line ", number, ": ", e.what());
            }
            const auto a = lookup(left, source, number);
            const auto b = lookup(right, source, number);
            const auto ab = lookup(bytes_[std::size_t(a)] + bytes_[std::size_t(b)], source, number);
            merges_.insert_or_assign(pair_key(a, b), merge{rank++, ab});  // a later duplicate wins, as in HF
        });
    }

    std::int32_t lookup(const std::string& bytes, std::string_view source, std::size_t line) const {
        const auto it = vocab_.find(bytes);
        detail::check(it != vocab_.end(), source, ": merges line ", line, " uses a token that is not in vocab.json");
        return it->second;
    }

    void compile_pattern() {
        const std::string ws = white_space;
        const std::string pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^)" + ws + R"(\p{L}\p{N}]+|[)" + ws +
                                    R"(]+(?![^)" + ws + R"(])|[)" + ws + "]+";
        int code = 0;
        PCRE2_SIZE offset = 0;
        pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(),
                                       PCRE2_UTF | PCRE2_UCP, &code, &offset, nullptr);
        detail::check(re != nullptr, "PCRE2 cannot compile the GPT-2 pattern (error ", code, " at ", offset, ")");
        regex_.reset(re);
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // where JIT is unavailable, pcre2_match interprets
    }

    void encode_ordinary(std::string_view text, std::vector<std::int32_t>& out) const {
        std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
            pcre2_match_data_create_from_pattern(regex_.get(), nullptr), &pcre2_match_data_free);
        detail::check(match != nullptr, "out of memory for PCRE2 match data");
        const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
        std::size_t pos = 0;
        while (pos < text.size()) {
            // The text was validated once in encode(): no UTF check per match (it would be quadratic).
            const int rc = pcre2_match(regex_.get(), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            detail::check(rc > 0, "PCRE2 match failed (error ", rc, ") at byte ", pos);
            const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match.get());
            if (span[0] > pos) bpe(text.substr(pos, span[0] - pos), out);  // text between matches is a piece too
            if (span[1] == span[0]) {  // cannot happen with this pattern; step over one character
                std::size_t next = span[0];
                if (next >= text.size()) break;
                utf8::next(text, next);
                bpe(text.substr(span[0], next - span[0]), out);
                pos = next;
                continue;
            }
            bpe(text.substr(span[0], span[1] - span[0]), out);
            pos = span[1];
        }
        if (pos < text.size()) bpe(text.substr(pos), out);
    }

    // Step 3 on one piece, through the cache.
    void bpe(std::string_view piece, std::vector<std::int32_t>& out) const {
        {
            std::lock_guard lock(cache_->mutex);
            if (const auto it = cache_->map.find(piece); it != cache_->map.end()) {
                out.insert(out.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        auto ids = apply_merges(piece);
        out.insert(out.end(), ids.begin(), ids.end());
        std::lock_guard lock(cache_->mutex);
        if (cache_->map.size() >= max_cache_entries) cache_->map.clear();  // bounded; a reset is cheap to refill
        cache_->map.emplace(std::string(piece), std::move(ids));
    }

    // The merges, lowest rank first and leftmost among equal ranks, with a heap of candidate
    // pairs over a linked list of symbols: O(n log n), so a long run of one character (a
    // pre-token can be a whole line of "-----") stays cheap.
    std::vector<std::int32_t> apply_merges(std::string_view piece) const {
        struct symbol {
            std::int32_t id;          // -1 once merged into its left neighbour
            std::int32_t prev, next;  // neighbours among the live symbols, -1 at the ends
        };
        struct candidate {
            std::uint32_t rank;
            std::int32_t left;                  // symbol index, which is also its byte position
            std::int32_t left_id, right_id;     // the pair as it was when pushed; stale if changed
            std::int32_t merged;
            bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
        };
        const auto n = static_cast<std::int32_t>(piece.size());
        std::vector<symbol> syms(piece.size());
        for (std::int32_t i = 0; i < n; ++i)
            syms[std::size_t(i)] = {byte_id_[static_cast<unsigned char>(piece[std::size_t(i)])], i - 1, i + 1 < n ? i + 1 : -1};
        std::vector<candidate> heap;
        const auto push = [&](std::int32_t left) {
            const auto& l = syms[std::size_t(left)];
            if (l.next < 0) return;
            const auto right_id = syms[std::size_t(l.next)].id;
            if (const auto it = merges_.find(pair_key(l.id, right_id)); it != merges_.end()) {
                heap.push_back({it->second.rank, left, l.id, right_id, it->second.id});
                std::push_heap(heap.begin(), heap.end(), std::greater<>{});
            }
        };
        for (std::int32_t i = 0; i + 1 < n; ++i) push(i);
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
            const candidate c = heap.back();
            heap.pop_back();
            auto& l = syms[std::size_t(c.left)];
            if (l.id != c.left_id || l.next < 0 || syms[std::size_t(l.next)].id != c.right_id) continue;
            auto& r = syms[std::size_t(l.next)];  // absorbed into l
            l.id = c.merged;
            l.next = r.next;
            if (r.next >= 0) syms[std::size_t(r.next)].prev = c.left;
            r.id = -1;  // dead: its own candidates are stale now
            if (l.prev >= 0) push(l.prev);
            push(c.left);
        }
        std::vector<std::int32_t> ids;
        for (std::int32_t i = n > 0 ? 0 : -1; i >= 0; i = syms[std::size_t(i)].next) ids.push_back(syms[std::size_t(i)].id);
        return ids;
    }

    static constexpr std::size_t max_cache_entries = 1 << 16;

    struct regex_free {
        void operator()(pcre2_code* p) const { pcre2_code_free(p); }
    };

    std::vector<std::string> bytes_;  // id -> raw bytes
    std::vector<bool> has_id_;
    string_map vocab_;                // raw bytes -> id
    std::unordered_map<std::uint64_t, merge> merges_;
    std::array<std::int32_t, 256> byte_id_{};
    std::int32_t eos_ = -1;
    special_tokens specials_;
    std::unique_ptr<pcre2_code, regex_free> regex_;

    // piece -> ids, shared by the threads that encode; behind a pointer so the class can move
    struct piece_cache {
        std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> map;
        std::mutex mutex;
    };
    std::unique_ptr<piece_cache> cache_ = std::make_unique<piece_cache>();
};

}  // namespace quant::examples
