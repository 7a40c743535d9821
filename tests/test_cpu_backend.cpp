// The CPU backend against the reference backend: random data, awkward shapes, every scheme,
// 1 and 2 threads, every path (GEMV tiles, GEMM panels, VNNI, the generic fallback for blocks
// that straddle rows).
#include <catch2/catch.hpp>

#include <bit>

#include "support/helpers.hpp"

using namespace quant;

namespace {

row_matrix random_matrix(std::size_t r, std::size_t c, std::uint64_t seed, float sigma = 1.0f) {
    const auto v = th::gaussian(r * c, seed, sigma);
    row_matrix m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
    std::copy(v.begin(), v.end(), m.data());
    return m;
}

// max |a - b| / (max |b| + eps), elementwise worst case scaled by the output's magnitude
double worst(const row_matrix& a, const row_matrix& b) {
    return (a - b).cwiseAbs().maxCoeff() / (b.cwiseAbs().maxCoeff() + 1e-30);
}

// exact: every output must equal the reference's bit for bit (paths whose sums are exact).
// amx_equal > 0: where the process has AMX tiles, at least that fraction of the outputs must equal
// the reference's bit for bit (the bf16 GEMV on AMX tiles, whose weights are the reference's
// rounded ones and whose products are exact in float32: only the order of the float32 sums
// differs; the vdpbf16ps GEMV, whose weights keep their float32 scale, matches about half).
template <Scheme S>
void compare_backends(const typename S::params& p, std::initializer_list<std::size_t> ins, dtype t = dtype::f32,
                      activation_quant a = activation_quant::none,
                      std::initializer_list<std::size_t> ms = {1, 2, 3, 8, 9, 17, 33, 128}, [[maybe_unused]] double amx_equal = 0,
                      bool exact = false) {
    std::uint64_t seed = 1000;
    for (std::size_t out : {1, 3, 17, 70})
        for (std::size_t in : ins)
            for (std::size_t m : ms) {
                const row_matrix w = random_matrix(out, in, seed++, 0.05f);
                const row_matrix x = random_matrix(m, in, seed++);
                const auto b = th::gaussian(out, seed++);
                const auto ref = QuantizedLinear<S>::from_dense(view(w), b, p, {.compute = t, .activations = a});
                const row_matrix want = ref.forward(x);
                for (int threads : {1, 2}) {
                    auto fast = ref.template with_backend<cpu_backend>();
                    fast.set_threads(threads);
                    row_matrix got(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(out));
                    got.setConstant(std::numeric_limits<float>::quiet_NaN());  // poisoned output
                    fast.forward(view(x), view(got));
                    INFO(S::name << " out " << out << " in " << in << " m " << m << " threads " << threads
                                 << " compute " << dtype_name(t) << " int8 activations " << (a == activation_quant::int8));
                    REQUIRE(got.allFinite());
                    // f32: summation order; bf16/f16: the reference also rounds each weight
                    const double tol = t == dtype::f32 ? 2e-5 : (t == dtype::bf16 ? 2e-2 : 3e-3);
                    CHECK(worst(got, want) < tol);
                    if (exact) CHECK((got.array() == want.array()).all());
#if defined(QUANT_CPU_AMX)
                    if (amx_equal > 0 && cpu::avx512::amx_ready())
                        CHECK((got.array() == want.array()).cast<double>().mean() >= amx_equal);
#endif
                }
            }
}

}  // namespace

