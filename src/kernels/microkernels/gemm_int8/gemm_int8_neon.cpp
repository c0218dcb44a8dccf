// ARM int8 microkernel: ARMv8.2 SDOT (vdotq_laneq_s32: four s8*s8 products summed into each s32
// lane). gemm_int8 multiplies u8 by s8; SDOT is s8 by s8, so the unsigned side is flipped to s8
// (u ^ 0x80 = u - 128) and 128 * the sums of the other side are added back. All sums wrap mod 2^32
// like the scalar kernel's, so the tile equals ukernel_scalar's bit for bit. Runs only after
// gemm_int8 saw HWCAP_ASIMDDP; the function carries the +dotprod target, the file needs no flags.
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/microkernels/gemm_int8/gemm_int8_internal.h"

namespace edgeopt::kernels::gemm_int8::detail {

static_assert(kMr == 8 && kNr == 32, "ukernel_neondot computes 8 x 32 tiles");

// One quarter of the tile (8 rows x 8 columns) at a time: 16 accumulators + 2 correction sums,
// fitting NEON's 32 registers with the operands.
__attribute__((target("arch=armv8.2-a+dotprod"))) void ukernel_neondot(int64_t kq, const uint8_t* l,
                                                                         const uint8_t* r, int32_t* tile, bool lhs_unsigned) {
  const uint8x16_t flip = vdupq_n_u8(0x80);
  const int8x16_t ones = vdupq_n_s8(1);
  for (int64_t g = 0; g < kNr / 8; ++g) {
    int32x4_t acc[8][2];
    for (auto& row : acc) row[0] = row[1] = vdupq_n_s32(0);
    int32x4_t csum0 = vdupq_n_s32(0), csum1 = csum0;  // column sums of r (lhs unsigned)
    int32x4_t rsum0 = vdupq_n_s32(0), rsum1 = rsum0;  // row sums of l (rhs unsigned)
    const uint8_t* lq = l;
    const uint8_t* rq = r + g * 32;
    for (int64_t q = 0; q < kq; ++q, lq += kMr * 4, rq += kNr * 4) {
      uint8x16_t l0 = vld1q_u8(lq), l1 = vld1q_u8(lq + 16);  // rows 0-3, 4-7 (4 bytes each)
      uint8x16_t r0 = vld1q_u8(rq), r1 = vld1q_u8(rq + 16);  // columns 0-3, 4-7 of this quarter
      if (lhs_unsigned) {
        l0 = veorq_u8(l0, flip), l1 = veorq_u8(l1, flip);
        csum0 = vdotq_s32(csum0, vreinterpretq_s8_u8(r0), ones);
        csum1 = vdotq_s32(csum1, vreinterpretq_s8_u8(r1), ones);
      } else {
        r0 = veorq_u8(r0, flip), r1 = veorq_u8(r1, flip);
        rsum0 = vdotq_s32(rsum0, vreinterpretq_s8_u8(l0), ones);
        rsum1 = vdotq_s32(rsum1, vreinterpretq_s8_u8(l1), ones);
      }
      const int8x16_t a0 = vreinterpretq_s8_u8(l0), a1 = vreinterpretq_s8_u8(l1);
      const int8x16_t b0 = vreinterpretq_s8_u8(r0), b1 = vreinterpretq_s8_u8(r1);
#define EDGEOPT_SDOT_ROW(i, a, lane)                      \
  acc[i][0] = vdotq_laneq_s32(acc[i][0], b0, a, lane); \
  acc[i][1] = vdotq_laneq_s32(acc[i][1], b1, a, lane);
      EDGEOPT_SDOT_ROW(0, a0, 0)
      EDGEOPT_SDOT_ROW(1, a0, 1)
      EDGEOPT_SDOT_ROW(2, a0, 2)
      EDGEOPT_SDOT_ROW(3, a0, 3)
      EDGEOPT_SDOT_ROW(4, a1, 0)
      EDGEOPT_SDOT_ROW(5, a1, 1)
      EDGEOPT_SDOT_ROW(6, a1, 2)
      EDGEOPT_SDOT_ROW(7, a1, 3)
#undef EDGEOPT_SDOT_ROW
    }
    // Wrapping shifts and adds (vector ops never trap), as the scalar kernel's unsigned adds.
    const int32x4_t c0 = vshlq_n_s32(csum0, 7), c1 = vshlq_n_s32(csum1, 7);
    int32_t rs[8];
    vst1q_s32(rs, vshlq_n_s32(rsum0, 7));
    vst1q_s32(rs + 4, vshlq_n_s32(rsum1, 7));
    for (int i = 0; i < 8; ++i) {
      int32x4_t v0 = acc[i][0], v1 = acc[i][1];
      if (lhs_unsigned) {
        v0 = vaddq_s32(v0, c0), v1 = vaddq_s32(v1, c1);
      } else {
        v0 = vaddq_s32(v0, vdupq_n_s32(rs[i])), v1 = vaddq_s32(v1, vdupq_n_s32(rs[i]));
      }
      vst1q_s32(tile + i * kNr + g * 8, v0);
      vst1q_s32(tile + i * kNr + g * 8 + 4, v1);
    }
  }
}

}  // namespace edgeopt::kernels::gemm_int8::detail
#endif  // __aarch64__
