// EDGEOPT_HWY_TARGET=AVX2 (or SSE4, EMU128, SCALAR, AVX3, ...) restricts Highway's dynamic dispatch
// to that one target for the whole kernels_test run, so every fast-vs-reference test also covers
// the code paths of smaller machines (CTest registers kernels_test_target_<T> for each). A target
// this CPU cannot run, or that the build did not compile, exits with 77 (CTest: skipped).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "hwy/targets.h"

namespace {

class ForceHwyTarget : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* want = std::getenv("EDGEOPT_HWY_TARGET");
    if (!want || !*want) return;
    for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
      if (std::string(hwy::TargetName(t)) != want) continue;
      hwy::SetSupportedTargetsForTest(t);
      std::fprintf(stderr, "kernels_test: Highway dispatch forced to %s\n", want);
      return;
    }
    std::string have;
    for (int64_t t : hwy::SupportedAndGeneratedTargets()) have += std::string(" ") + hwy::TargetName(t);
    std::fprintf(stderr, "kernels_test: target %s is not supported here or not compiled (have:%s); skipped\n", want,
                 have.c_str());
    std::exit(77);
  }
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

[[maybe_unused]] ::testing::Environment* const kForceHwyTarget =
    ::testing::AddGlobalTestEnvironment(new ForceHwyTarget);

}  // namespace
