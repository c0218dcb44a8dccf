// dwconv2d_f32_plane against the obvious loops, over randomized plane geometries: the flat 3x3
// stride-1 kernel (planes narrower than a vector, one row, one column, sizes around the vector
// width), the 3x3 stride-2 kernels (AVX-512's register split for left padding 1, with odd output
// heights for its one-row tail and widths around 32 and 64 for its masked row ends; the row-phase
// ring otherwise: odd/even sizes, left padding 0 or 1, any top/bottom padding) and the generic
// phase-plane kernel, with channel multipliers, bias and clamps.
// kernels_test runs it once per Highway target (EDGEOPT_HWY_TARGET).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/microkernels/conv/dwconv.h"

namespace edgeopt::kernels::microkernels {
namespace {

void dwconv_plane_ref(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                      float* y, float lo, float hi) {
  for (int64_t o = 0; o < outs; ++o)
    for (int64_t r = 0; r < g.oh; ++r)
      for (int64_t c = 0; c < g.ow; ++c) {
        double acc = bias ? bias[o] : 0.0;
        for (int64_t a = 0; a < g.kh; ++a)
          for (int64_t b = 0; b < g.kw; ++b) {
            const int64_t xr = r * g.sh - g.ph + a * g.dh, xc = c * g.sw - g.pw + b * g.dw;
            if (xr < 0 || xr >= g.ih || xc < 0 || xc >= g.iw) continue;
            acc += double(w[(o * g.kh + a) * g.kw + b]) * x[xr * g.iw + xc];
          }
        y[(o * g.oh + r) * g.ow + c] = std::min(std::max(float(acc), lo), hi);
      }
}

std::string describe(const DwConv2dGeometry& g, int64_t outs, bool bias, float lo, float hi) {
  std::ostringstream os;
  os << "in " << g.ih << "x" << g.iw << " out " << g.oh << "x" << g.ow << " k " << g.kh << "x" << g.kw << " s " << g.sh
     << "," << g.sw << " p " << g.ph << "," << g.pw << " d " << g.dh << "," << g.dw << " outs " << outs
     << (bias ? " bias" : "") << " clamp [" << lo << "," << hi << "]";
  return os.str();
}

// Output size for begin padding p and end padding pe.
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p, int64_t pe) {
  return (in + p + pe - ((k - 1) * d + 1)) / s + 1;
}

void check(const DwConv2dGeometry& g, int64_t outs, bool with_bias, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // The plane sits inside a larger buffer filled with NaN, so a read outside it shows up.
  const int64_t guard = 64;
  std::vector<float> xbuf(static_cast<size_t>(g.ih * g.iw + 2 * guard), std::nanf(""));
  float* x = xbuf.data() + guard;
  for (int64_t i = 0; i < g.ih * g.iw; ++i) x[i] = u(rng);
  std::vector<float> w(static_cast<size_t>(outs * g.kh * g.kw)), b(static_cast<size_t>(outs));
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  const size_t ny = static_cast<size_t>(outs * g.oh * g.ow);
  std::vector<float> want(ny), got(ny + 2 * guard, -777.f);
  dwconv_plane_ref(g, x, outs, w.data(), with_bias ? b.data() : nullptr, want.data(), lo, hi);
  dwconv2d_f32_plane(g, x, outs, w.data(), with_bias ? b.data() : nullptr, got.data() + guard, lo, hi);
  const std::string cs = describe(g, outs, with_bias, lo, hi);
  for (int64_t i = 0; i < guard; ++i) {
    ASSERT_EQ(got[i], -777.f) << "wrote before the output at " << i - guard << "; case " << cs;
    ASSERT_EQ(got[guard + ny + i], -777.f) << "wrote past the output at +" << i << "; case " << cs;
  }
  // 9-25 products of values in [-1, 1], summed in another order: a few ulps of the sum's size.
  for (size_t i = 0; i < ny; ++i) {
    const float f = got[guard + i];
    const double tol = 1e-5 + 1e-5 * std::fabs(want[i]);
    ASSERT_LE(std::fabs(double(want[i]) - f), tol)
        << "at output " << i / (g.oh * g.ow) << "," << (i / g.ow) % g.oh << "," << i % g.ow << ": ref=" << want[i]
        << " fast=" << f << "; case " << cs;
  }
}

DwConv2dGeometry geometry(int64_t ih, int64_t iw, int64_t k, int64_t s, int64_t d, int64_t ph, int64_t pw, int64_t phe,
                          int64_t pwe) {
  DwConv2dGeometry g;
  g.ih = ih, g.iw = iw, g.kh = k, g.kw = k, g.sh = s, g.sw = s, g.dh = d, g.dw = d, g.ph = ph, g.pw = pw;
  g.oh = out_size(ih, k, s, d, ph, phe);
  g.ow = out_size(iw, k, s, d, pw, pwe);
  return g;
}

TEST(DwConv2dPlane, Flat3x3Stride1MatchesReference) {
  std::mt19937 rng(11);
  const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 14, 15, 16, 17, 28, 31, 33, 56};
  int n = 0;
  for (int64_t h : sizes)
    for (int64_t w : sizes) {
      if ((h * 7 + w) % 3 == 1 && h > 3 && w > 3) continue;  // thin the grid, keep the edges
      const int64_t outs = 1 + (n % 3);
      const bool bias = n % 4 != 3;
      const float lo = n % 2 ? 0.f : -INFINITY, hi = n % 5 == 0 ? 0.5f : INFINITY;
      check(geometry(h, w, 3, 1, 1, 1, 1, 1, 1), outs, bias, lo, hi, rng);
      if (HasFatalFailure()) return;
      ++n;
    }
  check(geometry(112, 112, 3, 1, 1, 1, 1, 1, 1), 1, true, 0.f, 6.f, rng);  // MobileNetV2's first block
}

