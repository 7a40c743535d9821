// Every CUDA runtime call goes through QUANT_CUDA_CHECK: a failure throws quant::error naming the
// call, the file:line and the runtime's own description. Host code; any C++ compiler.
#pragma once

#include <cuda_runtime_api.h>

#include "../error.hpp"

namespace quant::cuda::detail {

inline void check_status(cudaError_t e, const char* call, const char* file, int line) {
    if (e != cudaSuccess)
        quant::detail::fail("CUDA error at ", file, ":", line, ": ", call, " returned ", cudaGetErrorName(e), " (",
                            cudaGetErrorString(e), ")");
}

}  // namespace quant::cuda::detail

#define QUANT_CUDA_CHECK(call) ::quant::cuda::detail::check_status((call), #call, __FILE__, __LINE__)
