// Special ("added") tokens such as [CLS] or <|endoftext|>. Hugging Face tokenizers find them
// in the raw text before normalization (they are registered with normalized=false), at the
// leftmost position, longest first, and tokenize the pieces between them on their own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quant::examples {

class special_tokens {
public:
    void add(std::string text, std::int32_t id) {
        if (text.empty()) return;
        if (first_bytes_.find(text[0]) == std::string::npos) first_bytes_.push_back(text[0]);
        tokens_.emplace_back(std::move(text), id);
    }

    // on_text(piece) for each stretch of ordinary text (never empty), on_special(id) for each
    // special token, in order.
    template <class OnText, class OnSpecial>
    void split(std::string_view text, OnText&& on_text, OnSpecial&& on_special) const {
        std::size_t begin = 0, pos = 0;
        while (!tokens_.empty() && (pos = text.find_first_of(first_bytes_, pos)) != std::string_view::npos) {
            const std::pair<std::string, std::int32_t>* best = nullptr;
            for (const auto& t : tokens_)
                if (text.substr(pos).starts_with(t.first) && (!best || t.first.size() > best->first.size())) best = &t;
            if (!best) {
                ++pos;
                continue;
            }
            if (pos > begin) on_text(text.substr(begin, pos - begin));
            on_special(best->second);
            pos += best->first.size();
            begin = pos;
        }
        if (begin < text.size()) on_text(text.substr(begin));
    }

private:
    std::vector<std::pair<std::string, std::int32_t>> tokens_;
    std::string first_bytes_;  // to skip ahead with find_first_of
};

}  // namespace quant::examples
