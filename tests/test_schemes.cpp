// Schemes: round-trip error bounds, awkward sizes, exact storage sizes, the bad-input policy.
#include <catch2/catch.hpp>

#include <limits>

#include "support/helpers.hpp"

using namespace quant;

namespace {

template <Scheme S>
QuantizedTensor<S> quantize(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                            const typename S::params& p = {}) {
    return QuantizedTensor<S>::quantize(const_matrix_view<float>(w.data(), rows, cols), p);
}

template <Scheme S>
double gaussian_rmse(const typename S::params& p) {
    const std::size_t rows = 256, cols = 768;
    const auto w = th::gaussian(rows * cols, 1234);
    return th::relative_rmse(w, quantize<S>(w, rows, cols, p).dequantize());
}

const std::size_t odd_sizes[] = {1, 3, 17, 33, 129};

}  // namespace

TEST_CASE("round-trip relative RMSE on N(0,1) weights stays within each scheme's bound", "[schemes]") {
    // The bounds live in the scheme files; the lower limits catch a 'quantizer' that stores floats.
    const double nf4 = gaussian_rmse<NF4>({.block = 64});
    const double nf4dq = gaussian_rmse<NF4>({.block = 64, .double_quant = true});
    const double fp4 = gaussian_rmse<FP4>({.block = 64});
    const double i4 = gaussian_rmse<BlockwiseInt4>({.block = 64});
    const double i8 = gaussian_rmse<AbsmaxInt8>({});
    INFO("nf4 " << nf4 << " nf4-dq " << nf4dq << " fp4 " << fp4 << " int4 " << i4 << " int8 " << i8);
    CHECK(nf4 < NF4::rmse_bound);
    CHECK(nf4dq < NF4::rmse_bound);
    CHECK(fp4 < FP4::rmse_bound);
    CHECK(i4 < BlockwiseInt4::rmse_bound);
    CHECK(i8 < AbsmaxInt8::rmse_bound);
    CHECK(nf4 > 0.5 * NF4::rmse_bound);
    CHECK(i8 > 0.5 * AbsmaxInt8::rmse_bound);
    CHECK(nf4 < i4);                          // NF4's point of existing: better than uniform 4-bit
    CHECK(std::fabs(nf4dq - nf4) < 0.01 * nf4);  // double quant costs almost nothing
    // smaller blocks, smaller error
    CHECK(gaussian_rmse<NF4>({.block = 32}) < nf4);
    CHECK(gaussian_rmse<NF4>({.block = 256}) > nf4);
    CHECK(gaussian_rmse<BlockwiseInt4>({.block = 32}) < i4);
    CHECK(gaussian_rmse<BlockwiseInt4>({.block = 128}) > i4);
    // the bounds hold at every block size the schemes document them for
    for (std::size_t b : {32, 64, 128}) {
        INFO("block " << b);
        CHECK(gaussian_rmse<BlockwiseInt4>({.block = b}) < BlockwiseInt4::rmse_bound);
        CHECK(gaussian_rmse<NF4>({.block = b}) < NF4::rmse_bound);
        CHECK(gaussian_rmse<NF4>({.block = b, .double_quant = true}) < NF4::rmse_bound);
    }
    // float16: half an ulp, uniformly spread; far below any 8-bit scheme, but not zero
    const double f16 = gaussian_rmse<Float16>({});
    INFO("f16 " << f16);
    CHECK(f16 < Float16::rmse_bound);
    CHECK(f16 > 0.25 * Float16::rmse_bound);
}

TEST_CASE("float16: round to nearest even as quant::half, exact back, beyond the range an error", "[schemes]") {
    const std::size_t rows = 17, cols = 33;
    auto w = th::gaussian(rows * cols, 11, 100.0f);
    w[5] = 65504.0f;   // the largest half
    w[6] = -65519.0f;  // rounds down to -65504
    w[7] = 1e-8f;      // a subnormal half
    const auto q = quantize<Float16>(w, rows, cols, {});
    const auto d = q.dequantize();
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(d[i] == static_cast<float>(half(w[i])));
    CHECK(d[6] == -65504.0f);
    CHECK(q.size_bytes() == 2 * rows * cols);
    CHECK(q.bits_per_weight() == 16.0);
    w[9] = 65520.0f;  // rounds to infinity
    CHECK_THROWS_WITH(quantize<Float16>(w, rows, cols, {}), Catch::Contains("f16: weight [0, 9]") && Catch::Contains("float16 range"));
}

