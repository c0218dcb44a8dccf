// fp16 / bf16 weight storage: every f32 weight of a compute op becomes an f16 (or bf16) initializer
// followed by Cast(to=FLOAT) under the weight's old name, so the file holds half the bytes and
// every op still computes in f32 (the Cast runs once: the session folds it into a constant).
//
//   Graph h = store_weights_lowp(prepare_float_graph(g), DType::kF16);
//
// Only initializers read by Conv, ConvTranspose, Gemm, MatMul, LSTM, GRU, RNN, Add, Mul, Sub and
// BatchNormalization with at least 16 elements are converted (scalars, shapes and indices stay).
// fp16 keeps 11 significant bits (relative error <= 2^-11) but overflows above 65504 (such weights
// are left in f32); bf16 keeps f32's range with 8 bits (relative error <= 2^-8).
// bf16 also sets the metadata edgeopt.compute = bf16 (saved with the model): on CPUs with
// AVX512-BF16 the runtime then computes the Conv/Gemm/MatMul products in bf16 with f32 sums
// (runtime/passes use_bf16_compute); elsewhere the Casts fold back to f32 as for fp16.
#pragma once
#include "core/graph.h"

namespace edgeopt::quantize {

struct LowpReport {
  int64_t converted = 0;       // initializers converted
  int64_t kept_overflow = 0;   // left in f32 because a value exceeds the f16 range
};

// Throws InvalidArgument for a dtype other than kF16/kBF16.
Graph store_weights_lowp(const Graph& g, DType dtype, LowpReport* report = nullptr);

}  // namespace edgeopt::quantize
