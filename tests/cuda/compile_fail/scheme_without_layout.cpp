// Must NOT compile: a scheme without a CUDA layout. The error must say so.
#include <quant/cuda.hpp>

struct not_a_cuda_scheme {};
using weights = quant::cuda::device_format<not_a_cuda_scheme>::weights;