// The kernel family a build runs is chosen by the compiler's macros (cpu/arch.hpp): a condition
// spelled wrongly there, or a -march that lacks a feature the kernels need, would fall back to a
// slower family and pass every comparison above. The build's QUANT_ARCH (tests/CMakeLists.txt)
// says which family it must be: for "native" the best this CPU has, read from cpuid.
TEST_CASE("cpu backend: the build runs the best kernel family its QUANT_ARCH allows", "[cpu]") {
    using namespace quant::cpu;
    const auto name = []<class A>(A) -> std::string {
        if constexpr (std::is_same_v<A, generic>) return "generic";  // xsimd 8.1's generic has no name()
        else return A::name();
    };
    const std::string arch = QUANT_TEST_ARCH;
    std::string want = "generic";
    if (arch == "avx2") {
        want = xsimd::fma3<xsimd::avx2>::name();
    } else if (arch == "native") {
        __builtin_cpu_init();
        const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        if (avx512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16"))
            want = avx512_bf16::name();
        else if (avx512 && __builtin_cpu_supports("avx512vnni"))
            want = avx512_vnni::name();
        else if (avx512)
            want = xsimd::avx512bw::name();
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
            want = xsimd::fma3<xsimd::avx2>::name();
    }
    INFO("QUANT_ARCH " << arch);
    CHECK(name(best_arch{}) == want);
}

TEST_CASE("cpu backend equals the reference: NF4, FP4, double quant, block sizes", "[cpu]") {
    // 64 and 128: rows hold whole blocks; 100: blocks straddle rows (generic path); 3072: long rows
    compare_backends<NF4>({.block = 64}, {64, 100, 128, 320});
    compare_backends<NF4>({.block = 32, .double_quant = true}, {32, 96, 100, 160});
    compare_backends<NF4>({.block = 128, .double_quant = true}, {128, 256, 3072});
    compare_backends<FP4>({.block = 64}, {64, 192});
}

TEST_CASE("cpu backend equals the reference: int4, every block size, tails", "[cpu]") {
    compare_backends<BlockwiseInt4>({.block = 32}, {1, 33, 64, 129});
    compare_backends<BlockwiseInt4>({.block = 64}, {64, 100, 200});
    compare_backends<BlockwiseInt4>({.block = 128}, {128, 129, 300});
}

TEST_CASE("cpu backend equals the reference: long rows, every GEMV tile height", "[cpu]") {
    // the kernels that decode 2 or 4 weight rows in step (m = 4 .. 8 and the tiles of 12 = 8 + 4,
    // 13 = 8 + 5), with activation tiles that outgrow L1; in not a multiple of the block
    const auto f32 = dtype::f32;
    const auto none = activation_quant::none;
    for (std::size_t block : {32, 64, 128}) {
        INFO("block " << block);
        compare_backends<BlockwiseInt4>({.block = block}, {2100}, f32, none, {4, 5, 6, 7, 8, 12, 13});
    }
    compare_backends<NF4>({.block = 64}, {2112, 3072}, f32, none, {4, 5, 6, 7, 8, 12, 13});
    compare_backends<FP4>({.block = 128, .double_quant = true}, {2176}, f32, none, {4, 7, 13});
    // int8 weight-only: its rows decoded in step too (row scale applied after the sums)
    compare_backends<AbsmaxInt8>({.activations = int8_activations::none}, {2100}, f32, none, {4, 5, 6, 7, 8, 12, 13});
    // bf16 compute: activation tiles beyond L1 (mt * ld * 2 > 32 KB: 8 rows from ld 2049, 7 from
    // 2341) go in k-blocks of 16 KB over groups of 32 weight rows (70 rows: 32 + 32 + 6), the
    // last block partial (int4 block 64: 33 chunks in blocks of 16; NF4 3072: 24 of 8)
    compare_backends<BlockwiseInt4>({.block = 64}, {2100}, dtype::bf16, none, {7, 8, 13});
    compare_backends<NF4>({.block = 64, .double_quant = true}, {3072}, dtype::bf16, none, {7, 8, 15});
}

TEST_CASE("cpu backend equals the reference: int8 weight-only and LLM.int8()", "[cpu]") {
    compare_backends<AbsmaxInt8>({.activations = int8_activations::none}, {1, 3, 64, 65, 200});
    compare_backends<AbsmaxInt8>({.activations = int8_activations::rowwise}, {1, 63, 64, 65, 200});
    compare_backends<AbsmaxInt8>({.activations = int8_activations::rowwise, .threshold = 2.5f}, {17, 130});
}

TEST_CASE("cpu backend: LLM.int8() without outliers equals the reference bit for bit", "[cpu]") {
    // The int32 sums are exact on every path (VNNI GEMV and GEMM, AVX2 vpmaddwd tiles of 2 weight
    // rows x 1-4 activation rows, the scalar loop) and the float epilogue is the reference's, so
    // every output must be equal: a sum off by one shows here, under the tolerance alone it can
    // hide.
    compare_backends<AbsmaxInt8>({.activations = int8_activations::rowwise}, {5, 16, 64, 100, 1030}, dtype::f32,
                                 activation_quant::none, {1, 2, 3, 4, 5, 8, 9, 33}, 0, true);
}

TEST_CASE("cpu backend equals the reference: float16 weights", "[cpu]") {
    compare_backends<Float16>({}, {1, 63, 64, 65, 200});
    compare_backends<Float16>({}, {64, 100}, dtype::bf16);
}

TEST_CASE("cpu backend: bf16 and f16 compute", "[cpu]") {
    // bf16: the vdpbf16ps GEMV (m <= 16) and GEMM, every 4-bit decoder and block size
    compare_backends<NF4>({.block = 64}, {64, 100}, dtype::bf16);
    compare_backends<NF4>({.block = 32, .double_quant = true}, {96, 416}, dtype::bf16);
    compare_backends<FP4>({.block = 256}, {256, 512}, dtype::bf16);
    compare_backends<BlockwiseInt4>({.block = 32}, {32, 77}, dtype::bf16);
    compare_backends<BlockwiseInt4>({.block = 64}, {64, 200}, dtype::bf16);
    compare_backends<BlockwiseInt4>({.block = 128}, {128, 300}, dtype::bf16);
    compare_backends<BlockwiseInt4>({.block = 32}, {64, 33}, dtype::f16);
    compare_backends<AbsmaxInt8>({.activations = int8_activations::none}, {65}, dtype::bf16);
}

TEST_CASE("cpu backend: the bf16 GEMV on AMX tiles rounds the weights as the reference does", "[cpu][amx]") {
    // A tiles of every decoder: NF4/FP4 blocks 64 to 256 (2 to 8 vectors a block), int4 32 (one:
    // odd k-tile counts), 64 and 128 with the last block padded; long rows; rows in groups of
    // 32 and 16, partial (3, 17: 16 + 1, 70: 32 + 32 + 6). Without AMX the tolerance alone.
    const auto bf16 = dtype::bf16;
    const auto none = activation_quant::none;
    compare_backends<NF4>({.block = 64}, {64, 192, 4096}, bf16, none, {4, 5, 16}, 0.95);
    compare_backends<NF4>({.block = 128, .double_quant = true}, {384}, bf16, none, {4, 5, 16}, 0.95);
    compare_backends<FP4>({.block = 256}, {512}, bf16, none, {4, 5, 16}, 0.95);
    compare_backends<BlockwiseInt4>({.block = 32}, {96}, bf16, none, {4, 5, 16}, 0.95);
    compare_backends<BlockwiseInt4>({.block = 64}, {200}, bf16, none, {4, 5, 16}, 0.95);
    compare_backends<BlockwiseInt4>({.block = 128}, {300}, bf16, none, {4, 5, 16}, 0.95);
}

TEST_CASE("cpu backend equals the reference: 4-bit weights with int8 activations in blocks of 32", "[cpu][q8]") {
    // VNNI kernels (whole blocks per row): every decoder and block size, rows of one group, of a
    // partial group, of many; m <= 17 the GEMV (tiles of 8 activation rows over panels of weight
    // rows), m = 33 and 128 the block-scaled GEMM (rows not a multiple of 64 bytes, blocks past
    // the row, 8-row blocks partly zero). AVX2: m <= 16 the int8 GEMV (int4 blocks of 32: rows of
    // an odd number of blocks end in half a unit), beyond the float32 GEMM on the int8 values
    constexpr auto a8 = activation_quant::int8;
    compare_backends<NF4>({.block = 64}, {64, 100, 192, 320}, dtype::f32, a8);  // 100: the generic path
    compare_backends<NF4>({.block = 32, .double_quant = true}, {32, 96, 160}, dtype::f32, a8);
    compare_backends<NF4>({.block = 128, .double_quant = true}, {128, 3072}, dtype::f32, a8);
    compare_backends<FP4>({.block = 256}, {256, 512}, dtype::f32, a8);
    compare_backends<BlockwiseInt4>({.block = 32}, {1, 33, 64, 129}, dtype::f32, a8);
    compare_backends<BlockwiseInt4>({.block = 64}, {64, 100, 200}, dtype::f32, a8);
    compare_backends<BlockwiseInt4>({.block = 128}, {128, 129, 300}, dtype::f32, a8);
    compare_backends<NF4>({.block = 64}, {128}, dtype::bf16, a8);  // output and bias rounded to bf16
}

TEST_CASE("cpu backend: int8 activations on 16-row weight tiles equal the row-major kernel bit for bit", "[cpu][q8]") {
    // A layer prepared for int8 activations keeps its 4-bit weights in tiles of 16 rows (VNNI
    // builds); the same kernel on the row-major layout (prepared without) sums every row in the
    // same order. Every scale count per group (block 32: 4, 64: 2, >= 128: 1), partial tiles
    // (out 17, 70), rows of a partial group, m = 1 (a tile at a time) and more.
    const auto check = [&]<Scheme S>(const typename S::params& p, std::size_t in) {
        using kernel = linear_kernel<cpu_backend, S>;
        for (std::size_t out : {1, 17, 70}) {
            const row_matrix w = random_matrix(out, in, 50 + out, 0.05f);
            const auto q = QuantizedTensor<S>::quantize(view(w), p);
            const forward_options a8{.threads = 2, .activations = activation_quant::int8};
            const auto tiled = kernel::prepare(q, a8), row_major = kernel::prepare(q);
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
            CHECK(tiled.tiles.bytes() >= q.size_bytes() * 9 / 10);
#endif
            CHECK(row_major.tiles.empty());
            const auto b = th::gaussian(out, 60 + out);
            for (std::size_t m : {1, 2, 9}) {
                const row_matrix x = random_matrix(m, in, 70 + m);
                row_matrix y1(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(out)), y2 = y1;
                kernel::forward(q, tiled, b, view(x), view(y1), a8);
                kernel::forward(q, row_major, b, view(x), view(y2), a8);
                INFO(S::name << " block " << p.block << " in " << in << " out " << out << " m " << m);
                CHECK(y1.cwiseEqual(y2).all());
            }
        }
    };
    for (std::size_t block : {32, 64, 128}) check.operator()<BlockwiseInt4>({.block = block}, 200);
    check.operator()<NF4>({.block = 32, .double_quant = true}, 416);
    check.operator()<NF4>({.block = 64}, 320);
    check.operator()<NF4>({.block = 128}, 384);
    check.operator()<FP4>({.block = 256, .double_quant = true}, 768);
}

TEST_CASE("cpu backend: int8 activations, NaN and Inf stay in their row, results independent of threads", "[cpu][q8]") {
    // m = 9: the GEMV kernel; m = 40: the block-scaled GEMM (its last 8-row block partial)
    const row_matrix w = random_matrix(50, 256, 21, 0.05f);
    for (const Eigen::Index m : {9, 40}) {
        row_matrix x = random_matrix(std::size_t(m), 256, 22);
        x(2, 100) = std::numeric_limits<float>::quiet_NaN();
        x(5, 7) = std::numeric_limits<float>::infinity();
        if (m > 33) x(33, 255) = -std::numeric_limits<float>::infinity();
        const auto check = [&]<Scheme S>(const typename S::params& p) {
            const auto ref = QuantizedLinear<S>::from_dense(view(w), {}, p, {.activations = activation_quant::int8});
            auto fast = ref.template with_backend<cpu_backend>();
            const row_matrix want = ref.forward(x);
            fast.set_threads(1);
            const row_matrix one = fast.forward(x);
            fast.set_threads(2);
            const row_matrix two = fast.forward(x);
            INFO(S::name << " m " << m);
            for (Eigen::Index i = 0; i < x.rows(); ++i) {
                const bool bad = i == 2 || i == 5 || (m > 33 && i == 33);
                CHECK(one.row(i).array().isNaN().all() == bad);
                CHECK(want.row(i).array().isNaN().all() == bad);
                if (!bad) CHECK(worst(one.row(i), want.row(i)) < 2e-5);
            }
            CHECK(one.cwiseEqual(two).count() + one.array().isNaN().count() == one.size());
        };
        check.operator()<NF4>({.block = 64});
        check.operator()<BlockwiseInt4>({.block = 32});
    }
}

TEST_CASE("int8 activations: as accurate as the int8 grid allows, and not float32 in disguise", "[cpu][q8]") {
    // N(0,1) activations in blocks of 32: step amax/127 with amax about 2.1, an rms error of about
    // 0.5% per activation; the codebook's rounding to int8 adds less (NF4: at most 0.4% of absmax)
    const row_matrix w = random_matrix(300, 768, 31, 0.05f);
    const row_matrix x = random_matrix(16, 768, 32);
    const auto rel = [](const row_matrix& a, const row_matrix& b) { return (a - b).norm() / b.norm(); };
    const auto check = [&]<Scheme S>(const typename S::params& p) {
        auto layer = QuantizedLinear<S, cpu_backend>::from_dense(view(w), {}, p);
        const row_matrix f32 = layer.forward(x);
        layer.set_activations(activation_quant::int8);
        const row_matrix a8 = layer.forward(x);
        INFO(S::name << " relative error of int8 activations " << rel(a8, f32));
        CHECK(rel(a8, f32) > 1e-3);
        CHECK(rel(a8, f32) < 1.5e-2);
    };
    check.operator()<NF4>({.block = 64, .double_quant = true});
    check.operator()<FP4>({.block = 64});
    check.operator()<BlockwiseInt4>({.block = 64});
}

TEST_CASE("cpu backend: int8 activations give the reference's int32 sums exactly", "[cpu]") {
    // without outliers the only float work is the epilogue, identical in both backends. With
    // outliers (threshold 3: a few columns) the GEMM stores int32 sums finished afterwards, and
    // the outlier columns are summed in float32 here, in double by the reference: close, not equal.
    // out 133: the GEMM splits activation blocks between 2 threads; 300: weight rows (192 + 108,
    // the last micro-panel of 48 partly padding)
    for (const std::size_t out : {133, 300})
        for (const float threshold : {0.0f, 3.0f}) {
            const row_matrix w = random_matrix(out, 300, 5, 0.05f);
            const auto b = th::gaussian(out, 7);
            const auto ref = QuantizedLinear<AbsmaxInt8>::from_dense(view(w), b, {.threshold = threshold});
            for (int threads : {1, 2}) {
                auto fast = ref.with_backend<cpu_backend>();
                fast.set_threads(threads);
                for (std::size_t m : {1, 2, 3, 9, 40, 100}) {  // GEMV (m < 3) and GEMM paths
                    const row_matrix x = random_matrix(m, 300, 6);
                    INFO("out " << out << " threshold " << threshold << " threads " << threads << " m " << m);
                    const row_matrix got = fast.forward(x), want = ref.forward(x);
                    if (threshold == 0.0f)
                        CHECK(got == want);
                    else
                        CHECK(worst(got, want) < 1e-6);
                }
            }
        }
}

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
TEST_CASE("cpu backend: LLM.int8() activations quantized as the reference does, outliers included", "[cpu]") {
    for (const float threshold : {0.0f, 6.0f, 2.0f, 0.5f}) {  // off, few, many, almost every column
        for (const std::size_t in : {1, 15, 16, 17, 100, 300}) {
            const std::size_t m = 37, ld = (in + 63) / 64 * 64;
            row_matrix x = random_matrix(m, in, 40 + in);
            x(3, 0) = 0.0f;
            if (in > 2) x.row(5).setZero();  // an all-zero row: absmax 0
            const auto want = AbsmaxInt8::quantize_activations(x.data(), m, in, in, threshold);
            for (const int threads : {1, 2}) {  // 2: rows 0-23 and 24-36, outlier columns merged
                std::vector<std::uint8_t> xu(m * ld, 77);
                std::vector<float> sca(m);
                const auto cols = cpu::quantize_activations_u8(view(x), threshold, ld, xu.data(), sca, threads);
                INFO("threshold " << threshold << " in " << in << " threads " << threads);
                CHECK(cols == want.outliers);
                CHECK(sca == want.SCA);
                for (std::size_t i = 0; i < m; ++i)
                    for (std::size_t k = 0; k < in; ++k) REQUIRE(int(xu[i * ld + k]) - 128 == int(want.CA[i * in + k]));
            }
        }
    }
}
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
TEST_CASE("cpu backend: int8 activations laid out by the vectorised code as the scalar definition says", "[cpu][q8]") {
    const auto check = [&]<class D>() {
        for (const std::size_t in : {1, 31, 32, 33, 100, 128, 129, 300, 768}) {
            auto x = th::gaussian(in, 60 + in);
            if (in > 64) {
                std::fill(x.begin() + 32, x.begin() + 64, 0.0f);                  // all zero: d = 0
                x[64] = 1e-38f;                                                    // 127 / amax overflows
                std::fill(x.begin() + 65, x.begin() + std::min<std::size_t>(in, 96), 0.0f);
            }
            if (in > 100) x[99] = std::numeric_limits<float>::quiet_NaN();         // d = NaN
            if (in > 200) x[200] = -std::numeric_limits<float>::infinity();
            const std::size_t groups = (in + D::group - 1) / D::group;
            std::vector<std::int8_t> q(groups * D::group + 64, 5), q_ref(q.size(), 7), tq(groups * D::group);
            std::vector<std::int32_t> init(groups * 16 + 16, 5), init_ref(init.size(), 7);
            std::vector<float> scale(groups * 16 + 16, 5.0f), scale_ref(scale.size(), 7.0f), td(groups * D::group / 32 + 16);
            // 64-byte aligned destinations, as the kernel's scratch is
            auto* qa = reinterpret_cast<std::int8_t*>((reinterpret_cast<std::uintptr_t>(q.data()) + 63) & ~std::uintptr_t{63});
            auto* ia = reinterpret_cast<std::int32_t*>((reinterpret_cast<std::uintptr_t>(init.data()) + 63) & ~std::uintptr_t{63});
            auto* sa = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(scale.data()) + 63) & ~std::uintptr_t{63});
            cpu::avx512::prepare_q8_row<D>(x.data(), in, groups, qa, ia, sa, tq.data(), td.data());
            cpu::avx512::prepare_q8_row_scalar<D>(x.data(), in, groups, q_ref.data(), init_ref.data(), scale_ref.data());
            INFO("in " << in << " group " << D::group);
            for (std::size_t k = 0; k < groups * D::group; ++k) REQUIRE(int(qa[k]) == int(q_ref[k]));
            for (std::size_t l = 0; l < groups * 16; ++l) {
                REQUIRE(ia[l] == init_ref[l]);
                // a lane past the row's end multiplies zeros: its scale is free
                if (l / 16 * D::group + l % 16 * (D::group / 16) < in)
                    REQUIRE(std::bit_cast<std::uint32_t>(sa[l]) == std::bit_cast<std::uint32_t>(scale_ref[l]));
            }
        }
    };
    check.operator()<cpu::avx512::bnb4bit_q8_decoder<nf4_traits>>();
    check.operator()<cpu::avx512::int4_q8_decoder<64>>();
    check.operator()<cpu::avx512::int4_q8_tile_codes>();
}
#endif

