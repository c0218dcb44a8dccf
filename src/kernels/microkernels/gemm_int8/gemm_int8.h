// Packed int8 GEMM with a fused requantization epilogue (u8 x s8 -> s32 -> u8/s8/s32), dispatched at
// run time to AVX512-VNNI (vpdpbusd), AVX2 (vpmovzx/sx + vpmaddwd, exact) or portable scalar code.
//
//   C[i, j] = epilogue(sum_k L[i, k] * R[k, j] + bias[ch])         ch = i (per_row) or j
//   epilogue: s32 out, or clamp(requantize(acc, M[ch]) + zp, qmin, qmax) as u8/s8 (quant/requantize.h)
//
//   std::vector<uint8_t> lp(packed_lhs_bytes(m, k)), rp(packed_rhs_bytes(k, n));
//   pack_lhs(w_s8, m, k, k, /*xor_mask=*/0, lp.data());          // once: conv weights [M, K]
//   pack_rhs(x_u8, k, n, n, false, 0, rp.data());                   // per call: im2col [K, N]
//   gemm_int8(Operands{lp.data(), rp.data(), m, n, k, /*lhs_unsigned=*/false}, ep, y, n);
//
// Exactly one operand is unsigned (u8) and the other signed (s8): `lhs_unsigned` says which. An s8
// activation is turned into u8 by xor 0x80 (xor_mask) with its zero point + 128, so the caller's
// zero-point correction (bias[ch] -= zp * sum_k W) absorbs the +128 (the "+128 trick").
// Accumulation is exact in s32 (wrapping like every int8 runtime when a sum exceeds int32), so
// every ISA gives the same bits; the requantization is quant::requantize, bit-exact per ISA.
//
// Packing: L in blocks of kMr rows, R in panels of kNr columns, both K-padded to a multiple of 4 with
// zeros, 4 consecutive k per 32-bit lane (the vpdpbusd layout); one format for every ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/microkernels/gemm_int8/requantize_avx512.h"  // RequantChannelScalars (plain struct)

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels::gemm_int8 {

inline constexpr int64_t kMr = 8;   // rows of a register tile
inline constexpr int64_t kNr = 32;  // columns of a register tile (two zmm of s32)

// kNeonDot: ARMv8.2 dot product (SDOT), on Cortex-A55/A76/A78 (Raspberry Pi 5, Jetson Orin), not on A72 (Pi 4).
enum class Isa { kScalar, kAvx2, kAvx512Vnni, kNeonDot };
const char* isa_name(Isa isa);  // "scalar", "avx2", "avx512vnni", "neondot"
// The ISAs this CPU runs, best last (tests force each one).
std::vector<Isa> supported_isas();
// The best supported ISA, or the one forced by EDGEOPT_INT8_ISA=scalar|avx2|avx512vnni (a value
// the CPU lacks is ignored).
Isa default_isa();
// AVX512-VBMI (vpermb/vpermt2b) beside AVX-512 F+BW: the byte-permute forms of the int8 packing,
// depthwise and max-pool kernels (layout work, so they do not follow a forced Isa).
bool has_avx512_vbmi();
// Tests: makes default_isa() return `isa` (which must be supported) until reset_forced_isa(); set
// it only while no int8 kernel runs. ScopedForcedIsa is the RAII form.
void force_isa(Isa isa);
void reset_forced_isa();
struct ScopedForcedIsa {
  explicit ScopedForcedIsa(Isa isa) { force_isa(isa); }
  ~ScopedForcedIsa() { reset_forced_isa(); }
};

inline int64_t padded_k(int64_t k) { return (k + 3) / 4 * 4; }
inline size_t packed_lhs_bytes(int64_t m, int64_t k) {
  return static_cast<size_t>((m + kMr - 1) / kMr * kMr * padded_k(k));
}
inline size_t packed_rhs_bytes(int64_t k, int64_t n) {
  return static_cast<size_t>((n + kNr - 1) / kNr * kNr * padded_k(k));
}

// L [m, k] row-major (lda >= k) -> dst (packed_lhs_bytes). Every byte is xor'ed with xor_mask.
void pack_lhs(const void* l, int64_t m, int64_t k, int64_t lda, uint8_t xor_mask, uint8_t* dst);
// R [k, n] row-major (ldb >= n), or with trans: R stored as [n, k] (ldb >= k) -> dst.
void pack_rhs(const void* r, int64_t k, int64_t n, int64_t ldb, bool trans, uint8_t xor_mask, uint8_t* dst);

// GEMV (m == 1, AVX512-VNNI only, see gemv_lhs_row_ok): L's one row as padded_k(k) contiguous bytes
// (xor'ed, zero-padded), read in place by the 1-row microkernel instead of an 8-row packed block.
void pack_lhs_row(const void* l, int64_t k, uint8_t xor_mask, uint8_t* dst);
inline bool gemv_lhs_row_ok(int64_t m, Isa isa) { return m == 1 && isa == Isa::kAvx512Vnni; }

// Rows [4q, 4q + rows) of R [k, n] (r points at row 4q, row stride ldb, 1 <= rows <= 4; missing rows
// are zeros) into quad q of a pack_rhs buffer whose padded K is kp: lets a producer such as
// im2col emit R four rows at a time while they are in L1.
void pack_rhs_quad(const uint8_t* r, int64_t rows, int64_t n, int64_t ldb, int64_t q, int64_t kp, uint8_t* dst);

struct Operands {
  const uint8_t* lhs = nullptr;  // pack_lhs output
  const uint8_t* rhs = nullptr;  // pack_rhs output, or the base of an indirect R (rhs_quad_offsets)
  int64_t m = 0, n = 0, k = 0;
  bool lhs_unsigned = false;  // true: L is u8 and R s8; false: L is s8 and R u8
  bool lhs_row = false;       // lhs is pack_lhs_row output (only where gemv_lhs_row_ok)
  // Indirect R (null: R is packed): quad q of panel p, the kNr * 4 bytes a packed panel holds at
  // p * kNr * kp + q * kNr * 4, is read at rhs + p * kNr * 4 + rhs_quad_offsets[q] instead, for
  // q < padded_k(k) / 4. A conv over channel-quad planes (pixel-major, 4 channels per pixel) reads
  // its taps in place this way, with no per-call im2col or panel gather. Every panel's reads,
  // the last one's included, must stay inside the caller's buffer.
  const int64_t* rhs_quad_offsets = nullptr;
};

enum class OutType { kS32, kU8, kS8 };

struct Epilogue {
  OutType out = OutType::kS32;
  bool per_row = true;            // channel of C[i, j] = i (NCHW conv) or j (MatMul columns)
  const int32_t* bias = nullptr;  // [channels] added to the s32 sum, or null
  // For u8/s8 out: the per-channel fixed-point multiplier (quant::QuantMultiplier fields).
  const int32_t* multiplier = nullptr;
  const int32_t* shift = nullptr;
  int32_t zero_point = 0, qmin = 0, qmax = 255;
  // Optional, per_row u8/s8 only: make_row_requant_table(multiplier, shift, channels), indexed like
  // `multiplier` (offset it together), built once by a prepare instead of on every call.
  const x86::RequantChannelScalars* row_table = nullptr;
};

// The per-channel constants of the AVX-512 per-row requantization for `channels` channels, or an
// empty vector when a shift is outside its range (the scalar epilogue then runs).
std::vector<x86::RequantChannelScalars> make_row_requant_table(const int32_t* multiplier, const int32_t* shift,
                                                               int64_t channels);

// C (ldc in elements of the out type). Splits column panels over the pool (nullptr: run on the
// calling thread); the result does not depend on the split.
void gemm_int8(const Operands& op, const Epilogue& ep, void* c, int64_t ldc, ThreadPool* pool = nullptr,
               Isa isa = default_isa());

// A conv followed by a 2x2/2 max pool, pooled in the register tile: R's panels hold "row pairs"
// (columns 0-15 of panel p: 16 consecutive conv outputs of an even output row, columns 16-31: the
// same 16 columns of the next row); panel p = (pooled row p / col_blocks, column block p %
// col_blocks). Writes y[i, pr, 8 * cb + t] (ph x pw planes, u8/s8 per ep, per_row channels) for
// t < 8 and 8 * cb + t < pw: requantize(max over the window of ((L R)[i, ...] + bias[i])), the same
// bits as the s32 sums pooled, then requantized (requantization is monotonic per channel), with no
// s32 round trip through memory. op.n = panels * kNr.
void gemm_int8_pool2x2_rowpairs(const Operands& op, const Epilogue& ep, int64_t ph, int64_t pw, void* y,
                                ThreadPool* pool = nullptr, Isa isa = default_isa());

// A conv's GEMM with the output pixels as the tile's rows and the channels as its columns, for small
// output planes (7x7, 14x14), where 32-pixel column panels would compute up to a third of junk:
//   y[ch * ldy + n] = epilogue(sum_q <rhs + pixel_offsets[n] + rhs_quad_offsets[q] (4 u8 taps), W[ch] quad q>)
// with op.lhs = pack_lhs of the s8 weights W [m, k] (op.m a multiple of 32, op.lhs_unsigned false),
// op.rhs the u8 planes, op.rhs_quad_offsets the taps (as for an indirect R), n < npx pixels and ep
// per column (per_row false: the channel is the column), u8/s8 out. y holds the channel planes
// (NCHW: ldy = npx); the tiles are transposed in registers on the way out. AVX512-VNNI only
// (pixel_rows_ok); the result equals gemm_int8 on the same operands.
inline bool pixel_rows_ok(int64_t m, Isa isa) { return m % 32 == 0 && isa == Isa::kAvx512Vnni; }
// The pixels per tile of gemm_int8_pixel_rows: 8 (the last tile 1, 4 or 8 rows), or 7 where that
// tiles the plane and 8 does not (49 = 7 x 7, 196 = 28 x 7: no short, latency-bound tail tile).
inline int64_t pixel_rows_block(int64_t npx) { return npx % kMr != 0 && npx % 7 == 0 ? 7 : kMr; }
void gemm_int8_pixel_rows(const Operands& op, const int64_t* pixel_offsets, int64_t npx, const Epilogue& ep,
                          uint8_t* y, int64_t ldy, ThreadPool* pool = nullptr, Isa isa = default_isa());

// The epilogue alone on an s32 matrix acc [m, n] (lda >= n), e.g. a depthwise conv's accumulators.
void requantize_s32(const int32_t* acc, int64_t m, int64_t n, int64_t lda, const Epilogue& ep, void* c, int64_t ldc,
                    Isa isa = default_isa());

}  // namespace edgeopt::kernels::gemm_int8
