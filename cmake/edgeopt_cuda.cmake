# EDGEOPT_CUDA = AUTO (default) | ON | OFF: the CUDA backend (src/cuda, docs/cuda.md).
# AUTO turns it on when CMake finds nvcc (the CUDA language), the CUDA toolkit's cuBLAS/cuBLASLt and
# cuDNN's header and library; ON fails configuration when one is missing; OFF never looks.
# The CPU libraries and the edgeopt CLI never link CUDA: only edgeopt_cuda, cuda_test and
# edgeopt-cuda-bench (which `edgeopt bench --device cuda` execs) do.
set(EDGEOPT_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO, ON or OFF")
set_property(CACHE EDGEOPT_CUDA PROPERTY STRINGS AUTO ON OFF)
set(EDGEOPT_CUDA_ENABLED OFF)
set(_edgeopt_cuda_why "EDGEOPT_CUDA=OFF")
if(EDGEOPT_CUDA STREQUAL "AUTO" AND (EDGEOPT_SANITIZE OR EDGEOPT_FUZZ))
  # The sanitizer/fuzzer flags are g++/clang flags that nvcc rejects, and ASan needs special
  # settings to coexist with the CUDA driver: those builds check the CPU code.
  set(EDGEOPT_CUDA OFF)
  set(_edgeopt_cuda_why "AUTO is off in sanitizer/fuzzer builds")
endif()
if(NOT EDGEOPT_CUDA STREQUAL "OFF" AND NOT EDGEOPT_RUNTIME_ONLY)
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # nvcc must use the same g++ as the C++ code (CUDA 13 accepts GCC 12).
    set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER} CACHE FILEPATH "host compiler of nvcc")
  endif()
  check_language(CUDA)
  find_package(CUDAToolkit QUIET)
  find_path(EDGEOPT_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include)
  find_library(EDGEOPT_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
  if(NOT CMAKE_CUDA_COMPILER)
    set(_edgeopt_cuda_why "nvcc not found")
  elseif(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublasLt)
    set(_edgeopt_cuda_why "CUDA toolkit libraries (cudart, cuBLAS, cuBLASLt) not found")
  elseif(NOT EDGEOPT_CUDNN_INCLUDE_DIR OR NOT EDGEOPT_CUDNN_LIBRARY)
    set(_edgeopt_cuda_why "cuDNN (cudnn.h, libcudnn) not found")
  else()
    set(EDGEOPT_CUDA_ENABLED ON)
  endif()
  if(EDGEOPT_CUDA STREQUAL "ON" AND NOT EDGEOPT_CUDA_ENABLED)
    message(FATAL_ERROR "EDGEOPT_CUDA=ON but ${_edgeopt_cuda_why}")
  endif()
endif()
if(EDGEOPT_CUDA_ENABLED)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    # Turing (T4), Ampere (A100, A10/30xx), Jetson Orin (sm_87), Ada (L4/40xx), Hopper (H100) as
    # SASS, plus PTX of sm_90 so newer GPUs JIT-compile it.
    set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;87-real;89-real;90")
  endif()
  enable_language(CUDA)
  # CMake 3.25 knows no C++20 flag for nvcc; the .cu files need only C++17.
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "edgeopt: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES}, cuDNN ${EDGEOPT_CUDNN_LIBRARY})")
else()
  message(STATUS "edgeopt: CUDA backend OFF (${_edgeopt_cuda_why})")
endif()
