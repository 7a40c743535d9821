// std::vector with 64-byte aligned storage: quantized codes and scales are read by SIMD and
// copied to the GPU, both of which want cache-line aligned buffers.
//
// Buffers of 2 MB and more (a layer's codes, the tiles or panels its CPU kernels read) start on
// a 2 MB boundary instead and are marked for transparent huge pages (Linux:
// madvise(MADV_HUGEPAGE), which Debian's default THP setting, "madvise", waits for). A kernel
// streaming weights from DRAM then needs one TLB entry per 2 MB instead of one per 4 KB page,
// and the pages it reads are physically contiguous: the m = 1 int4 GEMV with int8 activations
// over 4096 x 4096 weights from DRAM (15 copies of 9.4 MB in turn) took 302 us on huge pages
// against 420-424 us on the 4 KB pages of the same allocator. Advice only: where the kernel has
// no huge page to give, the buffer stays on 4 KB pages.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace quant {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

// HugePages = false: always Align (the CPU backend's per-thread scratch, whose arrays are read
// side by side: on common 2 MB boundaries their rows fell into the same cache sets, and the int4
// int8-activation kernel over 4096-long rows ran at half speed, 44 against 20-25 ms at m = 128).
template <class T, std::size_t Align = 64, bool HugePages = true>
struct aligned_allocator {
    using value_type = T;
    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Align, HugePages>;
    };
    aligned_allocator() = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Align, HugePages>&) noexcept {}
    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        void* p = ::operator new(bytes, alignment(bytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        if (HugePages && bytes >= huge_page_bytes) madvise(p, bytes, MADV_HUGEPAGE);  // advice: a failure leaves 4 KB pages
#endif
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) noexcept { ::operator delete(p, alignment(n * sizeof(T))); }
    template <class U>
    bool operator==(const aligned_allocator<U, Align, HugePages>&) const noexcept { return true; }

private:
    static constexpr std::align_val_t alignment(std::size_t bytes) {
        return std::align_val_t{HugePages && bytes >= huge_page_bytes && Align < huge_page_bytes ? huge_page_bytes : Align};
    }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

}  // namespace quant
