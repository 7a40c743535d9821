// llama.cpp's CPU matrix multiplication (ggml_mul_mat through the ggml CPU backend), timed on
// bench_linear's cases so that one table can hold both.
//
//   benchmarks/peers/run.sh    fetches llama.cpp, builds this and bench_linear, runs both and PyTorch
//
// y (m x out) = x (m x in, f32) . W^T with W (out x in) in ggml's f32, bf16, q8_0, q4_0, iq4_nl:
// ggml tensors W [in, out], x [in, m], y = ggml_mul_mat(W, x) [out, m]. The 4-bit types also as
// llama.cpp holds them after loading a model: W allocated in the CPU device's extra buffer type
// CPU_REPACK and set with ggml_backend_tensor_set, which interleaves the blocks (q4_0 and iq4_nl
// 8x8 on AVX2/AVX-512). Quantized types multiply against activations that ggml quantizes to q8_0
// inside the timed call (bf16: rounds to bf16), as llama.cpp does.
//
// Per case the graphs are built once; the timed loop runs ggml_backend_graph_compute only, with
// the backend's thread count = OMP_NUM_THREADS (else all cores). Once per case, before timing, the
// result is checked against a double-precision product with the weights as ggml dequantizes them;
// a miss fails the case and makes the program exit 1. Counters and case names are bench_linear's
// (bench_cases.hpp): `ggml_<type>[_repack]/<in>x<out>/m:<m>[/cold]`; also `rel_err`, the
// relative RMS error of that check.
#include <ggml-alloc.h>
#include <ggml-backend.h>
#include <ggml-cpp.h>
#include <ggml-cpu.h>
#include <ggml.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_cases.hpp"

using bench_cases::shape;

namespace {

struct weight_format {
    const char* name;
    ggml_type type;
    bool repack;  // held in CPU_REPACK's interleaved layout
};
const weight_format formats[] = {
    {"ggml_f32", GGML_TYPE_F32, false},         {"ggml_bf16", GGML_TYPE_BF16, false},
    {"ggml_q8_0", GGML_TYPE_Q8_0, false},       {"ggml_q4_0", GGML_TYPE_Q4_0, false},
    {"ggml_q4_0_repack", GGML_TYPE_Q4_0, true}, {"ggml_iq4_nl", GGML_TYPE_IQ4_NL, false},
    {"ggml_iq4_nl_repack", GGML_TYPE_IQ4_NL, true},
};

bool any_case_failed = false;

void fail(benchmark::State& st, const std::string& why) {
    st.SkipWithError(why.c_str());
    any_case_failed = true;
}

int n_threads() {
    if (const char* e = std::getenv("OMP_NUM_THREADS"); e && std::atoi(e) > 0) return std::atoi(e);
    return int(std::thread::hardware_concurrency());
}

ggml_backend_dev_t cpu_device() { return ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU); }

template <class F>
F cpu_proc(const char* name) {
    return reinterpret_cast<F>(ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu_device()), name));
}

