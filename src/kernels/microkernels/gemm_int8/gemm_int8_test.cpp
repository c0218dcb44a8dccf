#include "kernels/microkernels/gemm_int8/gemm_int8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <sstream>
#include <string>

#include "hwy/targets.h"

#include "core/thread_pool.h"
#include "kernels/microkernels/gemm_int8/requantize_avx512.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::gemm_int8 {
namespace {

struct Case {
  int64_t m, n, k;
  bool lhs_unsigned, per_row, trans_rhs;
  OutType out;
  double scale;  // requantization multiplier (> 1 exercises left shifts, tiny ones large right shifts)
  bool dyadic = false;  // every third channel's multiplier a power of two: exact ties (half to even)
  std::string describe(Isa isa) const {
    std::ostringstream os;
    os << "isa=" << isa_name(isa) << " M=" << m << " N=" << n << " K=" << k << " lhs_u8=" << lhs_unsigned
       << " per_row=" << per_row << " transR=" << trans_rhs << " out=" << static_cast<int>(out) << " scale=" << scale
       << " dyadic=" << dyadic;
    return os.str();
  }
};

// The plain triple loop on the unpacked operands, with quant::requantize: the oracle.
std::vector<int32_t> reference(const Case& cs, const std::vector<uint8_t>& l, const std::vector<uint8_t>& r,
                               const std::vector<int32_t>& bias, const std::vector<quant::QuantMultiplier>& qm,
                               const Epilogue& ep) {
  std::vector<int32_t> y(static_cast<size_t>(cs.m * cs.n));
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = 0; j < cs.n; ++j) {
      int64_t s = 0;
      for (int64_t kk = 0; kk < cs.k; ++kk) {
        const uint8_t lb = l[i * cs.k + kk];
        const uint8_t rb = cs.trans_rhs ? r[j * cs.k + kk] : r[kk * cs.n + j];
        const int32_t a = cs.lhs_unsigned ? int32_t{lb} : int32_t{static_cast<int8_t>(lb)};
        const int32_t b = cs.lhs_unsigned ? int32_t{static_cast<int8_t>(rb)} : int32_t{rb};
        s += a * b;
      }
      const int64_t ch = cs.per_row ? i : j;
      const auto acc = static_cast<int32_t>(s + bias[ch]);
      y[i * cs.n + j] = cs.out == OutType::kS32 ? acc : quant::requantize(acc, qm[ch], ep.zero_point, ep.qmin, ep.qmax);
    }
  return y;
}

