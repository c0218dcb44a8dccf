// Test helpers for the int8 ops: random quantized tensors and byte-exact comparison.
//
//   Tensor x = random_q8(DType::kU8, {2, 3, 5, 5}, rng);
//   expect_bit_exact(ref, fast, "case ...");
#pragma once
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/tensor.h"

namespace edgeopt::kernels::testing {

inline Tensor random_q8(DType dt, Shape shape, std::mt19937& rng, int lo = -1000, int hi = 1000) {
  Tensor t(dt, std::move(shape));
  const int qlo = dt == DType::kU8 ? 0 : -128, qhi = dt == DType::kU8 ? 255 : 127;
  std::uniform_int_distribution<int> d(std::max(lo, qlo), std::min(hi, qhi));
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (dt == DType::kU8)
      t.data<uint8_t>()[i] = static_cast<uint8_t>(d(rng));
    else
      t.data<int8_t>()[i] = static_cast<int8_t>(d(rng));
  }
  return t;
}

inline Tensor q8_scalar(DType dt, int v) {
  Tensor t(dt, Shape({}));
  if (dt == DType::kU8)
    t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  else
    t.data<int8_t>()[0] = static_cast<int8_t>(v);
  return t;
}

// Same dtype, shape and every element equal; names the first differing index and both values.
inline void expect_bit_exact(const Tensor& want, const Tensor& got, const std::string& what) {
  ASSERT_EQ(want.dtype(), got.dtype()) << what;
  ASSERT_EQ(want.shape(), got.shape()) << what;
  const std::vector<int64_t> a = want.to_i64_vector(), b = got.to_i64_vector();
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_EQ(a[i], b[i]) << "element " << i << " of " << a.size() << " differs (want " << a[i] << ", got " << b[i]
                          << "); " << what;
}

}  // namespace edgeopt::kernels::testing
