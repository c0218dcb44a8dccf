// use_bf16_compute: a model whose weights were stored as bf16 (`edgeopt quantize --dtype bf16`)
// loses nothing more when its matrix products also read the activations as bf16, and on a CPU with
// AVX512-BF16 one vdpbf16ps does twice the multiply-adds of an f32 FMA. So Conv / Gemm / MatMul
// whose constant weight is bf16-exact become ConvBf16 / GemmBf16 (kernels/ops/conv_bf16,
// kernels/ops/gemm_bf16). Opt-in through the model's metadata: an f32 model whose weights happen
// to be bf16-exact keeps f32 activations.
#include <cstring>

#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

// Every value has zero low 16 bits: what Cast(bf16 initializer -> f32) folds to.
bool bf16_exact(const Tensor* w) {
  if (!w || w->dtype() != DType::kF32 || w->numel() == 0) return false;
  const float* p = w->data<float>();
  for (int64_t i = 0; i < w->numel(); ++i) {
    uint32_t u;
    std::memcpy(&u, p + i, 4);
    if (u & 0xffffu) return false;
  }
  return true;
}

// Convs with a shorter reduction (C * prod(kernel)) stay fp32: their time goes to writing the
// output, not to multiply-adds, and the fp32 direct small-K kernel beats packing pairs (MobileNetV2's
// first conv, K 27, and its 16/24-channel expansions ran 1.3-1.8x slower in bf16; K 32 is even).
// Stems with at most 4 input channels too, whatever their K: the fp32 direct small-K kernel reads
// the image in place, bf16 would build an im2col (ResNet-18's 7x7/2 stem, K 147: 1.13 ms fp32,
// 1.50 ms bf16).
constexpr int64_t kMinConvK = 33;
constexpr int64_t kMaxStemChannels = 4;

bool rewrite_conv(const Graph& g, Node& n) {
  if (n.attr_int("group", 1) != 1 || !n.has_input(1)) return false;  // depthwise/grouped stay fp32
  const Tensor* w = detail::constant_value(g, n.inputs[1]);
  if (!w || w->rank() < 3 || w->shape()[0] <= 0 || w->numel() / w->shape()[0] < kMinConvK ||
      w->shape()[1] <= kMaxStemChannels || !bf16_exact(w))
    return false;
  n.op_type = "ConvBf16";
  return true;
}

// Gemm (transA 0, alpha 1, C absent or one value per column) or MatMul with a constant 2-D weight.
bool rewrite_gemm(Graph& g, Node& n) {
  if (n.inputs.size() < 2 || n.inputs[1].empty()) return false;
  const Tensor* b = detail::constant_value(g, n.inputs[1]);
  if (!b || b->rank() != 2 || !bf16_exact(b)) return false;
  if (n.op_type == "MatMul") {
    n.op_type = "GemmBf16";
    return true;
  }
  if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f) return false;
  const bool trans_b = n.attr_int("transB", 0) != 0;
  const int64_t cols = trans_b ? b->shape()[0] : b->shape()[1];
  std::string bias;
  if (n.has_input(2)) {
    const Tensor* c = detail::constant_value(g, n.inputs[2]);
    // A scalar, [N] or [1, N] (times beta) is the kernel's column bias; [M, 1] or [M, N] stay fp32.
    if (!c || c->dtype() != DType::kF32 || c->rank() > 2 || (c->numel() != cols && c->numel() != 1) ||
        (c->rank() == 2 && c->shape()[0] != 1))
      return false;
    const float beta = n.attr_float("beta", 1.f);
    Tensor scaled(DType::kF32, {cols});
    for (int64_t j = 0; j < cols; ++j) scaled.data<float>()[j] = beta * c->data<float>()[c->numel() == 1 ? 0 : j];
    bias = g.unique_name(n.inputs[2] + ".bf16_bias");
    g.initializers[bias] = scaled;
  }
  n.attrs.erase("transA");
  n.attrs.erase("alpha");
  n.attrs.erase("beta");
  n.inputs.resize(2);
  if (!bias.empty()) n.inputs.push_back(bias);
  n.op_type = "GemmBf16";
  return true;
}

}  // namespace

bool bf16_compute_enabled(const Graph& g, Bf16Compute mode) {
  if (mode != Bf16Compute::kAuto) return mode == Bf16Compute::kOn;
  const auto it = g.metadata.find("edgeopt.compute");
  return it != g.metadata.end() && it->second == "bf16" && kernels::gemm_bf16::bf16_compute_supported();
}

PassReport use_bf16_compute(Graph& g) {
  PassReport r{"use_bf16_compute", 0};
  for (Node& n : g.nodes) {
    if (!n.domain.empty()) continue;
    if ((n.op_type == "Conv" && rewrite_conv(g, n)) ||
        ((n.op_type == "Gemm" || n.op_type == "MatMul") && rewrite_gemm(g, n)))
      ++r.nodes_changed;
  }
  if (r.nodes_changed) remove_dead_nodes(g);  // a Gemm's C replaced by its scaled bias
  return r;
}

}  // namespace edgeopt::runtime::passes
