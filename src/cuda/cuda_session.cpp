#include "cuda/cuda_session.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "cuda/cuda_check.h"
#include "cuda/cuda_kernels.h"
#include "cuda/cuda_qconv_kernels.h"
#include "cuda/cuda_qconv_plan.h"
#include "cuda/cuda_rnn_kernels.h"
#include "cuda/cuda_rnn_math.h"
#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/softmax/softmax.h"
#include "kernels/quant/qop_inputs.h"
#include "runtime/memory_plan.h"
#include "runtime/session.h"

namespace edgeopt::cuda {

const char* precision_name(Precision p) {
  return p == Precision::kF16 ? "fp16" : p == Precision::kTF32 ? "tf32" : "fp32";
}

Precision precision_from_name(const std::string& name) {
  if (name == "fp32" || name == "f32") return Precision::kF32;
  if (name == "tf32") return Precision::kTF32;
  if (name == "fp16" || name == "f16") return Precision::kF16;
  throw_error(ErrorCode::kInvalidArgument, "precision '" + name + "' is not one of fp32, tf32, fp16 (int8: give a quantized "
                                                                  "(QDQ) model; its integer ops run in int8)");
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver / no device: not an error for the caller, just none
    return 0;
  }
  return n;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    cudaGetLastError();
    return "unknown";
  }
  return p.name;
}

namespace {

constexpr size_t kAlign = 256;  // cudaMalloc's own alignment; cuBLASLt/cuDNN vector loads want >= 16
size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16; }

// A device allocation freed by its destructor (errors on free are ignored: nothing to report to).
struct DeviceBuffer {
  void* p = nullptr;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p) cudaFree(p);
  }
  void alloc(size_t bytes, const std::string& what) {
    if (bytes) EDGEOPT_CUDA_CALL(cudaMalloc(&p, bytes), what);
  }
};
struct HostBuffer {
  void* p = nullptr;
  HostBuffer() = default;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() {
    if (p) cudaFreeHost(p);
  }
  void alloc(size_t bytes, const std::string& what) {
    if (bytes) EDGEOPT_CUDA_CALL(cudaMallocHost(&p, bytes), what);
  }
};

// One value of the graph as the device sees it.
struct DevValue {
  std::string name;
  DType host_dtype = DType::kF32;  // what run() takes/returns
  DType dev_dtype = DType::kF32;   // f16 for float values under Precision::kF16
  Shape shape;
  int64_t root = -1;      // the value whose memory this one uses (itself unless a view)
  int64_t buffer = -1;    // memory-plan buffer (roots in the arena)
  int64_t const_index = -1;  // into Impl::consts when constant
  size_t bytes() const { return static_cast<size_t>(shape.numel()) * dtype_size(dev_dtype); }
};

struct Impl_;  // fwd for DevOp

}  // namespace

// Everything a device op needs while enqueueing.
struct ExecCtx {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  std::vector<void*> value_ptr;  // per value id (views resolved to their root)
  std::vector<void*> temp_ptr;   // per temp buffer id
};

namespace {

// A node that launches work. Built (and its descriptors, algorithms, constants prepared) once;
// enqueue() only launches, so it can be captured into a CUDA graph.
struct DevOp {
  std::string what;  // "node 'conv1' (Conv)"
  std::string kernel; // what runs, for stats and inspect
  size_t workspace = 0;
  virtual ~DevOp() = default;
  virtual void enqueue(ExecCtx& ex) = 0;
};

ElemType elem_of(DType t) { return t == DType::kF16 ? ElemType::kF16 : ElemType::kF32; }
cudnnDataType_t cudnn_type(DType t) { return t == DType::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }
cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kI8: return CUDA_R_8I;
    case DType::kI32: return CUDA_R_32I;
    default: return CUDA_R_32F;
  }
}

// ---------------------------------------------------------------------------------------------
// Conv (cuDNN)

struct ConvOp final : DevOp {
  int64_t x = -1, y = -1, residual = -1;
  const void* w = nullptr;
  const void* bias = nullptr;
  DType dt = DType::kF32;
  int64_t n = 0, m = 0, spatial = 0;
  float lo = -INFINITY, hi = INFINITY;
  bool fused = false;
  cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr, b_desc = nullptr;
  cudnnFilterDescriptor_t w_desc = nullptr;
  cudnnConvolutionDescriptor_t conv_desc = nullptr;
  cudnnActivationDescriptor_t act_desc = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  float algo_ms = -1;  // cuDNN's measured time of the chosen algorithm (ConvAlgoSearch::kMeasure)
  ~ConvOp() override {
    if (x_desc) cudnnDestroyTensorDescriptor(x_desc);
    if (y_desc) cudnnDestroyTensorDescriptor(y_desc);
    if (b_desc) cudnnDestroyTensorDescriptor(b_desc);
    if (w_desc) cudnnDestroyFilterDescriptor(w_desc);
    if (conv_desc) cudnnDestroyConvolutionDescriptor(conv_desc);
    if (act_desc) cudnnDestroyActivationDescriptor(act_desc);
  }
  void enqueue(ExecCtx& ex) override {
    const float one = 1.f, zero = 0.f;
    void* yp = ex.value_ptr[y];
    const void* xp = ex.value_ptr[x];
    if (fused) {
      // y = relu(conv(x) + alpha2 * z + bias); z = the fused residual, or y itself with alpha2 = 0.
      const float alpha2 = residual >= 0 ? 1.f : 0.f;
      const void* zp = residual >= 0 ? ex.value_ptr[residual] : yp;
      const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(ex.cudnn, &one, x_desc, xp, w_desc, w, conv_desc,
                                                                     algo, ex.workspace, workspace, &alpha2, y_desc, zp,
                                                                     b_desc, bias, act_desc, y_desc, yp);
      // Some cuDNN versions refuse the fused call for some algorithms; the first (eager warm-up) run
      // then switches this node to convolution + own epilogue for good, before any capture.
      if (st != CUDNN_STATUS_NOT_SUPPORTED) {
        EDGEOPT_CUDNN_CALL(st, what);
        return;
      }
      fused = false;
      kernel += " (fused call refused: bias_act epilogue)";
    }
    EDGEOPT_CUDNN_CALL(cudnnConvolutionForward(ex.cudnn, &one, x_desc, xp, w_desc, w, conv_desc, algo, ex.workspace,
                                               workspace, &zero, y_desc, yp),
                       what);
    if (bias || residual >= 0 || lo != -INFINITY || hi != INFINITY)
      EDGEOPT_LAUNCH(launch_bias_act_nchw(elem_of(dt), yp, bias, residual >= 0 ? ex.value_ptr[residual] : nullptr, n,
                                          m, spatial, lo, hi, ex.stream),
                     what);
  }
};

// Depthwise 3x3 (own kernel, bias and activation fused; see launch_dwconv3x3_nchw).
struct DwConvOp final : DevOp {
  int64_t x = -1, y = -1, residual = -1;
  const void* w = nullptr;
  const void* bias = nullptr;
  DType dt = DType::kF32;
  DwConv3x3 d;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_dwconv3x3_nchw(elem_of(dt), ex.value_ptr[x], w, bias,
                                         residual >= 0 ? ex.value_ptr[residual] : nullptr, ex.value_ptr[y], d, ex.stream),
                   what);
  }
};

// ---------------------------------------------------------------------------------------------
// Gemm / MatMul (cuBLASLt). Row-major Y[M, N] = A[M, K] B[K, N] is column-major
// Y^T[N, M] = B^T A^T, so cuBLASLt's first operand is B and its second A, with no copies.

struct LtMatmul {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool ok = false;
  ~LtMatmul() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

void set_batch(cublasLtMatrixLayout_t l, int32_t count, int64_t stride, const std::string& what) {
  if (count <= 1) return;
  EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), what);
  EDGEOPT_CUBLAS_CALL(
      cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)), what);
}

// Picks cuBLASLt's first heuristic; false when it has none for this problem (throws on API errors).
bool lt_heuristic(cublasLtHandle_t lt, LtMatmul& mm, size_t max_ws, const std::string& what) {
  cublasLtMatmulPreference_t pref = nullptr;
  EDGEOPT_CUBLAS_CALL(cublasLtMatmulPreferenceCreate(&pref), what);
  cublasLtMatmulHeuristicResult_t res{};
  int returned = 0;
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws,
                                                           sizeof(max_ws));
  if (st == CUBLAS_STATUS_SUCCESS)
    st = cublasLtMatmulAlgoGetHeuristic(lt, mm.desc, mm.a, mm.b, mm.d, mm.d, pref, 1, &res, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && returned == 0)) return false;
  EDGEOPT_CUBLAS_CALL(st, what);
  mm.algo = res.algo;
  mm.workspace = res.workspaceSize;
  mm.ok = true;
  return true;
}

struct GemmOp final : DevOp {
  int64_t a = -1, b = -1, y = -1;  // value ids; b = -1 when the weight is a constant (b_const)
  const void* b_const = nullptr;
  const void* bias = nullptr;      // per-column bias applied by the cuBLASLt epilogue
  const void* c = nullptr;         // general C for the own epilogue (device dtype), or null
  int64_t c_value = -1;            // C as a runtime value, or -1
  int64_t c_sm = 0, c_sn = 0;
  float alpha = 1.f, beta = 1.f, lo = -INFINITY, hi = INFINITY;
  bool own_epilogue = false;
  int64_t m = 0, n = 0;
  DType dt = DType::kF32;
  LtMatmul mm;
  void enqueue(ExecCtx& ex) override {
    const float zero = 0.f;
    const void* bp = b >= 0 ? ex.value_ptr[b] : b_const;
    void* yp = ex.value_ptr[y];
    if (bias)
      EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                          what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatmul(ex.lt, mm.desc, &alpha, bp, mm.a, ex.value_ptr[a], mm.b, &zero, yp, mm.d, yp,
                                       mm.d, &mm.algo, ex.workspace, mm.workspace, ex.stream),
                        what);
    if (own_epilogue)
      EDGEOPT_LAUNCH(launch_gemm_epilogue(elem_of(dt), yp, c_value >= 0 ? ex.value_ptr[c_value] : c, c_sm, c_sn, beta,
                                          m, n, lo, hi, ex.stream),
                     what);
  }
};

// QLinearMatMul: s8 x s8 -> s32 on cuBLASLt (or the own tiled kernel when cuBLASLt's int8 rules
// are not met), then the zero-point correction and quant::requantize in one epilogue kernel.
struct QMatMulOp final : DevOp {
  int64_t a = -1, y = -1;
  bool a_u8 = true;
  int64_t t_as8 = -1, t_rowsum = -1, t_acc = -1;  // temps
  const int8_t* bt = nullptr;                      // B^T on the s8 scale, [N, K]
  int64_t m = 0, n = 0, k = 0;
  RequantEpilogue ep;
  LtMatmul mm;  // mm.ok: cuBLASLt IMMA path
  void enqueue(ExecCtx& ex) override {
    const int8_t* as8 = static_cast<const int8_t*>(ex.value_ptr[a]);
    if (a_u8) {
      EDGEOPT_LAUNCH(launch_u8_to_s8(ex.value_ptr[a], ex.temp_ptr[t_as8], m * k, ex.stream), what);
      as8 = static_cast<const int8_t*>(ex.temp_ptr[t_as8]);
    }
    auto* rowsum = static_cast<int32_t*>(ex.temp_ptr[t_rowsum]);
    auto* acc = static_cast<int32_t*>(ex.temp_ptr[t_acc]);
    EDGEOPT_LAUNCH(launch_row_sums_s8(as8, rowsum, m, k, ex.stream), what);
    if (mm.ok) {
      const int32_t one = 1, zero = 0;
      EDGEOPT_CUBLAS_CALL(cublasLtMatmul(ex.lt, mm.desc, &one, bt, mm.a, as8, mm.b, &zero, acc, mm.d, acc, mm.d,
                                         &mm.algo, ex.workspace, mm.workspace, ex.stream),
                          what);
    } else {
      EDGEOPT_LAUNCH(launch_gemm_s8_s32(as8, bt, acc, m, n, k, ex.stream), what);
    }
    RequantEpilogue e = ep;
    e.row_sum_a = rowsum;
    EDGEOPT_LAUNCH(launch_requantize_gemm(acc, ex.value_ptr[y], e, ex.stream), what);
  }
};

// ---------------------------------------------------------------------------------------------
// QLinearConv (int8): group 1 through im2col (s8) + the s8 GEMM (cuBLASLt IMMA or the own kernel) +
// the exact zero-point/requantize epilogue; grouped and depthwise convs through one direct kernel.
// Both pool 2x2/2 in the epilogue when fuse_qconv_maxpool set `maxpool` = 2.

