// Per-target stride-2 phase split (see phase_split.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/conv/phase_split_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstdint>

#include "kernels/microkernels/conv/phase_split.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// dst[j] = src[2j] for j < n; reads src[0 .. 2n - 2] only.
void Stride2Copy(const float* src, int64_t n, float* dst) {
  int64_t j = 0;
#if HWY_TARGET != HWY_SCALAR
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (; j + L < n; j += L) {  // the pair's last odd element 2(j + L) - 1 < 2n - 1
    const auto lo = hn::LoadU(d, src + 2 * j), hi = hn::LoadU(d, src + 2 * j + L);
    hn::StoreU(hn::ConcatEven(d, hi, lo), d, dst + j);
  }
#endif
  for (; j < n; ++j) dst[j] = src[2 * j];
}

void SplitPhases2(const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int64_t ph, int64_t pw,
                  int64_t plane, float* out) {
  for (int64_t ry = 0; ry < 2; ++ry)
    for (int64_t rx = 0; rx < 2; ++rx) {
      float* o = out + (2 * ry + rx) * plane;
      // Columns j with 0 <= 2j + rx - pl < iw, as one range [j0, j1).
      const int64_t j0 = std::min(pw, std::max<int64_t>(0, (pl - rx + 1) / 2));
      const int64_t j1 = std::max(j0, std::min<int64_t>(pw, std::max<int64_t>(0, (iw + pl - rx + 1) / 2)));
      for (int64_t i = 0; i < ph; ++i) {
        float* row = o + i * pw;
        const int64_t y = 2 * i + ry - pt;
        if (y < 0 || y >= ih) {
          std::fill(row, row + pw, 0.f);
          continue;
        }
        std::fill(row, row + j0, 0.f);
        Stride2Copy(x + y * iw + 2 * j0 + rx - pl, j1 - j0, row + j0);
        std::fill(row + j1, row + pw, 0.f);
      }
      std::fill(o + ph * pw, o + plane, 0.f);
    }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(SplitPhases2);

void split_phases2_f32(const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int64_t ph, int64_t pw,
                       int64_t plane, float* out) {
  HWY_DYNAMIC_DISPATCH(SplitPhases2)(x, ih, iw, pt, pl, ph, pw, plane, out);
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE
