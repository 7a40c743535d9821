// QuantizedLinear on the reference backend against an independent dense computation (Eigen,
// double precision, on the dequantized weight), compute dtypes, views, errors.
#include <catch2/catch.hpp>

#include "support/helpers.hpp"

using namespace quant;

namespace {

row_matrix random_matrix(Eigen::Index r, Eigen::Index c, std::uint64_t seed, float sigma = 1.0f) {
    const auto v = th::gaussian(std::size_t(r * c), seed, sigma);
    row_matrix m(r, c);
    std::copy(v.begin(), v.end(), m.data());
    return m;
}

// y = round_t(x_t . W_t^T + b_t) with every operand rounded to the compute dtype t, in double
row_matrix dense_reference(const row_matrix& x, const row_matrix& w, const std::vector<float>& b, dtype t) {
    auto r = [t](float v) { return double(round_to(t, v)); };
    Eigen::MatrixXd xd = x.cast<double>().unaryExpr([&](double v) { return r(float(v)); });
    Eigen::MatrixXd wd = w.cast<double>().unaryExpr([&](double v) { return r(float(v)); });
    Eigen::MatrixXd y = xd * wd.transpose();
    row_matrix out(y.rows(), y.cols());
    for (Eigen::Index i = 0; i < y.rows(); ++i)
        for (Eigen::Index o = 0; o < y.cols(); ++o)
            out(i, o) = round_to(t, float(y(i, o) + (b.empty() ? 0.0 : r(b[std::size_t(o)]))));
    return out;
}

template <Scheme S>
void check_against_dense(const typename S::params& p, dtype t, bool with_bias) {
    std::uint64_t seed = 100;
    for (std::size_t out : {1, 3, 17})
        for (std::size_t in : {1, 33, 129})
            for (std::size_t m : {1, 2, 3, 8, 33}) {
                const row_matrix w = random_matrix(Eigen::Index(out), Eigen::Index(in), seed++, 0.1f);
                const row_matrix x = random_matrix(Eigen::Index(m), Eigen::Index(in), seed++);
                std::vector<float> b;
                if (with_bias) b = th::gaussian(out, seed++);
                const auto layer = QuantizedLinear<S>::from_dense(view(w), b, p, {.compute = t});
                const row_matrix y = layer.forward(x);
                const row_matrix want = dense_reference(x, layer.dequantize(), b, t);
                // f32: summation order only; bf16/f16: one rounding step of the output
                const double tol = t == dtype::f32 ? 1e-5 : (t == dtype::bf16 ? 1.0 / 128 : 1.0 / 1024);
                INFO(S::name << " out " << out << " in " << in << " m " << m << " compute " << dtype_name(t));
                for (Eigen::Index i = 0; i < y.size(); ++i)
                    REQUIRE(y.data()[i] == Approx(want.data()[i]).epsilon(tol).margin(tol));
            }
}

}  // namespace

TEST_CASE("weight-only layers equal x . deq(W)^T + b, every compute dtype", "[linear]") {
    for (dtype t : {dtype::f32, dtype::bf16, dtype::f16}) {
        check_against_dense<NF4>({.block = 64}, t, true);
        check_against_dense<NF4>({.block = 32, .double_quant = true}, t, false);
        check_against_dense<BlockwiseInt4>({.block = 32}, t, true);
        check_against_dense<AbsmaxInt8>({.activations = int8_activations::none}, t, true);
    }
    check_against_dense<FP4>({.block = 64}, dtype::f32, true);
}

TEST_CASE("int8 with int8 activations: the LLM.int8() arithmetic, outliers in floating point", "[linear]") {
    const std::size_t out = 19, in = 70, m = 6;
    const row_matrix w = random_matrix(out, in, 1, 0.05f);
    row_matrix x = random_matrix(m, in, 2);
    x.col(9) *= 30.0f;  // an outlier feature
    x = x.unaryExpr([](float v) { return round_to(dtype::f16, v); });
    const auto b = th::gaussian(out, 3);
    const auto plain = QuantizedLinear<AbsmaxInt8>::from_dense(view(w), b, {.activations = int8_activations::rowwise});
    const auto outl = QuantizedLinear<AbsmaxInt8>::from_dense(view(w), b, {.activations = int8_activations::rowwise, .threshold = 6.0f});
    const auto wonly = QuantizedLinear<AbsmaxInt8>::from_dense(view(w), b, {.activations = int8_activations::none});
    const row_matrix y_plain = plain.forward(x), y_outl = outl.forward(x), y_w = wonly.forward(x);

    // independent computation of the LLM.int8() formula (no threshold)
    const auto& st = plain.weight().data();
    for (std::size_t i = 0; i < m; ++i) {
        float am = 0;
        for (std::size_t k = 0; k < in; ++k) am = std::max(am, std::fabs(x(Eigen::Index(i), Eigen::Index(k))));
        for (std::size_t o = 0; o < out; ++o) {
            double acc = 0;
            for (std::size_t k = 0; k < in; ++k) {
                const double ca = std::nearbyint(double(x(Eigen::Index(i), Eigen::Index(k))) * (127.0 / am));
                acc += ca * st.CB[o * in + k];
            }
            const double want = acc * am * st.SCB[o] / (127.0 * 127.0) + b[o];
            INFO("i " << i << " o " << o);
            CHECK(y_plain(Eigen::Index(i), Eigen::Index(o)) == Approx(want).epsilon(1e-4).margin(1e-4));
        }
    }
    // the outlier column makes int8 activations coarse; the threshold restores accuracy
    const double e_plain = (y_plain - y_w).norm() / y_w.norm();
    const double e_outl = (y_outl - y_w).norm() / y_w.norm();
    INFO("rel. error vs weight-only: no threshold " << e_plain << ", threshold 6 " << e_outl);
    CHECK(e_outl < e_plain / 4);
    CHECK(e_outl < 0.02);
}

