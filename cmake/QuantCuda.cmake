# quant::cuda and the CUDA tests/benchmark. Included from the top-level CMakeLists.txt.
if(QUANT_CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(quant_cuda INTERFACE)
add_library(quant::cuda ALIAS quant_cuda)
set_target_properties(quant_cuda PROPERTIES EXPORT_NAME cuda)
target_link_libraries(quant_cuda INTERFACE quant::quant CUDA::cudart)
# Eigen marks its functions __host__ __device__ under nvcc, which warns about its defaulted
# members; quant never uses Eigen in device code.
target_compile_definitions(quant_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:EIGEN_NO_CUDA>)
# The headers are C++20. By flag, not cuda_std_20: CMake 3.25 does not know nvcc 13's dialect flags.
target_compile_options(quant_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)

if(QUANT_INSTALL)
  install(TARGETS quant_cuda EXPORT quantCudaTargets)
  install(EXPORT quantCudaTargets NAMESPACE quant:: DESTINATION ${QUANT_CMAKE_DIR})
endif()

if(QUANT_CUDA_KERNELS)
  # sm_80 (A100) and sm_90 (H100): each .cu is compiled once for both.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
  endif()
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS "${CUDAToolkit_BIN_DIR}/nvcc")
    set(CMAKE_CUDA_COMPILER "${CUDAToolkit_BIN_DIR}/nvcc")
  endif()
  enable_language(CUDA)
  # (-std=c++20 comes from quant::cuda)
  set(QUANT_NVCC_FLAGS -Werror all-warnings -Xcompiler=-Wall,-Wextra,-Werror -lineinfo)
  add_subdirectory(benchmarks/cuda)
endif()
endif()  # QUANT_CUDA

if(QUANT_TEST)
  add_subdirectory(tests/cuda)
endif()
