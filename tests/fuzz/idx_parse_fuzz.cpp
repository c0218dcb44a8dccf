// libFuzzer target: arbitrary bytes -> parse_idx (the decompressed IDX format) -> every element.
//
// The contract: parse_idx yields an array whose payload holds exactly numel() elements, or throws
// edgeopt::Error; it never allocates from a header the bytes cannot back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "train/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  train::IdxArray a;
  try {
    a = train::parse_idx(bytes, "<fuzz>");
  } catch (const Error&) {
    return 0;
  }
  const int64_t n = a.numel();
  const size_t esize = a.type <= 0x09 ? 1 : a.type == 0x0B ? 2 : a.type == 0x0E ? 8 : 4;
  if (n < 0 || static_cast<size_t>(n) * esize != a.bytes.size()) std::abort();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a.at(i);
  (void)sum;
  return 0;
}
