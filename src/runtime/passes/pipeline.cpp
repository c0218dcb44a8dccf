// optimize_graph: the load-time pipeline. Order matters: identities first so producers meet their
// real consumers, QDQ fusion (int8 ops, then LSTMs/GRUs on int8 weights) before constant folding (which
// would dequantize the int8 weights),
// then the QLinearConv + MaxPool fusion on its result,
// constants before BN folding (BN parameters may come from folded nodes), BN folding before
// activation fusion (Conv -> BN -> Relu becomes Conv+Relu), residual Adds before activations
// (Conv -> Add -> Relu becomes one Conv), dead code, then sparse weights (after BN folding, which
// would otherwise rescale the CSR values), Conv + MaxPool: its Conv carries the fused activation by
// then, and a Conv that became SparseConv keeps its sparse kernel; bf16 compute last (after BN
// folding and the fusions, so a ConvBf16 carries its activation and residual): a ConvMaxPool keeps
// its fp32 kernel, which pools in registers (vision_cnn's 14x14 conv + pool: 0.022 ms fp32 fused,
// 0.056 ms as ConvBf16 + MaxPool).
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {

std::vector<PassReport> optimize_graph(Graph& g, const PipelineOptions& o) {
  std::vector<PassReport> reports;
  reports.push_back(remove_identity_ops(g));
  reports.push_back(fuse_qdq(g));
  const bool qdq_fused = reports.back().nodes_changed != 0;
  reports.push_back(fuse_dq_recurrent(g));
  // The DequantizeLinear(weights) the two fusions orphaned: before fold_constants would dequantize them.
  if (qdq_fused || reports.back().nodes_changed) reports.push_back(remove_dead_nodes(g));
  reports.push_back(fuse_qconv_maxpool(g));
  reports.push_back(fold_constants(g));
  reports.push_back(simplify_reshapes_transposes(g));
  reports.push_back(fold_batchnorm(g));
  reports.push_back(fuse_conv_residual_add(g));
  reports.push_back(fuse_conv_gemm_activation(g));
  reports.push_back(remove_dead_nodes(g));
  reports.push_back(use_sparse_weights(g));
  reports.push_back(fuse_conv_maxpool(g));
  if (bf16_compute_enabled(g, o.bf16_compute)) reports.push_back(use_bf16_compute(g));
  return reports;
}

}  // namespace edgeopt::runtime::passes