TEST_CASE("Linear: views with strides, m = 0, Eigen and view APIs agree, backends swap", "[linear]") {
    const row_matrix w = random_matrix(12, 40, 7, 0.1f);
    const row_matrix x = random_matrix(5, 40, 8);
    const auto b = th::gaussian(12, 9);
    const auto layer = QuantizedLinear<NF4>::from_dense(view(w), b);
    const row_matrix y = layer.forward(x);

    std::vector<float> xs(5 * 48, 123.0f), ys(5 * 16, -7.0f);
    for (int i = 0; i < 5; ++i)
        for (int k = 0; k < 40; ++k) xs[std::size_t(i * 48 + k)] = x(i, k);
    layer.forward(const_matrix_view<float>(xs.data(), 5, 40, 48), matrix_view<float>(ys.data(), 5, 12, 16));
    for (int i = 0; i < 5; ++i) {
        for (int o = 0; o < 12; ++o) CHECK(ys[std::size_t(i * 16 + o)] == y(i, o));
        for (int o = 12; o < 16; ++o) CHECK(ys[std::size_t(i * 16 + o)] == -7.0f);  // padding untouched
    }
    layer.forward(const_matrix_view<float>(xs.data(), 0, 40), matrix_view<float>(ys.data(), 0, 12));

    const auto copy = layer.with_backend<reference_backend>();
    CHECK(copy.forward(x) == y);
    CHECK(layer.size_bytes() == layer.weight().size_bytes() + 12 * sizeof(float));
    CHECK(layer.in_features() == 40);
    CHECK(layer.out_features() == 12);

    // a column-major Eigen weight is accepted (copied row-major)
    const Eigen::MatrixXf wc = w;
    CHECK(QuantizedLinear<NF4>::from_dense(wc, b).forward(x) == y);
}

TEST_CASE("Linear: bad shapes, aliasing and bias are errors", "[linear][errors]") {
    using Catch::Matchers::Contains;
    const row_matrix w = random_matrix(8, 16, 1);
    const auto layer = QuantizedLinear<BlockwiseInt4>::from_dense(view(w), {}, {.block = 32});
    row_matrix x = random_matrix(3, 16, 2), y(3, 8);
    row_matrix x_wrong = random_matrix(3, 15, 2), y_wrong(3, 7);
    CHECK_THROWS_WITH(layer.forward(view(x_wrong), view(y)), Contains("15 features"));
    CHECK_THROWS_WITH(layer.forward(view(x), view(y_wrong)), Contains("3x7"));
    row_matrix both(3, 24);
    CHECK_THROWS_WITH(layer.forward(const_matrix_view<float>(both.data(), 3, 16, 24),
                                    matrix_view<float>(both.data() + 8, 3, 8, 24)),
                      Contains("overlaps"));
    const std::vector<float> bias_wrong(7, 0.0f);
    CHECK_THROWS_WITH(QuantizedLinear<NF4>::from_dense(view(w), bias_wrong), Contains("bias has 7"));
    std::vector<float> bias_nan(8, 0.0f);
    bias_nan[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK_THROWS_WITH(QuantizedLinear<NF4>::from_dense(view(w), bias_nan), Contains("bias [3]"));
    // int8 activations in blocks of 32 are for the 4-bit schemes; the layer keeps its options
    auto int8_layer = QuantizedLinear<AbsmaxInt8>::from_dense(view(w));
    CHECK_THROWS_WITH(int8_layer.set_activations(activation_quant::int8), Contains("4-bit schemes"));
    CHECK(int8_layer.options().activations == activation_quant::none);
    CHECK_THROWS_WITH(QuantizedLinear<Float16>::from_dense(view(w), {}, {}, {.activations = activation_quant::int8}),
                      Contains("4-bit schemes"));
    CHECK_THROWS_WITH(layer.forward(const_matrix_view<float>(x.data(), 3, 16, 16, device_kind::cuda), view(y)),
                      Contains("host memory"));
}
