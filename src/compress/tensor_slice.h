// Tensor slicing used by the compression passes (internal to compress/).
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::compress::detail {

// The entries of t whose index along `axis` is in idx (in that order); a new tensor.
Tensor take_f32(const Tensor& t, size_t axis, const std::vector<int64_t>& idx);

}  // namespace edgeopt::compress::detail