void run_case(const Case& cs, Isa isa, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> l(cs.m * cs.k), r(cs.k * cs.n);
  for (auto& v : l) v = static_cast<uint8_t>(byte(rng));
  for (auto& v : r) v = static_cast<uint8_t>(byte(rng));
  const int64_t channels = cs.per_row ? cs.m : cs.n;
  std::vector<int32_t> bias(channels), mult(channels), shift(channels);
  std::vector<quant::QuantMultiplier> qm(channels);
  std::uniform_int_distribution<int32_t> bd(-100000, 100000);
  std::uniform_real_distribution<double> sd(0.5, 2.0);
  for (int64_t c = 0; c < channels; ++c) {
    bias[c] = bd(rng);
    const double real = cs.scale * sd(rng);
    qm[c] = quant::quantize_multiplier(cs.dyadic && c % 3 == 0 ? std::ldexp(1.0, std::ilogb(real)) : real);
    mult[c] = qm[c].multiplier;
    shift[c] = qm[c].shift;
  }
  Epilogue ep;
  ep.out = cs.out;
  ep.per_row = cs.per_row;
  ep.bias = bias.data();
  ep.multiplier = mult.data();
  ep.shift = shift.data();
  ep.zero_point = cs.out == OutType::kU8 ? 7 : -3;
  ep.qmin = cs.out == OutType::kU8 ? 0 : -128;
  ep.qmax = cs.out == OutType::kU8 ? 250 : 127;

  std::vector<uint8_t> lp(packed_lhs_bytes(cs.m, cs.k)), rp(packed_rhs_bytes(cs.k, cs.n));
  pack_lhs(l.data(), cs.m, cs.k, cs.k, 0, lp.data());
  pack_rhs(r.data(), cs.k, cs.n, cs.trans_rhs ? cs.k : cs.n, cs.trans_rhs, 0, rp.data());
  const int64_t ldc = cs.n + 3;  // a leading dimension wider than N: padding must stay untouched
  std::vector<int32_t> c32(cs.m * ldc, -7);
  std::vector<uint8_t> c8(cs.m * ldc, 0xAB);
  void* c = cs.out == OutType::kS32 ? static_cast<void*>(c32.data()) : static_cast<void*>(c8.data());
  ThreadPool pool(2);
  gemm_int8(Operands{lp.data(), rp.data(), cs.m, cs.n, cs.k, cs.lhs_unsigned}, ep, c, ldc, &pool, isa);
  if (gemv_lhs_row_ok(cs.m, isa)) {  // the GEMV form must write the very same C
    std::vector<uint8_t> row(static_cast<size_t>(padded_k(cs.k)), 0xCD);
    pack_lhs_row(l.data(), cs.k, 0, row.data());
    std::vector<int32_t> c32b(c32.size(), -7);
    std::vector<uint8_t> c8b(c8.size(), 0xAB);
    void* cb = cs.out == OutType::kS32 ? static_cast<void*>(c32b.data()) : static_cast<void*>(c8b.data());
    Operands op{row.data(), rp.data(), cs.m, cs.n, cs.k, cs.lhs_unsigned};
    op.lhs_row = true;
    gemm_int8(op, ep, cb, ldc, &pool, isa);
    ASSERT_EQ(c32, c32b) << "lhs_row, " << cs.describe(isa);
    ASSERT_EQ(c8, c8b) << "lhs_row, " << cs.describe(isa);
  }

  {  // An indirect R (quad q of panel p read at base + p * 128 + offs[q]) must write the very same C:
     // the quads in shuffled planes with a gap between them, offsets taken in a permuted order.
    const int64_t kq = padded_k(cs.k) / 4, panels = (cs.n + kNr - 1) / kNr, plane = panels * kNr * 4 + 64;
    std::vector<int64_t> perm(static_cast<size_t>(kq)), offs(static_cast<size_t>(kq));
    for (int64_t q = 0; q < kq; ++q) perm[q] = q;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<uint8_t> planes(static_cast<size_t>(kq * plane), 0xEE);
    for (int64_t q = 0; q < kq; ++q) {
      offs[q] = perm[q] * plane;
      for (int64_t p = 0; p < panels; ++p)
        std::copy_n(rp.data() + (p * kq + q) * kNr * 4, kNr * 4, planes.data() + offs[q] + p * kNr * 4);
    }
    std::vector<int32_t> c32b(c32.size(), -7);
    std::vector<uint8_t> c8b(c8.size(), 0xAB);
    void* cb = cs.out == OutType::kS32 ? static_cast<void*>(c32b.data()) : static_cast<void*>(c8b.data());
    Operands op{lp.data(), planes.data(), cs.m, cs.n, cs.k, cs.lhs_unsigned};
    op.rhs_quad_offsets = offs.data();
    gemm_int8(op, ep, cb, ldc, &pool, isa);
    ASSERT_EQ(c32, c32b) << "indirect R, " << cs.describe(isa);
    ASSERT_EQ(c8, c8b) << "indirect R, " << cs.describe(isa);
  }

  const std::vector<int32_t> want = reference(cs, l, r, bias, qm, ep);
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      int32_t got;
      if (cs.out == OutType::kS32)
        got = c32[i * ldc + j];
      else if (cs.out == OutType::kU8)
        got = c8[i * ldc + j];
      else
        got = static_cast<int8_t>(c8[i * ldc + j]);
      if (j >= cs.n) {
        ASSERT_EQ(cs.out == OutType::kS32 ? got : static_cast<int32_t>(c8[i * ldc + j]),
                  cs.out == OutType::kS32 ? -7 : 0xAB)
            << "wrote past N at row " << i << " col " << j << ", " << cs.describe(isa);
        continue;
      }
      ASSERT_EQ(got, want[i * cs.n + j]) << "C[" << i << "," << j << "], " << cs.describe(isa);
    }
}