struct QConvOp final : DevOp {
  int64_t x = -1, y = -1;
  bool x_u8 = true;
  QConvGeom g;  // device pointers (multiplier, shift, bias) set in allocate()
  bool direct = false;
  QConvDirect d;  // direct path: d.w, d.w_zp device constants; d.x set per run
  // GEMM path.
  int64_t t_a = -1, t_rowsum = -1, t_acc = -1;  // temps
  const int8_t* bt = nullptr;                    // [M, k_pad] on the s8 scale
  int64_t rows = 0, k_pad = 0;
  QConvGemmTerms terms;                          // col_sum, zb: device constants
  LtMatmul mm;                                   // mm.ok: cuBLASLt IMMA path
  void enqueue(ExecCtx& ex) override {
    const void* xp = ex.value_ptr[x];
    void* yp = ex.value_ptr[y];
    if (direct) {
      QConvDirect dd = d;
      dd.x = xp;
      EDGEOPT_LAUNCH(launch_qconv_direct(dd, yp, g, ex.stream), what);
      return;
    }
    auto* a = static_cast<int8_t*>(ex.temp_ptr[t_a]);
    auto* rowsum = static_cast<int32_t*>(ex.temp_ptr[t_rowsum]);
    auto* acc = static_cast<int32_t*>(ex.temp_ptr[t_acc]);
    EDGEOPT_LAUNCH(launch_im2col_s8(xp, x_u8, a, g, terms.za, k_pad, ex.stream), what);
    EDGEOPT_LAUNCH(launch_row_sums_s8(a, rowsum, rows, k_pad, ex.stream), what);
    if (mm.ok) {
      const int32_t one = 1, zero = 0;
      EDGEOPT_CUBLAS_CALL(cublasLtMatmul(ex.lt, mm.desc, &one, bt, mm.a, a, mm.b, &zero, acc, mm.d, acc, mm.d, &mm.algo,
                                         ex.workspace, mm.workspace, ex.stream),
                          what);
    } else {
      EDGEOPT_LAUNCH(launch_gemm_s8_s32(a, bt, acc, rows, g.m, k_pad, ex.stream), what);
    }
    QConvGemmTerms t = terms;
    t.s = acc;
    t.row_sum = rowsum;
    EDGEOPT_LAUNCH(launch_qconv_epilogue(t, yp, g, ex.stream), what);
  }
};

// QLinearAdd (int8): the CPU kernel's f32 dequantize-add-quantize, element by element.
struct QAddOp final : DevOp {
  int64_t a = -1, b = -1, y = -1;  // -1: constant (a_const/b_const)
  const void* a_const = nullptr;
  const void* b_const = nullptr;
  BroadcastShape shape;
  QAddParams p;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_qlinear_add(a >= 0 ? ex.value_ptr[a] : a_const, b >= 0 ? ex.value_ptr[b] : b_const,
                                      ex.value_ptr[y], shape, p, ex.stream),
                   what);
  }
};

struct UnaryOpNode final : DevOp {
  UnaryOp op = UnaryOp::kRelu;
  int64_t x = -1, y = -1, n = 0;
  float p0 = 0, p1 = 0;
  DType dt = DType::kF32;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_unary(op, elem_of(dt), ex.value_ptr[x], ex.value_ptr[y], n, p0, p1, ex.stream), what);
  }
};

struct BinaryOpNode final : DevOp {
  BinaryOp op = BinaryOp::kAdd;
  int64_t a = -1, b = -1, y = -1;  // -1: constant (a_const/b_const)
  const void* a_const = nullptr;
  const void* b_const = nullptr;
  BroadcastShape shape;
  DType dt = DType::kF32;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_binary(op, elem_of(dt), a >= 0 ? ex.value_ptr[a] : a_const, b >= 0 ? ex.value_ptr[b] : b_const,
                                 ex.value_ptr[y], shape, ex.stream),
                   what);
  }
};

struct SoftmaxOp final : DevOp {
  int64_t x = -1, y = -1, outer = 1, n = 1, inner = 1;
  bool log = false;
  DType dt = DType::kF32;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_softmax(elem_of(dt), ex.value_ptr[x], ex.value_ptr[y], outer, n, inner, log, ex.stream), what);
  }
};

struct PoolOp final : DevOp {
  int64_t x = -1, y = -1;
  Pool2d p;
  bool global = false;
  int64_t planes = 0, spatial = 0;
  DType dt = DType::kF32;
  void enqueue(ExecCtx& ex) override {
    if (global)
      EDGEOPT_LAUNCH(launch_global_pool(elem_of(dt), ex.value_ptr[x], ex.value_ptr[y], planes, spatial, p.max, ex.stream),
                     what);
    else
      EDGEOPT_LAUNCH(launch_pool2d(elem_of(dt), ex.value_ptr[x], ex.value_ptr[y], p, ex.stream), what);
  }
};

struct QuantizeOp final : DevOp {
  int64_t x = -1, y = -1, n = 0;
  bool quantize = true, u8 = true;
  float scale = 1.f;
  int32_t zp = 0;
  DType dt = DType::kF32;  // the float side
  void enqueue(ExecCtx& ex) override {
    if (quantize)
      EDGEOPT_LAUNCH(launch_quantize_linear(elem_of(dt), ex.value_ptr[x], ex.value_ptr[y], u8, n, scale, zp, ex.stream),
                     what);
    else
      EDGEOPT_LAUNCH(launch_dequantize_linear(elem_of(dt), ex.value_ptr[x], u8, ex.value_ptr[y], n, scale, zp, ex.stream),
                     what);
  }
};

// ---------------------------------------------------------------------------------------------
// LSTM / GRU: X W^T for all timesteps as one cuBLASLt GEMM, then per step and direction one GEMM
// h R^T (GRU with linear_before_reset = 0: h R_zr^T, then (r*h) R_h^T after the z/r kernel) and
// one gate kernel (cuda_rnn_kernels.h) that keeps h and c in f32. Plus the data movement RNN
// models put around them: Transpose ([N, T, F] -> [T, N, F] before the first layer) and Gather
// with constant indices (PyTorch's last-step pick).

// D[m, n] (row-major, f32) = A[m, k] Bt[n, k]^T with A and Bt row-major in `in`: column-major
// D^T = Bt^T(op T) A^T, as the Gemm section's transB case. f16 operands accumulate and land in f32.
void lt_rows_times_bt(cublasLtHandle_t lt, LtMatmul& mm, DType in, int64_t m, int64_t n, int64_t k, size_t max_ws,
                      const std::string& what, const char* role) {
  const cudaDataType_t ty = cuda_type(in);
  EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescCreate(&mm.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), what);
  const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
  EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), what);
  EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)), what);
  const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
  EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&mm.a, ty, u(k), u(n), k), what);
  EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&mm.b, ty, u(k), u(m), k), what);
  EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&mm.d, CUDA_R_32F, u(n), u(m), n), what);
  EDGEOPT_CHECK(lt_heuristic(lt, mm, max_ws, what), ErrorCode::kUnimplemented,
                what + ": cuBLASLt has no algorithm for the " + role + " [" + std::to_string(m) + "x" +
                    std::to_string(k) + "] x [" + std::to_string(k) + "x" + std::to_string(n) + "] (" +
                    dtype_name(in) + " in, f32 out)");
}

void lt_run(ExecCtx& ex, const LtMatmul& mm, const void* bt, const void* a, float* d, const std::string& what) {
  const float one = 1.f, zero = 0.f;
  EDGEOPT_CUBLAS_CALL(cublasLtMatmul(ex.lt, mm.desc, &one, bt, mm.a, a, mm.b, &zero, d, mm.d, d, mm.d, &mm.algo,
                                     ex.workspace, mm.workspace, ex.stream),
                      what);
}

struct RnnOp final : DevOp {
  int64_t x = -1, y = -1, y_h = -1, y_c = -1, h0 = -1, c0 = -1;  // value ids (-1: absent or constant)
  const void* h0_const = nullptr;
  const void* c0_const = nullptr;
  const void* w = nullptr;        // W as [dirs*G*H, I], storage type
  const void* r[2] = {};          // per direction R [G*H, H] (GRU lbr=0: its z,r rows [2H, H])
  const void* r_h[2] = {};        // GRU lbr=0: R's candidate rows [H, H]
  const void* bias[2] = {};       // f32 [2*G*H]
  const void* peep[2] = {};       // f32 [3*H]
  const void* lens = nullptr;     // int32 [batch]
  int64_t t_xp = -1, t_hp[2] = {-1, -1}, t_hp2[2] = {-1, -1}, t_h[2] = {-1, -1}, t_c[2] = {-1, -1},
          t_z[2] = {-1, -1}, t_hq[2] = {-1, -1}, t_rh[2] = {-1, -1};
  int64_t steps = 0;     // max over sequence_lens (seq without it)
  size_t y_bytes = 0;    // Y zeroed first when some sequence ends early
  LtMatmul mm_x, mm_h, mm_h2;
  RnnStep p;  // everything but the arena pointers, filled per enqueue
  void enqueue(ExecCtx& ex) override {
    RnnStep q = p;
    auto tp = [&](int64_t id) { return id >= 0 ? ex.temp_ptr[id] : nullptr; };
    q.lens = static_cast<const int32_t*>(lens);
    q.xp = static_cast<const float*>(tp(t_xp));
    for (int d = 0; d < q.dirs; ++d) {
      q.bias[d] = static_cast<const float*>(bias[d]);
      q.peep[d] = static_cast<const float*>(peep[d]);
      q.hp[d] = static_cast<const float*>(tp(t_hp[d]));
      q.hp2[d] = static_cast<const float*>(tp(t_hp2[d]));
      q.h[d] = static_cast<float*>(tp(t_h[d]));
      q.c[d] = static_cast<float*>(tp(t_c[d]));
      q.z[d] = static_cast<float*>(tp(t_z[d]));
      q.hq[d] = tp(t_hq[d]);
      q.rh[d] = tp(t_rh[d]);
    }
    q.y = y >= 0 ? ex.value_ptr[y] : nullptr;
    if (q.y && y_bytes) EDGEOPT_CUDA_CALL(cudaMemsetAsync(q.y, 0, y_bytes, ex.stream), what);
    lt_run(ex, mm_x, w, ex.value_ptr[x], static_cast<float*>(tp(t_xp)), what);
    EDGEOPT_LAUNCH(launch_rnn_init(q, h0 >= 0 ? ex.value_ptr[h0] : h0_const, c0 >= 0 ? ex.value_ptr[c0] : c0_const,
                                   ex.stream),
                   what);
    for (int64_t s = 0; s < steps; ++s) {
      for (int d = 0; d < q.dirs; ++d) lt_run(ex, mm_h, r[d], q.hq[d], static_cast<float*>(tp(t_hp[d])), what);
      EDGEOPT_LAUNCH(launch_rnn_step(q, s, 0, ex.stream), what);
      if (q.cell != RnnCell::kGruResetFirst) continue;
      for (int d = 0; d < q.dirs; ++d) lt_run(ex, mm_h2, r_h[d], q.rh[d], static_cast<float*>(tp(t_hp2[d])), what);
      EDGEOPT_LAUNCH(launch_rnn_step(q, s, 1, ex.stream), what);
    }
    EDGEOPT_LAUNCH(launch_rnn_final(q, y_h >= 0 ? ex.value_ptr[y_h] : nullptr, y_c >= 0 ? ex.value_ptr[y_c] : nullptr,
                                    ex.stream),
                   what);
  }
};

struct GatherOp final : DevOp {
  int64_t x = -1, y = -1;
  int elem_bytes = 4;
  int64_t outer = 1, dim = 1, inner = 1, n_idx = 0;
  const void* idx = nullptr;  // int64 [n_idx], normalized
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_gather(ex.value_ptr[x], ex.value_ptr[y], elem_bytes, outer, dim, inner,
                                 static_cast<const int64_t*>(idx), n_idx, ex.stream),
                   what);
  }
};

struct TransposeOp final : DevOp {
  int64_t x = -1, y = -1;
  int elem_bytes = 4;
  TransposeShape shape;
  void enqueue(ExecCtx& ex) override {
    EDGEOPT_LAUNCH(launch_transpose(ex.value_ptr[x], ex.value_ptr[y], elem_bytes, shape, ex.stream), what);
  }
};

