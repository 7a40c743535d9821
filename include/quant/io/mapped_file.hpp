// mapped_file: a read-only memory map of a whole file (POSIX mmap), the zero-copy source of every
// checkpoint reader. release() hands pages already read back to the kernel, so a tool that walks
// a checkpoint tensor by tensor keeps its resident memory bounded however big the file is.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../error.hpp"

namespace quant::io {

class mapped_file {
public:
    mapped_file() = default;
    explicit mapped_file(std::string path) : path_(std::move(path)) {
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        quant::detail::check(fd >= 0, path_, ": cannot open: ", std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            quant::detail::fail(path_, ": not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            const int err = errno;
            ::close(fd);
            quant::detail::check(p != MAP_FAILED, path_, ": cannot map: ", std::strerror(err));
            data_ = static_cast<const std::byte*>(p);
        } else {
            ::close(fd);
        }
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& o) noexcept { swap(o); }
    mapped_file& operator=(mapped_file&& o) noexcept {
        mapped_file tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~mapped_file() {
        if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    }

    const std::string& path() const { return path_; }
    std::span<const std::byte> bytes() const { return {data_, size_}; }
    std::size_t size() const { return size_; }

    // Drops the resident pages that lie wholly inside `range` (a span of bytes()); the data stays
    // readable (it is paged in again from the file on the next access).
    void release(std::span<const std::byte> range) const {
        if (range.empty() || !data_) return;
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        auto lo = reinterpret_cast<std::uintptr_t>(range.data());
        auto hi = lo + range.size();
        lo = (lo + page - 1) / page * page;
        hi = hi / page * page;
        if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }

private:
    void swap(mapped_file& o) noexcept {
        std::swap(path_, o.path_);
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
    }
    std::string path_;
    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace quant::io