// 203 rows: threads split them in multiples of 16, the last tile of four rows is partial
TEST_CASE("cpu backend: results do not depend on the thread count", "[cpu]") {
    const row_matrix w = random_matrix(203, 256, 8, 0.05f);
    const auto check = [&](const auto& layer0, dtype t) {
        auto layer = layer0;
        for (std::size_t m : {1, 2, 5, 40}) {
            const row_matrix x = random_matrix(m, 256, 9);
            layer.set_threads(1);
            const row_matrix one = layer.forward(x);
            layer.set_threads(2);
            INFO("m " << m << " compute " << dtype_name(t));
            CHECK(layer.forward(x) == one);
        }
    };
    for (dtype t : {dtype::f32, dtype::bf16}) {
        check(QuantizedLinear<NF4, cpu_backend>::from_dense(view(w), {}, {.block = 64}, {.compute = t}), t);
        check(QuantizedLinear<BlockwiseInt4, cpu_backend>::from_dense(view(w), {}, {.block = 64}, {.compute = t}), t);
    }
}

TEST_CASE("cpu backend: vectorised rounding to f16/bf16 equals round_to, bit for bit", "[cpu]") {
    std::mt19937 rng(17);
    std::uniform_int_distribution<std::uint32_t> bits;
    std::vector<float> v;
    for (int i = 0; i < 100003; ++i) v.push_back(std::bit_cast<float>(bits(rng)));  // NaN, Inf, subnormals too
    for (float f : {0.0f, -0.0f, 65504.0f, 65520.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 1.0f + 1.0f / 256, 3e38f})
        v.push_back(f);
    for (dtype t : {dtype::f16, dtype::bf16}) {
        auto fast = v;
        cpu::round_in_place(fast.data(), fast.size(), t);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            const float want = round_to(t, v[i]);
            bad += std::bit_cast<std::uint32_t>(fast[i]) != std::bit_cast<std::uint32_t>(want);
        }
        INFO(dtype_name(t));
        CHECK(bad == 0);
    }
}

