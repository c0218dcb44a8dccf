#include "core/shape.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace edgeopt {

size_t Shape::normalize_axis(int64_t axis) const {
  int64_t r = static_cast<int64_t>(dims_.size());
  int64_t a = axis < 0 ? axis + r : axis;
  EDGEOPT_CHECK_ARG(a >= 0 && a < r, "axis " + std::to_string(axis) + " is out of range for rank " +
                                         std::to_string(r) + " shape " + str());
  return static_cast<size_t>(a);
}

int64_t Shape::dim(int64_t axis) const { return dims_[normalize_axis(axis)]; }

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int64_t d : dims_) {
    EDGEOPT_CHECK_ARG(d >= 0, "shape " + str() + " has an unknown or negative dim");
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw_error(ErrorCode::kInvalidArgument, "shape " + str() + " has too many elements");
    n *= d;
  }
  return n;
}

bool Shape::is_static() const {
  return std::all_of(dims_.begin(), dims_.end(), [](int64_t d) { return d >= 0; });
}

std::vector<int64_t> Shape::strides() const {
  std::vector<int64_t> s(dims_.size(), 1);
  for (int64_t i = static_cast<int64_t>(dims_.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims_[i + 1];
  return s;
}

std::string Shape::str() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i] < 0 ? "?" : std::to_string(dims_[i]);
  }
  return s + "]";
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.rank() ? 1 : a[i - (r - a.rank())];
    int64_t db = i < r - b.rank() ? 1 : b[i - (r - b.rank())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else throw_error(ErrorCode::kInvalidArgument, "shapes " + a.str() + " and " + b.str() + " do not broadcast");
  }
  return Shape(out);
}

}  // namespace edgeopt
