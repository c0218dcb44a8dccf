#include "kernels/ops/rnn/rnn_common.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace edgeopt::kernels::recurrent {

float Activation::operator()(float x) const {
  switch (kind) {
    case Kind::kRelu: return x > 0.f ? x : 0.f;
    case Kind::kTanh: return std::tanh(x);
    case Kind::kSigmoid: return 1.f / (1.f + std::exp(-x));
    case Kind::kAffine: return alpha * x + beta;
    case Kind::kLeakyRelu: return x >= 0.f ? x : alpha * x;
    case Kind::kThresholdedRelu: return x > alpha ? x : 0.f;
    case Kind::kScaledTanh: return alpha * std::tanh(beta * x);
    case Kind::kHardSigmoid: return std::max(0.f, std::min(1.f, alpha * x + beta));
    case Kind::kElu: return x >= 0.f ? x : alpha * (std::exp(x) - 1.f);
    case Kind::kSoftsign: return x / (1.f + std::fabs(x));
    case Kind::kSoftplus: return std::log1p(std::exp(x));
  }
  return x;
}

namespace {

struct ActivationSpec {
  const char* name;
  Activation::Kind kind;
  int n_alpha, n_beta;  // how many of activation_alpha / activation_beta it consumes
  float alpha, beta;    // defaults of the corresponding ONNX ops
};
constexpr ActivationSpec kActivationSpecs[] = {
    {"relu", Activation::Kind::kRelu, 0, 0, 0.f, 0.f},
    {"tanh", Activation::Kind::kTanh, 0, 0, 0.f, 0.f},
    {"sigmoid", Activation::Kind::kSigmoid, 0, 0, 0.f, 0.f},
    {"affine", Activation::Kind::kAffine, 1, 1, 1.f, 0.f},
    {"leakyrelu", Activation::Kind::kLeakyRelu, 1, 0, 0.01f, 0.f},
    {"thresholdedrelu", Activation::Kind::kThresholdedRelu, 1, 0, 1.f, 0.f},
    {"scaledtanh", Activation::Kind::kScaledTanh, 1, 1, 1.f, 1.f},
    {"hardsigmoid", Activation::Kind::kHardSigmoid, 1, 1, 0.2f, 0.5f},
    {"elu", Activation::Kind::kElu, 1, 0, 1.f, 0.f},
    {"softsign", Activation::Kind::kSoftsign, 0, 0, 0.f, 0.f},
    {"softplus", Activation::Kind::kSoftplus, 0, 0, 0.f, 0.f},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// activation_alpha/beta are consumed in order by the activations that take them (as ONNX Runtime
// does), so {"Sigmoid", "LeakyRelu", "Tanh"} with alpha {0.1} gives LeakyRelu alpha 0.1.
std::vector<Activation> parse_activations(const Node& node, size_t per_dir, int64_t dirs,
                                          const std::vector<std::string>& defaults) {
  std::vector<std::string> names = node.has_attr("activations") ? node.attr_strings("activations") : defaults;
  if (dirs == 2 && names.size() == per_dir) {
    std::vector<std::string> both = names;
    both.insert(both.end(), names.begin(), names.end());
    names = both;
  }
  EDGEOPT_CHECK_ARG(names.size() == per_dir * static_cast<size_t>(dirs),
                    "activations has " + std::to_string(names.size()) + " entries, but " + node.op_type + " needs " +
                        std::to_string(per_dir) + " per direction (" + std::to_string(per_dir * dirs) + " for " +
                        std::to_string(dirs) + " direction(s))");
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  size_t ia = 0, ib = 0;
  std::vector<Activation> acts;
  for (const std::string& name : names) {
    const std::string key = lower(name);
    const ActivationSpec* spec = nullptr;
    for (const auto& s : kActivationSpecs)
      if (key == s.name) spec = &s;
    EDGEOPT_CHECK(spec, ErrorCode::kUnimplemented,
                  "activation '" + name + "' is not supported (supported: Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                  "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)");
    Activation a{spec->kind, spec->alpha, spec->beta};
    if (spec->n_alpha && ia < alphas.size()) a.alpha = alphas[ia++];
    if (spec->n_beta && ib < betas.size()) a.beta = betas[ib++];
    acts.push_back(a);
  }
  return acts;
}

void check_shape(const Tensor& t, const char* name, const Shape& want, const std::string& why) {
  EDGEOPT_CHECK_ARG(t.shape() == want, std::string("input ") + name + " has shape " + t.shape().str() +
                                           ", but " + why + " needs " + want.str());
}

void check_f32(const Tensor& t, const char* name) {
  EDGEOPT_CHECK(t.dtype() == DType::kF32, ErrorCode::kUnimplemented,
                std::string("input ") + name + " is " + t.describe() + "; this kernel supports f32 only");
}

void check_weights(const Tensor& t, const char* name, DType want) {
  if (want == DType::kF32) return check_f32(t, name);
  EDGEOPT_CHECK_ARG(t.dtype() == want, std::string("input ") + name + " is " + t.describe() +
                                           "; this kernel needs its " + dtype_name(want) + " codes");
}

}  // namespace

RnnConfig read_rnn_config(const Node& node, std::span<const Tensor> in, int64_t gates,
                          const std::vector<std::string>& default_acts, DType weights) {
  for (size_t i = 0; i < 3; ++i)
    EDGEOPT_CHECK_ARG(i < in.size() && in[i].defined(),
                      "input " + std::to_string(i) + " (" + std::string(i == 0 ? "X" : i == 1 ? "W" : "R") +
                          ") is required");
  const Tensor &x = in[0], &w = in[1], &r = in[2];
  check_f32(x, "X");
  check_weights(w, "W", weights);
  check_weights(r, "R", weights);
  RnnConfig cfg;
  cfg.layout = node.attr_int("layout", 0);
  EDGEOPT_CHECK_ARG(cfg.layout == 0 || cfg.layout == 1,
                    "layout=" + std::to_string(cfg.layout) + "; it must be 0 ([seq,batch,...]) or 1 ([batch,seq,...])");
  const std::string direction = node.attr_string("direction", "forward");
  EDGEOPT_CHECK_ARG(direction == "forward" || direction == "reverse" || direction == "bidirectional",
                    "direction='" + direction + "'; it must be forward, reverse or bidirectional");
  cfg.dirs = direction == "bidirectional" ? 2 : 1;
  cfg.reverse_only = direction == "reverse";
  EDGEOPT_CHECK_ARG(x.rank() == 3, "input X has shape " + x.shape().str() + "; it must be rank 3 (layout=" +
                                       std::to_string(cfg.layout) + ")");
  cfg.seq = cfg.layout == 0 ? x.shape()[0] : x.shape()[1];
  cfg.batch = cfg.layout == 0 ? x.shape()[1] : x.shape()[0];
  cfg.input = x.shape()[2];
  EDGEOPT_CHECK_ARG(r.rank() == 3, "input R has shape " + r.shape().str() + "; it must be rank 3 [dirs, " +
                                       std::to_string(gates) + "*hidden, hidden]");
  cfg.hidden = node.has_attr("hidden_size") ? node.attr_int("hidden_size", 0) : r.shape()[2];
  EDGEOPT_CHECK_ARG(cfg.hidden > 0, "hidden_size=" + std::to_string(cfg.hidden) + "; it must be > 0");
  const int64_t gh = gates * cfg.hidden;
  const std::string dirs_why = "direction='" + direction + "', hidden_size=" + std::to_string(cfg.hidden);
  check_shape(w, "W", Shape{cfg.dirs, gh, cfg.input}, dirs_why + " and X's input size " + std::to_string(cfg.input));
  check_shape(r, "R", Shape{cfg.dirs, gh, cfg.hidden}, dirs_why);
  if (const Tensor* b = optional_input(in, 3)) {
    check_f32(*b, "B");
    check_shape(*b, "B", Shape{cfg.dirs, 2 * gh}, dirs_why);
  }
  cfg.lens.assign(static_cast<size_t>(cfg.batch), cfg.seq);
  if (const Tensor* sl = optional_input(in, 4)) {
    EDGEOPT_CHECK_ARG(sl->dtype() == DType::kI32 || sl->dtype() == DType::kI64,
                      "input sequence_lens is " + sl->describe() + "; it must be i32");
    check_shape(*sl, "sequence_lens", Shape{cfg.batch}, "batch size " + std::to_string(cfg.batch));
    cfg.lens = sl->to_i64_vector();
    for (size_t b = 0; b < cfg.lens.size(); ++b)
      EDGEOPT_CHECK_ARG(cfg.lens[b] >= 0 && cfg.lens[b] <= cfg.seq,
                        "sequence_lens[" + std::to_string(b) + "] = " + std::to_string(cfg.lens[b]) +
                            "; it must be in [0, seq_length=" + std::to_string(cfg.seq) + "]");
  }
  const Shape state = cfg.state_shape();
  const char* state_names[] = {"initial_h", "initial_c"};
  for (size_t i = 5; i < std::min<size_t>(in.size(), gates == 4 ? 7 : 6); ++i)
    if (const Tensor* h = optional_input(in, i)) {
      check_f32(*h, state_names[i - 5]);
      check_shape(*h, state_names[i - 5], state, dirs_why + ", batch " + std::to_string(cfg.batch) + ", layout=" +
                                                     std::to_string(cfg.layout));
    }
  if (gates == 4)
    if (const Tensor* p = optional_input(in, 7)) {
      check_f32(*p, "P");
      check_shape(*p, "P", Shape{cfg.dirs, 3 * cfg.hidden}, dirs_why);
    }
  if (node.has_attr("clip")) {
    cfg.clip = node.attr_float("clip", 0.f);
    EDGEOPT_CHECK_ARG(cfg.clip > 0.f, "clip=" + std::to_string(cfg.clip) + "; it must be > 0");
  }
  cfg.per_dir = default_acts.size();
  cfg.activations = parse_activations(node, cfg.per_dir, cfg.dirs, default_acts);
  return cfg;
}

bool activations_are(const RnnConfig& cfg, std::initializer_list<Activation::Kind> kinds) {
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    size_t k = 0;
    for (Activation::Kind kind : kinds)
      if (cfg.act(d, k++).kind != kind) return false;
  }
  return true;
}

int64_t gate_product_macs(const Node&, std::span<const Shape> in, std::span<const Shape>) {
  if (in.size() < 3 || in[0].rank() != 3 || in[1].rank() != 3 || in[2].rank() != 3) return 0;
  const int64_t steps = in[0][0] * in[0][1];  // seq * batch in either layout
  return steps * in[1][0] * (in[1][1] * in[1][2] + in[2][1] * in[2][2]);
}

}  // namespace edgeopt::kernels::recurrent
