// libFuzzer target: arbitrary bytes -> parse_npy -> encode_npy -> parse_npy again.
//
// The contract: parse_npy yields a Tensor or throws edgeopt::Error, never reads past the bytes,
// and a Tensor it accepted survives a write/read round trip with the same dtype, shape and bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Tensor t;
  try {
    t = parse_npy(bytes, "<fuzz>");
  } catch (const Error&) {
    return 0;
  }
  Tensor u = parse_npy(encode_npy(t), "<round trip>");
  if (u.dtype() != t.dtype() || u.shape() != t.shape() || u.nbytes() != t.nbytes() ||
      (t.nbytes() && std::memcmp(u.raw(), t.raw(), t.nbytes()) != 0))
    std::abort();  // the writer and the reader disagree
  return 0;
}
