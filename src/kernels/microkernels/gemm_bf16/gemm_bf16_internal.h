// Tile kernels and row packers behind gemm_bf16 (internal to microkernels/gemm_bf16).
#pragma once
#include <cstdint>

#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"

namespace edgeopt::kernels::gemm_bf16::detail {

// One register tile: C[0, mr) x [0, nr) (c at its first element) += kq K-pairs of the A block a and
// the B panel b (both already offset to the first pair). load_c: start from C (a previous K slice,
// or the caller's addend), else from zero. last: the final K slice, so apply the epilogue (row_bias
// and col_bias offset to the tile's first row / column, or null; clamp when clamp is set).
struct Tile {
  int64_t kq = 0;
  const uint16_t* a = nullptr;
  const uint16_t* b = nullptr;
  float* c = nullptr;
  int64_t ldc = 0, mr = 0, nr = 0;
  bool load_c = false, last = false;
  const float* row_bias = nullptr;
  const float* col_bias = nullptr;
  bool clamp = false;
  float lo = 0.f, hi = 0.f;
};

void tile_scalar(const Tile& t);
void tile_avx512bf16(const Tile& t);

// One K-pair of one B panel from two f32 rows (r1 null: the zero pad of an odd K), columns [0, nc)
// of the rows, zeros past nc: out[2c] = bf16(r0[c]), out[2c + 1] = bf16(r1[c]) for c < kNr. Needs
// AVX-512 F+BW; the same bits as f32_to_bf16.
void pack_b_pair_avx512(const float* r0, const float* r1, int64_t nc, uint16_t* out);

}  // namespace edgeopt::kernels::gemm_bf16::detail
