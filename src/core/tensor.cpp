#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace edgeopt {

namespace {

// Large blocks are kept for reuse: an inference allocates the same activation sizes every run, and
// glibc serves blocks over its mmap threshold (128 KiB) with fresh mmaps, so without this every run
// page-faults its activations in again (a few % of MobileNetV2's time). Best-fit reuse
// (kReuseSlack), capped (EDGEOPT_TENSOR_CACHE_MB, default 256; 0 disables), emptied by
// release_cached_tensor_memory().
constexpr size_t kCacheMinBytes = size_t{64} << 10;

// A tensor takes the smallest cached block of at least its size and at most this many times it.
// With exact-size reuse every distinct activation size kept its own blocks: MobileNetV2 touched
// about 20 MB of activation blocks per run besides its 14 MB of weights, more than the 32 MB L3,
// so each run fetched its weights from memory again. Shared blocks keep the distinct bytes near
// the planned arena's: MobileNetV2 3.61-3.79 -> 3.43-3.69 ms at 1 thread, 1.97-2.18 -> 1.89-1.98
// ms at 2 (its classifier's 5 MB of weights 0.084-0.116 -> 0.059-0.093 ms at 2 threads).
constexpr size_t kReuseSlack = 4;

// Blocks from this size on get transparent huge pages (alloc_buffer): MobileNetV2 1 thread
// 3.87-4.12 -> 3.78-3.94 ms (as with glibc's malloc.hugetlb tunable), ResNet-18 15.35-15.74 ->
// 15.28-15.36 ms.
constexpr size_t kHugePage = size_t{2} << 20;

size_t buffer_size(size_t n) { return n >= kHugePage ? (n + kHugePage - 1) / kHugePage * kHugePage : n; }

struct BlockCache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;  // by block size
  size_t cached_bytes = 0;
  size_t cap_bytes = [] {
    const char* env = std::getenv("EDGEOPT_TENSOR_CACHE_MB");
    return (env ? static_cast<size_t>(std::strtoull(env, nullptr, 10)) : size_t{256}) << 20;
  }();
};

BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache;  // never destroyed: tensors may outlive static destructors
  return *cache;
}

void release_block(void* p, size_t n) {
  if (n >= kCacheMinBytes) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.cached_bytes + n <= c.cap_bytes) {
      c.free_blocks[n].push_back(p);
      c.cached_bytes += n;
      return;
    }
  }
  std::free(p);
}

std::shared_ptr<uint8_t> alloc_aligned(size_t bytes) {
  size_t n = (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  if (n == 0) n = kTensorAlignment;
  void* p = nullptr;
  if (n >= kCacheMinBytes) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.mu);
    // The smallest cached block that fits, up to kReuseSlack times the size (see there).
    for (auto it = c.free_blocks.lower_bound(n); it != c.free_blocks.end() && it->first <= kReuseSlack * n; ++it) {
      if (it->second.empty()) continue;
      p = it->second.back();
      it->second.pop_back();
      n = it->first;
      c.cached_bytes -= n;
      break;
    }
  }
  if (!p) p = alloc_buffer(&n);
  if (!p) throw_error(ErrorCode::kResourceExhausted, "out of memory allocating " + std::to_string(bytes) + " bytes");
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [n](uint8_t* q) { release_block(q, n); });
}

}  // namespace

size_t release_cached_tensor_memory() {
  BlockCache& c = block_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  const size_t freed = c.cached_bytes;
  for (auto& [n, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached_bytes = 0;
  return freed;
}

void* alloc_buffer(size_t* bytes) {
  size_t n = std::max<size_t>(64, (*bytes + 63) / 64 * 64);
  n = buffer_size(n);
  void* p = std::aligned_alloc(n >= kHugePage ? kHugePage : 64, n);
#ifdef __linux__
  if (p && n >= kHugePage) madvise(p, n, MADV_HUGEPAGE);  // a hint: without THP the pages stay 4 KiB
#endif
  *bytes = n;
  return p;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = shape_.numel();
  storage_ = alloc_aligned(nbytes());
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::borrow(DType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = t.shape_.numel();
  t.storage_ = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(data), [](uint8_t*) {});
  return t;
}

Tensor Tensor::scalar_f32(float v) {
  Tensor t(DType::kF32, Shape{});
  t.data<float>()[0] = v;
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  int64_t n = shape.numel();
  EDGEOPT_CHECK_ARG(n == numel_, "cannot reshape " + describe() + " to " + shape.str());
  t.shape_ = std::move(shape);
  return t;
}

double Tensor::at(int64_t i) const {
  const void* p = raw();
  switch (dtype_) {
    case DType::kF32: return static_cast<const float*>(p)[i];
    case DType::kF16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kBF16: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::kI8: return static_cast<const int8_t*>(p)[i];
    case DType::kU8: return static_cast<const uint8_t*>(p)[i];
    case DType::kI32: return static_cast<const int32_t*>(p)[i];
    case DType::kI64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
  }
  return 0;
}

std::vector<int64_t> Tensor::to_i64_vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel_));
  if (dtype_ == DType::kI64) {
    if (numel_ > 0) std::memcpy(v.data(), raw(), nbytes());
    return v;
  }
  EDGEOPT_CHECK_ARG(dtype_ == DType::kI32 || dtype_ == DType::kI8 || dtype_ == DType::kU8 || dtype_ == DType::kBool,
                    "expected an integer tensor, got " + describe());
  for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<int64_t>(at(i));
  return v;
}

std::vector<float> Tensor::to_f32_vector() const {
  std::vector<float> v(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) v[i] = static_cast<float>(at(i));
  return v;
}

Tensor Tensor::cast(DType to) const {
  if (to == dtype_) return clone();
  Tensor out(to, shape_);
  void* q = out.raw();
  for (int64_t i = 0; i < numel_; ++i) {
    double v = at(i);
    switch (to) {
      case DType::kF32: static_cast<float*>(q)[i] = static_cast<float>(v); break;
      case DType::kF16: static_cast<uint16_t*>(q)[i] = f32_to_f16(static_cast<float>(v)); break;
      case DType::kBF16: static_cast<uint16_t*>(q)[i] = f32_to_bf16(static_cast<float>(v)); break;
      case DType::kI8: static_cast<int8_t*>(q)[i] = static_cast<int8_t>(std::isfinite(v) ? v : 0); break;
      case DType::kU8: static_cast<uint8_t*>(q)[i] = static_cast<uint8_t>(std::isfinite(v) ? v : 0); break;
      case DType::kI32: static_cast<int32_t*>(q)[i] = static_cast<int32_t>(std::isfinite(v) ? v : 0); break;
      case DType::kI64:
        static_cast<int64_t*>(q)[i] = dtype_ == DType::kI64 ? static_cast<const int64_t*>(raw())[i]
                                                            : static_cast<int64_t>(std::isfinite(v) ? v : 0);
        break;
      case DType::kBool: static_cast<uint8_t*>(q)[i] = v != 0.0; break;
    }
  }
  return out;
}

std::string Tensor::describe() const { return std::string(dtype_name(dtype_)) + shape_.str(); }

void Tensor::check_dtype(DType want) const {
  if (want == dtype_) return;
  throw_error(ErrorCode::kInvalidArgument,
              std::string("tensor ") + describe() + " accessed as " + dtype_name(want));
}

}  // namespace edgeopt
