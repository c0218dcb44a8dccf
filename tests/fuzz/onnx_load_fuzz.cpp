// libFuzzer target: arbitrary bytes -> onnx::load_model_from_bytes (checked, else unchecked) ->
// save + reload -> runtime::Session.
//
// The contract under test: whatever the bytes, loading either yields a Graph or throws
// edgeopt::Error; a Graph the loader accepted can be wrapped in a Session (or rejected with Error)
// and exported again. Any other exception escapes and aborts, any memory error trips ASan/UBSan.
// Built only with -DEDGEOPT_FUZZ=ON and clang++; run it with tests/fuzz/run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "onnx/export.h"
#include "onnx/import.h"
#include "runtime/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  onnx::LoadOptions opts;
  opts.validate_ops = false;  // let the Session do it, so more graphs reach conversion
  Graph g;
  try {
    g = onnx::load_model_from_bytes(bytes, "<fuzz>", "", opts);
  } catch (const Error&) {
    // The unchecked path (LoadOptions::check = false) must be just as robust.
    opts.check = false;
    try {
      g = onnx::load_model_from_bytes(bytes, "<fuzz unchecked>", "", opts);
    } catch (const Error&) {
      return 0;
    }
  }
  try {
    std::string saved = onnx::save_model_to_bytes(g);
    onnx::load_model_from_bytes(saved, "<fuzz re-export>", "", opts);
  } catch (const Error&) {
  }
  try {
    runtime::Session session(std::move(g));
  } catch (const Error&) {
  }
  return 0;
}