const std::set<std::string>& view_ops() {
  static const std::set<std::string> s{"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout"};
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

struct CudaSession::Impl {
  CudaSessionOptions opts;
  Graph graph;
  CudaSessionStats stats;
  std::vector<ValueInfo> input_infos;
  std::vector<DevValue> values;
  std::map<std::string, int64_t> value_id;
  std::map<std::string, Tensor> consts_;    // initializers and host-folded values, by name
  std::map<std::string, Tensor> output_consts;  // graph outputs that are constants
  std::vector<int64_t> graph_inputs, graph_outputs;  // value ids
  std::vector<std::string> output_names;             // per graph_outputs entry
  std::vector<std::unique_ptr<DevOp>> ops;  // in execution order
  std::vector<runtime::BufferLifetime> buffers;
  std::vector<int64_t> temp_buffer;         // temp id -> buffer
  runtime::MemoryPlan plan;

  // Device state.
  cudaStream_t compute = nullptr, h2d = nullptr, d2h = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t lt = nullptr;
  DeviceBuffer arena, weights, workspace, staging_dev;
  HostBuffer staging_host;
  // Staging per slot: inputs then outputs, each host-dtype sized, at these offsets.
  std::vector<size_t> stage_offset;  // per graph input, then per graph output (within one slot)
  size_t stage_slot_bytes = 0;
  size_t stage_in_bytes = 0;  // the inputs' part of a slot (outputs follow)
  cudaEvent_t uploaded[2] = {}, computed[2] = {}, downloaded[2] = {};
  cudaGraphExec_t graph_exec[2] = {};
  ExecCtx ex;
  std::string device_what = "CUDA session";

  ~Impl();
  void build(const Graph& g);
  int64_t add_value(const std::string& name, const Tensor& probe);
  int64_t add_temp(size_t bytes, int64_t step);
  void make_op(const Node& n, int64_t step);
  void allocate();
  void enqueue_compute(int slot);
  void capture_graphs();
  void stage_and_launch(int slot, const std::map<std::string, Tensor>& feeds);
  std::map<std::string, Tensor> collect(int slot);
  void validate_feeds(const std::map<std::string, Tensor>& feeds) const;

  // Constants are uploaded in allocate(); until then make_op records them here.
  std::vector<std::pair<Tensor, const void**>> pending_consts;
  std::vector<std::pair<std::vector<uint8_t>, const void**>> pending_raw;
  void defer_const(const Tensor& t, DType dev_dtype, const void** where);
  void defer_raw(const void* data, size_t bytes, const void** where);
  DType dev_dtype_of(DType host) const {
    return host == DType::kF32 && opts.precision == Precision::kF16 ? DType::kF16 : host;
  }
};

CudaSession::Impl::~Impl() {
  // Nothing may still read or write the buffers freed below.
  for (cudaStream_t s : {compute, h2d, d2h})
    if (s) cudaStreamSynchronize(s);
  for (auto& e : graph_exec)
    if (e) cudaGraphExecDestroy(e);
  for (int s = 0; s < 2; ++s) {
    if (uploaded[s]) cudaEventDestroy(uploaded[s]);
    if (computed[s]) cudaEventDestroy(computed[s]);
    if (downloaded[s]) cudaEventDestroy(downloaded[s]);
  }
  ops.clear();  // descriptors before the handles
  if (lt) cublasLtDestroy(lt);
  if (cudnn) cudnnDestroy(cudnn);
  for (cudaStream_t s : {compute, h2d, d2h})
    if (s) cudaStreamDestroy(s);
}

void CudaSession::Impl::defer_const(const Tensor& t, DType dev_dtype, const void** where) {
  Tensor c = t;
  if (dev_dtype == DType::kF16 && t.dtype() == DType::kF32) {
    c = Tensor(DType::kF16, t.shape());
    const float* s = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i) c.data_u16()[i] = f32_to_f16(s[i]);
  }
  pending_consts.emplace_back(c, where);
}

void CudaSession::Impl::defer_raw(const void* data, size_t bytes, const void** where) {
  std::vector<uint8_t> v(bytes);
  if (bytes) std::memcpy(v.data(), data, bytes);
  pending_raw.emplace_back(std::move(v), where);
}

int64_t CudaSession::Impl::add_value(const std::string& name, const Tensor& probe) {
  DevValue v;
  v.name = name;
  v.host_dtype = probe.dtype();
  v.dev_dtype = dev_dtype_of(probe.dtype());
  v.shape = probe.shape();
  v.root = static_cast<int64_t>(values.size());
  values.push_back(v);
  value_id[name] = v.root;
  return v.root;
}

int64_t CudaSession::Impl::add_temp(size_t bytes, int64_t step) {
  temp_buffer.push_back(static_cast<int64_t>(buffers.size()));
  buffers.push_back({std::max<size_t>(bytes, 1), step, step});
  return static_cast<int64_t>(temp_buffer.size()) - 1;
}

namespace {

float clip_bound(const Node& n, const std::map<std::string, Tensor>& consts, size_t input, const char* attr, float def,
                 int64_t opset) {
  if (opset < 11) return n.attr_float(attr, def);
  if (!n.has_input(input)) return def;
  auto it = consts.find(n.inputs[input]);
  EDGEOPT_CHECK(it != consts.end(), ErrorCode::kUnimplemented,
                n.describe() + ": input '" + n.inputs[input] + "' (" + attr + ") must be a constant on CUDA");
  return static_cast<float>(it->second.at(0));
}

BroadcastShape broadcast_shape(const Shape& a, const Shape& b, const Shape& y, const std::string& what) {
  BroadcastShape s;
  EDGEOPT_CHECK(y.rank() <= static_cast<size_t>(kMaxRank), ErrorCode::kUnimplemented,
                what + ": output rank " + std::to_string(y.rank()) + " > " + std::to_string(kMaxRank) + " on CUDA");
  s.rank = std::max(1, static_cast<int>(y.rank()));
  if (y.rank() == 0) {
    s.out[0] = 1;
    return s;
  }
  auto strides = [&](const Shape& x, int64_t* st) {
    const int off = s.rank - static_cast<int>(x.rank());
    int64_t acc = 1;
    for (int d = s.rank - 1; d >= 0; --d) {
      const int xd = d - off;
      const int64_t dim = xd >= 0 ? x[static_cast<size_t>(xd)] : 1;
      st[d] = dim == 1 ? 0 : acc;
      acc *= dim;
    }
  };
  for (int d = 0; d < s.rank; ++d) s.out[d] = y[static_cast<size_t>(d)];
  strides(a, s.a_stride);
  strides(b, s.b_stride);
  return s;
}

}  // namespace

RnnStep rnn_step_params(const Node& n, const kernels::recurrent::RnnConfig& cfg, ElemType t) {
  namespace rc = kernels::recurrent;
  RnnStep p;
  const bool lstm = n.op_type == "LSTM";
  p.cell = lstm ? RnnCell::kLstm
           : n.attr_int("linear_before_reset", 0) != 0 ? RnnCell::kGruLinearBeforeReset
                                                         : RnnCell::kGruResetFirst;
  p.t = t;
  p.seq = cfg.seq;
  p.batch = cfg.batch;
  p.hidden = cfg.hidden;
  p.dirs = cfg.dirs;
  p.layout = cfg.layout;
  p.reverse_only = cfg.reverse_only;
  p.input_forget = lstm && n.attr_int("input_forget", 0) != 0;
  p.clip = cfg.clip;
  static_assert(static_cast<int>(rc::Activation::Kind::kSoftplus) == static_cast<int>(RnnActKind::kSoftplus));
  for (int64_t d = 0; d < cfg.dirs; ++d)
    for (size_t k = 0; k < cfg.per_dir && k < 3; ++k) {
      const rc::Activation& a = cfg.act(d, k);
      p.act[d][k] = {static_cast<RnnActKind>(static_cast<int>(a.kind)), a.alpha, a.beta};
    }
  return p;
}

