// <quant/cuda.hpp> compiled by the plain C++ compiler (no nvcc), linked with the CUDA runtime:
// argument checks of forward(), and CUDA failures surfacing as quant::error with file:line.
// Runs with or without a GPU.
#include <catch2/catch.hpp>
#include <quant/cuda.hpp>
#include <string>
#include <vector>

namespace {

bool have_gpu() {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

}  // namespace

TEST_CASE("cuda host: QUANT_CUDA_CHECK throws quant::error with the call, file:line and CUDA's message", "[cuda]") {
    try {
        QUANT_CUDA_CHECK(cudaSetDevice(-1));
        FAIL("cudaSetDevice(-1) succeeded");
    } catch (const quant::error& e) {
        const std::string what = e.what();
        INFO(what);
        CHECK(what.find("test_host.cpp:") != std::string::npos);
        CHECK(what.find("cudaSetDevice(-1)") != std::string::npos);
        CHECK(what.find("cudaError") != std::string::npos);
    }
}

TEST_CASE("cuda host: forward arguments are validated before any launch", "[cuda]") {
    using quant::cuda::detail::check_forward;
    std::vector<float> xs(2 * 8), ys(2 * 4);
    const auto cuda = quant::device_kind::cuda;
    const quant::const_matrix_view<float> x(xs.data(), 2, 8, 8, cuda);
    const quant::matrix_view<float> y(ys.data(), 2, 4, 4, cuda);
    CHECK_NOTHROW(check_forward<float>("nf4", 8, 4, quant::dtype::bf16, x, y));
    CHECK_THROWS_WITH(
        check_forward<float>("nf4", 8, 4, quant::dtype::f32, quant::const_matrix_view<float>(xs.data(), 2, 8), y),
        Catch::Contains("device memory"));
    CHECK_THROWS_WITH(check_forward<float>("nf4", 9, 4, quant::dtype::f32, x, y), Catch::Contains("8 features"));
    CHECK_THROWS_WITH(check_forward<float>("nf4", 8, 5, quant::dtype::f32, x, y), Catch::Contains("expected 2x5"));
    CHECK_THROWS_WITH(check_forward<float>("nf4", 8, 4, quant::dtype::f32, x,
                                           quant::matrix_view<float>(xs.data() + 4, 2, 4, 4, cuda)),
                      Catch::Contains("overlaps"));
    std::vector<quant::half> xh(16), yh(8);
    CHECK_THROWS_WITH(check_forward<quant::half>("nf4", 8, 4, quant::dtype::bf16,
                                                 quant::const_matrix_view<quant::half>(xh.data(), 2, 8, 8, cuda),
                                                 quant::matrix_view<quant::half>(yh.data(), 2, 4, 4, cuda)),
                      Catch::Contains("f16 activations compute in f16"));
}

TEST_CASE("cuda host: uploading a layer works on a GPU and is a quant::error without one", "[cuda]") {
    quant::row_matrix w = quant::row_matrix::Random(5, 70);
    const auto layer = quant::QuantizedLinear<quant::NF4>::from_dense(w);
    if (have_gpu()) {
        const auto dev = quant::cuda::to_device(layer);
        CHECK(dev.in_features() == 70);
        CHECK(dev.out_features() == 5);
        CHECK(dev.weight_bytes() > 0);
    } else {
        CHECK_THROWS_AS(quant::cuda::to_device(layer), quant::error);
    }
    const auto i8 = quant::QuantizedLinear<quant::AbsmaxInt8>::from_dense(w, {}, {.threshold = 6.0f});
    CHECK_THROWS_WITH(quant::cuda::to_device(i8), Catch::Contains("outlier threshold"));
    const auto a8 = quant::QuantizedLinear<quant::NF4>::from_dense(w, {}, {}, {.activations = quant::activation_quant::int8});
    CHECK_THROWS_WITH(quant::cuda::to_device(a8), Catch::Contains("no CUDA kernel"));
}
