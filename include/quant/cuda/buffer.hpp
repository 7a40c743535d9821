// device_buffer<T>: an owning, move-only array in GPU memory (cudaMalloc / cudaFree).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "check.hpp"

namespace quant::cuda {

template <class T>
class device_buffer {
public:
    device_buffer() = default;
    explicit device_buffer(std::size_t n) : n_(n) {
        if (n) QUANT_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n * sizeof(T)));
    }
    // A copy of host data (synchronous: the host memory may be freed right after).
    explicit device_buffer(std::span<const T> host) : device_buffer(host.size()) {
        if (n_) QUANT_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
    }
    device_buffer(const device_buffer&) = delete;
    device_buffer& operator=(const device_buffer&) = delete;
    device_buffer(device_buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
    device_buffer& operator=(device_buffer&& o) noexcept {
        if (this != &o) {
            release();
            p_ = std::exchange(o.p_, nullptr);
            n_ = std::exchange(o.n_, 0);
        }
        return *this;
    }
    ~device_buffer() { release(); }

    T* data() const { return p_; }
    std::size_t size() const { return n_; }
    std::size_t size_bytes() const { return n_ * sizeof(T); }

    std::vector<T> to_host() const {
        std::vector<T> h(n_);
        if (n_) QUANT_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
        return h;
    }

private:
    void release() noexcept {
        if (p_) cudaFree(p_);  // a destructor cannot throw; a failing free is reported by the next call
        p_ = nullptr;
        n_ = 0;
    }
    T* p_ = nullptr;
    std::size_t n_ = 0;
};

}  // namespace quant::cuda