TEST(DwConv2dPlane, Stride2MatchesReference) {
  std::mt19937 rng(12);
  const int64_t sizes[] = {1, 2, 3, 4, 7, 14, 15, 16, 31, 32, 33, 34, 35, 56, 65, 113};
  int n = 0;
  for (int64_t h : {1, 2, 5, 8, 14, 17})
    for (int64_t w : sizes)
      for (int64_t pw : {0, 1})
        for (int64_t ph : {0, 1, 2}) {
          const int64_t pwe = (w + n) % 2, phe = n % 3;
          if (w + pw + pwe < 3 || h + ph + phe < 3) continue;
          const int64_t outs = 1 + (n % 2);
          check(geometry(h, w, 3, 2, 1, ph, pw, phe, pwe), outs, n % 3 != 0, n % 2 ? 0.f : -INFINITY,
                n % 4 == 0 ? 6.f : INFINITY, rng);
          if (HasFatalFailure()) return;
          ++n;
        }
  check(geometry(112, 112, 3, 2, 1, 1, 1, 1, 1), 1, true, 0.f, 6.f, rng);  // MobileNetV2's 112 -> 56
  check(geometry(56, 57, 3, 2, 1, 1, 1, 1, 1), 2, true, 0.f, 6.f, rng);    // 28x29 outputs (AVX2: the flat kernel)
  check(geometry(63, 64, 3, 2, 1, 1, 1, 0, 1), 1, false, -INFINITY, INFINITY, rng);
}

TEST(DwConv2dPlane, GenericKernelMatchesReference) {
  std::mt19937 rng(13);
  struct Case {
    int64_t h, w, k, s, d, ph, pw, phe, pwe;
  };
  const Case cases[] = {{9, 13, 3, 1, 1, 0, 0, 0, 0},  {9, 13, 3, 1, 1, 2, 1, 0, 2}, {17, 40, 5, 1, 1, 2, 2, 2, 2},
                        {17, 19, 5, 2, 1, 2, 2, 2, 2}, {10, 13, 3, 3, 2, 0, 2, 1, 0}, {20, 33, 3, 1, 2, 2, 2, 2, 2},
                        {8, 9, 3, 2, 1, 1, 2, 1, 2},   {6, 35, 7, 1, 1, 3, 3, 3, 3},  {1, 9, 1, 1, 1, 0, 0, 0, 0}};
  int n = 0;
  for (const Case& c : cases) {
    check(geometry(c.h, c.w, c.k, c.s, c.d, c.ph, c.pw, c.phe, c.pwe), 1 + n % 2, n % 2 == 0, -1.f, 1.f, rng);
    if (HasFatalFailure()) return;
    ++n;
  }
}

