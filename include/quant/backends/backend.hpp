// Backends are tag types; a kernel is a specialisation of linear_kernel<Backend, Scheme>.
// A (backend, scheme) pair without a kernel is a compile error that says so.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "../numeric/half.hpp"
#include "../schemes/q8_activations.hpp"
#include "../schemes/scheme.hpp"
#include "../tensor/quantized_tensor.hpp"
#include "../tensor/view.hpp"

namespace quant {

// The scalar ground truth: every fast path is tested against it.
struct reference_backend {
    static constexpr std::string_view name = "reference";
};

template <class T>
inline constexpr bool dependent_false = false;

struct forward_options {
    dtype compute = dtype::f32;  // bitsandbytes' bnb_4bit_compute_dtype
    int threads = 0;             // CPU threads for one forward; 0 = all the runtime offers
    // 4-bit schemes: activations quantized to int8 in blocks of 32 (schemes/q8_activations.hpp)
    activation_quant activations = activation_quant::none;
};

// The schemes that can multiply with int8 activations (activation_quant::int8): those whose codes
// have an int8 value (NF4, FP4, int4). LLM.int8() chooses its activations in AbsmaxInt8::params.
template <class S>
concept int8_activation_scheme = Scheme<S> && requires(const typename S::storage& st, std::span<std::int8_t> q,
                                                        std::span<float> s) {
    { S::int8_codebook[0] } -> std::convertible_to<std::int8_t>;
    { S::int8_unit } -> std::convertible_to<float>;
    S::int8_row(st, std::size_t{0}, q, s);
};

// A kernel is
//   struct prepared;                                   what the backend derives from the weight
//   static prepared prepare(const QuantizedTensor<S>&);  once, when the layer is built
//   static void forward(const QuantizedTensor<S>&, const prepared&, std::span<const float> bias,
//                       const_matrix_view<float> x, matrix_view<float> y, const forward_options&);
// computing y[m, out] = x[m, in] . W^T + bias in the compute dtype. Shapes are checked by the
// caller (QuantizedLinear); a kernel may assume them.
template <class Backend, Scheme S>
struct linear_kernel {
    static_assert(dependent_false<Backend>,
                  "quant: there is no linear kernel for this (backend, scheme) pair. Include the backend's "
                  "header (e.g. <quant/backends/cpu.hpp>) or use quant::reference_backend.");
};

}  // namespace quant