// The CPU device's extra buffer type CPU_REPACK, found as llama.cpp finds it when it loads a model
// (ggml_backend_dev_get_extra_bufts); null if this build has none.
ggml_backend_buffer_type_t repack_buffer_type() {
    auto get_extra = cpu_proc<ggml_backend_dev_get_extra_bufts_t>("ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t* b = get_extra ? get_extra(cpu_device()) : nullptr; b && *b; ++b)
        if (std::strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0) return *b;
    return nullptr;
}

std::string cpu_features() {
    auto get = cpu_proc<ggml_backend_get_features_t>("ggml_backend_get_features");
    std::string r;
    for (ggml_backend_feature* f = get ? get(ggml_backend_dev_backend_reg(cpu_device())) : nullptr; f && f->name; ++f)
        r += std::string(r.empty() ? "" : " ") + f->name + "=" + f->value;
    return r;
}

// W (out x in) ~ N(0, 0.02) in the stored format, by ggml's own quantizer (f32: a copy; bf16:
// rounding), and as ggml's to_float reads it back. One entry: a case's setup runs several times
// in a row (Google Benchmark's iteration estimate), and the largest quantizes take seconds.
struct stored_weight {
    ggml_type type = GGML_TYPE_COUNT;
    shape s{};
    std::vector<std::uint8_t> bytes;
    std::vector<float> dequantized;
};
const stored_weight& weight_in(ggml_type type, shape s) {
    static stored_weight w;
    if (w.type == type && w.s.in == s.in && w.s.out == s.out) return w;
    const auto rows = std::int64_t(s.out), cols = std::int64_t(s.in);
    w = {type, s, std::vector<std::uint8_t>(ggml_row_size(type, cols) * s.out), bench_cases::random_normal(s.out * s.in, 1, 0.02f)};
    ggml_quantize_chunk(type, w.dequantized.data(), w.bytes.data(), 0, rows, cols, nullptr);
    if (type != GGML_TYPE_F32) ggml_get_type_traits(type)->to_float(w.bytes.data(), w.dequantized.data(), rows * cols);
    return w;
}

// relative RMS difference of y (m x out) from x . wd^T in double, on rows {0..3, m-4..m-1}
double relative_error(const std::vector<float>& y, const std::vector<float>& x, const std::vector<float>& wd, shape s,
                      std::size_t m) {
    double num = 0, den = 0;
    for (std::size_t i = 0; i < m; ++i) {
        if (i >= 4 && i + 4 < m) continue;
        for (std::size_t o = 0; o < s.out; ++o) {
            double ref = 0;
            for (std::size_t k = 0; k < s.in; ++k) ref += double(x[i * s.in + k]) * double(wd[o * s.in + k]);
            const double d = double(y[i * s.out + o]) - ref;
            num += d * d;
            den += ref * ref;
        }
    }
    return std::sqrt(num / den);
}

void bench_mul_mat(benchmark::State& st, const weight_format& f, shape s, std::size_t m, bool cold,
                   const std::string& case_name) {
    const stored_weight& w = weight_in(f.type, s);
    const std::vector<float> x = bench_cases::random_normal(m * s.in, 2, 1.0f);
    const std::size_t copies = cold ? bench_cases::cold_copies(w.bytes.size()) : 1;

    ggml_backend_ptr backend(ggml_backend_cpu_init());
    ggml_backend_cpu_set_n_threads(backend.get(), n_threads());
    ggml_backend_buffer_type_t weight_buft = f.repack ? repack_buffer_type() : ggml_backend_cpu_buffer_type();
    if (!weight_buft) return fail(st, "this ggml build has no CPU_REPACK buffer type");

    // metadata only (no_alloc): the weight copies; x, y and a graph per copy
    ggml_init_params wp{.mem_size = ggml_tensor_overhead() * copies, .mem_buffer = nullptr, .no_alloc = true};
    ggml_init_params ap{.mem_size = (ggml_tensor_overhead() + ggml_graph_overhead_custom(8, false)) * (copies + 1),
                        .mem_buffer = nullptr,
                        .no_alloc = true};
    ggml_context_ptr wctx(ggml_init(wp)), actx(ggml_init(ap));
    const auto in = std::int64_t(s.in), out = std::int64_t(s.out);
    ggml_tensor* xt = ggml_new_tensor_2d(actx.get(), GGML_TYPE_F32, in, std::int64_t(m));
    std::vector<ggml_tensor*> ws(copies), ys(copies);
    std::vector<ggml_cgraph*> graphs(copies);
    for (std::size_t c = 0; c < copies; ++c) {
        ws[c] = ggml_new_tensor_2d(wctx.get(), f.type, in, out);
        ys[c] = ggml_mul_mat(actx.get(), ws[c], xt);
        graphs[c] = ggml_new_graph_custom(actx.get(), 8, false);
        ggml_build_forward_expand(graphs[c], ys[c]);
    }
    ggml_backend_buffer_ptr wbuf(ggml_backend_alloc_ctx_tensors_from_buft(wctx.get(), weight_buft));
    ggml_backend_buffer_ptr abuf(ggml_backend_alloc_ctx_tensors(actx.get(), backend.get()));
    for (ggml_tensor* t : ws) {
        // CPU_REPACK picks a layout per tensor when it is allocated (tensor->extra); none: no repack
        if (f.repack && !t->extra) return fail(st, "CPU_REPACK has no repacked layout for this type and shape");
        ggml_backend_tensor_set(t, w.bytes.data(), 0, w.bytes.size());
    }
    // CPU_REPACK is host memory: the bytes must have been rearranged
    if (f.repack && std::memcmp(ws[0]->data, w.bytes.data(), w.bytes.size()) == 0)
        return fail(st, "CPU_REPACK left the weight bytes as they were");
    ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));

    static std::map<std::string, double> checked;  // case name -> relative RMS error of copy 0
    if (!checked.contains(case_name)) {
        if (ggml_backend_graph_compute(backend.get(), graphs[0]) != GGML_STATUS_SUCCESS)
            return fail(st, "ggml_backend_graph_compute failed");
        std::vector<float> y(m * s.out);
        ggml_backend_tensor_get(ys[0], y.data(), 0, y.size() * sizeof(float));
        checked[case_name] = relative_error(y, x, w.dequantized, s, m);
    }
    // f32: llamafile's sgemm in float; the others round x to q8_0 (~0.5%) or bf16 (~0.2%)
    const double err = checked[case_name], tolerance = f.type == GGML_TYPE_F32 ? 1e-5 : 2e-2;
    if (!(err < tolerance)) return fail(st, "result off: relative RMS error " + std::to_string(err));

    std::size_t i = 0;
    for (auto _ : st) {
        ggml_backend_graph_compute(backend.get(), graphs[i]);
        if (++i == copies) i = 0;
    }
    bench_cases::set_counters(st, m, s, w.bytes.size());
    st.counters["rel_err"] = err;
}

}  // namespace

int main(int argc, char** argv) {
    ggml_log_set([](ggml_log_level level, const char* text, void*) { if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr); },
                 nullptr);
    const ggml_backend_buffer_type_t repack = repack_buffer_type();
    benchmark::AddCustomContext("llama_cpp_python", LLAMA_CPP_PYTHON_VERSION);
    benchmark::AddCustomContext("ggml_version", std::string(ggml_version()) + " (" + ggml_commit() + ")");
    benchmark::AddCustomContext("ggml_cpu_features", cpu_features());
    benchmark::AddCustomContext("ggml_threads", std::to_string(n_threads()));
    benchmark::AddCustomContext("ggml_repack_buffer_type", repack ? ggml_backend_buft_name(repack) : "none");
    bench_cases::for_each_case([](shape s, std::size_t m, bool cold, const std::string& l) {
        for (const weight_format& f : formats) {
            const std::string name = std::string(f.name) + "/" + l;
            bench_cases::register_case(name, [=](benchmark::State& st) { bench_mul_mat(st, f, s, m, cold, name); });
        }
    });
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (any_case_failed) std::fputs("bench_ggml: a case failed its setup or numerical check (ERROR above)\n", stderr);
    return any_case_failed ? 1 : 0;
}