void CudaSession::Impl::make_op(const Node& n, int64_t step) {
  const std::string what = n.describe();
  const std::string& op = n.op_type;
  auto vid = [&](size_t i) -> int64_t {
    if (!n.has_input(i)) return -1;
    auto it = value_id.find(n.inputs[i]);
    // The value itself, not its root: a view (Flatten, Reshape) has its own shape; value_ptr
    // already resolves every value to its root's buffer.
    return it == value_id.end() ? -1 : it->second;
  };
  auto out_id = [&](size_t i) { return value_id.at(n.outputs[i]); };
  auto const_in = [&](size_t i) -> const Tensor* {
    if (!n.has_input(i)) return nullptr;
    auto it = consts_.find(n.inputs[i]);
    return it == consts_.end() ? nullptr : &it->second;
  };
  auto need_const = [&](size_t i, const char* role) -> const Tensor& {
    const Tensor* t = const_in(i);
    EDGEOPT_CHECK(t, ErrorCode::kUnimplemented,
                  what + ": input " + std::to_string(i) + " (" + role + ") '" + (n.has_input(i) ? n.inputs[i] : "") +
                      "' must be a constant on CUDA");
    return *t;
  };
  auto need_value = [&](size_t i) -> int64_t {
    const int64_t v = vid(i);
    EDGEOPT_CHECK(v >= 0, ErrorCode::kUnimplemented,
                  what + ": input " + std::to_string(i) + " must be a runtime tensor on CUDA");
    return v;
  };
  auto need_float = [&](int64_t v) {
    EDGEOPT_CHECK(is_float(values[v].host_dtype), ErrorCode::kUnimplemented,
                  what + ": input '" + values[v].name + "' is " + dtype_name(values[v].host_dtype) +
                      "; the CUDA kernel takes f32 (fp16 on the device)");
  };
  const kernels::FusedActivation act = kernels::fused_activation(n);

  if (op == "Conv") {
    auto c = std::make_unique<ConvOp>();
    c->x = need_value(0);
    need_float(c->x);
    c->y = out_id(0);
    const Tensor& w = need_const(1, "W");
    const Shape& xs = values[c->x].shape;
    EDGEOPT_CHECK(xs.rank() == 3 || xs.rank() == 4, ErrorCode::kUnimplemented,
                  what + ": input X has shape " + xs.str() + "; CUDA Conv supports 1-D and 2-D (rank 3 or 4)");
    std::vector<int64_t> kernel(w.shape().dims().begin() + 2, w.shape().dims().end());
    const auto wa = kernels::ops::conv::read_window_attrs(n, kernel);
    std::vector<int64_t> in_sp(xs.dims().begin() + 2, xs.dims().end());
    const auto win = kernels::ops::conv::forward_window(wa, in_sp, false);
    const int64_t group = n.attr_int("group", 1);
    const Shape& ys = values[c->y].shape;
    c->dt = values[c->x].dev_dtype;
    c->n = xs[0];
    c->m = ys[1];
    c->spatial = ys.numel() / std::max<int64_t>(1, ys[0] * ys[1]);
    c->lo = act.lo;
    c->hi = act.hi;
    const int H = static_cast<int>(win.big[1]), W = static_cast<int>(win.big[2]);
    const int kh = static_cast<int>(win.kernel[1]), kw = static_cast<int>(win.kernel[2]);
    if (opts.own_depthwise && xs.rank() == 4 && group > 1 && group == xs[1] && w.shape()[0] == group &&
        w.shape()[1] == 1 && kh == 3 && kw == 3 && win.dilation[1] == 1 && win.dilation[2] == 1 &&
        win.stride[1] == win.stride[2] && (win.stride[1] == 1 || win.stride[1] == 2)) {
      auto d = std::make_unique<DwConvOp>();
      d->x = c->x;
      d->y = c->y;
      d->dt = c->dt;
      d->d = {.batch = xs[0], .channels = static_cast<int>(group), .in_h = H, .in_w = W,
              .out_h = static_cast<int>(ys[2]), .out_w = static_cast<int>(ys[3]),
              .stride = static_cast<int>(win.stride[1]), .pad_h = static_cast<int>(win.pad_begin[1]),
              .pad_w = static_cast<int>(win.pad_begin[2]), .lo = act.lo, .hi = act.hi};
      defer_const(w, d->dt, &d->w);
      if (const Tensor* b = const_in(2)) defer_const(*b, d->dt, &d->bias);
      else EDGEOPT_CHECK(!n.has_input(2), ErrorCode::kUnimplemented, what + ": bias B must be a constant on CUDA");
      if (n.has_input(3)) {
        d->residual = need_value(3);
        EDGEOPT_CHECK(values[d->residual].shape == ys, ErrorCode::kInvalidArgument,
                      what + ": fused residual has shape " + values[d->residual].shape.str() + ", output " + ys.str());
      }
      d->kernel = "own depthwise 3x3 s" + std::to_string(d->d.stride) + " (bias/activation fused)";
      d->what = what;
      ops.push_back(std::move(d));
      return;
    }
    const cudnnDataType_t ty = cudnn_type(c->dt);
    EDGEOPT_CUDNN_CALL(cudnnCreateTensorDescriptor(&c->x_desc), what);
    EDGEOPT_CUDNN_CALL(cudnnCreateTensorDescriptor(&c->y_desc), what);
    EDGEOPT_CUDNN_CALL(cudnnCreateFilterDescriptor(&c->w_desc), what);
    EDGEOPT_CUDNN_CALL(cudnnCreateConvolutionDescriptor(&c->conv_desc), what);
    EDGEOPT_CUDNN_CALL(cudnnSetTensor4dDescriptor(c->x_desc, CUDNN_TENSOR_NCHW, ty, static_cast<int>(xs[0]),
                                                  static_cast<int>(xs[1]), H, W),
                       what);
    EDGEOPT_CUDNN_CALL(cudnnSetFilter4dDescriptor(c->w_desc, ty, CUDNN_TENSOR_NCHW, static_cast<int>(w.shape()[0]),
                                                  static_cast<int>(w.shape()[1]), kh, kw),
                       what);
    // cuDNN pads symmetrically: pad_begin is used, and the output size check below proves that any
    // extra end padding is never reached by a window (so it changes nothing).
    EDGEOPT_CUDNN_CALL(cudnnSetConvolution2dDescriptor(
                           c->conv_desc, static_cast<int>(win.pad_begin[1]), static_cast<int>(win.pad_begin[2]),
                           static_cast<int>(win.stride[1]), static_cast<int>(win.stride[2]),
                           static_cast<int>(win.dilation[1]), static_cast<int>(win.dilation[2]),
                           CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                       what);
    EDGEOPT_CUDNN_CALL(cudnnSetConvolutionGroupCount(c->conv_desc, static_cast<int>(group)), what);
    // fp32 must stay f32: FMA math forbids TF32 tensor cores (which would break the 1e-4 tolerance);
    // tf32 and fp16 allow tensor cores.
    const bool strict_f32 = opts.precision == Precision::kF32;
    const cudnnMathType_t want_math = strict_f32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    EDGEOPT_CUDNN_CALL(cudnnSetConvolutionMathType(c->conv_desc, want_math), what);
    int on = 0, oc = 0, oh = 0, ow = 0;
    EDGEOPT_CUDNN_CALL(cudnnGetConvolution2dForwardOutputDim(c->conv_desc, c->x_desc, c->w_desc, &on, &oc, &oh, &ow),
                       what);
    EDGEOPT_CHECK(on == xs[0] && oc == ys[1] && oh == win.small[1] && ow == win.small[2], ErrorCode::kUnimplemented,
                  what + ": asymmetric pads that change the output size (pads begin " +
                      std::to_string(win.pad_begin[1]) + "," + std::to_string(win.pad_begin[2]) + " end " +
                      std::to_string(win.pad_end[1]) + "," + std::to_string(win.pad_end[2]) +
                      ") are not supported by the cuDNN path");
    EDGEOPT_CUDNN_CALL(cudnnSetTensor4dDescriptor(c->y_desc, CUDNN_TENSOR_NCHW, ty, on, oc, oh, ow), what);
    // Heuristic: cuDNN's model ranks the algorithms, nothing runs. Measured: cuDNN also runs each
    // algorithm once on scratch buffers it allocates itself (the arena does not exist yet); a measured
    // winner replaces the heuristic's choice only when it is >10% faster than the heuristic's choice
    // measured in the same call (single timings of ~20 us kernels are noisy, and at batch 1 noise
    // otherwise picks slower algorithms than the heuristic).
    auto usable = [&](const cudnnConvolutionFwdAlgoPerf_t& pf) {
      return pf.status == CUDNN_STATUS_SUCCESS && pf.memory <= opts.max_workspace_bytes &&
             (!strict_f32 || pf.mathType == CUDNN_FMA_MATH || pf.mathType == CUDNN_DEFAULT_MATH);
    };
    cudnnConvolutionFwdAlgoPerf_t heur[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int heur_n = 0;
    EDGEOPT_CUDNN_CALL(cudnnGetConvolutionForwardAlgorithm_v7(cudnn, c->x_desc, c->w_desc, c->conv_desc, c->y_desc,
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &heur_n, heur),
                       what);
    cudnnConvolutionFwdAlgoPerf_t choice{};
    bool chosen = false;
    for (int i = 0; i < heur_n && !chosen; ++i)
      if (usable(heur[i])) choice = heur[i], chosen = true;
    choice.time = -1;  // the heuristic's entries carry no timing
    const bool measure = opts.conv_algo_search == ConvAlgoSearch::kMeasure;
    if (measure) {
      cudnnConvolutionFwdAlgoPerf_t found[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int found_n = 0;
      EDGEOPT_CUDNN_CALL(cudnnFindConvolutionForwardAlgorithm(cudnn, c->x_desc, c->w_desc, c->conv_desc, c->y_desc,
                                                              CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found_n, found),
                         what);
      int best = -1;
      for (int i = 0; i < found_n; ++i) {
        if (!usable(found[i])) continue;
        if (best < 0) best = i;  // fastest first
        if (chosen && found[i].algo == choice.algo && choice.time < 0) choice.time = found[i].time;
      }
      if (best >= 0 && (!chosen || choice.time < 0 || found[best].time < 0.9f * choice.time))
        choice = found[best], chosen = true;
    }
    EDGEOPT_CHECK(chosen, ErrorCode::kUnimplemented,
                  what + ": cuDNN offers no forward algorithm for x " + xs.str() + " w " + w.shape().str() + " in " +
                      precision_name(opts.precision) + " within " + std::to_string(opts.max_workspace_bytes >> 20) +
                      " MB of workspace");
    c->algo = choice.algo;
    if (!strict_f32) EDGEOPT_CUDNN_CALL(cudnnSetConvolutionMathType(c->conv_desc, choice.mathType), what);
    c->algo_ms = choice.time;  // cuDNN's measurement of the chosen algorithm; -1 when not measured
    EDGEOPT_CUDNN_CALL(cudnnGetConvolutionForwardWorkspaceSize(cudnn, c->x_desc, c->w_desc, c->conv_desc, c->y_desc,
                                                               c->algo, &c->workspace),
                       what);
    defer_const(w, c->dt, &c->w);
    if (const Tensor* b = const_in(2)) defer_const(*b, c->dt, &c->bias);
    else EDGEOPT_CHECK(!n.has_input(2), ErrorCode::kUnimplemented, what + ": bias B must be a constant on CUDA");
    if (n.has_input(3)) {
      c->residual = need_value(3);
      EDGEOPT_CHECK(values[c->residual].shape == ys, ErrorCode::kInvalidArgument,
                    what + ": fused residual has shape " + values[c->residual].shape.str() + ", output " + ys.str());
    }
    // The fused cuDNN call: f32, a bias, and ReLU (its only activation besides identity).
    const bool relu = act.lo == 0.f && act.hi == INFINITY;
    if (c->dt == DType::kF32 && n.has_input(2) && relu) {
      c->fused = true;
      EDGEOPT_CUDNN_CALL(cudnnCreateTensorDescriptor(&c->b_desc), what);
      EDGEOPT_CUDNN_CALL(cudnnSetTensor4dDescriptor(c->b_desc, CUDNN_TENSOR_NCHW, ty, 1, oc, 1, 1), what);
      EDGEOPT_CUDNN_CALL(cudnnCreateActivationDescriptor(&c->act_desc), what);
      EDGEOPT_CUDNN_CALL(cudnnSetActivationDescriptor(c->act_desc, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                         what);
    }
    c->kernel = "cudnn algo " + std::to_string(static_cast<int>(c->algo)) +
                (c->algo_ms >= 0 ? " (measured " + std::to_string(c->algo_ms).substr(0, 6) + " ms)" : "") +
                (c->fused ? " + fused bias/relu" : (n.has_input(2) || c->residual >= 0 || act.lo != -INFINITY || act.hi != INFINITY
                                                        ? " + bias_act epilogue" : "")) +
                (group > 1 ? " group " + std::to_string(group) : "");
    c->what = what;
    ops.push_back(std::move(c));
    return;
  }

  if (op == "Gemm" || op == "MatMul") {
    auto g = std::make_unique<GemmOp>();
    g->a = need_value(0);
    need_float(g->a);
    g->y = out_id(0);
    g->dt = values[g->a].dev_dtype;
    const Shape& as = values[g->a].shape;
    const Tensor* bc = const_in(1);
    g->b = bc ? -1 : need_value(1);
    const Shape bs = bc ? bc->shape() : values[g->b].shape;
    bool ta = false, tb = false;
    int64_t m = 0, k = 0, nn = 0, batch = 1;
    if (op == "Gemm") {
      ta = n.attr_int("transA", 0) != 0;
      tb = n.attr_int("transB", 0) != 0;
      g->alpha = n.attr_float("alpha", 1.f);
      g->beta = n.attr_float("beta", 1.f);
      EDGEOPT_CHECK_ARG(as.rank() == 2 && bs.rank() == 2, what + ": A " + as.str() + " and B " + bs.str() + " must be 2-D");
      m = ta ? as[1] : as[0];
      k = ta ? as[0] : as[1];
      nn = tb ? bs[0] : bs[1];
    } else {
      EDGEOPT_CHECK(as.rank() >= 2 && bs.rank() >= 2, ErrorCode::kUnimplemented,
                    what + ": CUDA MatMul needs A and B of rank >= 2, got " + as.str() + " x " + bs.str());
      k = as[as.rank() - 1];
      nn = bs[bs.rank() - 1];
      if (bs.rank() == 2) {
        m = as.numel() / k;  // A's batch dims fold into M: one GEMM
      } else {
        bool same = as.rank() == bs.rank();
        for (size_t d = 0; same && d + 2 < as.rank(); ++d) same = as[d] == bs[d];
        EDGEOPT_CHECK(same, ErrorCode::kUnimplemented,
                      what + ": CUDA MatMul broadcasts only a 2-D B; got " + as.str() + " x " + bs.str());
        m = as[as.rank() - 2];
        batch = as.numel() / (m * k);
      }
    }
    g->m = m * batch;
    g->n = nn;
    const cudaDataType_t ty = cuda_type(g->dt);
    // tf32: TF32 tensor cores for f32 operands (f16 operands use tensor cores under COMPUTE_32F anyway).
    const cublasComputeType_t compute_type =
        opts.precision == Precision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescCreate(&g->mm.desc, compute_type, CUDA_R_32F), what);
    const cublasOperation_t op_a = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(g->mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)), what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(g->mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)), what);
    const uint64_t u_k = static_cast<uint64_t>(k), u_n = static_cast<uint64_t>(nn), u_m = static_cast<uint64_t>(m);
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&g->mm.a, ty, tb ? u_k : u_n, tb ? u_n : u_k,
                                                   static_cast<int64_t>(tb ? u_k : u_n)),
                        what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&g->mm.b, ty, ta ? u_m * batch : u_k, ta ? u_k : u_m * batch,
                                                   static_cast<int64_t>(ta ? u_m * batch : u_k)),
                        what);
    if (batch > 1) {  // batched MatMul: per-batch M rows, strided operands
      cublasLtMatrixLayoutDestroy(g->mm.b);
      EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&g->mm.b, ty, u_k, u_m, k), what);
    }
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&g->mm.d, ty, u_n, batch > 1 ? u_m : u_m * batch, nn), what);
    set_batch(g->mm.a, static_cast<int32_t>(batch), k * nn, what);
    set_batch(g->mm.b, static_cast<int32_t>(batch), m * k, what);
    set_batch(g->mm.d, static_cast<int32_t>(batch), m * nn, what);
    // C: a per-column bias goes to cuBLASLt's epilogue; anything else to the own epilogue kernel.
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
    const bool relu = act.lo == 0.f && act.hi == INFINITY;
    const bool plain_act = act.lo == -INFINITY && act.hi == INFINITY;
    if (n.has_input(2)) {
      const Tensor* c = const_in(2);
      const Shape cs = c ? c->shape() : values[need_value(2)].shape;
      const bool per_col = c && g->beta == 1.f && cs.numel() == nn && (cs.rank() == 1 || (cs.rank() == 2 && cs[0] == 1));
      if (per_col) {
        defer_const(*c, g->dt, &g->bias);
        epi = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
        g->own_epilogue = !relu && !plain_act;
      } else {
        EDGEOPT_CHECK(cs.rank() <= 2, ErrorCode::kInvalidArgument, what + ": C has shape " + cs.str());
        const int64_t c0 = cs.rank() == 2 ? cs[0] : 1, c1 = cs.rank() >= 1 ? cs[cs.rank() - 1] : 1;
        g->c_sn = c1 == 1 ? 0 : 1;
        g->c_sm = c0 == 1 ? 0 : c1;
        if (c) defer_const(*c, g->dt, &g->c);
        else g->c_value = need_value(2);
        g->own_epilogue = true;
      }
    } else if (relu) {
      epi = CUBLASLT_EPILOGUE_RELU;
    } else if (!plain_act) {
      g->own_epilogue = true;
    }
    if (!g->own_epilogue) g->beta = 0.f;
    g->lo = act.lo;
    g->hi = act.hi;
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(g->mm.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), what);
    EDGEOPT_CHECK(lt_heuristic(lt, g->mm, opts.max_workspace_bytes, what), ErrorCode::kUnimplemented,
                  what + ": cuBLASLt has no algorithm for [" + std::to_string(m * batch) + "x" + std::to_string(k) +
                      "] x [" + std::to_string(k) + "x" + std::to_string(nn) + "] in " + precision_name(opts.precision));
    g->workspace = g->mm.workspace;
    if (bc) defer_const(*bc, g->dt, &g->b_const);
    g->kernel = std::string("cublasLt ") + precision_name(opts.precision) +
                (epi == CUBLASLT_EPILOGUE_RELU_BIAS ? " bias+relu epilogue"
                 : epi == CUBLASLT_EPILOGUE_BIAS    ? " bias epilogue"
                 : epi == CUBLASLT_EPILOGUE_RELU    ? " relu epilogue"
                                                    : "") +
                (g->own_epilogue ? " + own epilogue" : "") + (batch > 1 ? " batched x" + std::to_string(batch) : "");
    g->what = what;
    ops.push_back(std::move(g));
    return;
  }

  if (op == "QLinearMatMul") {
    namespace q = kernels::quant;
    auto o = std::make_unique<QMatMulOp>();
    o->a = need_value(0);
    o->y = out_id(0);
    const DType a_dt = values[o->a].host_dtype;
    EDGEOPT_CHECK_ARG(q::is_8bit(a_dt), what + ": input a is " + dtype_name(a_dt) + "; it must be u8 or i8");
    const Tensor& b = need_const(3, "b");
    EDGEOPT_CHECK(b.rank() == 2, ErrorCode::kUnimplemented, what + ": CUDA QLinearMatMul needs a 2-D constant b, got " + b.shape().str());
    q::check_8bit(b, "b");
    const int64_t k = b.shape()[0], nn = b.shape()[1];
    const int64_t m = values[o->a].shape.numel() / k;
    const Tensor* a_zp = const_in(2);
    const Tensor* b_zp = const_in(5);
    const Tensor* y_zp = const_in(7);
    EDGEOPT_CHECK(n.has_input(2) == (a_zp != nullptr) && n.has_input(5) == (b_zp != nullptr) &&
                      n.has_input(7) == (y_zp != nullptr),
                  ErrorCode::kUnimplemented, what + ": zero points must be constants on CUDA");
    const int32_t za = a_zp ? q::scalar_zero_point(*a_zp, a_dt, "a_zero_point") : 0;
    const std::vector<int32_t> zb = b_zp ? q::read_zero_points(*b_zp, b.dtype(), nn, "b_zero_point") : std::vector<int32_t>{0};
    const DType y_dt = y_zp ? y_zp->dtype() : DType::kU8;
    EDGEOPT_CHECK_ARG(q::is_8bit(y_dt), what + ": y_zero_point must be u8 or i8");
    const int32_t yz = y_zp ? q::scalar_zero_point(*y_zp, y_dt, "y_zero_point") : 0;
    const float sa = q::scalar_scale(need_const(1, "a_scale"), "a_scale");
    const std::vector<float> sb = q::read_scales(need_const(4, "b_scale"), nn, "b_scale");
    const float sy = q::scalar_scale(need_const(6, "y_scale"), "y_scale");
    const q::RequantParams rq = q::requant_params(sa, sb, sy, nn);
    const q::QRange range = q::fused_qrange(n, sy, yz, y_dt);
    const int32_t oa = a_dt == DType::kU8 ? 128 : 0, ob = b.dtype() == DType::kU8 ? 128 : 0;
    std::vector<int8_t> bt(static_cast<size_t>(nn * k));
    std::vector<int32_t> col_sum(static_cast<size_t>(nn), 0), zb_s(static_cast<size_t>(nn)), bias(static_cast<size_t>(nn), 0);
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < nn; ++j) {
        const int32_t v = static_cast<int32_t>(b.at(kk * nn + j)) - ob;
        bt[static_cast<size_t>(j * k + kk)] = static_cast<int8_t>(v);
        col_sum[static_cast<size_t>(j)] += v;
      }
    for (int64_t j = 0; j < nn; ++j) zb_s[static_cast<size_t>(j)] = (zb.size() == 1 ? zb[0] : zb[static_cast<size_t>(j)]) - ob;
    const Tensor* bias_t = const_in(8);
    EDGEOPT_CHECK(n.has_input(8) == (bias_t != nullptr), ErrorCode::kUnimplemented, what + ": bias must be a constant");
    if (bias_t) {
      EDGEOPT_CHECK_ARG(bias_t->dtype() == DType::kI32 && bias_t->numel() == nn,
                        what + ": bias is " + bias_t->describe() + "; expected i32[" + std::to_string(nn) + "]");
      for (int64_t j = 0; j < nn; ++j) bias[static_cast<size_t>(j)] = bias_t->data<int32_t>()[j];
    }
    o->a_u8 = a_dt == DType::kU8;
    o->m = m;
    o->n = nn;
    o->k = k;
    o->ep.za = za - oa;
    o->ep.m = m;
    o->ep.n = nn;
    o->ep.k = k;
    o->ep.y_zp = yz;
    o->ep.qmin = range.lo;
    o->ep.qmax = range.hi;
    o->ep.y_u8 = y_dt == DType::kU8;
    defer_raw(bt.data(), bt.size(), reinterpret_cast<const void**>(&o->bt));
    defer_raw(col_sum.data(), col_sum.size() * 4, reinterpret_cast<const void**>(&o->ep.col_sum_b));
    defer_raw(zb_s.data(), zb_s.size() * 4, reinterpret_cast<const void**>(&o->ep.zb));
    defer_raw(rq.multiplier.data(), rq.multiplier.size() * 4, reinterpret_cast<const void**>(&o->ep.multiplier));
    defer_raw(rq.shift.data(), rq.shift.size() * 4, reinterpret_cast<const void**>(&o->ep.shift));
    if (bias_t) defer_raw(bias.data(), bias.size() * 4, reinterpret_cast<const void**>(&o->ep.bias));
    if (o->a_u8) o->t_as8 = add_temp(static_cast<size_t>(m * k), step);
    o->t_rowsum = add_temp(static_cast<size_t>(m) * 4, step);
    o->t_acc = add_temp(static_cast<size_t>(m * nn) * 4, step);
    // cuBLASLt's int8 (IMMA) rules: s8 operands in "TN" form with leading dims a multiple of 4.
    if (k % 4 == 0) {
      EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescCreate(&o->mm.desc, CUBLAS_COMPUTE_32I, CUDA_R_32I), what);
      const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
      EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(o->mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), what);
      EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(o->mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)), what);
      EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.a, CUDA_R_8I, static_cast<uint64_t>(k), static_cast<uint64_t>(nn), k), what);
      EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.b, CUDA_R_8I, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k), what);
      EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.d, CUDA_R_32I, static_cast<uint64_t>(nn), static_cast<uint64_t>(m), nn), what);
      lt_heuristic(lt, o->mm, opts.max_workspace_bytes, what);
      o->workspace = o->mm.ok ? o->mm.workspace : 0;
    }
    o->kernel = std::string(o->mm.ok ? "cublasLt s8xs8->s32" : "gemm_s8_s32 (own, 16x16 tiles)") + " + requantize epilogue";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  // QLinearConv (int8)
  if (op == "QLinearConv") {
    auto o = std::make_unique<QConvOp>();
    o->x = need_value(0);
    o->y = out_id(0);
    std::vector<const Tensor*> consts(n.inputs.size());
    for (size_t i = 0; i < consts.size(); ++i) consts[i] = const_in(i);
    QConvPlan p = plan_qlinear_conv(n, values[o->x].host_dtype, values[o->x].shape, consts);
    EDGEOPT_CHECK(values[o->y].shape == p.y_shape, ErrorCode::kInternal,
                  what + ": output shape " + values[o->y].shape.str() + " differs from the conv geometry's " + p.y_shape.str());
    o->g = p.g;
    o->x_u8 = p.x_u8;
    QConvGeom& g = o->g;
    defer_raw(p.multiplier.data(), p.multiplier.size() * 4, reinterpret_cast<const void**>(&g.multiplier));
    defer_raw(p.shift.data(), p.shift.size() * 4, reinterpret_cast<const void**>(&g.shift));
    if (!p.bias.empty()) defer_raw(p.bias.data(), p.bias.size() * 4, reinterpret_cast<const void**>(&g.bias));
    if (p.direct) {
      // Grouped and depthwise: the direct kernel on the raw codes.
      o->direct = true;
      o->d.x_u8 = p.x_u8;
      o->d.w_u8 = p.w_u8;
      o->d.x_zp = p.x_zp;
      defer_raw(p.w_raw.data(), p.w_raw.size(), &o->d.w);
      defer_raw(p.w_zp.data(), p.w_zp.size() * 4, reinterpret_cast<const void**>(&o->d.w_zp));
      o->kernel = std::string("qconv_direct (own, thread per output") + (g.pool2x2 ? ", 2x2 max pool" : "") + ") group " +
                  std::to_string(g.group) + " + requantize";
      o->what = what;
      ops.push_back(std::move(o));
      return;
    }
    const int64_t m = g.m, rows = p.rows, k_pad = p.k_pad;
    o->rows = rows;
    o->k_pad = k_pad;
    o->terms.za = p.za;
    o->terms.k = p.k;
    defer_raw(p.bt.data(), p.bt.size(), reinterpret_cast<const void**>(&o->bt));
    defer_raw(p.col_sum.data(), p.col_sum.size() * 4, reinterpret_cast<const void**>(&o->terms.col_sum));
    defer_raw(p.zb.data(), p.zb.size() * 4, reinterpret_cast<const void**>(&o->terms.zb));
    o->t_a = add_temp(static_cast<size_t>(rows * k_pad), step);
    o->t_rowsum = add_temp(static_cast<size_t>(rows) * 4, step);
    o->t_acc = add_temp(static_cast<size_t>(rows * m) * 4, step);
    // S^T [M, rows] column-major = Bt^T (k_pad x M, "T") x A (k_pad x rows, "N"): QLinearMatMul's layout.
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescCreate(&o->mm.desc, CUBLAS_COMPUTE_32I, CUDA_R_32I), what);
    const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(o->mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatmulDescSetAttribute(o->mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)), what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.a, CUDA_R_8I, static_cast<uint64_t>(k_pad), static_cast<uint64_t>(m), k_pad), what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.b, CUDA_R_8I, static_cast<uint64_t>(k_pad), static_cast<uint64_t>(rows), k_pad), what);
    EDGEOPT_CUBLAS_CALL(cublasLtMatrixLayoutCreate(&o->mm.d, CUDA_R_32I, static_cast<uint64_t>(m), static_cast<uint64_t>(rows), m), what);
    lt_heuristic(lt, o->mm, opts.max_workspace_bytes, what);
    o->workspace = o->mm.ok ? o->mm.workspace : 0;
    EDGEOPT_CHECK(o->mm.ok || (rows + 15) / 16 <= 65535, ErrorCode::kUnimplemented,
                  what + ": cuBLASLt has no int8 algorithm and " + std::to_string(rows) +
                      " output pixels exceed the own GEMM kernel's grid");
    o->kernel = std::string("im2col s8 + ") + (o->mm.ok ? "cublasLt s8xs8->s32" : "gemm_s8_s32 (own, 16x16 tiles)") +
                " + requantize epilogue" + (g.pool2x2 ? " + 2x2 max pool" : "");
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  // QLinearAdd (int8)
  if (op == "QLinearAdd") {
    auto o = std::make_unique<QAddOp>();
    o->y = out_id(0);
    DType dts[2];
    Shape sh[2];
    for (size_t i = 0; i < 2; ++i) {
      const size_t in = i == 0 ? 0 : 3;
      if (const Tensor* c = const_in(in)) {
        kernels::quant::check_8bit(*c, i == 0 ? "A" : "B");
        defer_raw(c->raw(), c->nbytes(), i == 0 ? &o->a_const : &o->b_const);
        dts[i] = c->dtype();
        sh[i] = c->shape();
      } else {
        int64_t& v = i == 0 ? o->a : o->b;
        v = need_value(in);
        dts[i] = values[v].host_dtype;
        sh[i] = values[v].shape;
      }
    }
    std::vector<const Tensor*> consts(n.inputs.size());
    for (size_t i = 0; i < consts.size(); ++i) consts[i] = const_in(i);
    o->p = plan_qlinear_add(n, dts[0], dts[1], consts);
    o->shape = broadcast_shape(sh[0], sh[1], values[o->y].shape, what);
    o->kernel = "qlinear_add (own, broadcast)";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    namespace q = kernels::quant;
    auto o = std::make_unique<QuantizeOp>();
    o->quantize = op == "QuantizeLinear";
    o->x = need_value(0);
    o->y = out_id(0);
    o->n = values[o->x].shape.numel();
    const Tensor& scale = need_const(1, "scale");
    EDGEOPT_CHECK(scale.numel() == 1, ErrorCode::kUnimplemented,
                  what + ": per-axis scales " + scale.shape().str() + " are not supported on CUDA (per tensor only)");
    o->scale = q::scalar_scale(scale, "scale");
    const Tensor* zp = const_in(2);
    EDGEOPT_CHECK(n.has_input(2) == (zp != nullptr), ErrorCode::kUnimplemented, what + ": zero point must be a constant");
    if (o->quantize) {
      need_float(o->x);
      o->dt = values[o->x].dev_dtype;
      const DType qt = zp ? zp->dtype() : DType::kU8;
      EDGEOPT_CHECK_ARG(q::is_8bit(qt), what + ": zero point must be u8 or i8");
      o->u8 = qt == DType::kU8;
      o->zp = zp ? q::scalar_zero_point(*zp, qt, "y_zero_point") : 0;
    } else {
      const DType qt = values[o->x].host_dtype;
      EDGEOPT_CHECK(q::is_8bit(qt), ErrorCode::kUnimplemented,
                    what + ": CUDA DequantizeLinear takes u8/i8, got " + dtype_name(qt));
      o->u8 = qt == DType::kU8;
      o->zp = zp ? q::scalar_zero_point(*zp, qt, "x_zero_point") : 0;
      o->dt = values[o->y].dev_dtype;
    }
    o->kernel = o->quantize ? "quantize_linear (quant::quantize_f32)" : "dequantize_linear";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  static const std::map<std::string, UnaryOp> kUnary{
      {"Relu", UnaryOp::kRelu},       {"Sigmoid", UnaryOp::kSigmoid},         {"Tanh", UnaryOp::kTanh},
      {"HardSwish", UnaryOp::kHardSwish}, {"HardSigmoid", UnaryOp::kHardSigmoid}, {"Clip", UnaryOp::kClip},
      {"LeakyRelu", UnaryOp::kLeakyRelu}, {"Exp", UnaryOp::kExp},             {"Neg", UnaryOp::kNeg},
      {"Abs", UnaryOp::kAbs},         {"Sqrt", UnaryOp::kSqrt}};
  if (auto it = kUnary.find(op); it != kUnary.end()) {
    auto u = std::make_unique<UnaryOpNode>();
    u->op = it->second;
    u->x = need_value(0);
    need_float(u->x);
    u->y = out_id(0);
    u->n = values[u->x].shape.numel();
    u->dt = values[u->x].dev_dtype;
    if (op == "Clip") {
      u->p0 = clip_bound(n, consts_, 1, "min", -INFINITY, graph.opset);
      u->p1 = clip_bound(n, consts_, 2, "max", INFINITY, graph.opset);
    } else if (op == "HardSigmoid") {
      u->p0 = n.attr_float("alpha", 0.2f);
      u->p1 = n.attr_float("beta", 0.5f);
    } else if (op == "LeakyRelu") {
      u->p0 = n.attr_float("alpha", 0.01f);
    }
    u->kernel = "unary " + op;
    u->what = what;
    ops.push_back(std::move(u));
    return;
  }

  static const std::map<std::string, BinaryOp> kBinary{{"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub},
                                                       {"Mul", BinaryOp::kMul}, {"Div", BinaryOp::kDiv},
                                                       {"Max", BinaryOp::kMax}, {"Min", BinaryOp::kMin}};
  if (auto it = kBinary.find(op); it != kBinary.end()) {
    EDGEOPT_CHECK(n.inputs.size() == 2, ErrorCode::kUnimplemented,
                  what + ": CUDA " + op + " takes exactly 2 inputs, got " + std::to_string(n.inputs.size()));
    auto b = std::make_unique<BinaryOpNode>();
    b->op = it->second;
    b->y = out_id(0);
    need_float(b->y);
    b->dt = values[b->y].dev_dtype;
    Shape sh[2];
    for (size_t i = 0; i < 2; ++i) {
      const Tensor* c = const_in(i);
      int64_t& v = i == 0 ? b->a : b->b;
      const void** cp = i == 0 ? &b->a_const : &b->b_const;
      if (c) {
        EDGEOPT_CHECK(is_float(c->dtype()), ErrorCode::kUnimplemented, what + ": constant input is " + c->describe());
        defer_const(*c, b->dt, cp);
        sh[i] = c->shape();
      } else {
        v = need_value(i);
        need_float(v);
        sh[i] = values[v].shape;
      }
    }
    b->shape = broadcast_shape(sh[0], sh[1], values[b->y].shape, what);
    b->kernel = "binary " + op + " (broadcast)";
    b->what = what;
    ops.push_back(std::move(b));
    return;
  }

  if (op == "Softmax" || op == "LogSoftmax") {
    auto s = std::make_unique<SoftmaxOp>();
    s->x = need_value(0);
    need_float(s->x);
    s->y = out_id(0);
    s->dt = values[s->x].dev_dtype;
    s->log = op == "LogSoftmax";
    const auto l = kernels::ops::softmax::softmax_layout(n, values[s->x].shape, graph.opset);
    s->outer = l.outer;
    s->n = l.n;
    s->inner = l.inner;
    s->kernel = "softmax (warp per row)";
    s->what = what;
    ops.push_back(std::move(s));
    return;
  }

  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {  // no GlobalMaxPool on the CPU runtime
    auto p = std::make_unique<PoolOp>();
    p->x = need_value(0);
    need_float(p->x);
    p->y = out_id(0);
    p->dt = values[p->x].dev_dtype;
    const Shape& xs = values[p->x].shape;
    EDGEOPT_CHECK_ARG(xs.rank() >= 3, what + ": input X has shape " + xs.str() + "; pools need [N, C, spatial...]");
    p->planes = xs[0] * xs[1];
    p->p.max = op == "MaxPool" || op == "GlobalMaxPool";
    if (op.rfind("Global", 0) == 0) {
      p->global = true;
      p->spatial = xs.numel() / std::max<int64_t>(1, p->planes);
      p->kernel = "global pool (block per plane)";
    } else {
      EDGEOPT_CHECK(n.outputs.size() < 2 || n.outputs[1].empty(), ErrorCode::kUnimplemented,
                    what + ": MaxPool's Indices output is not supported on CUDA");
      const auto w = kernels::ops::conv::pool_window(n, xs);
      EDGEOPT_CHECK(w.nd <= 2, ErrorCode::kUnimplemented, what + ": 3-D pooling is not supported on CUDA");
      Pool2d& q = p->p;
      q.planes = p->planes;
      q.ih = w.big[1];
      q.iw = w.big[2];
      q.oh = w.small[1];
      q.ow = w.small[2];
      q.kh = w.kernel[1];
      q.kw = w.kernel[2];
      q.sh = w.stride[1];
      q.sw = w.stride[2];
      q.ph = w.pad_begin[1];
      q.pw = w.pad_begin[2];
      q.pe_h = w.pad_end[1];
      q.pe_w = w.pad_end[2];
      q.dh = w.dilation[1];
      q.dw = w.dilation[2];
      q.include_pad = op == "AveragePool" && n.attr_int("count_include_pad", 0) != 0;
      p->kernel = "pool2d (thread per output)";
    }
    p->what = what;
    ops.push_back(std::move(p));
    return;
  }

  // LSTM / GRU (structs and design: the "LSTM / GRU" section above).
  if (op == "LSTM" || op == "GRU") {
    namespace rc = kernels::recurrent;
    const bool lstm = op == "LSTM";
    const int64_t gates = lstm ? 4 : 3;
    auto o = std::make_unique<RnnOp>();
    o->x = need_value(0);
    need_float(o->x);
    const DType dt = values[o->x].dev_dtype;
    const Tensor& w = need_const(1, "W");
    const Tensor& r = need_const(2, "R");
    const Tensor* b = const_in(3);
    if (n.has_input(3)) need_const(3, "B");
    const Tensor* sl = const_in(4);
    if (n.has_input(4)) need_const(4, "sequence_lens");
    const Tensor* pp = lstm ? const_in(7) : nullptr;
    if (lstm && n.has_input(7)) need_const(7, "P");
    // The CPU kernels' own attribute and shape rules, on stand-ins for the runtime inputs.
    std::vector<Tensor> in(n.inputs.size());
    in[0] = Tensor::zeros(DType::kF32, values[o->x].shape);
    in[1] = w;
    in[2] = r;
    if (b) in[3] = *b;
    if (sl) in[4] = *sl;
    const size_t n_states = lstm ? 2 : 1;
    for (size_t i = 5; i < 5 + n_states && i < n.inputs.size(); ++i) {
      if (!n.has_input(i)) continue;
      const void** where = i == 5 ? &o->h0_const : &o->c0_const;
      int64_t& id = i == 5 ? o->h0 : o->c0;
      if (const Tensor* c = const_in(i)) {
        in[i] = *c;
        defer_const(*c, dt, where);
      } else {
        id = need_value(i);
        need_float(id);
        in[i] = Tensor::zeros(DType::kF32, values[id].shape);
      }
    }
    if (pp) in[7] = *pp;
    const std::vector<std::string> default_acts =
        lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"} : std::vector<std::string>{"Sigmoid", "Tanh"};
    const rc::RnnConfig cfg = rc::read_rnn_config(n, in, gates, default_acts);
    const int64_t H = cfg.hidden, I = cfg.input, GH = gates * H, B = cfg.batch, T = cfg.seq, D = cfg.dirs;
    o->p = rnn_step_params(n, cfg, elem_of(dt));
    const RnnStep& p = o->p;
    auto opt_out = [&](size_t i) -> int64_t {
      return i < n.outputs.size() && !n.outputs[i].empty() ? out_id(i) : -1;
    };
    o->y = opt_out(0);
    o->y_h = opt_out(1);
    if (lstm) o->y_c = opt_out(2);
    o->steps = T;
    if (sl) {
      o->steps = 0;
      std::vector<int32_t> l32;
      for (int64_t len : cfg.lens) {
        l32.push_back(static_cast<int32_t>(len));
        o->steps = std::max(o->steps, len);
        if (len < T && o->y >= 0) o->y_bytes = values[o->y].bytes();  // Y is 0 past a sequence's end
      }
      defer_raw(l32.data(), l32.size() * sizeof(int32_t), &o->lens);
    }
    // Weights: W whole ([dirs*G*H, I], one projection for both directions), R per direction (GRU
    // lbr=0: split into the z,r rows and the candidate rows), B and P as f32 for the gate kernel.
    defer_const(w, dt, &o->w);
    const int64_t n_first = p.cell == RnnCell::kGruResetFirst ? 2 * H : GH;
    for (int64_t d = 0; d < D; ++d) {
      const float* rd = r.data<float>() + d * GH * H;
      Tensor r1(DType::kF32, Shape{n_first, H});
      std::memcpy(r1.raw(), rd, static_cast<size_t>(n_first * H) * sizeof(float));
      defer_const(r1, dt, &o->r[d]);
      if (p.cell == RnnCell::kGruResetFirst) {
        Tensor r2(DType::kF32, Shape{H, H});
        std::memcpy(r2.raw(), rd + 2 * H * H, static_cast<size_t>(H * H) * sizeof(float));
        defer_const(r2, dt, &o->r_h[d]);
      }
      if (b) defer_raw(b->data<float>() + d * 2 * GH, static_cast<size_t>(2 * GH) * sizeof(float), &o->bias[d]);
      if (pp) defer_raw(pp->data<float>() + d * 3 * H, static_cast<size_t>(3 * H) * sizeof(float), &o->peep[d]);
    }
    const size_t f4 = sizeof(float), es = dtype_size(dt);
    const int64_t rows = values[o->x].shape.numel() / I;  // T * B in either layout
    o->t_xp = add_temp(static_cast<size_t>(rows * D * GH) * f4, step);
    for (int64_t d = 0; d < D; ++d) {
      o->t_h[d] = add_temp(static_cast<size_t>(B * H) * f4, step);
      if (lstm) o->t_c[d] = add_temp(static_cast<size_t>(B * H) * f4, step);
      o->t_hp[d] = add_temp(static_cast<size_t>(B * n_first) * f4, step);
      o->t_hq[d] = dt == DType::kF32 ? o->t_h[d] : add_temp(static_cast<size_t>(B * H) * es, step);
      if (p.cell == RnnCell::kGruResetFirst) {
        o->t_z[d] = add_temp(static_cast<size_t>(B * H) * f4, step);
        o->t_rh[d] = add_temp(static_cast<size_t>(B * H) * es, step);
        o->t_hp2[d] = add_temp(static_cast<size_t>(B * H) * f4, step);
      }
    }
    lt_rows_times_bt(lt, o->mm_x, dt, rows, D * GH, I, opts.max_workspace_bytes, what, "input projection X W^T");
    lt_rows_times_bt(lt, o->mm_h, dt, B, n_first, H, opts.max_workspace_bytes, what, "recurrent product h R^T");
    if (p.cell == RnnCell::kGruResetFirst)
      lt_rows_times_bt(lt, o->mm_h2, dt, B, H, H, opts.max_workspace_bytes, what, "candidate product (r*h) R_h^T");
    o->workspace = std::max({o->mm_x.workspace, o->mm_h.workspace, o->mm_h2.workspace});
    o->kernel = std::string("cublasLt ") + precision_name(opts.precision) + " X W^T, then per step " +
                (p.cell == RnnCell::kGruResetFirst ? "h R_zr^T + gates + (r*h) R_h^T + candidate" : "h R^T + gates") +
                " (" + std::to_string(o->steps) + " steps, " + std::to_string(D) + " direction(s), f32 state)";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  if (op == "Gather") {
    auto o = std::make_unique<GatherOp>();
    o->x = need_value(0);
    o->y = out_id(0);
    const Tensor& idx = need_const(1, "indices");
    const Shape& xs = values[o->x].shape;
    EDGEOPT_CHECK_ARG(xs.rank() > 0, what + ": data must have rank >= 1");
    EDGEOPT_CHECK_ARG(idx.dtype() == DType::kI64 || idx.dtype() == DType::kI32,
                      what + ": indices must be int32 or int64, got " + idx.describe());
    const size_t axis = xs.normalize_axis(n.attr_int("axis", 0));
    o->dim = xs[axis];
    for (size_t i = 0; i < xs.rank(); ++i)
      if (i < axis) o->outer *= xs[i];
      else if (i > axis) o->inner *= xs[i];
    std::vector<int64_t> v = idx.to_i64_vector();
    for (int64_t& k : v) {  // gather.cpp's rule: [-dim, dim), negative from the end
      EDGEOPT_CHECK_ARG(k >= -o->dim && k < o->dim, what + ": index " + std::to_string(k) +
                                                        " is out of range for axis " + std::to_string(axis) +
                                                        " of size " + std::to_string(o->dim));
      if (k < 0) k += o->dim;
    }
    o->n_idx = static_cast<int64_t>(v.size());
    defer_raw(v.data(), v.size() * sizeof(int64_t), &o->idx);
    o->elem_bytes = static_cast<int>(dtype_size(values[o->x].dev_dtype));
    o->kernel = "gather (constant indices, thread per output)";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  if (op == "Transpose") {
    auto o = std::make_unique<TransposeOp>();
    o->x = need_value(0);
    o->y = out_id(0);
    const Shape& xs = values[o->x].shape;
    const size_t rank = xs.rank();
    EDGEOPT_CHECK(rank <= static_cast<size_t>(kMaxRank), ErrorCode::kUnimplemented,
                  what + ": input rank " + std::to_string(rank) + " > " + std::to_string(kMaxRank) + " on CUDA");
    std::vector<int64_t> perm = n.attr_ints("perm");
    if (!n.has_attr("perm"))
      for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    EDGEOPT_CHECK_ARG(perm.size() == rank, what + ": perm has " + std::to_string(perm.size()) +
                                               " entries but the input has rank " + std::to_string(rank));
    const std::vector<int64_t> strides = xs.strides();
    o->shape.rank = static_cast<int>(rank);
    for (size_t d = 0; d < rank; ++d) {
      EDGEOPT_CHECK_ARG(perm[d] >= 0 && perm[d] < static_cast<int64_t>(rank), what + ": perm entry out of range");
      o->shape.out[d] = xs[static_cast<size_t>(perm[d])];
      o->shape.in_stride[d] = strides[static_cast<size_t>(perm[d])];
    }
    o->elem_bytes = static_cast<int>(dtype_size(values[o->x].dev_dtype));
    o->kernel = "transpose (thread per output)";
    o->what = what;
    ops.push_back(std::move(o));
    return;
  }

  throw_error(ErrorCode::kUnimplemented, what + ": op " + op + " has no CUDA kernel");
}

void CudaSession::Impl::build(const Graph& g) {
  int device_count = cuda_device_count();
  EDGEOPT_CHECK(device_count > 0, ErrorCode::kFailedPrecondition,
                "no CUDA device: cudaGetDeviceCount found none (is a GPU and its driver present?)");
  EDGEOPT_CHECK_ARG(opts.device >= 0 && opts.device < device_count,
                    "CUDA device " + std::to_string(opts.device) + " does not exist (" + std::to_string(device_count) +
                        " present)");
  EDGEOPT_CHECK_ARG(opts.batch >= 1, "batch must be >= 1, got " + std::to_string(opts.batch));
  EDGEOPT_CUDA_CALL(cudaSetDevice(opts.device), device_what);
  stats.device_name = cuda_device_name(opts.device);

  // The CPU runtime's passes (and its validation) give the graph both backends run.
  runtime::SessionOptions so;
  so.optimize = opts.optimize;
  so.bf16_compute = runtime::passes::Bf16Compute::kOff;  // no ConvBf16 / GemmBf16 kernels here
  runtime::Session cpu(g, so);
  graph = cpu.graph();
  runtime::passes::split_conv_maxpool(graph);  // no ConvMaxPool kernel here: Conv + MaxPool
  runtime::passes::split_qlinear_global_average_pool(graph);  // nor this one: DQ -> GlobalAveragePool -> Q
  // Nor LSTM/GRUDynamicInt8: DQ -> LSTM/GRU again, the DQs folded into f32 weights as before.
  if (runtime::passes::split_dq_recurrent(graph).nodes_changed) runtime::passes::fold_constants(graph);
  const std::vector<size_t> order = graph.topo_order();

  // Static shapes: one run of the CPU kernels on zero inputs. The op library has no separate shape
  // functions, and this also yields the values of shape-only subgraphs, which become constants.
  std::map<std::string, Tensor> probe;
  for (const auto& vi : graph.inputs) {
    std::vector<int64_t> dims(vi.shape.dims().begin(), vi.shape.dims().end());
    for (size_t d = 0; d < dims.size(); ++d)
      if (dims[d] < 0) dims[d] = d == 0 ? opts.batch : 1;
    if (!dims.empty() && opts.batch != 1 && vi.shape[0] >= 0)
      EDGEOPT_CHECK_ARG(dims[0] == opts.batch, "input '" + vi.name + "' has a fixed batch dim " + std::to_string(dims[0]) +
                                                   ", so batch " + std::to_string(opts.batch) + " cannot apply");
    input_infos.push_back({vi.name, vi.dtype, Shape(dims), {}});
    probe[vi.name] = Tensor::zeros(vi.dtype, Shape(dims));
  }
  for (const auto& [name, t] : graph.initializers)
    if (!graph.find_input(name)) consts_[name] = t;
  std::vector<bool> folded(order.size(), false);
  for (size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = graph.nodes[order[pos]];
    const kernels::OpDef* op = kernels::find_op(n.op_type);
    std::vector<Tensor> in;
    bool all_const = true;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!n.has_input(i)) {
        in.emplace_back();
        continue;
      }
      auto c = consts_.find(n.inputs[i]);
      if (c != consts_.end()) {
        in.push_back(c->second);
      } else {
        all_const = false;
        in.push_back(probe.at(n.inputs[i]));
      }
    }
    std::vector<Tensor> out(n.outputs.size());
    kernels::ForwardCtx ctx{n, in, out};
    ctx.opset = graph.opset;
    try {
      kernels::select_forward(*op)(ctx);
    } catch (Error& e) {
      e.add_context(n.describe() + " (CUDA shape pass, batch " + std::to_string(opts.batch) + ")");
      throw;
    }
    folded[pos] = all_const || n.op_type == "Shape";
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      probe[n.outputs[o]] = out[o];
      if (folded[pos]) consts_[n.outputs[o]] = out[o];
    }
  }

  // Values and their lifetimes. Step 0 stages the inputs in, node p runs at step p + 1, step
  // order.size() + 1 stages the outputs out.
  const int64_t last_step = static_cast<int64_t>(order.size()) + 1;
  for (const auto& vi : input_infos) graph_inputs.push_back(add_value(vi.name, probe.at(vi.name)));
  std::vector<int64_t> first;  // per value
  first.assign(values.size(), 0);
  for (size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = graph.nodes[order[pos]];
    if (folded[pos]) {
      ++stats.host_folded_nodes;
      continue;
    }
    const bool view = view_ops().count(n.op_type) != 0;
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      if (view && o > 0) continue;  // Dropout's mask: unused in inference (the passes removed readers)
      const int64_t id = add_value(n.outputs[o], probe.at(n.outputs[o]));
      first.push_back(static_cast<int64_t>(pos) + 1);
      if (view) {
        auto src = value_id.find(n.inputs[0]);
        EDGEOPT_CHECK(src != value_id.end(), ErrorCode::kInternal, n.describe() + ": view of a non-runtime value");
        values[id].root = values[src->second].root;
      }
    }
  }
  std::vector<int64_t> last(values.size(), -1);
  for (size_t pos = 0; pos < order.size(); ++pos) {
    if (folded[pos]) continue;
    for (const auto& in : graph.nodes[order[pos]].inputs) {
      auto it = value_id.find(in);
      if (it != value_id.end()) last[values[it->second].root] = std::max(last[values[it->second].root], static_cast<int64_t>(pos) + 1);
    }
  }
  for (const auto& o : graph.outputs) {
    auto it = value_id.find(o.name);
    if (it != value_id.end()) {
      graph_outputs.push_back(it->second);
      output_names.push_back(o.name);
      last[values[it->second].root] = last_step;
    } else {
      EDGEOPT_CHECK(consts_.count(o.name), ErrorCode::kInvalidArgument, "graph output '" + o.name + "' is not produced");
      output_consts[o.name] = consts_.at(o.name);
    }
  }
  for (size_t v = 0; v < values.size(); ++v) {
    if (values[v].root != static_cast<int64_t>(v)) continue;
    values[v].buffer = static_cast<int64_t>(buffers.size());
    buffers.push_back({std::max<size_t>(values[v].bytes(), 1), first[v], std::max(first[v], last[v])});
  }
  for (auto& v : values) v.buffer = values[v.root].buffer;

  // Device handles, then one op per node that computes; unsupported nodes are listed together.
  EDGEOPT_CUDA_CALL(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking), device_what);
  EDGEOPT_CUDA_CALL(cudaStreamCreateWithFlags(&h2d, cudaStreamNonBlocking), device_what);
  EDGEOPT_CUDA_CALL(cudaStreamCreateWithFlags(&d2h, cudaStreamNonBlocking), device_what);
  for (int s = 0; s < 2; ++s) {
    EDGEOPT_CUDA_CALL(cudaEventCreateWithFlags(&uploaded[s], cudaEventDisableTiming), device_what);
    EDGEOPT_CUDA_CALL(cudaEventCreateWithFlags(&computed[s], cudaEventDisableTiming), device_what);
    EDGEOPT_CUDA_CALL(cudaEventCreateWithFlags(&downloaded[s], cudaEventDisableTiming), device_what);
  }
  EDGEOPT_CUDNN_CALL(cudnnCreate(&cudnn), device_what);
  EDGEOPT_CUDNN_CALL(cudnnSetStream(cudnn, compute), device_what);
  EDGEOPT_CUBLAS_CALL(cublasLtCreate(&lt), device_what);
  std::vector<std::string> unsupported;
  for (size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = graph.nodes[order[pos]];
    if (folded[pos]) continue;
    if (view_ops().count(n.op_type)) {
      ++stats.view_nodes;
      continue;
    }
    try {
      make_op(n, static_cast<int64_t>(pos) + 1);
    } catch (Error& e) {
      if (e.code() != ErrorCode::kUnimplemented) {
        if (e.message().find(n.describe()) == std::string::npos) e.add_context(n.describe() + " (CUDA)");
        throw;
      }
      const bool named = e.message().find(n.describe()) != std::string::npos;
      unsupported.push_back(named ? e.message() : n.describe() + ": " + e.message());
    }
  }
  if (!unsupported.empty()) {
    std::string msg = std::to_string(unsupported.size()) + " node(s) cannot run on the CUDA backend (" +
                      precision_name(opts.precision) + "): ";
    for (size_t i = 0; i < unsupported.size() && i < 20; ++i) msg += (i ? "; " : "") + unsupported[i];
    throw_error(ErrorCode::kUnimplemented, msg + (unsupported.size() > 20 ? "; ..." : ""));
  }
  stats.device_nodes = static_cast<int64_t>(ops.size());
  allocate();
}

