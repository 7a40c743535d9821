// Must NOT compile: forward() launches kernels, which only nvcc builds. The error must say so.
#include <quant/cuda.hpp>

void run(const quant::cuda::device_linear<quant::NF4>& d, quant::const_matrix_view<float> x,
         quant::matrix_view<float> y) {
    d.forward(x, y);
}