// dwconv2d_f32_channels over several planes (16-channel blocks with the channels as lanes on
// AVX-512 where the geometry suits, a per-plane remainder, the plane kernels elsewhere) against
// the reference per plane; the planes sit between NaN guards, the outputs between sentinels.
void check_channels(const DwConv2dGeometry& g, int64_t channels, bool with_bias, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int64_t guard = 64, in_sz = g.ih * g.iw, out_sz = g.oh * g.ow, taps = g.kh * g.kw;
  std::vector<float> xbuf(static_cast<size_t>(channels * in_sz + 2 * guard), std::nanf(""));
  float* x = xbuf.data() + guard;
  for (int64_t i = 0; i < channels * in_sz; ++i) x[i] = u(rng);
  std::vector<float> w(static_cast<size_t>(channels * taps)), b(static_cast<size_t>(channels));
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  const size_t ny = static_cast<size_t>(channels * out_sz);
  std::vector<float> want(ny), got(ny + 2 * guard, -777.f);
  for (int64_t c = 0; c < channels; ++c)
    dwconv_plane_ref(g, x + c * in_sz, 1, w.data() + c * taps, with_bias ? b.data() + c : nullptr,
                     want.data() + c * out_sz, lo, hi);
  dwconv2d_f32_channels(g, x, channels, w.data(), with_bias ? b.data() : nullptr, got.data() + guard, lo, hi);
  const std::string cs = describe(g, 1, with_bias, lo, hi) + " channels " + std::to_string(channels);
  for (int64_t i = 0; i < guard; ++i) {
    ASSERT_EQ(got[i], -777.f) << "wrote before the output at " << i - guard << "; case " << cs;
    ASSERT_EQ(got[guard + ny + i], -777.f) << "wrote past the output at +" << i << "; case " << cs;
  }
  for (size_t i = 0; i < ny; ++i) {
    const float f = got[guard + i];
    ASSERT_LE(std::fabs(double(want[i]) - f), 1e-5 + 1e-5 * std::fabs(want[i]))
        << "at channel " << i / out_sz << " pixel " << (i % out_sz) / g.ow << "," << i % g.ow << ": ref=" << want[i]
        << " fast=" << f << "; case " << cs;
  }
}

TEST(DwConv2dChannels, ChannelBlocksMatchReference) {
  std::mt19937 rng(14);
  // Planes around the 16-pixel chunks (1x1, 4x4, 3x5, 7x7 = 49, 14x14 = 196), odd sizes, stride 2
  // with bottom/right padding 0 or 1, MobileNetV2's shapes, and one too large for the blocks.
  struct Case {
    int64_t h, w, s, phe, pwe;
  };
  const Case cases[] = {{1, 1, 1, 1, 1},   {4, 4, 1, 1, 1},   {3, 5, 1, 1, 1},   {7, 7, 1, 1, 1},    {14, 14, 1, 1, 1},
                        {9, 17, 1, 1, 1},  {28, 28, 1, 1, 1}, {14, 14, 2, 1, 1}, {14, 14, 2, 0, 0},  {13, 15, 2, 1, 1},
                        {13, 15, 2, 0, 1}, {2, 2, 2, 1, 1},   {28, 28, 2, 0, 1}, {56, 56, 2, 1, 1},  {57, 56, 2, 1, 1},
                        {1, 7, 2, 1, 0},   {5, 1, 2, 0, 1},   {60, 60, 1, 1, 1}};
  int n = 0;
  for (const Case& c : cases)
    for (int64_t channels : {1, 15, 16, 17, 35, 48}) {
      if (c.h * c.w > 400 && channels != 17) continue;
      check_channels(geometry(c.h, c.w, 3, c.s, 1, 1, 1, c.phe, c.pwe), channels, n % 3 != 0, n % 2 ? 0.f : -INFINITY,
                     n % 4 == 0 ? 6.f : INFINITY, rng);
      if (HasFatalFailure()) return;
      ++n;
    }
  // Geometries the blocks do not take (5x5, padding 0, dilation 2) go through the plane kernels.
  check_channels(geometry(9, 9, 5, 1, 1, 2, 2, 2, 2), 17, true, -1.f, 1.f, rng);
  check_channels(geometry(9, 9, 3, 1, 1, 0, 0, 0, 0), 17, true, -INFINITY, INFINITY, rng);
  check_channels(geometry(12, 12, 3, 1, 2, 2, 2, 2, 2), 17, false, -INFINITY, INFINITY, rng);
}

}  // namespace
}  // namespace edgeopt::kernels::microkernels
