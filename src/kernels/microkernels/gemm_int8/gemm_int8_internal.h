// Microkernels and epilogues behind gemm_int8 (internal to microkernels/gemm_int8).
// A microkernel computes the full-K s32 tile tile[kMr][kNr] of one packed L block and R panel.
#pragma once
#include <cstdint>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/microkernels/gemm_int8/requantize_avx512.h"

namespace edgeopt::kernels::gemm_int8::detail {

void ukernel_scalar(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned);
void ukernel_avx2(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned);
// roff: null (r is a packed panel), or the indirect R's quad offsets (Operands::rhs_quad_offsets;
// r is the panel's base): quad q read at r + roff[q].
void ukernel_avx512vnni(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned,
                        const int64_t* roff = nullptr);
// A full 8x32 block with a per-row u8/s8 epilogue fused: C[0..8) x [0..32) (c at the block's first
// element) = requantized (L R + bias) with rows[i] (each requant_channel_ok) and ep's zero point and
// range; bias: the block's 8 biases or null. Equals ukernel_avx512vnni + epilogue_avx512 bit for bit.
void ukernel_avx512vnni_q8rows(int64_t kq, const uint8_t* l, const uint8_t* r, const int64_t* roff,
                               bool lhs_unsigned, const x86::RequantChannelScalars* rows, const int32_t* bias,
                               const Epilogue& ep, uint8_t* c, int64_t ldc);
// The s32 tile of gemm_int8_pixel_rows: tile[i][j] = sum_q <px[i] + off[q] (4 u8), channel j's
// s8 quad q>, channels from the four pack_lhs blocks at w, w + wstride, ... (wstride = kq * 32),
// for i < rows (1..8; px holds 8 valid pointers). Returns the rows computed (1, 4 or 8, >= rows):
// tile rows past them are left unwritten.
int64_t ukernel_avx512vnni_pixel_rows(int64_t rows, int64_t kq, const uint8_t* const* px, const int64_t* off,
                                      const uint8_t* w, int64_t wstride, int32_t* tile);
// gemm_int8_pixel_rows' epilogue: tile rows = pixels n0 .. n0 + mr, columns = channels j0 .. j0 + 31
// (per-column u8/s8 requantization, every shift in [-31, -1]) into y[(j0 + j) * ldy + n0 + i].
void epilogue_pixel_rows_avx512(const int32_t* tile, int64_t mr, int64_t j0, const Epilogue& ep, uint8_t* y,
                                int64_t ldy, int64_t n0);
// Rows 0-3 of the tile only (a block with 2 to 4 real rows).
void ukernel_avx512vnni_4row(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned);
// Row 0 of the tile only (a block with one real row), its quads lhs_quad_stride bytes apart (kMr * 4
// in a packed block, 4 for pack_lhs_row).
void ukernel_avx512vnni_1row(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned,
                             int64_t lhs_quad_stride);

// ARMv8.2 SDOT: the unsigned side is moved to s8 (x ^ 0x80 = x - 128) and 128 * the other side's
// sums is added back, so the result equals ukernel_scalar's bit for bit.
void ukernel_neondot(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned);

// Writes rows [i0, i0+mr) x cols [j0, j0+nr) of C from the tile.
void epilogue_scalar(const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, int64_t nr, const Epilogue& ep, void* c,
                     int64_t ldc);
// Same results; needs AVX-512 (F+BW) and, for u8/s8 out, every shift in [-31, 0]. rows: null, or
// for a per-row u8/s8 epilogue whose shifts are all in [-31, -1], x86::requant_channel_scalars of
// every channel (the faster per-channel form).
void epilogue_avx512(const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, int64_t nr, const Epilogue& ep, void* c,
                     int64_t ldc, const x86::RequantChannelScalars* rows = nullptr);

// Rows [i0, i0+mr) of a row-pair tile (gemm_int8_pool2x2_rowpairs) pooled, requantized and
// written to y[i, pr, c0 + t] for t < n (n <= 8; planes of ph * pw elements).
void epilogue_pool2x2_scalar(const int32_t* tile, int64_t i0, int64_t mr, const Epilogue& ep, void* y, int64_t plane,
                             int64_t at, int64_t n);
// Same results; needs AVX-512 (F+BW), u8/s8 out and every shift in [-31, 0].
void epilogue_pool2x2_avx512(const int32_t* tile, int64_t i0, int64_t mr, const Epilogue& ep, void* y, int64_t plane,
                             int64_t at, int64_t n);

}  // namespace edgeopt::kernels::gemm_int8::detail
