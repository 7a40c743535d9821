// Whole-file reads for the examples' data: vocabularies, data sets. A file ending in .gz is
// gunzipped (zlib), so large inputs can be committed or shipped compressed.
#pragma once

#include <zlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <quant/error.hpp>

namespace quant::examples {

inline std::string read_text_file(const std::filesystem::path& path) {
    // gzread also passes a file that is not gzip through unchanged, but only names ending in
    // .gz are treated as compressed: a plain file must never be misread.
    const bool gz = path.extension() == ".gz";
    std::string out;
    if (!gz) {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        detail::check(f != nullptr, "cannot open ", path.string());
        char buf[1 << 16];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
        const bool bad = std::ferror(f) != 0;
        std::fclose(f);
        detail::check(!bad, "read error in ", path.string());
        return out;
    }
    gzFile f = gzopen(path.c_str(), "rb");
    detail::check(f != nullptr, "cannot open ", path.string());
    gzbuffer(f, 1 << 17);
    char buf[1 << 16];
    for (;;) {
        const int n = gzread(f, buf, sizeof buf);
        if (n < 0) {
            int code = 0;
            std::string msg = gzerror(f, &code);
            gzclose(f);
            detail::fail("cannot decompress ", path.string(), ": ", msg);
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    // gzread returns 0 both at a clean end and at a truncated stream; gzclose tells them apart.
    detail::check(gzclose(f) == Z_OK, "truncated or corrupt gzip file ", path.string());
    return out;
}

// Calls fn(line, line_number) for each line (1-based), without the "\n" or "\r\n"; a last line
// without a newline counts, an empty text has no lines.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    std::size_t number = 0;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        fn(line, ++number);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

}  // namespace quant::examples