TEMPLATE_TEST_CASE("4-bit schemes: requantizing dequantized weights gives the same codes (odd sizes)", "[schemes]",
                   NF4, FP4, BlockwiseInt4) {
    using S = TestType;
    const std::vector<std::size_t> blocks = std::is_same_v<S, BlockwiseInt4> ? std::vector<std::size_t>{32, 64, 128}
                                                                              : std::vector<std::size_t>{32, 64, 4096};
    std::uint64_t seed = 1;
    for (std::size_t rows : {1, 3, 17})
        for (std::size_t cols : odd_sizes)
            for (std::size_t b : blocks) {
                typename S::params p;
                p.block = b;
                const auto w = th::gaussian(rows * cols, seed++);
                const auto q = quantize<S>(w, rows, cols, p);
                const auto d = q.dequantize();
                const auto q2 = quantize<S>(d, rows, cols, p);
                INFO(S::name << " " << rows << "x" << cols << " block " << b);
                CHECK(th::describe_mismatch(q2.dequantize(), d) == "equal");
                // every value is within half a step of the largest magnitude in its block
                for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(std::isfinite(d[i]));
            }
}

TEST_CASE("NF4: dequantized values are codebook entries times the block absmax", "[schemes]") {
    const std::size_t rows = 5, cols = 77;  // blocks of 32 span rows
    const auto w = th::gaussian(rows * cols, 99);
    const auto q = quantize<NF4>(w, rows, cols, {.block = 32});
    const auto d = q.dequantize();
    for (std::size_t i = 0; i < w.size(); ++i) {
        float am = 0;
        for (std::size_t j = (i / 32) * 32; j < std::min(w.size(), (i / 32) * 32 + 32); ++j) am = std::max(am, std::fabs(w[j]));
        const float c = d[i] / am;
        const auto& v = numeric::nf4_codebook.values;
        INFO("element " << i);
        CHECK(std::find_if(v.begin(), v.end(), [&](float e) { return std::fabs(e - c) < 1e-6f; }) != v.end());
        CHECK(std::fabs(d[i] - w[i]) <= am * 0.17f);  // half the widest NF4 gap (0.304 / 2)
    }
}

TEST_CASE("int8: within half a step of the fp16-rounded weight, odd sizes", "[schemes]") {
    std::uint64_t seed = 50;
    for (std::size_t rows : {1, 3, 17})
        for (std::size_t cols : odd_sizes) {
            const auto w = th::gaussian(rows * cols, seed++, 0.1f);
            const auto q = quantize<AbsmaxInt8>(w, rows, cols);
            const auto d = q.dequantize();
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) {
                    const float step = q.data().SCB[r] / 127.0f;
                    INFO(rows << "x" << cols << " [" << r << "," << c << "]");
                    CHECK(std::fabs(d[r * cols + c] - round_to(dtype::f16, w[r * cols + c])) <= 0.5f * step * 1.0001f);
                }
        }
}

TEST_CASE("storage sizes and bits per weight are exact", "[schemes]") {
    const std::size_t rows = 33, cols = 129, n = rows * cols;  // 4257 values: odd, no block divides it
    const auto w = th::gaussian(n, 5);
    const auto nf4 = quantize<NF4>(w, rows, cols, {.block = 64});
    CHECK(nf4.size_bytes() == (n + 1) / 2 + 4 * ((n + 63) / 64));
    const auto dq = quantize<NF4>(w, rows, cols, {.block = 64, .double_quant = true});
    const std::size_t blocks = (n + 63) / 64;
    CHECK(dq.size_bytes() == (n + 1) / 2 + blocks + 4 * ((blocks + 255) / 256) + 4);
    const auto i8 = quantize<AbsmaxInt8>(w, rows, cols);
    CHECK(i8.size_bytes() == n + 4 * rows);
    for (std::size_t b : {32, 64, 128}) {
        const auto i4 = quantize<BlockwiseInt4>(w, rows, cols, {.block = b});
        CHECK(i4.size_bytes() == rows * ((cols + b - 1) / b) * (4 + b / 2));
        CHECK(i4.bits_per_weight() == 4.0 + 32.0 / double(b));
    }
    CHECK(nf4.bits_per_weight() == 4.5);
    CHECK(dq.bits_per_weight() == 4.0 + 8.0 / 64 + 32.0 / (64 * 256));
    CHECK(i8.bits_per_weight() == 8.0 + 32.0 / cols);
}

