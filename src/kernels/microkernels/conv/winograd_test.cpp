#include "kernels/microkernels/conv/winograd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <vector>

#include "core/thread_pool.h"

namespace edgeopt::kernels::microkernels {
namespace {

using Split = WinogradF23Split;

struct Case {
  int64_t ic, oc, ih, iw, pad_t, pad_l, pad_b, pad_r;
  bool residual = false;
  std::string describe() const {
    std::ostringstream os;
    os << "ic=" << ic << " oc=" << oc << " in=" << ih << "x" << iw << " pads(t,l,b,r)=" << pad_t << "," << pad_l << ","
       << pad_b << "," << pad_r << " residual=" << residual;
    return os.str();
  }
  WinogradF23Shape shape() const {
    return {ic, ih, iw, pad_t, pad_l, oc, ih + pad_t + pad_b - 2, iw + pad_l + pad_r - 2};
  }
};

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

struct Prepared {
  std::vector<gemm::PackedMatrix> u;
  std::vector<float> x, w, bias, residual;
};

Prepared prepare(const Case& cs, uint32_t seed) {
  Prepared p;
  p.x = random_vec(static_cast<size_t>(cs.ic * cs.ih * cs.iw), seed);
  p.w = random_vec(static_cast<size_t>(cs.oc * cs.ic * 9), seed + 1);
  p.bias = random_vec(static_cast<size_t>(cs.oc), seed + 2);
  const WinogradF23Shape s = cs.shape();
  if (cs.residual) p.residual = random_vec(static_cast<size_t>(cs.oc * s.oh * s.ow), seed + 3);
  std::vector<float> u(static_cast<size_t>(kWinogradF23Elems * cs.oc * cs.ic));
  winograd_f23_weights(p.w.data(), cs.oc, cs.ic, u.data());
  for (int e = 0; e < kWinogradF23Elems; ++e)
    p.u.push_back(gemm::pack_a_f32(false, cs.oc, cs.ic, u.data() + e * cs.oc * cs.ic, cs.ic));
  return p;
}

std::vector<float> run(const Case& cs, const Prepared& p, int threads, Split split, float lo, float hi) {
  const WinogradF23Shape s = cs.shape();
  std::vector<float> y(static_cast<size_t>(cs.oc * s.oh * s.ow), NAN);
  ThreadPool pool(threads);
  winograd_f23_conv_f32(p.u.data(), s, p.x.data(), p.bias.data(), cs.residual ? p.residual.data() : nullptr, lo, hi,
                        y.data(), pool, split);
  return y;
}

// Direct convolution in double: the oracle.
void expect_matches_direct(const Case& cs, const Prepared& p, const std::vector<float>& y, float lo, float hi,
                           const std::string& what) {
  const WinogradF23Shape s = cs.shape();
  for (int64_t o = 0; o < cs.oc; ++o)
    for (int64_t r = 0; r < s.oh; ++r)
      for (int64_t c = 0; c < s.ow; ++c) {
        double acc = p.bias[o], mag = std::fabs(p.bias[o]);
        for (int64_t i = 0; i < cs.ic; ++i)
          for (int64_t kr = 0; kr < 3; ++kr)
            for (int64_t kc = 0; kc < 3; ++kc) {
              const int64_t yy = r + kr - cs.pad_t, xx = c + kc - cs.pad_l;
              if (yy < 0 || yy >= cs.ih || xx < 0 || xx >= cs.iw) continue;
              const double t = double(p.x[(i * cs.ih + yy) * cs.iw + xx]) * p.w[((o * cs.ic + i) * 3 + kr) * 3 + kc];
              acc += t;
              mag += std::fabs(t);
            }
        const int64_t idx = (o * s.oh + r) * s.ow + c;
        if (cs.residual) acc += p.residual[idx];
        acc = std::min<double>(std::max<double>(acc, lo), hi);
        const double got = y[idx];
        // The transforms scale by up to 4 before the GEMM: a few ulps of the summed magnitudes.
        const double tol = 1e-5 + 2e-6 * mag;
        ASSERT_LE(std::fabs(got - acc), tol) << what << " at [o=" << o << ", " << r << ", " << c << "]: direct=" << acc
                                             << " winograd=" << got << "; " << cs.describe();
      }
}

const Case kCases[] = {
    {16, 16, 8, 8, 1, 1, 1, 1},
    {17, 19, 13, 11, 1, 1, 1, 1, true},  // odd channels (ragged GEMM panels), odd output both ways
    {16, 40, 28, 28, 1, 1, 1, 1},        // many tiles: several tile blocks per thread
    {24, 16, 9, 14, 0, 2, 1, 0, true},   // asymmetric pads
    {16, 16, 1, 9, 1, 1, 1, 1},          // one input row
    {96, 72, 7, 7, 1, 1, 1, 1},          // late-layer shape: few tiles, more channels
    {16, 24, 30, 3, 1, 1, 1, 1},         // tall and narrow: blocks span several tile rows
};

TEST(WinogradF23, ConvMatchesDirectConvolutionForEverySplit) {
  uint32_t seed = 10;
  for (const Case& cs : kCases) {
    const Prepared p = prepare(cs, seed += 5);
    for (Split split : {Split::kTiles, Split::kOutChannels, Split::kAuto})
      for (int threads : {1, 3}) {
        const float lo = cs.residual ? -0.5f : -INFINITY, hi = cs.residual ? 2.f : INFINITY;
        const auto y = run(cs, p, threads, split, lo, hi);
        expect_matches_direct(cs, p, y, lo, hi,
                              "winograd_f23_conv_f32 split=" + std::to_string(static_cast<int>(split)) +
                                  " threads=" + std::to_string(threads));
        if (HasFatalFailure()) return;
      }
  }
}

// Every output element goes through the same operations whatever the split and the thread count.
TEST(WinogradF23, BitsDoNotDependOnSplitOrThreadCount) {
  uint32_t seed = 77;
  for (const Case& cs : kCases) {
    const Prepared p = prepare(cs, seed += 5);
    const auto want = run(cs, p, 1, Split::kOutChannels, 0.f, INFINITY);
    for (Split split : {Split::kTiles, Split::kOutChannels})
      for (int threads : {1, 2, 3, 4}) {
        const auto got = run(cs, p, threads, split, 0.f, INFINITY);
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(got[i], want[i]) << "split=" << static_cast<int>(split) << " threads=" << threads
                                     << " differs at flat index " << i << "; " << cs.describe();
      }
  }
}

// Transforming a tile range that starts and ends inside tile rows writes exactly the range's
// columns of V, with the values of the whole-image transform.
TEST(WinogradF23, InputAndOutputBlocksOfPartialTileRows) {
  const Case cs{5, 3, 11, 13, 1, 1, 1, 1};
  const WinogradF23Shape s = cs.shape();
  const int64_t tiles = s.tiles(), e = kWinogradF23Elems;
  const auto x = random_vec(static_cast<size_t>(cs.ic * cs.ih * cs.iw), 3);
  std::vector<float> whole(static_cast<size_t>(e * cs.ic * tiles));
  winograd_f23_input_block(s, x.data(), 0, cs.ic, 0, tiles, whole.data(), cs.ic * tiles, tiles);
  const int64_t t0 = 4, t1 = 23, nt = t1 - t0, c0 = 1, c1 = 4;  // tw = 7: starts and ends mid-row
  const float kGap = -777.f;
  const int64_t ldv = nt + 2;  // a gap after each row must stay untouched
  std::vector<float> part(static_cast<size_t>(e * (c1 - c0) * ldv), kGap);
  winograd_f23_input_block(s, x.data(), c0, c1, t0, t1, part.data(), (c1 - c0) * ldv, ldv);
  for (int64_t k = 0; k < e; ++k)
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t j = 0; j < ldv; ++j) {
        const float got = part[(k * (c1 - c0) + c - c0) * ldv + j];
        const float want = j < nt ? whole[(k * cs.ic + c) * tiles + t0 + j] : kGap;
        ASSERT_EQ(got, want) << "V[e=" << k << "][c=" << c << "] column " << j << " of tiles [" << t0 << "," << t1 << ")";
      }
  // Output: a block of tiles writes only its pixels.
  const auto m = random_vec(static_cast<size_t>(e * cs.oc * tiles), 4);
  std::vector<float> y_whole(static_cast<size_t>(cs.oc * s.oh * s.ow), kGap), y_part = y_whole;
  winograd_f23_output_block(s, m.data(), cs.oc * tiles, tiles, 0, cs.oc, 0, tiles, nullptr, nullptr, -INFINITY,
                            INFINITY, y_whole.data());
  winograd_f23_output_block(s, m.data() + t0, cs.oc * tiles, tiles, 0, cs.oc, t0, t1, nullptr, nullptr, -INFINITY,
                            INFINITY, y_part.data());
  for (int64_t o = 0; o < cs.oc; ++o)
    for (int64_t r = 0; r < s.oh; ++r)
      for (int64_t c = 0; c < s.ow; ++c) {
        const int64_t t = (r / 2) * s.tiles_w() + c / 2, idx = (o * s.oh + r) * s.ow + c;
        const float want = t >= t0 && t < t1 ? y_whole[idx] : kGap;
        ASSERT_EQ(y_part[idx], want) << "Y[" << o << "," << r << "," << c << "] (tile " << t << ") of tiles [" << t0
                                     << "," << t1 << ")";
      }
}

}  // namespace
}  // namespace edgeopt::kernels::microkernels
