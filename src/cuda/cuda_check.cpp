#include "cuda/cuda_check.h"

#include "core/error.h"

namespace edgeopt::cuda {
namespace {

// "cudnnConvolutionForward(handle_, ...)" -> "cudnnConvolutionForward": the message stays one line.
std::string call_name(const char* call) {
  std::string s(call);
  const size_t p = s.find('(');
  return p == std::string::npos ? s : s.substr(0, p);
}

}  // namespace

void check_cuda(cudaError_t status, const char* call, const std::string& what) {
  if (status == cudaSuccess) return;
  throw_error(ErrorCode::kInternal, what + ": " + call_name(call) + " failed: " + cudaGetErrorName(status) + " (" +
                                        cudaGetErrorString(status) + ")");
}

void check_cudnn(cudnnStatus_t status, const char* call, const std::string& what) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  throw_error(ErrorCode::kInternal, what + ": " + call_name(call) + " failed: " + cudnnGetErrorString(status));
}

void check_cublas(cublasStatus_t status, const char* call, const std::string& what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw_error(ErrorCode::kInternal, what + ": " + call_name(call) + " failed: cuBLAS status " +
                                        std::to_string(static_cast<int>(status)) + " (" + cublasLtGetStatusName(status) +
                                        ": " + cublasLtGetStatusString(status) + ")");
}

}  // namespace edgeopt::cuda