// Prints what this CPU (or qemu's emulated one) exercises, so a cross-ISA run shows its coverage.
TEST(GemmInt8, ListsTheHighwayTargetsAndInt8IsasExercised) {
  std::string targets, isas;
  for (int64_t t : hwy::SupportedAndGeneratedTargets()) targets += std::string(" ") + hwy::TargetName(t);
  for (Isa i : supported_isas()) isas += std::string(" ") + isa_name(i);
  std::printf("Highway targets:%s\nint8 GEMM ISAs:%s (default %s)\n", targets.c_str(), isas.c_str(),
              isa_name(default_isa()));
  EXPECT_EQ(supported_isas().front(), Isa::kScalar);
  const char* forced = std::getenv("EDGEOPT_HWY_TARGET");  // hwy_target_env.cpp narrowed dispatch on purpose
  if (forced && *forced) return;
#if defined(__aarch64__)
  EXPECT_NE(targets.find("NEON"), std::string::npos) << targets;
#elif defined(__x86_64__)
  EXPECT_NE(targets.find("SSE4"), std::string::npos) << targets;  // the x86-64 baseline we dispatch from
#endif
}

TEST(GemmInt8, EveryIsaEqualsTheIntegerReferenceBitExactly) {
  std::mt19937 rng(42);
  const std::vector<std::array<int64_t, 3>> shapes = {{1, 1, 1},    {8, 32, 4},   {9, 33, 5},    {7, 31, 3},
                                                      {17, 65, 67}, {3, 100, 27}, {64, 49, 576}, {40, 7, 1030},
                                                      {1, 88, 2156}, {1, 129, 3137}, {1, 10, 6},
                                                      {44, 224, 216}, {12, 33, 9},   {2, 40, 17}};
  const std::vector<double> scales = {1e-4, 0.003, 0.7, 3.0};
  for (Isa isa : supported_isas())
    for (const auto& s : shapes)
      for (int variant = 0; variant < 6; ++variant) {
        Case cs{s[0],
                s[1],
                s[2],
                (variant & 1) != 0,
                variant < 3,
                variant == 2 || variant == 5,
                static_cast<OutType>(variant % 3),
                scales[(variant + s[2]) % scales.size()]};
        run_case(cs, isa, rng);
        if (HasFatalFailure()) return;
      }
}

TEST(GemmInt8, TinyAndLargeMultipliersMatchTheReference) {
  // Tiny multipliers (right shifts > 31 take the scalar epilogue) and > 1 ones (left shifts).
  std::mt19937 rng(7);
  for (Isa isa : supported_isas())
    for (double scale : {1e-9, 2.5e-5, 0.49, 1.0, 17.0})
      for (OutType out : {OutType::kU8, OutType::kS8}) {
        Case cs{11, 45, 259, true, false, false, out, scale};
        run_case(cs, isa, rng);
        if (HasFatalFailure()) return;
      }
}

// Power-of-two multipliers on some channels (exact ties, which only the general vector form
// resolves) next to ordinary ones, per row and per column, full and partial tiles.
TEST(GemmInt8, DyadicMultipliersTieToEvenOnEveryIsa) {
  std::mt19937 rng(99);
  for (Isa isa : supported_isas())
    for (const auto& s : std::vector<std::array<int64_t, 3>>{{12, 64, 16}, {9, 49, 96}, {24, 100, 8}})
      for (bool per_row : {true, false})
        for (double scale : {1.0 / 256, 0.02}) {
          Case cs{s[0], s[1], s[2], true, per_row, false, OutType::kU8, scale, true};
          run_case(cs, isa, rng);
          if (HasFatalFailure()) return;
        }
}

