// The one list of ops: kAllOps. Adding an op = a folder in ops/ plus one declaration and one entry
// here. A plain array (not self-registering statics) because static registrars in static libraries
// are dropped by the linker, and a list is greppable.
#include "kernels/op_def.h"

namespace edgeopt::kernels {

namespace ops {
// clang-format off
namespace relu { extern const OpDef kOpDef; }
// -- group: nn ops (declarations)
namespace conv { extern const OpDef kOpDef; }
namespace conv_transpose { extern const OpDef kOpDef; }
namespace gemm { extern const OpDef kOpDef; }
namespace matmul { extern const OpDef kOpDef; }
namespace maxpool { extern const OpDef kOpDef; }
namespace averagepool { extern const OpDef kOpDef; }
namespace global_average_pool { extern const OpDef kOpDef; }
namespace batch_norm { extern const OpDef kOpDef; }
namespace softmax { extern const OpDef kOpDef; }
namespace log_softmax { extern const OpDef kOpDef; }
namespace dropout { extern const OpDef kOpDef; }
namespace constant_of_shape { extern const OpDef kOpDef; }
namespace sum { extern const OpDef kOpDef; }
namespace lrn { extern const OpDef kOpDef; }
namespace max { extern const OpDef kOpDef; }
namespace min { extern const OpDef kOpDef; }
namespace exp { extern const OpDef kOpDef; }
namespace log { extern const OpDef kOpDef; }
namespace sqrt { extern const OpDef kOpDef; }
namespace neg { extern const OpDef kOpDef; }
namespace abs { extern const OpDef kOpDef; }
namespace pow { extern const OpDef kOpDef; }
namespace erf { extern const OpDef kOpDef; }
namespace reduce_sum { extern const OpDef kOpDef; }
namespace reduce_max { extern const OpDef kOpDef; }
// -- group: tensor ops (declarations)
namespace add { extern const OpDef kOpDef; }
namespace sub { extern const OpDef kOpDef; }
namespace mul { extern const OpDef kOpDef; }
namespace div { extern const OpDef kOpDef; }
namespace leaky_relu { extern const OpDef kOpDef; }
namespace sigmoid { extern const OpDef kOpDef; }
namespace tanh { extern const OpDef kOpDef; }
namespace hard_sigmoid { extern const OpDef kOpDef; }
namespace hard_swish { extern const OpDef kOpDef; }
namespace clip { extern const OpDef kOpDef; }
namespace flatten { extern const OpDef kOpDef; }
namespace reshape { extern const OpDef kOpDef; }
namespace transpose { extern const OpDef kOpDef; }
namespace concat { extern const OpDef kOpDef; }
namespace split { extern const OpDef kOpDef; }
namespace slice { extern const OpDef kOpDef; }
namespace squeeze { extern const OpDef kOpDef; }
namespace unsqueeze { extern const OpDef kOpDef; }
namespace gather { extern const OpDef kOpDef; }
namespace shape { extern const OpDef kOpDef; }
namespace constant { extern const OpDef kOpDef; }
namespace identity { extern const OpDef kOpDef; }
namespace pad { extern const OpDef kOpDef; }
namespace reduce_mean { extern const OpDef kOpDef; }
namespace resize { extern const OpDef kOpDef; }
namespace upsample { extern const OpDef kOpDef; }
// -- group: recurrent/quant ops (declarations)
namespace quantize_linear { extern const OpDef kOpDef; }
namespace dequantize_linear { extern const OpDef kOpDef; }
namespace lstm { extern const OpDef kOpDef; }
namespace lstm_dynamic_int8 { extern const OpDef kOpDef; }
namespace gru { extern const OpDef kOpDef; }
namespace gru_dynamic_int8 { extern const OpDef kOpDef; }
namespace rnn { extern const OpDef kOpDef; }
namespace cast { extern const OpDef kOpDef; }
namespace fake_quantize { extern const OpDef kOpDef; }
namespace sparse_conv { extern const OpDef kOpDef; }
namespace sparse_gemm { extern const OpDef kOpDef; }
namespace conv_bf16 { extern const OpDef kOpDef; }
namespace gemm_bf16 { extern const OpDef kOpDef; }
namespace conv_maxpool { extern const OpDef kOpDef; }
// -- group: int8 ops (declarations)
namespace qlinear_conv { extern const OpDef kOpDef; }
namespace conv_integer { extern const OpDef kOpDef; }
namespace qlinear_matmul { extern const OpDef kOpDef; }
namespace matmul_integer { extern const OpDef kOpDef; }
namespace qlinear_add { extern const OpDef kOpDef; }
namespace qlinear_global_average_pool { extern const OpDef kOpDef; }
// clang-format on
}  // namespace ops

namespace {
constexpr const OpDef* kAllOps[] = {
    &ops::relu::kOpDef,
    // -- group: nn ops (entries)
    &ops::conv::kOpDef,
    &ops::conv_transpose::kOpDef,
    &ops::gemm::kOpDef,
    &ops::matmul::kOpDef,
    &ops::maxpool::kOpDef,
    &ops::averagepool::kOpDef,
    &ops::global_average_pool::kOpDef,
    &ops::batch_norm::kOpDef,
    &ops::softmax::kOpDef,
    &ops::log_softmax::kOpDef,
    &ops::dropout::kOpDef,
    &ops::constant_of_shape::kOpDef,
    &ops::sum::kOpDef,
    &ops::lrn::kOpDef,
    &ops::max::kOpDef,
    &ops::min::kOpDef,
    &ops::exp::kOpDef,
    &ops::log::kOpDef,
    &ops::sqrt::kOpDef,
    &ops::neg::kOpDef,
    &ops::abs::kOpDef,
    &ops::pow::kOpDef,
    &ops::erf::kOpDef,
    &ops::reduce_sum::kOpDef,
    &ops::reduce_max::kOpDef,
    // -- group: tensor ops (entries)
    &ops::add::kOpDef,
    &ops::sub::kOpDef,
    &ops::mul::kOpDef,
    &ops::div::kOpDef,
    &ops::leaky_relu::kOpDef,
    &ops::sigmoid::kOpDef,
    &ops::tanh::kOpDef,
    &ops::hard_sigmoid::kOpDef,
    &ops::hard_swish::kOpDef,
    &ops::clip::kOpDef,
    &ops::flatten::kOpDef,
    &ops::reshape::kOpDef,
    &ops::transpose::kOpDef,
    &ops::concat::kOpDef,
    &ops::split::kOpDef,
    &ops::slice::kOpDef,
    &ops::squeeze::kOpDef,
    &ops::unsqueeze::kOpDef,
    &ops::gather::kOpDef,
    &ops::shape::kOpDef,
    &ops::constant::kOpDef,
    &ops::identity::kOpDef,
    &ops::pad::kOpDef,
    &ops::reduce_mean::kOpDef,
    &ops::resize::kOpDef,
    &ops::upsample::kOpDef,
    // -- group: recurrent/quant ops (entries)
    &ops::quantize_linear::kOpDef,
    &ops::dequantize_linear::kOpDef,
    &ops::lstm::kOpDef,
    &ops::lstm_dynamic_int8::kOpDef,
    &ops::gru::kOpDef,
    &ops::gru_dynamic_int8::kOpDef,
    &ops::rnn::kOpDef,
    &ops::cast::kOpDef,
    &ops::fake_quantize::kOpDef,
    &ops::sparse_conv::kOpDef,
    &ops::sparse_gemm::kOpDef,
    &ops::conv_bf16::kOpDef,
    &ops::gemm_bf16::kOpDef,
    &ops::conv_maxpool::kOpDef,
    // -- group: int8 ops (entries)
    &ops::qlinear_conv::kOpDef,
    &ops::conv_integer::kOpDef,
    &ops::qlinear_matmul::kOpDef,
    &ops::matmul_integer::kOpDef,
    &ops::qlinear_add::kOpDef,
    &ops::qlinear_global_average_pool::kOpDef,
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
