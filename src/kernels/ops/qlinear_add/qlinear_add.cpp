// QLinearAdd: an edgeopt-internal op (empty domain, never exported) with the inputs of ONNX
// Runtime's com.microsoft.QLinearAdd, emitted by the fuse_qdq pass for DequantizeLinear(a) +
// DequantizeLinear(b) -> [Relu/Clip] -> QuantizeLinear so residual connections stay in int8.
//   inputs  A (u8/i8), A_scale, A_zero_point, B (u8/i8, broadcastable), B_scale, B_zero_point,
//           C_scale, C_zero_point (dtype of C); all scales/zero points per tensor
//   attrs   activation (Relu/Clip, activation_min/max) as in kernels/common.h
//   C = QuantizeLinear(clamp(DequantizeLinear(A) + DequantizeLinear(B)))
// computed with quant::dequantize_f32 / quantize_f32 in that order, i.e. exactly the QDQ graph it
// replaces (bit-exact, not within a step). Both kernels live in this file so they share its
// -ffp-contract=off: an FMA would change the f32 sum, and with it the rounding.
#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/microkernels/quantize_q8/quantize_q8.h"
#include "kernels/microkernels/quantize_q8/quantize_q8_avx512.h"
#include "kernels/quant/qop_inputs.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace edgeopt::kernels::ops::qlinear_add {
namespace {

struct QAdd {
  float sa = 1, sb = 1, sc = 1;
  int32_t za = 0, zb = 0, zc = 0;
  DType c_dtype = DType::kU8;
  FusedActivation act;
  Shape out;
};

QAdd read_qlinear_add(const ForwardCtx& ctx) {
  for (size_t i : {0, 1, 3, 4, 6}) required_input(ctx, i);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  quant::check_8bit(ctx.in[0], "A");
  quant::check_8bit(ctx.in[3], "B");
  QAdd q;
  q.sa = quant::scalar_scale(ctx.in[1], "A_scale");
  q.sb = quant::scalar_scale(ctx.in[4], "B_scale");
  q.sc = quant::scalar_scale(ctx.in[6], "C_scale");
  q.za = quant::scalar_zero_point(opt(2), ctx.in[0].dtype(), "A_zero_point");
  q.zb = quant::scalar_zero_point(opt(5), ctx.in[3].dtype(), "B_zero_point");
  const Tensor zc = opt(7);
  q.c_dtype = zc.defined() ? zc.dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(quant::is_8bit(q.c_dtype), "input C_zero_point is " + zc.describe() + "; it must be u8 or i8");
  q.zc = quant::scalar_zero_point(zc, q.c_dtype, "C_zero_point");
  q.act = fused_activation(ctx.node);
  q.out = broadcast_shapes(ctx.in[0].shape(), ctx.in[3].shape());
  return q;
}

// The 256 dequantized values of an 8-bit tensor (index = the raw byte).
std::vector<float> dequant_table(DType dt, float scale, int32_t zp) {
  std::vector<float> t(256);
  for (int v = 0; v < 256; ++v)
    t[v] = quant::dequantize_f32(dt == DType::kU8 ? v : static_cast<int8_t>(static_cast<uint8_t>(v)), scale, zp);
  return t;
}

inline int32_t add_requant(float fa, float fb, const QAdd& q, int32_t lo, int32_t hi) {
  float s = fa + fb;
  s = std::min(std::max(s, q.act.lo), q.act.hi);
  return quant::quantize_f32(s, q.sc, q.zc, lo, hi);
}

void store(Tensor& c, int64_t i, int32_t v) {
  if (c.dtype() == DType::kU8)
    c.data<uint8_t>()[i] = static_cast<uint8_t>(v);
  else
    c.data<int8_t>()[i] = static_cast<int8_t>(v);
}

void qlinear_add_q8_ref(ForwardCtx& ctx) {
  const QAdd q = read_qlinear_add(ctx);
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[3];
  Tensor& c = alloc_output(ctx, 0, q.c_dtype, q.out);
  const BroadcastIndex bi(a.shape(), b.shape(), q.out);
  const std::vector<int64_t> av = a.to_i64_vector(), bv = b.to_i64_vector();
  const int32_t lo = quant::qmin_of(q.c_dtype), hi = quant::qmax_of(q.c_dtype);
  for (int64_t i = 0; i < c.numel(); ++i) {
    const float fa = quant::dequantize_f32(static_cast<int32_t>(av[bi.a_index[i]]), q.sa, q.za);
    const float fb = quant::dequantize_f32(static_cast<int32_t>(bv[bi.b_index[i]]), q.sb, q.zb);
    store(c, i, add_requant(fa, fb, q, lo, hi));
  }
}

#if defined(__x86_64__)
// c[i] = quantize_f32(clamp((a[i] - za) * sa + (b[i] - zb) * sb)) for i < n, 16 per step in one pass
// (no f32 sums through memory): the very f32 operations of quant::dequantize_f32 and add_requant
// (separate multiply and add, no FMA), then quantize_f32's vector form, so the same bits as the
// reference.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void qadd_q8_avx512(const uint8_t* a, bool a_signed,
                                                                        const uint8_t* b, bool b_signed, int64_t n,
                                                                        const QAdd& q, int32_t qlo, int32_t qhi,
                                                                        uint8_t* c) {
  const __m512i za = _mm512_set1_epi32(q.za), zb = _mm512_set1_epi32(q.zb);
  const __m512 sa = _mm512_set1_ps(q.sa), sb = _mm512_set1_ps(q.sb);
  const __m512 lo = _mm512_set1_ps(q.act.lo), hi = _mm512_set1_ps(q.act.hi);
  const quantize_q8::x86::Quantize16Consts k = quantize_q8::x86::quantize16_consts(q.sc, q.zc, qlo, qhi);
  auto one = [&](__m128i va, __m128i vb) __attribute__((target("avx512f,avx512bw,avx512vl"))) {
    const __m512i ia = a_signed ? _mm512_cvtepi8_epi32(va) : _mm512_cvtepu8_epi32(va);
    const __m512i ib = b_signed ? _mm512_cvtepi8_epi32(vb) : _mm512_cvtepu8_epi32(vb);
    const __m512 fa = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(ia, za)), sa);
    const __m512 fb = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(ib, zb)), sb);
    // std::min(std::max(s, lo), hi) on finite values (8-bit codes: never NaN).
    return quantize_q8::x86::quantize16<false>(_mm512_min_ps(_mm512_max_ps(_mm512_add_ps(fa, fb), lo), hi), k);
  };
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c + i),
                     one(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)),
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm_mask_storeu_epi8(c + i, m, one(_mm_maskz_loadu_epi8(m, a + i), _mm_maskz_loadu_epi8(m, b + i)));
  }
}
#endif

