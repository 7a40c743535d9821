#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <quant/quant.hpp>

#include "fixture.hpp"

namespace th {

// Index of the first element whose bits differ (floats compared as bit patterns), or -1.
template <class A, class B>
long first_mismatch(const A& a, const B& b) {
    if (a.size() != b.size()) return 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        using T = std::decay_t<decltype(a[0])>;
        if constexpr (std::is_same_v<T, float>) {
            if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(static_cast<float>(b[i]))) return long(i);
        } else {
            if (a[i] != b[i]) return long(i);
        }
    }
    return -1;
}

template <class A, class B>
std::string describe_mismatch(const A& a, const B& b) {
    const long i = first_mismatch(a, b);
    std::ostringstream os;
    if (a.size() != b.size()) os << "sizes " << a.size() << " vs " << b.size();
    else if (i >= 0) os << "first mismatch at " << i << ": " << +a[std::size_t(i)] << " vs " << +b[std::size_t(i)];
    else os << "equal";
    return os.str();
}

inline std::vector<float> gaussian(std::size_t n, std::uint64_t seed, float sigma = 1.0f) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Quantizes a fixture input tensor (F32, F16 or BF16) with scheme S.
template <quant::Scheme S>
quant::QuantizedTensor<S> quantize_input(const fixture::tensor& t, std::size_t rows, std::size_t cols,
                                         const typename S::params& p) {
    if (t.dtype == "F32") {
        const auto v = t.as<float>();
        return quant::QuantizedTensor<S>::quantize(quant::const_matrix_view<float>(v.data(), rows, cols), p);
    }
    const auto raw = t.as<std::uint16_t>();
    if (t.dtype == "F16") {
        std::vector<quant::half> v(raw.size());
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = quant::half::from_bits(raw[i]);
        return quant::QuantizedTensor<S>::quantize(quant::const_matrix_view<quant::half>(v.data(), rows, cols), p);
    }
    std::vector<quant::bfloat16> v(raw.size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = quant::bfloat16::from_bits(raw[i]);
    return quant::QuantizedTensor<S>::quantize(quant::const_matrix_view<quant::bfloat16>(v.data(), rows, cols), p);
}

inline double relative_rmse(const std::vector<float>& ref, const std::vector<float>& got) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
        num += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
        den += double(ref[i]) * ref[i];
    }
    return std::sqrt(num / den);
}

}  // namespace th
