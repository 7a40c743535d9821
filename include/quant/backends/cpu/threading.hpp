// Work splitting for the CPU kernels: contiguous ranges of output rows, one per thread, chosen
// only from the sizes (never from timing), so a result never depends on scheduling. Each output
// element is computed by one thread in a fixed order: results are also independent of the
// thread count.
#pragma once

#include <algorithm>
#include <cstddef>

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

}  // namespace quant::cpu