// gemm_int8_pool2x2_rowpairs against the oracle: R [K, 2 ph x 2 pw] conv outputs arranged as row-pair
// panels (columns 0-15: 16 columns of conv row 2 pr, 16-31: the same of row 2 pr + 1; columns past
// 2 pw are junk that must not show), then max of the 2x2 window of (L R + bias), requantized.
TEST(GemmInt8, Pool2x2RowPairsEqualsTheReferencePooledOnEveryIsa) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> byte(0, 255);
  struct Shape {
    int64_t m, k, ph, pw;
  };
  for (Isa isa : supported_isas())
    for (const Shape& sh : {Shape{22, 12, 14, 14}, Shape{44, 216, 7, 7}, Shape{1, 5, 2, 3}, Shape{9, 40, 3, 17},
                            Shape{13, 9, 1, 8}})
      for (OutType out : {OutType::kU8, OutType::kS8})
        for (double scale : {1e-9, 0.003, 0.7}) {
          const int64_t cb = (sh.pw + 7) / 8, panels = sh.ph * cb, n = panels * kNr;
          const Case cs{sh.m, n, sh.k, (byte(rng) & 1) != 0, true, false, out, scale};
          std::vector<uint8_t> l(cs.m * cs.k), r(cs.k * n);
          for (auto& v : l) v = static_cast<uint8_t>(byte(rng));
          for (auto& v : r) v = static_cast<uint8_t>(byte(rng));
          std::vector<int32_t> bias(cs.m), mult(cs.m), shift(cs.m);
          std::vector<quant::QuantMultiplier> qm(cs.m);
          for (int64_t c = 0; c < cs.m; ++c) {
            bias[c] = std::uniform_int_distribution<int32_t>(-100000, 100000)(rng);
            qm[c] = quant::quantize_multiplier(scale * std::uniform_real_distribution<double>(0.5, 2.0)(rng));
            mult[c] = qm[c].multiplier;
            shift[c] = qm[c].shift;
          }
          Case cs32 = cs;
          cs32.out = OutType::kS32;
          Epilogue ep;
          ep.bias = bias.data();
          const std::vector<int32_t> acc = reference(cs32, l, r, bias, qm, ep);  // L R + bias, s32
          ep.out = out;
          ep.multiplier = mult.data();
          ep.shift = shift.data();
          ep.zero_point = out == OutType::kU8 ? 7 : -3;
          ep.qmin = out == OutType::kU8 ? 0 : -128;
          ep.qmax = out == OutType::kU8 ? 250 : 127;
          std::vector<uint8_t> lp(packed_lhs_bytes(cs.m, cs.k)), rp(packed_rhs_bytes(cs.k, n));
          pack_lhs(l.data(), cs.m, cs.k, cs.k, 0, lp.data());
          pack_rhs(r.data(), cs.k, n, n, false, 0, rp.data());
          const int64_t plane = sh.ph * sh.pw;
          std::vector<uint8_t> y(cs.m * plane + 16, 0xAB);  // 16 bytes of slack must stay untouched
          ThreadPool pool(2);
          gemm_int8_pool2x2_rowpairs(Operands{lp.data(), rp.data(), cs.m, n, cs.k, cs.lhs_unsigned}, ep, sh.ph, sh.pw,
                                     y.data(), &pool, isa);
          for (int64_t i = 0; i < cs.m; ++i)
            for (int64_t pr = 0; pr < sh.ph; ++pr)
              for (int64_t pc = 0; pc < sh.pw; ++pc) {
                const int64_t p = pr * cb + pc / 8, t = pc % 8;
                int32_t mx = std::numeric_limits<int32_t>::min();
                for (int64_t j : {2 * t, 2 * t + 1, 16 + 2 * t, 17 + 2 * t})
                  mx = std::max(mx, acc[i * n + p * kNr + j]);
                const int32_t want = quant::requantize(mx, qm[i], ep.zero_point, ep.qmin, ep.qmax);
                const uint8_t b = y[i * plane + pr * sh.pw + pc];
                const int32_t got = out == OutType::kU8 ? int32_t{b} : int32_t{static_cast<int8_t>(b)};
                ASSERT_EQ(got, want) << "y[" << i << "," << pr << "," << pc << "], " << cs.describe(isa);
              }
          for (size_t j = cs.m * plane; j < y.size(); ++j) ASSERT_EQ(y[j], 0xAB) << "wrote past the planes";
        }
}

TEST(GemmInt8, PackXorMaskTurnsS8IntoU8) {
  // pack_lhs(xor 0x80) maps s8 v to u8 v + 128: the +128 trick used for s8 activations.
  const int8_t v[4] = {-128, -1, 0, 127};
  std::vector<uint8_t> p(packed_lhs_bytes(1, 4));
  pack_lhs(v, 1, 4, 4, 0x80, p.data());
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[1], 127);
  EXPECT_EQ(p[2], 128);
  EXPECT_EQ(p[3], 255);
}

