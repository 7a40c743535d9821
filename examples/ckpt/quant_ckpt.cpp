// quant-ckpt: inspect, quantize and verify Hugging Face checkpoints with quant/io.
//
//   quant-ckpt inspect FILE|DIR
//   quant-ckpt quantize IN OUT.safetensors --scheme int8|int4|nf4|nf4-dq|fp4|fp4-dq [--block N]
//              [--skip REGEX ...] [--compute fp32|fp16|bf16]
//   quant-ckpt verify ORIG QUANT
//
// Which tensors are quantized (the Linear weights): a tensor named `*.weight`, 2-D, of a
// floating type, whose name contains none of "embed", "wte", "wpe", "LayerNorm", "layer_norm",
// "ln_", "norm" (embeddings and normalisation layers), and that matches no --skip regex
// (ECMAScript, searched anywhere in the name). Every other tensor is copied unchanged. Weights
// are quantized as stored: [out, in] for nn.Linear (GPT-2's Conv1D stores [in, out]).
// Streaming: tensors are read one at a time from the memory-mapped input and their pages handed
// back after use, and the writer spills to disk, so memory stays bounded by the largest tensor.
// Errors: one line on stderr, exit status 1.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <quant/io.hpp>
#include <quant/quant.hpp>

namespace {

using namespace quant;
using namespace quant::io;

bool is_linear_weight(const std::string& name, const tensor_view& v, const std::vector<std::regex>& skip) {
    static const char* excluded[] = {"embed", "wte", "wpe", "LayerNorm", "layer_norm", "ln_", "norm"};
    if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) return false;
    if (v.rank() != 2 || !is_floating(v.dtype) || v.numel() == 0) return false;
    for (const char* e : excluded)
        if (name.find(e) != std::string::npos) return false;
    for (const auto& r : skip)
        if (std::regex_search(name, r)) return false;
    return true;
}

bool progress_open = false;  // a progress line is on the terminal: end it before an error

// "[#####.....]  12/200  name" on stderr, redrawn in place (on a terminal; else one final line).
void progress(std::size_t done, std::size_t total, const std::string& what) {
    static const bool tty = ::isatty(2);
    if (!tty && done != total) return;
    progress_open = done != total;
    const int width = 30, filled = total ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %-60.60s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                 std::string(static_cast<std::size_t>(width - filled), '.').c_str(), done, total, what.c_str());
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

std::string human(double bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f MB", bytes / (1024.0 * 1024.0));
    return buf;
}

int inspect(const std::string& path) {
    const checkpoint c = load_checkpoint(path);
    std::uint64_t total = 0;
    std::printf("%-60s %-5s %-18s %12s\n", "tensor", "dtype", "shape", "bytes");
    for (const auto& n : c.names()) {
        const auto& v = c.at(n);
        total += v.bytes.size();
        std::printf("%-60s %-5s %-18s %12zu\n", n.c_str(), std::string(element_type_name(v.dtype)).c_str(),
                    shape_string(v.shape).c_str(), v.bytes.size());
        if (n.find(".quant_state.") != std::string::npos && v.dtype == element_type::u8 && v.bytes.size() < 4096)
            std::printf("    quant state: %.*s\n", static_cast<int>(v.bytes.size()), reinterpret_cast<const char*>(v.bytes.data()));
    }
    std::size_t quantized = 0;
    for (const auto& n : c.names())
        if (n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 && detect_format(c, n.substr(0, n.size() - 7)) != stored_format::dense)
            ++quantized;
    for (const auto& [k, v] : c.metadata()) std::printf("metadata %s = %s\n", k.c_str(), v.c_str());
    std::printf("%zu tensors, %zu quantized weights, %s\n", c.size(), quantized, human(double(total)).c_str());
    return 0;
}

struct quantize_options {
    std::string in, out, scheme = "nf4", compute = "fp32";
    std::size_t block = 0;  // 0: the scheme's default
    std::vector<std::string> skip;
};

int quantize(const quantize_options& o) {
    const checkpoint c = load_checkpoint(o.in);
    std::vector<std::regex> skip;
    for (const auto& s : o.skip) {
        try {
            skip.emplace_back(s);
        } catch (const std::regex_error& e) {
            quant::detail::fail("--skip '", s, "' is not a valid regex (", e.what(), ")");
        }
    }
    safetensors_writer w(o.out);
    for (const auto& [k, v] : c.metadata()) w.set_metadata(k, v);
    w.set_metadata("quant_scheme", o.scheme);
    // transformers takes the compute dtype from config.json's quantization_config, not from the
    // checkpoint: recorded here for that config (and for quant-ckpt inspect)
    w.set_metadata("bnb_4bit_compute_dtype", o.compute == "bf16" ? "bfloat16" : o.compute == "fp16" ? "float16" : "float32");
    const auto names = c.names();
    std::size_t done = 0, quantized = 0;
    std::uint64_t in_bytes = 0;
    for (const auto& n : names) {
        const tensor_view& v = c.at(n);
        in_bytes += v.bytes.size();
        if (!is_linear_weight(n, v, skip)) {
            w.add(n, v.dtype, v.shape, v.bytes);
        } else {
            const std::string m = n.substr(0, n.size() - 7);
            std::size_t rows = 0, cols = 0;
            const std::vector<float> f = v.matrix(rows, cols);
            const const_matrix_view<float> mv(f.data(), rows, cols);
            const std::size_t block = o.block ? o.block : 64;
            // the quant state's dtype is the weight's own, which bitsandbytes dequantizes back to
            const std::string dtype = v.dtype == element_type::f16 ? "float16" : v.dtype == element_type::bf16 ? "bfloat16" : "float32";
            if (o.scheme == "int8") {
                save_quantized(w, m, QuantizedTensor<AbsmaxInt8>::quantize(mv));
            } else if (o.scheme == "int4") {
                save_quantized(w, m, QuantizedTensor<BlockwiseInt4>::quantize(mv, {.block = block}), dtype);
            } else if (o.scheme.rfind("nf4", 0) == 0) {
                save_quantized(w, m, QuantizedTensor<NF4>::quantize(mv, {.block = block, .double_quant = o.scheme == "nf4-dq"}), dtype);
            } else {
                save_quantized(w, m, QuantizedTensor<FP4>::quantize(mv, {.block = block, .double_quant = o.scheme == "fp4-dq"}), dtype);
            }
            ++quantized;
        }
        c.release(n);
        progress(++done, names.size(), n);
    }
    if (names.empty()) progress(0, 0, "");
    w.finish();
    std::printf("%s: %zu tensors, %zu weights quantized (%s), %s -> %s\n", o.out.c_str(), names.size(), quantized,
                o.scheme.c_str(), human(double(in_bytes)).c_str(), human(double(mapped_file(o.out).size())).c_str());
    return 0;
}

