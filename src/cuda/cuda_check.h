// Status checks for CUDA runtime, cuDNN and cuBLAS(Lt) calls: a failure becomes an edgeopt::Error
// (Internal) naming what was attempted (`what`: usually the node), the call and the library's
// message. Only host code includes this (it pulls in the CUDA headers).
#pragma once
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

namespace edgeopt::cuda {

void check_cuda(cudaError_t status, const char* call, const std::string& what);
void check_cudnn(cudnnStatus_t status, const char* call, const std::string& what);
void check_cublas(cublasStatus_t status, const char* call, const std::string& what);

}  // namespace edgeopt::cuda

#define EDGEOPT_CUDA_CALL(expr, what) ::edgeopt::cuda::check_cuda((expr), #expr, (what))
#define EDGEOPT_CUDNN_CALL(expr, what) ::edgeopt::cuda::check_cudnn((expr), #expr, (what))
#define EDGEOPT_CUBLAS_CALL(expr, what) ::edgeopt::cuda::check_cublas((expr), #expr, (what))
// Our own launchers return a cudaError_t value as int.
#define EDGEOPT_LAUNCH(expr, what) ::edgeopt::cuda::check_cuda(static_cast<cudaError_t>(expr), #expr, (what))
