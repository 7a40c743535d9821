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
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  add_subdirectory(benchmarks/cuda)
endif()
endif()  # QUANT_CUDA

if(QUANT_TEST)
  add_subdirectory(tests/cuda)
endif()