template <Scheme S>
std::vector<float> dequantize(const checkpoint& q, const std::string& m) {
    return load_quantized<S>(q, m).dequantize();
}

int verify(const std::string& orig_path, const std::string& quant_path) {
    const checkpoint orig = load_checkpoint(orig_path), q = load_checkpoint(quant_path);
    std::printf("%-60s %-6s %12s %12s\n", "weight", "format", "max |err|", "rel. RMSE");
    std::size_t checked = 0, copied = 0;
    for (const auto& n : orig.names()) {
        const tensor_view& o = orig.at(n);
        const std::string m = n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 ? n.substr(0, n.size() - 7) : "";
        const stored_format f = m.empty() ? stored_format::dense : detect_format(q, m);
        if (f == stored_format::dense) {
            const tensor_view& t = q.at(n);
            quant::detail::check(t.dtype == o.dtype && t.shape == o.shape && std::equal(t.bytes.begin(), t.bytes.end(), o.bytes.begin(), o.bytes.end()),
                          quant_path, ": tensor '", n, "' differs from the original but is not quantized");
            ++copied;
            continue;
        }
        std::size_t rows = 0, cols = 0;
        const std::vector<float> w = o.matrix(rows, cols);
        std::vector<float> d;
        const char* fmt = "";
        switch (f) {
            case stored_format::nf4: d = dequantize<NF4>(q, m); fmt = "nf4"; break;
            case stored_format::fp4: d = dequantize<FP4>(q, m); fmt = "fp4"; break;
            case stored_format::int8: d = dequantize<AbsmaxInt8>(q, m); fmt = "int8"; break;
            case stored_format::int4: d = dequantize<BlockwiseInt4>(q, m); fmt = "int4"; break;
            case stored_format::dense: break;
        }
        quant::detail::check(d.size() == w.size(), quant_path, ": '", m, "' has ", d.size(), " weights, the original ", w.size());
        double err2 = 0, ref2 = 0, maxerr = 0;
        for (std::size_t i = 0; i < w.size(); ++i) {
            const double e = double(d[i]) - double(w[i]);
            err2 += e * e;
            ref2 += double(w[i]) * double(w[i]);
            maxerr = std::max(maxerr, std::fabs(e));
        }
        std::printf("%-60s %-6s %12.4g %12.4g\n", n.c_str(), fmt, maxerr, ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2));
        ++checked;
        orig.release(n);
    }
    std::printf("%zu quantized weights checked, %zu tensors identical to the original\n", checked, copied);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"quant-ckpt: inspect, quantize and verify checkpoints (safetensors, sharded, pytorch_model.bin)"};
    app.require_subcommand(1);
    std::string inspect_path, orig, quant_file;
    auto* ins = app.add_subcommand("inspect", "list tensors, dtypes, shapes, quant states and sizes");
    ins->add_option("path", inspect_path, "checkpoint file or directory")->required();
    quantize_options qo;
    auto* qz = app.add_subcommand("quantize", "quantize every Linear weight (see --help for the rule)");
    qz->add_option("in", qo.in, "input checkpoint file or directory")->required();
    qz->add_option("out", qo.out, "output .safetensors file")->required();
    qz->add_option("--scheme", qo.scheme, "int8, int4, nf4, nf4-dq, fp4 or fp4-dq")
        ->check(CLI::IsMember({"int8", "int4", "nf4", "nf4-dq", "fp4", "fp4-dq"}));
    qz->add_option("--block", qo.block, "block size (int4: 32/64/128; nf4/fp4: 32..4096; default 64)");
    qz->add_option("--skip", qo.skip, "regex of tensor names to keep dense (repeatable)");
    qz->add_option("--compute", qo.compute, "compute dtype recorded in the file's metadata (bnb_4bit_compute_dtype)")
        ->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
    auto* vf = app.add_subcommand("verify", "dequantize QUANT and report the error of each weight against ORIG");
    vf->add_option("orig", orig, "original checkpoint")->required();
    vf->add_option("quant", quant_file, "quantized checkpoint")->required();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    try {
        if (*ins) return inspect(inspect_path);
        if (*qz) return quantize(qo);
        return verify(orig, quant_file);
    } catch (const std::exception& e) {
        std::string msg = e.what();
        for (char& ch : msg)
            if (ch == '\n') ch = ' ';
        std::fprintf(stderr, "%squant-ckpt: %s\n", progress_open ? "\n" : "", msg.c_str());
        return 1;
    }
}
