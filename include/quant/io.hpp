// quant/io: checkpoints in and out, for untrusted files. Needs nlohmann-json (CMake: link
// quant::io, which adds it to quant::quant). Not included by quant/quant.hpp.
//
// Reading any Hugging Face checkpoint (model.safetensors, a sharded index, pytorch_model.bin):
//   const auto ckpt = quant::io::load_checkpoint("path/to/model_dir");
//   for (const std::string& name : ckpt.names()) { ... }             // sorted
//   std::size_t rows, cols;
//   std::vector<float> w = ckpt.at("bert.pooler.dense.weight").matrix(rows, cols);  // any float/int dtype
//   std::vector<float> b = ckpt.at("bert.pooler.dense.bias").vector();
//   ckpt.at(name).dtype / .shape / .bytes                              // the zero-copy view
// Quantized weights in the transformers + bitsandbytes layout (io/bnb_layout.hpp):
//   quant::io::detect_format(ckpt, "bert.pooler.dense")               // dense, nf4, fp4, int8, int4
//   auto q = quant::io::load_quantized<quant::NF4>(ckpt, "bert.pooler.dense");
//   quant::io::safetensors_writer out("model-nf4.safetensors");
//   quant::io::save_quantized(out, "bert.pooler.dense", q);  out.add<float>("bert.pooler.dense.bias", b);
//   out.finish();
// Every malformed input is a quant::error whose message names the file and the problem.
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
