// numeric/: half and bfloat16 conversions, codebook search, the dynamic map, torch's sum order.
#include <catch2/catch.hpp>

#include <bit>
#include <limits>

#include "support/helpers.hpp"

using namespace quant;

namespace {

std::vector<float> interesting_floats() {
    std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, -65520.0f, 1e30f, -1e30f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::ldexp(1.0f, -14), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25),
                            std::ldexp(1.5f, -25), std::ldexp(1.0f, -26), 3.0f * std::ldexp(1.0f, -25),
                            std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                            std::numeric_limits<float>::max()};
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::uint32_t> bits;
    for (int i = 0; i < 200000; ++i) {
        const float f = std::bit_cast<float>(bits(rng));
        if (!std::isnan(f)) v.push_back(f);
    }
    // halfway cases between neighbouring halves
    for (std::uint32_t h = 0; h < 0x7c00u; h += 37) {
        const float a = half::from_bits(static_cast<std::uint16_t>(h));
        const float b = half::from_bits(static_cast<std::uint16_t>(h + 1));
        v.push_back(a + (b - a) / 2);
        v.push_back(-(a + (b - a) / 2));
    }
    return v;
}

}  // namespace

TEST_CASE("half: float -> half rounds to nearest even like the compiler's _Float16", "[numeric]") {
    for (const float f : interesting_floats()) {
        INFO("f = " << f << " bits " << std::bit_cast<std::uint32_t>(f));
        CHECK(half(f).bits == std::bit_cast<std::uint16_t>(static_cast<_Float16>(f)));
    }
    CHECK(std::isnan(static_cast<float>(half(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("half: every half widens exactly and narrows back to itself", "[numeric]") {
    for (std::uint32_t h = 0; h < 0x10000u; ++h) {
        const half x = half::from_bits(static_cast<std::uint16_t>(h));
        const float f = x;
        if (std::isnan(f)) continue;
        INFO("bits " << h);
        CHECK(static_cast<float>(std::bit_cast<_Float16>(static_cast<std::uint16_t>(h))) == f);
        CHECK(half(f).bits == h);
    }
}

TEST_CASE("bfloat16: float -> bf16 rounds to nearest even like Eigen::bfloat16", "[numeric]") {
    for (const float f : interesting_floats()) {
        INFO("f = " << f);
        CHECK(bfloat16(f).bits == Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(f)));
        CHECK(static_cast<float>(bfloat16(f)) == static_cast<float>(Eigen::bfloat16(f)));
    }
    CHECK(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("round_to: a computation 'in' a dtype", "[numeric]") {
    CHECK(round_to(dtype::f32, 1.0f + 1e-7f) == 1.0f + 1e-7f);
    CHECK(round_to(dtype::bf16, 1.0f + 1.0f / 256) == 1.0f);  // bf16 has 8 significant bits
    CHECK(round_to(dtype::f16, 1.0f + 1.0f / 4096) == 1.0f);  // f16 has 11
    CHECK(round_to(dtype::f16, 1.0f + 1.0f / 1024) == 1.0f + 1.0f / 1024);
}

TEST_CASE("4-bit codebooks: nearest code by brute force, ties to the lower value", "[numeric]") {
    for (const auto* cb : {&numeric::nf4_codebook, &numeric::fp4_codebook}) {
        const auto& v = cb->values;
        // brute force: smallest |x - v|; among equal distances the smallest value (then smallest code)
        auto brute = [&](float x) {
            int best = 0;
            for (int c = 1; c < 16; ++c) {
                const float dc = std::fabs(x - v[c]), db = std::fabs(x - v[best]);
                if (dc < db || (dc == db && v[c] < v[best])) best = c;
            }
            return best;
        };
        auto fast = [&](float x) {
            return cb == &numeric::nf4_codebook ? numeric::nearest_code<numeric::nf4_codebook>(x)
                                                : numeric::nearest_code<numeric::fp4_codebook>(x);
        };
        // bitsandbytes compares with float32 midpoints, which are rounded: a value between the exact
        // and the rounded midpoint may go either way, nothing else may
        const auto s = cb->sorted();
        auto near_a_midpoint = [&](float x) {
            for (float m : s.midpoints)
                if (std::fabs(x - m) <= std::fabs(std::nextafter(m, 2.0f) - m)) return true;
            return false;
        };
        std::mt19937 rng(11);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        int disagreements = 0;
        for (int i = 0; i < 100000; ++i) {
            const float x = u(rng);
            INFO(cb->name << " x = " << x);
            if (v[fast(x)] != v[brute(x)]) {
                ++disagreements;
                CHECK(near_a_midpoint(x));
            }
        }
        CHECK(disagreements < 10);
        // exactly on a midpoint: the lower neighbour
        for (int i = 0; i < 15; ++i) {
            if (v[s.order[i]] == v[s.order[i + 1]]) continue;
            INFO(cb->name << " midpoint " << i);
            CHECK(v[fast(s.midpoints[i])] == v[s.order[i]]);
            CHECK(v[fast(std::nextafter(s.midpoints[i], 2.0f))] == v[s.order[i + 1]]);
        }
        CHECK(v[fast(-1.0f)] == -1.0f);
        CHECK(v[fast(1.0f)] == 1.0f);
    }
}

TEST_CASE("dynamic map: sorted, one zero, in [-1, 1]; the grid lookup is off by at most one grid step", "[numeric]") {
    const auto& m = numeric::dynamic_map_signed;
    CHECK(std::is_sorted(m.begin(), m.end()));
    CHECK(std::count(m.begin(), m.end(), 0.0f) == 1);
    CHECK(m.back() == 1.0f);
    CHECK(m.front() > -1.0f);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    int off = 0;
    for (int i = 0; i < 200000; ++i) {
        const float x = u(rng);
        const auto c = numeric::detail::dynamic8_code(x);
        const auto nearest = std::min_element(m.begin(), m.end(), [&](float a, float b) {
                                 return std::fabs(a - x) < std::fabs(b - x);
                             }) - m.begin();
        INFO("x = " << x);
        // the value is first snapped to a grid of step 2/65535: the entry chosen is the nearest to
        // the grid point, so at most one grid step farther from x than the nearest entry
        REQUIRE(std::fabs(m[c] - x) <= std::fabs(m[nearest] - x) + 2.0f / 65535.0f);
        off += c != nearest;
    }
    CHECK(off > 0);               // it is an approximation (what bitsandbytes' CPU stores)
    CHECK(off < 200000 / 50);     // of a small fraction of the values
}

TEST_CASE("torch_sum reproduces torch.sum's float32 order", "[numeric]") {
    const auto& f = fixture::bnb();
    const auto lengths = f["torch_sum.lengths"].as<std::int64_t>();
    const auto sums = f["torch_sum.sums"].as<float>();
    REQUIRE(lengths.size() == sums.size());
    int differs_from_naive = 0;
    for (std::size_t i = 0; i < lengths.size(); ++i) {
        const auto x = f["torch_sum_" + std::to_string(lengths[i]) + ".input"].as<float>();
        INFO("length " << lengths[i]);
        CHECK(std::bit_cast<std::uint32_t>(numeric::fp::torch_sum(x)) == std::bit_cast<std::uint32_t>(sums[i]));
        float naive = 0.0f;
        for (float v : x) naive += v;
        differs_from_naive += naive != sums[i];
    }
    CHECK(differs_from_naive > 0);  // the order matters: a plain loop would not pass this test
}
