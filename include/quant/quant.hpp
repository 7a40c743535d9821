// quant: weights of linear layers in 8 and 4 bits (absmax int8, blockwise int4, NF4/FP4 with
// double quantization), bit-exact with bitsandbytes, float16 for the layers left unquantized,
// and the layers that multiply with them.
#pragma once

#include "version.hpp"
#include "error.hpp"
#include "numeric/half.hpp"
#include "numeric/codebooks.hpp"
#include "numeric/dynamic_map.hpp"
#include "tensor/aligned.hpp"
#include "tensor/view.hpp"
#include "tensor/quantized_tensor.hpp"
#include "schemes/scheme.hpp"
#include "schemes/absmax_int8.hpp"
#include "schemes/blockwise_int4.hpp"
#include "schemes/nf4.hpp"
#include "schemes/fp4.hpp"
#include "schemes/float16.hpp"
#include "backends/backend.hpp"
#include "backends/reference.hpp"
#include "linear.hpp"
#include "backends/cpu.hpp"