#if defined(__x86_64__)
// 16 accumulators through both AVX-512 forms (requantize16 for any shift in [-31, -1],
// requantize16_channel where requant_channel_ok); the results of the forms that apply go to out[form][lane].
__attribute__((target("avx512f,avx512bw,avx512vl,bmi2"))) void vector_requantize(const int32_t* acc, int32_t mult,
                                                                                 int32_t shift, int32_t zp, int32_t lo,
                                                                                 int32_t hi, int32_t out[2][16]) {
  const __m512i a = _mm512_loadu_si512(acc);
  const __m512i vz = _mm512_set1_epi32(zp), vl = _mm512_set1_epi32(lo), vh = _mm512_set1_epi32(hi);
  _mm512_storeu_si512(out[0], x86::requantize16(a, x86::requant_consts_channel(mult, shift), vz, vl, vh));
  if (x86::requant_channel_ok(mult, shift))
    _mm512_storeu_si512(out[1], x86::requantize16_channel(a, x86::requant_channel(mult, shift), vz, vl, vh));
}

// The vector requantizations against quant::requantize on the edges of their arithmetic: the
// multiplier's extremes, multipliers with trailing zeros (the channel form's no-tie condition),
// every right shift, int32 extremes, exact ties (half to even), random values; int32 output range
// so no clamp hides a difference.
TEST(GemmInt8, VectorRequantizeEqualsQuantRequantizeBitExactly) {
  // The forms need AVX-512 F/BW/VL and BMI2 (not VNNI), checked on the CPU itself so that
  // EDGEOPT_INT8_ISA or a forced ISA cannot turn this off. A CPU without them can never run them:
  // there the check is that the int8 dispatch cannot select the ISA whose epilogues use them.
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2");
  if (!avx512) {
    const std::vector<Isa> isas = supported_isas();
    EXPECT_EQ(std::find(isas.begin(), isas.end(), Isa::kAvx512Vnni), isas.end());
    EXPECT_NE(default_isa(), Isa::kAvx512Vnni);
    return;
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> any(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
  std::uniform_int_distribution<int32_t> small(-70000, 70000);
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  int64_t checked = 0;
  int64_t channel_form = 0;
  for (int32_t mult : {int32_t{1} << 30, (int32_t{1} << 30) + 1, 1518500250, (int32_t{1} << 30) + (int32_t{1} << 10),
                       (int32_t{3} << 29), std::numeric_limits<int32_t>::max()})
    for (int32_t shift = -1; shift >= -31; --shift) {
      const int32_t zp = shift % 3 == 0 ? 0 : 37;
      std::vector<int32_t> accs = {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::min() + 1,
                                   std::numeric_limits<int32_t>::max(), 0, 1, -1, 2, -2, 3, -3};
      // Ties of the final rounding for M = 2^30: acc / 2^(rs + 1) = k + 1/2.
      const int64_t rs = -shift;
      for (int64_t k = -3; k <= 3; ++k) {
        const int64_t t = (2 * k + 1) * (int64_t{1} << std::min<int64_t>(rs, 30));
        if (t >= std::numeric_limits<int32_t>::min() && t <= std::numeric_limits<int32_t>::max())
          accs.push_back(static_cast<int32_t>(t));
      }
      for (int i = 0; i < 200; ++i) accs.push_back(i % 2 ? any(rng) : small(rng));
      while (accs.size() % 16) accs.push_back(small(rng));
      for (size_t b = 0; b < accs.size(); b += 16) {
        int32_t out[2][16];
        vector_requantize(accs.data() + b, mult, shift, zp, lo, hi, out);
        const int forms = x86::requant_channel_ok(mult, shift) ? 2 : 1;
        channel_form += forms - 1;
        for (int form = 0; form < forms; ++form)
          for (int l = 0; l < 16; ++l) {
            const int32_t acc = accs[b + l];
            const int32_t want = quant::requantize(acc, quant::QuantMultiplier{mult, shift}, zp, lo, hi);
            ASSERT_EQ(out[form][l], want) << (form ? "requantize16_channel" : "requantize16") << " acc=" << acc
                                          << " multiplier=" << mult << " shift=" << shift << " zp=" << zp;
            ++checked;
          }
      }
    }
  EXPECT_GT(checked, 50000);
  EXPECT_GT(channel_form, 0);
}

// The channel form (round half up) is allowed exactly where no tie can occur, so it never differs
// from half to even.
TEST(GemmInt8, ChannelRequantizeFormOnlyWhereNoTieExists) {
  for (int32_t rs = 1; rs <= 31; ++rs)
    for (int tz = 0; tz <= 30; ++tz) {
      const int32_t mult = static_cast<int32_t>((int64_t{1} << 30) + (tz < 30 ? (int64_t{1} << tz) : 0));
      const bool ok = x86::requant_channel_ok(mult, -rs);
      // A tie needs p = acc * mult to have exactly 30 + rs trailing zeros; tz(acc) <= 31 (INT32_MIN).
      const bool tie_possible = tz + 31 >= 30 + rs;
      EXPECT_EQ(ok, !tie_possible) << "rs=" << rs << " tz=" << tz;
    }
}
#endif

}  // namespace
}  // namespace edgeopt::kernels::gemm_int8

