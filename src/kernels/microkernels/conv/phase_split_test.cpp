// split_phases2_f32 against the definition (every element of the four planes, the padding
// included), over odd/even sizes around the vector width and top/left paddings 0..2. kernels_test
// runs it once per Highway target.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/microkernels/conv/phase_split.h"

namespace edgeopt::kernels::microkernels {
namespace {

TEST(SplitPhases2, MatchesDefinition) {
  std::mt19937 rng(21);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t ih : {1, 2, 5, 14, 17})
    for (int64_t iw : {1, 2, 3, 15, 16, 17, 31, 32, 33, 56, 65})
      for (int64_t pad : {0, 1, 2}) {
        const int64_t ph = (ih + 2 * pad + 1) / 2, pw = (iw + 2 * pad + 1) / 2 + (iw % 3);  // some extra columns
        const int64_t plane = ph * pw + 5;
        std::vector<float> x(static_cast<size_t>(ih * iw + 1));
        for (float& v : x) v = u(rng);
        x.back() = std::nanf("");  // one past the plane: never read
        std::vector<float> out(static_cast<size_t>(4 * plane), -777.f);
        split_phases2_f32(x.data(), ih, iw, pad, pad, ph, pw, plane, out.data());
        for (int64_t ry = 0; ry < 2; ++ry)
          for (int64_t rx = 0; rx < 2; ++rx) {
            const float* o = out.data() + (2 * ry + rx) * plane;
            for (int64_t i = 0; i < ph; ++i)
              for (int64_t j = 0; j < pw; ++j) {
                const int64_t y = 2 * i + ry - pad, c = 2 * j + rx - pad;
                const float want = y >= 0 && y < ih && c >= 0 && c < iw ? x[static_cast<size_t>(y * iw + c)] : 0.f;
                ASSERT_EQ(o[i * pw + j], want) << "in " << ih << "x" << iw << " pad " << pad << " phase " << ry << rx
                                               << " at " << i << "," << j;
              }
            for (int64_t t = ph * pw; t < plane; ++t) ASSERT_EQ(o[t], 0.f) << "plane tail at " << t;
          }
      }
}

}  // namespace
}  // namespace edgeopt::kernels::microkernels