void CudaSession::Impl::allocate() {
  plan = runtime::plan_memory_greedy(buffers, kAlign);
  stats.arena_bytes = plan.arena_bytes;
  stats.live_peak_bytes = runtime::live_peak_bytes(buffers, kAlign);
  arena.alloc(plan.arena_bytes, device_what + ": activation arena of " + std::to_string(plan.arena_bytes) + " bytes");
  // Zeroed once, so the first run never hands cuDNN uninitialized memory as an operand (the fused
  // conv without a residual passes y as its z with alpha2 = 0, the usual idiom).
  if (plan.arena_bytes) EDGEOPT_CUDA_CALL(cudaMemset(arena.p, 0, plan.arena_bytes), device_what);
  // Constants: one allocation, one synchronous upload each, once.
  size_t wbytes = 0;
  for (auto& [t, where] : pending_consts) wbytes += align_up(t.nbytes());
  for (auto& [v, where] : pending_raw) wbytes += align_up(v.size());
  weights.alloc(wbytes, device_what + ": weights (" + std::to_string(wbytes) + " bytes)");
  stats.weight_bytes = wbytes;
  size_t off = 0;
  auto put = [&](const void* src, size_t bytes, const void** where) {
    char* dst = static_cast<char*>(weights.p) + off;
    if (bytes) EDGEOPT_CUDA_CALL(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), device_what + ": weight upload");
    *where = dst;
    off += align_up(bytes);
  };
  for (auto& [t, where] : pending_consts) put(t.raw(), t.nbytes(), where);
  for (auto& [v, where] : pending_raw) put(v.data(), v.size(), where);
  pending_consts.clear();
  pending_raw.clear();
  size_t ws = 0;
  for (const auto& op : ops) ws = std::max(ws, op->workspace);
  workspace.alloc(ws, device_what + ": workspace");
  stats.workspace_bytes = ws;
  // Staging per slot: inputs then outputs, in the host dtype.
  size_t s = 0;
  for (int64_t v : graph_inputs) {
    stage_offset.push_back(s);
    s += align_up(static_cast<size_t>(values[v].shape.numel()) * dtype_size(values[v].host_dtype));
  }
  stage_in_bytes = s;
  for (int64_t v : graph_outputs) {
    stage_offset.push_back(s);
    s += align_up(static_cast<size_t>(values[v].shape.numel()) * dtype_size(values[v].host_dtype));
  }
  stage_slot_bytes = std::max<size_t>(s, kAlign);
  staging_dev.alloc(2 * stage_slot_bytes, device_what + ": staging");
  staging_host.alloc(2 * stage_slot_bytes, device_what + ": pinned host staging");
  stats.staging_bytes = 2 * stage_slot_bytes;
  EDGEOPT_CUDA_CALL(cudaMemset(staging_dev.p, 0, 2 * stage_slot_bytes), device_what);
  std::memset(staging_host.p, 0, 2 * stage_slot_bytes);

  ex.stream = compute;
  ex.cudnn = cudnn;
  ex.lt = lt;
  ex.workspace = workspace.p;
  ex.workspace_bytes = ws;
  ex.value_ptr.resize(values.size());
  for (size_t v = 0; v < values.size(); ++v)
    ex.value_ptr[v] = static_cast<char*>(arena.p) + plan.offsets[static_cast<size_t>(values[v].buffer)];
  for (int64_t b : temp_buffer) ex.temp_ptr.push_back(static_cast<char*>(arena.p) + plan.offsets[static_cast<size_t>(b)]);

  // One eager run (lazy library initialization must not happen inside a capture, and a failing
  // kernel is reported here with its node), then the capture.
  enqueue_compute(0);
  EDGEOPT_CUDA_CALL(cudaStreamSynchronize(compute), device_what + ": warm-up run");
  for (const auto& op : ops) stats.node_kernels.push_back(op->what + ": " + op->kernel);
  if (opts.cuda_graphs) capture_graphs();
}

