// Work splitting for the CPU kernels: contiguous ranges of output rows, one per thread, chosen
// only from the sizes (never from timing), so a result never depends on scheduling. Each output
// element is computed by one thread in a fixed order: results are also independent of the
// thread count.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../../tensor/aligned.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace quant::cpu {

inline int max_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Calls f(begin, end) for `n` items split into at most `threads` ranges whose starts are
// multiples of `grain`.
template <class F>
void parallel_ranges(std::size_t n, std::size_t grain, int threads, const F& f) {
    if (threads <= 0) threads = max_threads();
    const std::size_t chunks = (n + grain - 1) / grain;
    const std::size_t nt = std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(threads), chunks));
    const std::size_t per = (chunks + nt - 1) / nt;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(static_cast<int>(nt)) if (nt > 1)
#endif
    for (std::ptrdiff_t t = 0; t < static_cast<std::ptrdiff_t>(nt); ++t) {
        const std::size_t b = static_cast<std::size_t>(t) * per * grain;
        const std::size_t e = std::min(n, b + per * grain);
        if (b < e) f(b, e);
    }
}

// Per-thread scratch memory, reused from call to call: n elements (uninitialised; earlier
// contents) of the calling thread's buffer number Slot, grown when needed and kept. The per-call
// buffers of a large-m forward (activations prepared and packed, decoded weight panels) are
// megabytes: allocated afresh, glibc maps them from the OS and faults every page in on each
// call, which cost more than the GEMM itself for layers like 512 x 128 at m = 2048. The memory
// stays with the thread (as large as the largest call it made).
template <class T, int Slot>
std::span<T> scratch(std::size_t n) {
    thread_local std::vector<T, aligned_allocator<T, 64, false>> buf;  // 4 KB pages: see aligned_allocator
    if (buf.size() < n) buf.resize(n);
    return {buf.data(), n};
}

}  // namespace quant::cpu
