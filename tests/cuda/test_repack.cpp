// Host side of the CUDA backend, on the CPU: the repacked device layouts decoded with the
// kernels' own decode_chunk must equal the scheme's reference dequantization bit for bit, and
// the row padding must decode to exactly 0 (the kernels multiply it with zeroed activations).
#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <quant/cuda/repack.hpp>
#include <quant/quant.hpp>
#include <random>
#include <vector>

namespace {

std::vector<float> gaussian(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

template <quant::Scheme S>
void check_repack(std::size_t rows, std::size_t cols, const typename S::params& p, std::uint64_t seed) {
    auto w = gaussian(rows * cols, seed);
    if (rows * cols > 40) std::fill(w.begin() + 3, w.begin() + 40, 0.0f);  // a zero block for some shapes
    const auto t = quant::QuantizedTensor<S>::quantize(quant::const_matrix_view<float>(w.data(), rows, cols), p);
    const auto h = quant::cuda::repack(t);
    REQUIRE(h.meta.ld % 16 == 0);
    std::vector<float> ref(cols);
    for (std::size_t r = 0; r < rows; ++r) {
        t.dequantize_row(r, ref);
        const auto got = quant::cuda::decode_row_host(h, r);
        REQUIRE(got.size() >= cols);
        for (std::size_t c = 0; c < got.size(); ++c) {
            INFO(S::name << " " << rows << "x" << cols << " row " << r << " col " << c);
            if (c < cols)
                REQUIRE(std::bit_cast<std::uint32_t>(got[c]) == std::bit_cast<std::uint32_t>(ref[c]));
            else
                REQUIRE(got[c] == 0.0f);  // +0 or -0 (int4's scale is negative for a positive maximum)
        }
    }
}

const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{1, 1},   {3, 17},  {17, 33}, {5, 64},  {4, 100},
                                                                 {2, 257}, {7, 130}, {3, 96},  {2, 1031}};

}  // namespace

TEMPLATE_TEST_CASE("cuda repack: bnb 4-bit layouts decode like the reference", "[cuda][repack]", quant::NF4,
                   quant::FP4) {
    std::uint64_t seed = 1;
    for (auto [rows, cols] : shapes)
        for (std::size_t block : {32, 64, 128, 4096})
            for (bool dq : {false, true})
                check_repack<TestType>(rows, cols, {.block = block, .double_quant = dq}, seed++);
}

TEST_CASE("cuda repack: int4 layout decodes like the reference", "[cuda][repack]") {
    std::uint64_t seed = 100;
    for (auto [rows, cols] : shapes)
        for (std::size_t block : {32, 64, 128})
            check_repack<quant::BlockwiseInt4>(rows, cols, {.block = block}, seed++);
}

TEST_CASE("cuda repack: int8 layout decodes like the reference", "[cuda][repack]") {
    std::uint64_t seed = 200;
    for (auto [rows, cols] : shapes) check_repack<quant::AbsmaxInt8>(rows, cols, {}, seed++);
}

TEST_CASE("cuda repack: a chunk that straddles two bnb blocks takes each block's scale", "[cuda][repack]") {
    // 3 x 17 with block 32: row 1 starts at flat index 17, so its first chunk crosses flat 32.
    const auto w = gaussian(3 * 17, 7);
    const auto t =
        quant::QuantizedTensor<quant::NF4>::quantize(quant::const_matrix_view<float>(w.data(), 3, 17), {.block = 32});
    const auto h = quant::cuda::repack(t);
    const auto v = h.view();
    const auto s = v.scales_of_chunk(1, 0, v.tables);
    CHECK(s.split == 15);
    CHECK(s.s0 == t.data().absmax[0]);
    CHECK(s.s1 == t.data().absmax[1]);
}