// Same values computed 16 at a time with AVX-512 in one pass, or through two 256-entry tables and
// then the vectorized quantize_f32 (no broadcasting index vectors: the shapes are equal).
void qlinear_add_q8_fast(ForwardCtx& ctx) {
  const QAdd q = read_qlinear_add(ctx);
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[3];
  if (a.shape() != b.shape()) return qlinear_add_q8_ref(ctx);
  Tensor& c = alloc_output(ctx, 0, q.c_dtype, q.out);
  const auto* pa = static_cast<const uint8_t*>(a.raw());
  const auto* pb = static_cast<const uint8_t*>(b.raw());
  auto* pc = static_cast<uint8_t*>(c.raw());
  const int32_t lo = quant::qmin_of(q.c_dtype), hi = quant::qmax_of(q.c_dtype);
  // AVX-512 F+BW (implied by the avx512vnni int8 ISA, which tests can force off).
  [[maybe_unused]] const bool avx512 = gemm_int8::default_isa() == gemm_int8::Isa::kAvx512Vnni;
  std::vector<float> ta, tb;
  if (!avx512) ta = dequant_table(a.dtype(), q.sa, q.za), tb = dequant_table(b.dtype(), q.sb, q.zb);
  parallel_for(
      c.numel(),
      [&](int64_t s, int64_t e) {
#if defined(__x86_64__)
        if (avx512) return qadd_q8_avx512(pa + s, a.dtype() == DType::kI8, pb + s, b.dtype() == DType::kI8, e - s, q,
                                          lo, hi, pc + s);
#endif
        constexpr int64_t kBlock = 512;
        float sum[kBlock];
        for (int64_t i0 = s; i0 < e; i0 += kBlock) {
          const int64_t len = std::min(kBlock, e - i0);
          for (int64_t i = 0; i < len; ++i)
            sum[i] = std::min(std::max(ta[pa[i0 + i]] + tb[pb[i0 + i]], q.act.lo), q.act.hi);
          quantize_q8::quantize_f32_to_q8(sum, len, q.sc, q.zc, lo, hi, q.c_dtype == DType::kI8, pc + i0);
        }
      },
      4096);
}

}  // namespace

extern const OpDef kOpDef{.name = "QLinearAdd",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = qlinear_add_q8_ref,
                          .forward_fast = qlinear_add_q8_fast};

}  // namespace edgeopt::kernels::ops::qlinear_add
