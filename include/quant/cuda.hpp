// quant's CUDA backend (target quant::cuda): device-resident layers and their kernels.
// Host code builds with any C++ compiler; forward()/dequantize() need nvcc (see cuda/device_linear.hpp).
#pragma once

#include "cuda/buffer.hpp"
#include "cuda/check.hpp"
#include "cuda/device_linear.hpp"
#include "cuda/repack.hpp"
#include "cuda/weight_format.hpp"
#include "quant.hpp"