void CudaSession::Impl::enqueue_compute(int slot) {
  char* stage = static_cast<char*>(staging_dev.p) + static_cast<size_t>(slot) * stage_slot_bytes;
  for (size_t i = 0; i < graph_inputs.size(); ++i) {
    const DevValue& v = values[graph_inputs[i]];
    const int64_t n = v.shape.numel();
    const std::string what = "staging input '" + v.name + "'";
    if (v.host_dtype != v.dev_dtype)
      EDGEOPT_LAUNCH(launch_convert_f32_to_f16(reinterpret_cast<const float*>(stage + stage_offset[i]),
                                               ex.value_ptr[graph_inputs[i]], n, compute),
                     what);
    else if (n)
      EDGEOPT_CUDA_CALL(cudaMemcpyAsync(ex.value_ptr[graph_inputs[i]], stage + stage_offset[i], v.bytes(),
                                        cudaMemcpyDeviceToDevice, compute),
                        what);
  }
  for (auto& op : ops) op->enqueue(ex);
  for (size_t o = 0; o < graph_outputs.size(); ++o) {
    const DevValue& v = values[graph_outputs[o]];
    const int64_t n = v.shape.numel();
    char* dst = stage + stage_offset[graph_inputs.size() + o];
    const std::string what = "staging output '" + v.name + "'";
    if (v.host_dtype != v.dev_dtype)
      EDGEOPT_LAUNCH(launch_convert_f16_to_f32(ex.value_ptr[graph_outputs[o]], reinterpret_cast<float*>(dst), n, compute),
                     what);
    else if (n)
      EDGEOPT_CUDA_CALL(cudaMemcpyAsync(dst, ex.value_ptr[graph_outputs[o]], v.bytes(), cudaMemcpyDeviceToDevice, compute),
                        what);
  }
}

