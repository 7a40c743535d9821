// zip_archive: the directory of a zip file held in memory (a mapped_file), with zero-copy access
// to entries stored without compression, which is how torch.save writes every entry (it uses
// its own writer, caffe2's PyTorchStreamWriter, with method 0 and 64-byte aligned data).
//
// Facts of the format used here (PKWARE APPNOTE.TXT 6.3): the end-of-central-directory record
// (signature 0x06054b50, 22 bytes + comment <= 65535) is found by scanning back from the end;
// values 0xFFFF / 0xFFFFFFFF mean "see the zip64 records" (locator 0x07064b50 just before it,
// record 0x06064b50); each central-directory header (0x02014b50, 46 bytes + name + extra +
// comment) gives the method, sizes and the offset of a local header (0x04034b50, 30 bytes +
// name + extra) that precedes the data; zip64 sizes/offsets are in extra field 0x0001.
// Every offset and size is checked against the file; compressed or encrypted entries are refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "../error.hpp"

namespace quant::io {

class zip_archive {
public:
    zip_archive(std::span<const std::byte> file, std::string path) : file_(file), path_(std::move(path)) {
        using quant::detail::check;
        check(file_.size() >= 22, path_, ": not a zip archive (", file_.size(), " bytes)");
        std::size_t eocd = npos;
        const std::size_t lowest = file_.size() >= 22 + 65535 ? file_.size() - 22 - 65535 : 0;
        for (std::size_t at = file_.size() - 22 + 1; at-- > lowest;)
            if (u32(at) == 0x06054b50u) {
                eocd = at;
                break;
            }
        check(eocd != npos, path_, ": not a zip archive (no end-of-central-directory record)");
        std::uint64_t count = u16(eocd + 10), cd_size = u32(eocd + 12), cd_offset = u32(eocd + 16);
        if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
            check(eocd >= 20 && u32(eocd - 20) == 0x07064b50u, path_, ": zip64 locator missing");
            const std::uint64_t rec = u64(eocd - 20 + 8);
            check(u32(rec) == 0x06064b50u, path_, ": zip64 end record is damaged");
            count = u64(rec + 32);
            cd_size = u64(rec + 40);
            cd_offset = u64(rec + 48);
        }
        check(cd_offset <= file_.size() && cd_size <= file_.size() - cd_offset, path_,
              ": central directory out of range");
        check(count <= cd_size / 46, path_, ": central directory claims ", count, " entries in ", cd_size, " bytes");
        std::uint64_t at = cd_offset;
        const std::uint64_t cd_end = cd_offset + cd_size;
        for (std::uint64_t i = 0; i < count; ++i) {
            check(at <= cd_end && cd_end - at >= 46 && u32(at) == 0x02014b50u, path_, ": central directory entry ", i,
                  " is damaged");
            const std::uint16_t flags = u16(at + 8), method = u16(at + 10);
            std::uint64_t csize = u32(at + 20), usize = u32(at + 24), local = u32(at + 42);
            const std::size_t nlen = u16(at + 28), xlen = u16(at + 30), clen = u16(at + 32);
            check(cd_end - at - 46 >= nlen + xlen + clen, path_, ": central directory entry ", i, " overruns");
            std::string name(reinterpret_cast<const char*>(file_.data() + at + 46), nlen);
            // zip64 extra field: the 8-byte values, only for the fields that are saturated
            for (std::uint64_t x = at + 46 + nlen, xe = x + xlen; xe - x >= 4;) {
                const std::uint16_t id = u16(x), len = u16(x + 2);
                if (xe - x - 4 < len) break;
                if (id == 0x0001) {
                    std::uint64_t p = x + 4, pe = p + len;
                    auto take = [&](std::uint64_t& v) {
                        if (v != 0xffffffffu) return;
                        check(pe - p >= 8, path_, ": entry '", name, "': zip64 field too short");
                        v = u64(p);
                        p += 8;
                    };
                    take(usize);
                    take(csize);
                    take(local);
                }
                x += 4 + len;
            }
            at += 46 + nlen + xlen + clen;
            entry e{method, flags, csize, usize, local};
            check(entries_.emplace(std::move(name), e).second, path_, ": duplicate zip entry");
        }
    }

    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [k, v] : entries_) out.push_back(k);
        return out;
    }

    // The bytes of a stored (uncompressed) entry, pointing into the archive.
    std::span<const std::byte> stored(const std::string& name) const {
        using quant::detail::check;
        const auto it = entries_.find(name);
        check(it != entries_.end(), path_, ": zip entry '", name, "' is missing");
        const entry& e = it->second;
        check(!(e.flags & 1u), path_, ": zip entry '", name, "' is encrypted");
        check(e.method == 0, path_, ": zip entry '", name, "' is compressed (method ", e.method,
              "); only stored entries are supported, as torch.save writes them");
        check(e.csize == e.usize, path_, ": zip entry '", name, "': stored sizes differ");
        check(e.local <= file_.size() && file_.size() - e.local >= 30 && u32(e.local) == 0x04034b50u, path_,
              ": zip entry '", name, "': local header out of range");
        const std::uint64_t data = e.local + 30 + u16(e.local + 26) + u16(e.local + 28);
        check(data <= file_.size() && file_.size() - data >= e.csize, path_, ": zip entry '", name,
              "' runs past the end of the file");
        return file_.subspan(data, e.csize);
    }

private:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    struct entry {
        std::uint16_t method, flags;
        std::uint64_t csize, usize, local;
    };
    std::uint64_t le(std::uint64_t at, int n) const {
        quant::detail::check(at <= file_.size() && file_.size() - at >= static_cast<std::uint64_t>(n), path_,
                             ": zip structure runs past the end of the file");
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(file_[at + static_cast<std::size_t>(i)]);
        return v;
    }
    std::uint16_t u16(std::uint64_t at) const { return static_cast<std::uint16_t>(le(at, 2)); }
    std::uint32_t u32(std::uint64_t at) const { return static_cast<std::uint32_t>(le(at, 4)); }
    std::uint64_t u64(std::uint64_t at) const { return le(at, 8); }

    std::span<const std::byte> file_;
    std::string path_;
    std::map<std::string, entry> entries_;
};

}  // namespace quant::io