TEST_CASE("all-zero weights quantize to zeros", "[schemes]") {
    const std::vector<float> z(7 * 70, 0.0f);
    for (const auto& d : {quantize<NF4>(z, 7, 70).dequantize(), quantize<NF4>(z, 7, 70, {64, true}).dequantize(),
                          quantize<BlockwiseInt4>(z, 7, 70).dequantize(), quantize<AbsmaxInt8>(z, 7, 70).dequantize()})
        CHECK(std::all_of(d.begin(), d.end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("half and bfloat16 weights quantize like the same values in float", "[schemes]") {
    const std::size_t rows = 9, cols = 70;
    auto w = th::gaussian(rows * cols, 8);
    std::vector<half> h(w.size());
    std::vector<bfloat16> b(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
        h[i] = half(w[i]);
        b[i] = bfloat16(w[i]);
    }
    std::vector<float> hf(h.begin(), h.end()), bf(b.begin(), b.end());
    const auto qh = QuantizedTensor<NF4>::quantize(const_matrix_view<half>(h.data(), rows, cols));
    const auto qb = QuantizedTensor<NF4>::quantize(const_matrix_view<bfloat16>(b.data(), rows, cols));
    CHECK(th::describe_mismatch(qh.data().packed, quantize<NF4>(hf, rows, cols).data().packed) == "equal");
    CHECK(th::describe_mismatch(qb.data().packed, quantize<NF4>(bf, rows, cols).data().packed) == "equal");
}

TEST_CASE("strided weight views quantize like contiguous ones", "[schemes]") {
    const std::size_t rows = 6, cols = 50, stride = 64;
    const auto big = th::gaussian(rows * stride, 21);
    std::vector<float> packed(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) std::copy_n(big.data() + r * stride, cols, packed.data() + r * cols);
    const auto a = QuantizedTensor<BlockwiseInt4>::quantize(const_matrix_view<float>(big.data(), rows, cols, stride));
    CHECK(th::describe_mismatch(a.dequantize(), quantize<BlockwiseInt4>(packed, rows, cols).dequantize()) == "equal");
}

TEST_CASE("bad input: a quant::error that says what and where", "[schemes][errors]") {
    auto w = th::gaussian(4 * 64, 3);
    const const_matrix_view<float> v(w.data(), 4, 64);
    using Catch::Matchers::Contains;
    SECTION("NaN and Inf weights name their position") {
        w[2 * 64 + 5] = std::numeric_limits<float>::quiet_NaN();
        CHECK_THROWS_WITH(QuantizedTensor<NF4>::quantize(v), Contains("[2, 5]") && Contains("nan"));
        w[2 * 64 + 5] = 1.0f;
        w[3 * 64 + 63] = -std::numeric_limits<float>::infinity();
        CHECK_THROWS_WITH(QuantizedTensor<AbsmaxInt8>::quantize(v), Contains("[3, 63]") && Contains("inf"));
        CHECK_THROWS_AS(QuantizedTensor<BlockwiseInt4>::quantize(v), quant::error);
    }
    SECTION("empty and malformed views") {
        CHECK_THROWS_WITH(QuantizedTensor<NF4>::quantize(const_matrix_view<float>(w.data(), 0, 64)), Contains("empty"));
        CHECK_THROWS_WITH(QuantizedTensor<NF4>::quantize(const_matrix_view<float>(nullptr, 2, 2)), Contains("null"));
        CHECK_THROWS_WITH(QuantizedTensor<NF4>::quantize(const_matrix_view<float>(w.data(), 2, 64, 32)),
                          Contains("stride"));
    }
    SECTION("unsupported block sizes") {
        for (std::size_t b : {0, 16, 48, 100, 8192})
            CHECK_THROWS_WITH(QuantizedTensor<NF4>::quantize(v, {.block = b}), Contains("block size"));
        for (std::size_t b : {16, 256})
            CHECK_THROWS_WITH(QuantizedTensor<BlockwiseInt4>::quantize(v, {.block = b}), Contains("block size"));
        CHECK_NOTHROW(QuantizedTensor<NF4>::quantize(v, {.block = 4096}));
    }
    SECTION("int8: weights outside float16's range, bad thresholds") {
        w[7] = 70000.0f;
        CHECK_THROWS_WITH(QuantizedTensor<AbsmaxInt8>::quantize(v), Contains("[0, 7]") && Contains("float16"));
        w[7] = 1.0f;
        CHECK_THROWS_WITH(QuantizedTensor<AbsmaxInt8>::quantize(v, {.threshold = -1.0f}), Contains("threshold"));
    }
    SECTION("huge but finite weights are fine for the 4-bit schemes") {
        w[0] = 3e38f;
        CHECK(QuantizedTensor<NF4>::quantize(v).dequantize()[0] == 3e38f);
    }
}

TEST_CASE("Q8Activations: blocks of 32, d = amax / 127, codes within half a step", "[q8]") {
    for (const std::size_t n : {1, 31, 32, 33, 100, 256}) {
        auto x = th::gaussian(n, 50 + n);
        if (n > 40) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
        if (n > 70) x[70] = 1e-38f;                                   // amax too small for 127 / amax
        if (n > 70) std::fill(x.begin() + 64, x.begin() + 70, 0.0f), std::fill(x.begin() + 71, x.begin() + 96, 0.0f);
        std::vector<std::int8_t> q(n, 99);
        std::vector<float> d(Q8Activations::blocks(n), -1.0f);
        Q8Activations::quantize_row(x.data(), n, q.data(), d.data());
        for (std::size_t b = 0; b < d.size(); ++b) {
            float amax = 0.0f;
            for (std::size_t k = 32 * b; k < std::min(n, 32 * b + 32); ++k) amax = std::max(amax, std::fabs(x[k]));
            INFO("n " << n << " block " << b);
            if (amax < 1e-30f) {
                CHECK(d[b] == 0.0f);
                for (std::size_t k = 32 * b; k < std::min(n, 32 * b + 32); ++k) CHECK(q[k] == 0);
                continue;
            }
            CHECK(d[b] == amax / 127.0f);
            int extreme = 0;
            for (std::size_t k = 32 * b; k < std::min(n, 32 * b + 32); ++k) {
                CHECK(std::abs(double(q[k]) * d[b] - x[k]) <= 0.5001 * d[b]);
                extreme = std::max(extreme, std::abs(int(q[k])));
            }
            CHECK(extreme == 127);  // the largest element takes the whole range
        }
    }
    // a NaN or an infinity: that block's d is NaN, its codes 0; the other blocks as usual
    std::vector<float> x(64, 0.5f);
    x[40] = std::numeric_limits<float>::infinity();
    std::vector<std::int8_t> q(64);
    std::vector<float> d(2);
    Q8Activations::quantize_row(x.data(), 64, q.data(), d.data());
    CHECK(d[0] == 0.5f / 127.0f);
    CHECK(q[0] == 127);
    CHECK(std::isnan(d[1]));
    CHECK(q[40] == 0);
}

TEST_CASE("int8 codebooks: round(127 v) of NF4 and FP4, int4 exact", "[q8]") {
    for (std::size_t c = 0; c < 16; ++c) {
        CHECK(std::abs(NF4::int8_codebook[c] / 127.0 - double(NF4::codebook.values[c])) <= 0.5 / 127);
        CHECK(std::abs(FP4::int8_codebook[c] / 127.0 - double(FP4::codebook.values[c])) <= 0.5 / 127);
        CHECK(BlockwiseInt4::int8_codebook[c] == int(c) - 8);
    }
    CHECK(NF4::int8_codebook[0] == -127);
    CHECK(NF4::int8_codebook[7] == 0);
    CHECK(NF4::int8_codebook[15] == 127);
    CHECK(FP4::int8_codebook[5] == 64);  // 63.5 rounds away from zero
}
