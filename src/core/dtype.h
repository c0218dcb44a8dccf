// Element types and the f16/bf16 <-> f32 conversions every layer shares.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace edgeopt {

enum class DType : uint8_t { kF32, kF16, kBF16, kI8, kU8, kI32, kI64, kBool };

size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "f32", "f16", "bf16", "i8", "u8", "i32", "i64", "bool"
// Parses dtype_name() output and numpy-style names ("float32", "int64", ...). Throws on unknown.
DType dtype_from_name(const std::string& name);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<int8_t>() { return DType::kI8; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::kU8; }
template <> constexpr DType dtype_of<int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::kI64; }
template <> constexpr DType dtype_of<bool>() { return DType::kBool; }

// IEEE binary16, round to nearest even; handles subnormals, inf and nan.
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
// bfloat16: the top half of an f32, round to nearest even (nan stays nan).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace edgeopt
