// A user's host code against the installed quant::cuda (plain C++ compiler): upload a layer when
// there is a GPU, get a quant::error when there is none.
#include <cstdio>

#include <quant/cuda.hpp>

int main() {
    const quant::row_matrix w = quant::row_matrix::Random(8, 64);
    const auto layer = quant::QuantizedLinear<quant::NF4>::from_dense(w);
    try {
        const auto dev = quant::cuda::to_device(layer);
        std::printf("uploaded %zu bytes\n", dev.weight_bytes());
        return dev.in_features() == 64 ? 0 : 1;
    } catch (const quant::error& e) {
        std::printf("no GPU: %s\n", e.what());
        return 0;
    }
}