void CudaSession::Impl::capture_graphs() {
  for (int slot = 0; slot < 2; ++slot) {
    cudaGraph_t g = nullptr;
    std::string note;
    EDGEOPT_CUDA_CALL(cudaStreamBeginCapture(compute, cudaStreamCaptureModeThreadLocal), device_what);
    try {
      enqueue_compute(slot);
    } catch (const Error& e) {
      note = std::string("a call was refused during capture: ") + e.what();
    }
    const cudaError_t end = cudaStreamEndCapture(compute, &g);
    if (note.empty() && end != cudaSuccess) note = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
    if (note.empty() && cudaGraphInstantiate(&graph_exec[slot], g, 0) != cudaSuccess)
      note = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(cudaGetLastError());
    if (g) cudaGraphDestroy(g);
    if (!note.empty()) {
      cudaGetLastError();  // capture errors are sticky only for the call; clear them
      for (auto& e : graph_exec)
        if (e) cudaGraphExecDestroy(e);
      graph_exec[0] = graph_exec[1] = nullptr;
      stats.cuda_graphs = false;
      stats.cuda_graphs_note = note + " (running eagerly)";
      return;
    }
  }
  stats.cuda_graphs = true;
}

void CudaSession::Impl::validate_feeds(const std::map<std::string, Tensor>& feeds) const {
  for (const auto& vi : input_infos) {
    auto it = feeds.find(vi.name);
    EDGEOPT_CHECK_ARG(it != feeds.end(), "input '" + vi.name + "' is missing (expects " + dtype_name(vi.dtype) +
                                             vi.shape.str() + ")");
    EDGEOPT_CHECK_ARG(it->second.dtype() == vi.dtype, "input '" + vi.name + "' has dtype " +
                                                          dtype_name(it->second.dtype()) + " but the model expects " +
                                                          dtype_name(vi.dtype));
    EDGEOPT_CHECK_ARG(it->second.shape() == vi.shape,
                      "input '" + vi.name + "' has shape " + it->second.shape().str() + " but this CUDA session was built for " +
                          vi.shape.str() + " (batch " + std::to_string(opts.batch) + "; build one session per batch size)");
  }
  for (const auto& [name, t] : feeds) {
    bool known = false;
    for (const auto& vi : input_infos) known |= vi.name == name;
    EDGEOPT_CHECK_ARG(known, "'" + name + "' is not an input of the model");
  }
}

