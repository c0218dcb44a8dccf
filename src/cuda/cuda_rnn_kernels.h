// Device kernels of the LSTM/GRU ops (cuda_rnn_kernels.cu) and of the data movement RNN models
// put around them: Transpose (env_* and PyTorch exports, before the first layer) and Gather with
// constant indices (PyTorch's last-step pick Y[:, -1]). The matrix products run on cuBLASLt
// (cuda_session.cpp, "LSTM / GRU"); these kernels do the per-step gate math in f32 through
// cuda_rnn_math.h, exactly as the CPU reference (src/kernels/ops/lstm/lstm.cpp, gru/gru.cpp): same
// gate order, same order of the additions, same activations (kernels/ops/rnn/rnn_common.cpp), clip
// on pre-activations only.
//
// Buffers per direction d (all row-major, batch entry b, hidden unit j):
//   xp   f32 [rows, dirs*G*H]  X W^T for every timestep, rows in X's layout (t*B+b or b*T+t)
//   hp   f32 [B, N]            h R^T of this step (N = G*H; GRU lbr=0: 2*H, then hp2 [B, H])
//   h, c f32 [B, H]            the state; hq (and GRU lbr=0's rh = r*h): GEMM operands, storage type
// Y/Y_h/Y_c/initial_h/initial_c are in the storage type and the ONNX layout (0 or 1).
#pragma once
#include <cstdint>

#include "cuda/cuda_kernels.h"

namespace edgeopt::cuda {

// recurrent::Activation::Kind, same order.
enum class RnnActKind : uint8_t { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh,
                                  kHardSigmoid, kElu, kSoftsign, kSoftplus };
struct RnnAct {
  RnnActKind kind = RnnActKind::kTanh;
  float alpha = 0.f, beta = 0.f;
};

enum class RnnCell : uint8_t { kLstm, kGruLinearBeforeReset, kGruResetFirst };

struct RnnStep {
  RnnCell cell = RnnCell::kLstm;
  ElemType t = ElemType::kF32;
  int64_t seq = 0, batch = 0, hidden = 0, dirs = 1;
  int64_t layout = 0;          // ONNX layout of X/Y/states
  bool reverse_only = false;   // direction == "reverse"
  bool input_forget = false;   // LSTM
  float clip = 0.f;            // 0: none
  const int32_t* lens = nullptr;  // [batch] or null (= seq for all)
  const float* xp = nullptr;      // [rows, dirs*G*H]
  RnnAct act[2][3];               // per direction: f, g, h (GRU: f, g)
  // Per direction.
  const float* bias[2] = {};  // [2*G*H]: Wb then Rb (f32), or null
  const float* peep[2] = {};  // LSTM P [3*H] (i, o, f), or null
  const float* hp[2] = {};    // this step's h R^T (GRU lbr=0: the z,r part, [B, 2H])
  const float* hp2[2] = {};   // GRU lbr=0: (r*h) R_h^T, [B, H]
  float* h[2] = {};
  float* c[2] = {};
  float* z[2] = {};           // GRU lbr=0: z between the two kernels
  void* hq[2] = {};           // storage-type copy of h: the recurrent GEMM's operand
  void* rh[2] = {};           // GRU lbr=0: r*h in the storage type, the candidate GEMM's operand
  void* y = nullptr;          // Y, or null
};

// Loads initial_h/initial_c (storage type, ONNX state layout; null: zeros) into h/c/hq.
int launch_rnn_init(const RnnStep& p, const void* h0, const void* c0, cudaStream_t stream);
// Step s (processing order) of every direction: gates, state update, Y[t]. For kGruResetFirst,
// `phase` 0 computes z, r and hq = r*h; phase 1 the candidate and h'. Others: phase 0 only.
int launch_rnn_step(const RnnStep& p, int64_t s, int phase, cudaStream_t stream);
// Writes Y_h/Y_c (either may be null) from the final states.
int launch_rnn_final(const RnnStep& p, void* y_h, void* y_c, cudaStream_t stream);

// y = transpose(x, perm) for elements of `elem_bytes` (1, 2, 4 or 8); in_stride[d] is the input
// stride of output dim d (the input's stride of dim perm[d]).
struct TransposeShape {
  int rank = 0;
  int64_t out[kMaxRank] = {};
  int64_t in_stride[kMaxRank] = {};
};
int launch_transpose(const void* x, void* y, int elem_bytes, const TransposeShape& s, cudaStream_t stream);

// Gather viewed as x [outer, dim, inner] -> y [outer, n_idx, inner], y[o, k, i] = x[o, idx[k], i];
// idx already normalized to [0, dim) (gather.cpp's plan, at construction).
int launch_gather(const void* x, void* y, int elem_bytes, int64_t outer, int64_t dim, int64_t inner,
                  const int64_t* idx, int64_t n_idx, cudaStream_t stream);

}  // namespace edgeopt::cuda
