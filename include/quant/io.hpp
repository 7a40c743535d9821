// quant/io: checkpoints in and out (safetensors, sharded safetensors, PyTorch .bin) and the
// transformers + bitsandbytes naming of quantized weights. Needs nlohmann-json (link quant::io).
#pragma once

#include "io/element_type.hpp"
#include "io/tensor_view.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "io/safetensors_writer.hpp"
#include "io/zip.hpp"
#include "io/pickle.hpp"
#include "io/torch_bin.hpp"
#include "io/checkpoint.hpp"
#include "io/bnb_layout.hpp"