namespace edgeopt::kernels::gemm_int8 {
namespace {

// gemm_int8_pixel_rows against gemm_int8 on the same operands: pixels read through their own
// offsets plus the quads' (random, overlapping), K not a multiple of 4 (the padded quad's weights
// are 0), pixel counts with 8-, 4- and 1-row tails, u8 and s8 out, multipliers in the vector
// epilogue's range and above it (the scalar fallback), and the output planes with a wider stride.
TEST(GemmInt8, PixelRowsEqualPackedGemmTransposed) {
  bool ran = false;
  for (Isa isa : supported_isas()) {
    if (!pixel_rows_ok(32, isa)) continue;
    ran = true;
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> byte(0, 255);
    for (const auto& [m, k, npx] : std::vector<std::array<int64_t, 3>>{{32, 37, 49}, {64, 64, 196}, {96, 9, 13}, {32, 300, 8}})
      for (OutType out : {OutType::kU8, OutType::kS8})
        for (double scale : {0.004, 3.0}) {
          const int64_t kq = padded_k(k) / 4;
          std::vector<uint8_t> planes(4096 + 64);
          for (auto& v : planes) v = static_cast<uint8_t>(byte(rng));
          std::uniform_int_distribution<int64_t> at(0, 1023);
          std::vector<int64_t> offs(kq), pixels(npx);
          for (auto& o : offs) o = at(rng) * 2;  // even bytes: quads overlap and need no alignment
          for (auto& p : pixels) p = at(rng) * 2;
          std::vector<uint8_t> w(m * k), r(k * npx);
          for (auto& v : w) v = static_cast<uint8_t>(byte(rng));
          for (int64_t kk = 0; kk < k; ++kk)
            for (int64_t n = 0; n < npx; ++n) r[kk * npx + n] = planes[pixels[n] + offs[kk / 4] + kk % 4];
          std::vector<int32_t> bias(m), mult(m), shift(m);
          std::uniform_int_distribution<int32_t> bd(-5000, 5000);
          std::uniform_real_distribution<double> sd(0.5, 2.0);
          for (int64_t c = 0; c < m; ++c) {
            bias[c] = bd(rng);
            const quant::QuantMultiplier q = quant::quantize_multiplier(scale * sd(rng));
            mult[c] = q.multiplier;
            shift[c] = q.shift;
          }
          Epilogue ep;
          ep.out = out;
          ep.bias = bias.data();
          ep.multiplier = mult.data();
          ep.shift = shift.data();
          ep.zero_point = out == OutType::kU8 ? 9 : -4;
          ep.qmin = out == OutType::kU8 ? 0 : -128;
          ep.qmax = out == OutType::kU8 ? 255 : 127;
          std::vector<uint8_t> lp(packed_lhs_bytes(m, k)), rp(packed_rhs_bytes(k, npx));
          pack_lhs(w.data(), m, k, k, 0, lp.data());
          pack_rhs(r.data(), k, npx, npx, false, 0, rp.data());
          const int64_t ldy = npx + 5;
          std::vector<uint8_t> want(m * ldy, 0xAB), got(m * ldy, 0xAB);
          ThreadPool pool(2);
          gemm_int8(Operands{lp.data(), rp.data(), m, npx, k, false}, ep, want.data(), ldy, &pool, isa);
          Operands op{lp.data(), planes.data(), m, npx, k, false};
          op.rhs_quad_offsets = offs.data();
          Epilogue ec = ep;
          ec.per_row = false;
          gemm_int8_pixel_rows(op, pixels.data(), npx, ec, got.data(), ldy, &pool, isa);
          ASSERT_EQ(want, got) << "m=" << m << " k=" << k << " npx=" << npx << " out=" << static_cast<int>(out)
                               << " scale=" << scale;
        }
  }
  if (!ran) EXPECT_FALSE(pixel_rows_ok(32, default_isa())) << "no ISA here runs the pixel-rows form";
}

}  // namespace
}  // namespace edgeopt::kernels::gemm_int8
