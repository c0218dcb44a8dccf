// The one list of ops: kAllOps. Adding an op = a folder in ops/ plus one declaration and one entry
// here. A plain array (not self-registering statics) because static registrars in static libraries
// are dropped by the linker, and a list is greppable.
#include "kernels/op_def.h"

namespace edgeopt::kernels {

namespace ops {
// clang-format off
namespace relu { extern const OpDef kOpDef; }
// -- group: nn ops (declarations)
// -- group: tensor ops (declarations)
// -- group: recurrent/quant ops (declarations)
// clang-format on
}  // namespace ops

namespace {
constexpr const OpDef* kAllOps[] = {
    &ops::relu::kOpDef,
    // -- group: nn ops (entries)
    // -- group: tensor ops (entries)
    // -- group: recurrent/quant ops (entries)
};
}  // namespace

std::span<const OpDef* const> all_ops() { return kAllOps; }

const OpDef* find_op(std::string_view op_type) {
  for (const OpDef* op : kAllOps)
    if (op->name == op_type) return op;
  return nullptr;
}

int64_t node_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out) {
  for (const auto& s : in)
    if (!s.is_static()) return 0;
  for (const auto& s : out)
    if (!s.is_static()) return 0;
  const OpDef* op = find_op(node.op_type);
  if (op && op->macs) return op->macs(node, in, out);
  int64_t n = 0;
  for (const auto& s : out) n += s.numel();
  return n;
}

}  // namespace edgeopt::kernels
