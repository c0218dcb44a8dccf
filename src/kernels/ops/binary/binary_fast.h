// Fast f32 Add/Sub/Mul/Div (forward and backward) for the shapes models use: same shape, a
// scalar operand, and an operand broadcast along one contiguous block of dims (a per-channel
// [C,1,1] against [N,C,H,W], a bias [K] against [M,K]). Highway-vectorized, split over the thread
// pool; every other shape and dtype runs the reference (binary.cpp), which stays the oracle.
//   y = full (op) bcast, or bcast (op) full; the broadcast operand's gradient is summed per slot.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::binary {

enum class Kind { kAdd, kSub, kMul, kDiv };

void binary_forward_fast(ForwardCtx& ctx, Kind k);
void binary_grad_fast(BackwardCtx& ctx, Kind k);

// The reference (binary.cpp).
void binary_forward(ForwardCtx& ctx, Kind k);
void binary_grad(BackwardCtx& ctx, Kind k);

}  // namespace edgeopt::kernels::ops::binary