#if defined(QUANT_CPU_AMX)
TEST_CASE("cpu backend: the AMX tile GEMM gives the AVX-512 micro-kernel's sums (int8 exactly)", "[cpu][amx]") {
    // multiply_panels_amx against the register-blocked micro_kernel on the same packed panels and
    // activations: 1 to 3 micro-panels (the last partly past out), activation blocks in pairs and
    // an odd last one (8-row tiles), ranges of blocks that start odd (a thread's share), k-groups
    // 16 (one tile step), 48 and 1024. s8 sums are exact; bf16 ones differ only by summation order.
    if (!cpu::avx512::amx_ready()) {
        WARN("AMX compiled in but not granted to this process: kernel not run");
        return;
    }
    using namespace cpu::avx512;
    std::mt19937 rng(77);
    const auto run = [&]<class Op>(std::size_t out, std::size_t groups, std::size_t m, std::size_t b0, std::size_t b1) {
        using E = typename Op::elem;
        using Acc = typename Op::acc;
        const std::size_t npad = (out + gemm_nr - 1) / gemm_nr * gemm_nr, ld = groups * Op::step, ldx = gemm_stride<E>(ld);
        aligned_vector<std::uint32_t> pk(npad * groups);
        std::vector<E> x(gemm_rows(m) * ldx);
        if constexpr (std::is_same_v<Op, op_s8>) {
            for (auto& v : pk) v = rng();  // four random s8 per dword
            for (auto& v : x) v = static_cast<E>(rng());
        } else {
            std::normal_distribution<float> g;
            for (auto& v : pk) v = std::uint32_t(bfloat16(g(rng)).bits) | std::uint32_t(bfloat16(g(rng)).bits) << 16;
            for (auto& v : x) v = bfloat16(g(rng)).bits;
        }
        std::vector<float> want(m * npad, -1.0f), got(m * npad, -1.0f);  // rows outside [b0, b1) stay equal
        const auto store_to = [&](std::vector<float>& y) {
            return [&y, npad](std::size_t i, std::size_t o, Acc v, __mmask16 mk) {
                if constexpr (std::is_same_v<Op, op_s8>) _mm512_mask_storeu_ps(y.data() + i * npad + o, mk, _mm512_cvtepi32_ps(v));
                else _mm512_mask_storeu_ps(y.data() + i * npad + o, mk, v);
            };
        };
        for_micro_panels<Acc>(0, out, out, m, b0, b1, [&](std::size_t q, std::size_t b, Acc(&c)[gemm_mr][gemm_nv]) {
            micro_kernel<Op>(x.data() + b * gemm_mr * ldx, ldx, pk.data() + q * groups, groups, c);
        }, store_to(want));
        multiply_panels_amx<Op>(pk.data(), 0, out, out, groups, x.data(), ldx, m, b0, b1, store_to(got));
        INFO("out " << out << " groups " << groups << " m " << m << " blocks " << b0 << ".." << b1);
        double err = 0, scale = 0;
        for (std::size_t i = b0 * gemm_mr; i < std::min(m, b1 * gemm_mr); ++i)
            for (std::size_t o = 0; o < out; ++o) {
                err = std::max(err, double(std::abs(got[i * npad + o] - want[i * npad + o])));
                scale = std::max(scale, double(std::abs(want[i * npad + o])));
            }
        if constexpr (std::is_same_v<Op, op_s8>) CHECK(got == want);
        else CHECK(err <= 1e-5 * scale);
        CHECK(scale > 0);
    };
    for (std::size_t out : {16, 48, 100, 130})
        for (std::size_t groups : {16, 48})
            for (std::size_t m : {8, 16, 21, 40, 64}) {
                const std::size_t blocks = gemm_rows(m) / gemm_mr;
                for (std::size_t b0 : {std::size_t{0}, std::size_t{1}}) {
                    if (b0 >= blocks) continue;
                    run.operator()<op_s8>(out, groups, m, b0, blocks);
                    run.operator()<op_bf16>(out, groups, m, b0, blocks);
                }
            }
    // rows 4096 bytes long: micro-panels of 192 KB, taken 5 (s8) or 2 (bf16) at a time past the
    // activations, the last group partial
    run.operator()<op_s8>(400, 1024, 40, 0, 5);
    run.operator()<op_bf16>(250, 1024, 24, 0, 3);
}
#endif