void CudaSession::Impl::stage_and_launch(int slot, const std::map<std::string, Tensor>& feeds) {
  char* host = static_cast<char*>(staging_host.p) + static_cast<size_t>(slot) * stage_slot_bytes;
  char* dev = static_cast<char*>(staging_dev.p) + static_cast<size_t>(slot) * stage_slot_bytes;
  const size_t in_bytes = stage_in_bytes;
  const size_t out_off = in_bytes, out_bytes = stage_slot_bytes - in_bytes;
  // The previous upload from this slot's pinned buffer must be done before it is overwritten.
  EDGEOPT_CUDA_CALL(cudaEventSynchronize(uploaded[slot]), device_what);
  for (size_t i = 0; i < graph_inputs.size(); ++i) {
    const Tensor& t = feeds.at(input_infos[i].name);
    std::memcpy(host + stage_offset[i], t.raw(), t.nbytes());
  }
  // h2d: wait until the compute that read this slot's device inputs is done, then upload.
  EDGEOPT_CUDA_CALL(cudaStreamWaitEvent(h2d, computed[slot], 0), device_what);
  if (in_bytes) EDGEOPT_CUDA_CALL(cudaMemcpyAsync(dev, host, in_bytes, cudaMemcpyHostToDevice, h2d), device_what + ": upload");
  EDGEOPT_CUDA_CALL(cudaEventRecord(uploaded[slot], h2d), device_what);
  // compute: after the upload, and after this slot's previous outputs were downloaded.
  EDGEOPT_CUDA_CALL(cudaStreamWaitEvent(compute, uploaded[slot], 0), device_what);
  EDGEOPT_CUDA_CALL(cudaStreamWaitEvent(compute, downloaded[slot], 0), device_what);
  if (graph_exec[slot])
    EDGEOPT_CUDA_CALL(cudaGraphLaunch(graph_exec[slot], compute), device_what + ": CUDA graph launch");
  else
    enqueue_compute(slot);
  EDGEOPT_CUDA_CALL(cudaEventRecord(computed[slot], compute), device_what);
  EDGEOPT_CUDA_CALL(cudaStreamWaitEvent(d2h, computed[slot], 0), device_what);
  if (out_bytes && !graph_outputs.empty())
    EDGEOPT_CUDA_CALL(cudaMemcpyAsync(host + out_off, dev + out_off, out_bytes, cudaMemcpyDeviceToHost, d2h),
                      device_what + ": download");
  EDGEOPT_CUDA_CALL(cudaEventRecord(downloaded[slot], d2h), device_what);
}

std::map<std::string, Tensor> CudaSession::Impl::collect(int slot) {
  const cudaError_t st = cudaEventSynchronize(downloaded[slot]);
  if (st != cudaSuccess)
    throw_error(ErrorCode::kInternal, device_what + ": a kernel failed asynchronously: " + cudaGetErrorName(st) + " (" +
                                          cudaGetErrorString(st) +
                                          "); rerun with CUDA_LAUNCH_BLOCKING=1 and cuda_graphs off to name the node");
  const char* host = static_cast<const char*>(staging_host.p) + static_cast<size_t>(slot) * stage_slot_bytes;
  std::map<std::string, Tensor> out;
  for (size_t o = 0; o < graph_outputs.size(); ++o) {
    const DevValue& v = values[graph_outputs[o]];
    Tensor t(v.host_dtype, v.shape);
    std::memcpy(t.raw(), host + stage_offset[graph_inputs.size() + o], t.nbytes());
    out[output_names[o]] = t;
  }
  for (const auto& [name, t] : output_consts) out[name] = t;
  return out;
}

CudaSession::CudaSession(const Graph& graph, CudaSessionOptions opts) : impl_(std::make_unique<Impl>()) {
  impl_->opts = opts;
  impl_->build(graph);
}

CudaSession::~CudaSession() = default;

std::map<std::string, Tensor> CudaSession::run(const std::map<std::string, Tensor>& feeds) {
  return run_many({feeds}).front();
}

std::vector<std::map<std::string, Tensor>> CudaSession::run_many(const std::vector<std::map<std::string, Tensor>>& requests) {
  Impl& m = *impl_;
  for (const auto& f : requests) m.validate_feeds(f);
  EDGEOPT_CUDA_CALL(cudaSetDevice(m.opts.device), m.device_what);
  std::vector<std::map<std::string, Tensor>> results(requests.size());
  // Request r is staged and launched before request r-1 is collected, so r's upload overlaps r-1's
  // compute and r-1's download overlaps r's compute.
  for (size_t r = 0; r < requests.size(); ++r) {
    m.stage_and_launch(static_cast<int>(r % 2), requests[r]);
    if (r >= 1) results[r - 1] = m.collect(static_cast<int>((r - 1) % 2));
  }
  if (!requests.empty()) results.back() = m.collect(static_cast<int>((requests.size() - 1) % 2));
  return results;
}

const Graph& CudaSession::graph() const { return impl_->graph; }
const CudaSessionStats& CudaSession::stats() const { return impl_->stats; }
const std::vector<ValueInfo>& CudaSession::input_infos() const { return impl_->input_infos; }

}  // namespace edgeopt::cuda
