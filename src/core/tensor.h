// Tensor: a dtype, a shape and 64-byte aligned storage shared between copies (a cheap handle).
//
//   Tensor t = Tensor::zeros(DType::kF32, {1, 3, 8, 8});
//   float* p = t.data<float>();          // checks the dtype
//   Tensor u = t;                        // shares storage; use clone() for a deep copy
//
// Storage is either owned (aligned_alloc) or borrowed (a view into memory owned elsewhere, e.g. an
// arena or a memory-mapped file); a borrowed view must not outlive its owner.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace edgeopt {

inline constexpr size_t kTensorAlignment = 64;

// Large tensor blocks (>= 64 KiB) are recycled (best fit by size) instead of returned to the system
// (see tensor.cpp); this frees the ones currently cached and returns their bytes.
size_t release_cached_tensor_memory();

// Memory for large buffers (tensor storage, packed weights): 64-byte aligned; from 2 MiB on,
// 2 MiB-aligned, rounded up to whole 2 MiB and marked for transparent huge pages (Linux
// madvise), so streaming a model's weights and activations does not take a TLB miss every 4 KiB.
// `*bytes` is rounded up in place; null when out of memory; release with std::free.
void* alloc_buffer(size_t* bytes);

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized storage (contents unspecified).
  Tensor(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  // A view over external memory; no ownership is taken.
  static Tensor borrow(DType dtype, Shape shape, void* data);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& v) {
    Tensor t(dtype_of<T>(), std::move(shape));
    EDGEOPT_CHECK_ARG(static_cast<int64_t>(v.size()) == t.numel(),
                      "from_vector: " + std::to_string(v.size()) + " values for shape " + t.shape().str());
    for (size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = v[i];
    return t;
  }
  static Tensor scalar_f32(float v);

  bool defined() const { return static_cast<bool>(storage_); }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  size_t rank() const { return shape_.rank(); }

  void* raw() { return storage_ ? storage_.get() : nullptr; }
  const void* raw() const { return storage_ ? storage_.get() : nullptr; }
  template <typename T> T* data() {
    check_dtype(dtype_of<T>());
    return static_cast<T*>(raw());
  }
  template <typename T> const T* data() const {
    check_dtype(dtype_of<T>());
    return static_cast<const T*>(raw());
  }
  // f16/bf16 payloads are uint16_t; no dtype check beyond the element size.
  uint16_t* data_u16() { return static_cast<uint16_t*>(raw()); }
  const uint16_t* data_u16() const { return static_cast<const uint16_t*>(raw()); }

  Tensor clone() const;
  // Same storage, new shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Converts to another dtype (float<->int truncates toward zero like a C cast, bool is !=0).
  Tensor cast(DType to) const;
  // Element i as double, whatever the dtype (for tests, printing, small index tensors).
  double at(int64_t i) const;
  // Reads an integer tensor (i32/i64/i8/u8) as int64 values: shapes, axes, indices.
  std::vector<int64_t> to_i64_vector() const;
  std::vector<float> to_f32_vector() const;
  std::string describe() const;  // "f32[1,3,8,8]"

 private:
  void check_dtype(DType want) const;
  DType dtype_ = DType::kF32;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<uint8_t> storage_;
};

}  // namespace edgeopt
