// Non-owning, row-strided matrix views: the currency of every kernel. A view carries where its
// memory lives (host or CUDA device) so one type serves both backends. Eigen interop: any
// row-major Eigen dense object with unit inner stride views without a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "../error.hpp"

namespace quant {

enum class device_kind : std::uint8_t { host, cuda };

template <class T>
struct matrix_view {
    T* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;
    std::size_t stride = 0;  // elements from one row to the next (>= cols)
    device_kind device = device_kind::host;

    constexpr matrix_view() = default;
    constexpr matrix_view(T* d, std::size_t r, std::size_t c, std::size_t s = 0, device_kind dev = device_kind::host)
        : data(d), rows(r), cols(c), stride(s ? s : c), device(dev) {}
    // a view of T converts to a view of const T
    template <class U>
        requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
    constexpr matrix_view(const matrix_view<U>& o)
        : data(o.data), rows(o.rows), cols(o.cols), stride(o.stride), device(o.device) {}

    constexpr T* row(std::size_t r) const { return data + r * stride; }
    constexpr T& operator()(std::size_t r, std::size_t c) const { return data[r * stride + c]; }
    constexpr bool empty() const { return rows == 0 || cols == 0; }
    constexpr bool contiguous() const { return stride == cols; }
};

template <class T>
using const_matrix_view = matrix_view<const T>;

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// View of a row-major Eigen object (Matrix, Map, Ref, Block) without copying.
template <class Derived>
auto view(Eigen::DenseBase<Derived>& m) {
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1 || Derived::RowsAtCompileTime == 1,
                  "quant::view: the Eigen object must be row-major (e.g. quant::row_matrix)");
    using Scalar = typename Derived::Scalar;
    auto& d = m.derived();
    detail::check(d.innerStride() == 1, "quant::view: Eigen object has a non-unit inner stride");
    return matrix_view<Scalar>(d.data(), static_cast<std::size_t>(d.rows()), static_cast<std::size_t>(d.cols()),
                               static_cast<std::size_t>(d.rows() > 1 ? d.outerStride() : d.cols()));
}

template <class Derived>
auto view(const Eigen::DenseBase<Derived>& m) {
    static_assert(Derived::IsRowMajor || Derived::ColsAtCompileTime == 1 || Derived::RowsAtCompileTime == 1,
                  "quant::view: the Eigen object must be row-major (e.g. quant::row_matrix)");
    using Scalar = typename Derived::Scalar;
    const auto& d = m.derived();
    detail::check(d.innerStride() == 1, "quant::view: Eigen object has a non-unit inner stride");
    return matrix_view<const Scalar>(d.data(), static_cast<std::size_t>(d.rows()), static_cast<std::size_t>(d.cols()),
                                     static_cast<std::size_t>(d.rows() > 1 ? d.outerStride() : d.cols()));
}

}  // namespace quant
