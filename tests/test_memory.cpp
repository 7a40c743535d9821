// tensor/aligned.hpp: the allocator of every code, scale, tile and scratch buffer.
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include <quant/tensor/aligned.hpp>

using namespace quant;

namespace {

#if defined(__linux__)
// The VmFlags of the mapping that holds p (/proc/self/smaps), empty if none does.
std::string vm_flags(const void* p) {
    std::ifstream f("/proc/self/smaps");
    std::string line;
    bool inside = false;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    while (std::getline(f, line)) {
        std::uintptr_t lo = 0, hi = 0;
        char dash = 0;
        std::istringstream s(line);
        if (s >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
            inside = lo <= a && a < hi;
            continue;
        }
        if (inside && line.rfind("VmFlags:", 0) == 0) return line;
    }
    return {};
}
#endif

}  // namespace

TEST_CASE("aligned_vector: cache lines below 2 MB; from 2 MB on, 2 MB boundaries advised for huge pages", "[memory]") {
    for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, (std::size_t{2} << 20) - 1}) {
        const aligned_vector<std::uint8_t> v(n);
        INFO("bytes " << n);
        CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % 64 == 0);
    }
    for (const std::size_t n : {std::size_t{2} << 20, (std::size_t{9} << 20) + 333}) {
        aligned_vector<float> v(n / sizeof(float) + 1, 1.0f);
        INFO("bytes " << n);
        CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % huge_page_bytes == 0);
#if defined(__linux__)
        const std::string flags = vm_flags(v.data());
        INFO(flags);
        REQUIRE(!flags.empty());
        CHECK(flags.find(" hg") != std::string::npos);  // MADV_HUGEPAGE
#endif
        v.resize(v.size() * 2, 2.0f);  // reallocated: the old buffer goes back with its alignment
        CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % huge_page_bytes == 0);
        CHECK(v.front() == 1.0f);
        CHECK(v.back() == 2.0f);
    }
}
