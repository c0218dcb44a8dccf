// Shape: the dims of a tensor, row-major. A dim of -1 means unknown (only in ValueInfo).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace edgeopt {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims_(d) {}
  explicit Shape(std::vector<int64_t> d) : dims_(std::move(d)) {}

  size_t rank() const { return dims_.size(); }
  int64_t operator[](size_t i) const { return dims_[i]; }
  int64_t& operator[](size_t i) { return dims_[i]; }
  // Negative axis counts from the end, like numpy; throws InvalidArgument when out of range.
  int64_t dim(int64_t axis) const;
  size_t normalize_axis(int64_t axis) const;
  // Product of all dims (1 for a scalar); throws if any dim is negative or the product overflows.
  int64_t numel() const;
  bool is_static() const;
  const std::vector<int64_t>& dims() const { return dims_; }
  std::vector<int64_t>& dims() { return dims_; }
  // Row-major strides in elements.
  std::vector<int64_t> strides() const;
  std::string str() const;  // "[1,3,224,224]"; unknown dims print as "?"
  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

 private:
  std::vector<int64_t> dims_;
};

// numpy broadcasting of two shapes; throws InvalidArgument naming both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace edgeopt
