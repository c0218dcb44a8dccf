// libFuzzer target: arbitrary bytes as an `edgeopt optimize --recipe` file (YAML or JSON) ->
// optimize::parse_recipes -> each recipe's key() and to_json().
//
// The contract: recipes whose steps passed validate_step, or edgeopt::Error naming the source
// (with line:column for YAML syntax). Anything else (a YAML or JSON library exception escaping,
// a memory error, UB, unbounded recursion) is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "optimize/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    auto recipes = optimize::parse_recipes(text, "fuzz.yaml");
    for (const auto& r : recipes) {
      (void)r.key();
      (void)r.to_json().dump();
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find("fuzz.yaml") == std::string::npos) std::abort();
  }
  return 0;
}
