// UTF-8 decoding and encoding for the tokenizers (utf8proc does the checking). Hugging Face
// tokenizers take a Python str, always valid Unicode, so malformed bytes are an error here,
// reported with their byte offset.
#pragma once

#include <utf8proc.h>

#include <cstddef>
#include <string>
#include <string_view>

#include <quant/error.hpp>

namespace quant::examples::utf8 {

// The code point starting at text[pos]; advances pos past it.
inline char32_t next(std::string_view text, std::size_t& pos) {
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c < 0x80) {  // the common case, without a call
        ++pos;
        return c;
    }
    utf8proc_int32_t cp = 0;
    const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + pos),
                                    static_cast<utf8proc_ssize_t>(text.size() - pos), &cp);
    detail::check(n > 0, "invalid UTF-8 at byte ", pos);
    pos += static_cast<std::size_t>(n);
    return static_cast<char32_t>(cp);
}

inline void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
        return;
    }
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// Throws unless the whole text is valid UTF-8.
inline void validate(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) next(text, pos);
}

}  // namespace quant::examples::utf8
