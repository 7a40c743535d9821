// A user's program: quantize a small layer with each scheme and check the result is sane.
#include <quant/quant.hpp>

#include <cstdio>

int main() {
    quant::row_matrix w = quant::row_matrix::Random(16, 96);
    quant::row_matrix x = quant::row_matrix::Random(2, 96);
    const quant::row_matrix ref = x * w.transpose();
    const auto nf4 = quant::QuantizedLinear<quant::NF4>::from_dense(w);
    const auto i8 = quant::QuantizedLinear<quant::AbsmaxInt8>::from_dense(w);
    const double e4 = (nf4.forward(x) - ref).norm() / ref.norm();
    const double e8 = (i8.forward(x) - ref).norm() / ref.norm();
    std::printf("quant %d.%d.%d: nf4 rel err %.4f, int8 rel err %.4f\n", quant::version_major, quant::version_minor,
                quant::version_patch, e4, e8);
    return (e4 < 0.15 && e8 < 0.02) ? 0 : 1;
}
