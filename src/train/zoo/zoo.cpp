#include "train/zoo/zoo.h"

#include <array>
#include <cmath>
#include <random>

namespace edgeopt::train {

namespace {

// Appends nodes and Kaiming-uniform initialized weights (PyTorch's default scheme) to a Graph.
class Builder {
 public:
  Builder(uint64_t seed, std::string prefix) : rng_(seed), prefix_(std::move(prefix)) {}
  Graph g;

  std::string weight(const std::string& name, Shape shape, int64_t fan_in) {
    Tensor t(DType::kF32, shape);
    float bound = 1.f / std::sqrt(static_cast<float>(std::max<int64_t>(fan_in, 1)));
    std::uniform_real_distribution<float> d(-bound, bound);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng_);
    g.initializers[name] = t;
    return name;
  }
  std::string constant(const std::string& name, Shape shape, float v) {
    Tensor t(DType::kF32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
    g.initializers[name] = t;
    return name;
  }
  std::string ints(const std::string& name, std::vector<int64_t> v) {
    g.initializers[name] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
    return name;
  }
  std::string op(const std::string& type, std::vector<std::string> in, const std::string& name) {
    g.add_node(type, std::move(in), {name}, name);
    return name;
  }
  // Conv + BatchNorm (+ ReLU/ReLU6). Conv bias is omitted: BatchNorm's shift makes it redundant.
  std::string conv_bn(const std::string& x, const std::string& name, int64_t cin, int64_t cout, int64_t k,
                      int64_t stride, int64_t group, const char* act) {
    std::string w = weight(name + ".weight", {cout, cin / group, k, k}, cin / group * k * k);
    Node& n = g.add_node("Conv", {x, w}, {name}, name);
    n.set_attr("kernel_shape", std::vector<int64_t>{k, k});
    n.set_attr("strides", std::vector<int64_t>{stride, stride});
    n.set_attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
    n.set_attr("group", group);
    std::string y = batch_norm(name, name + ".bn", cout);
    if (std::string(act) == "relu") return op("Relu", {y}, name + ".relu");
    if (std::string(act) == "relu6") {
      Node& c = g.add_node("Clip", {y, scalar(name + ".min", 0.f), scalar(name + ".max", 6.f)}, {name + ".relu6"},
                           name + ".relu6");
      return c.outputs[0];
    }
    return y;
  }
  std::string batch_norm(const std::string& x, const std::string& name, int64_t c) {
    Node& n = g.add_node("BatchNormalization",
                         {x, constant(name + ".weight", {c}, 1.f), constant(name + ".bias", {c}, 0.f),
                          constant(name + ".running_mean", {c}, 0.f), constant(name + ".running_var", {c}, 1.f)},
                         {name}, name);
    n.set_attr("epsilon", 1e-5f);
    n.set_attr("momentum", 0.9f);
    return name;
  }
  std::string scalar(const std::string& name, float v) {
    g.initializers[name] = Tensor::scalar_f32(v);
    return name;
  }
  std::string gemm(const std::string& x, const std::string& name, int64_t in, int64_t out) {
    std::string w = weight(name + ".weight", {out, in}, in);
    std::string b = weight(name + ".bias", {out}, in);
    Node& n = g.add_node("Gemm", {x, w, b}, {name}, name);
    n.set_attr("transB", int64_t{1});
    return name;
  }
  std::string dropout(const std::string& x, const std::string& name, float ratio) {
    if (ratio <= 0.f) return x;
    Node& n = g.add_node("Dropout", {x, scalar(name + ".ratio", ratio)}, {name}, name);
    (void)n;
    return name;
  }
  std::string maxpool(const std::string& x, const std::string& name) {
    Node& n = g.add_node("MaxPool", {x}, {name}, name);
    n.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
    n.set_attr("strides", std::vector<int64_t>{2, 2});
    return name;
  }
  void input(const std::string& name, std::vector<int64_t> dims) {
    ValueInfo vi{name, DType::kF32, Shape(std::vector<int64_t>{-1})};
    for (int64_t d : dims) vi.shape.dims().push_back(d);
    vi.dim_params.assign(vi.shape.rank(), "");
    vi.dim_params[0] = "N";
    g.inputs.push_back(vi);
  }
  void output(const std::string& name, int64_t n) {
    ValueInfo vi{name, DType::kF32, Shape{-1, n}};
    vi.dim_params = {"N", ""};
    g.outputs.push_back(vi);
  }

 private:
  std::mt19937_64 rng_;
  std::string prefix_;
};

void need_rank(const ZooOptions& o, size_t r, const char* model, const char* layout) {
  if (o.input_shape.size() != r)
    throw_error(ErrorCode::kInvalidArgument, std::string(model) + " needs an input shape " + layout +
                                                 " (without the batch dim), got rank " +
                                                 std::to_string(o.input_shape.size()));
}

// conv-BN-ReLU blocks, channels doubling and a 2x2 max-pool after each block, then a small head.
Graph vision_cnn(const ZooOptions& o) {
  need_rank(o, 3, "vision_cnn", "[C, H, W]");
  Builder b(o.seed, "");
  const int64_t width = o.width ? o.width : 32, depth = o.depth ? o.depth : 2;
  b.input("input", o.input_shape);
  std::string x = "input";
  int64_t c = o.input_shape[0], h = o.input_shape[1], w = o.input_shape[2];
  for (int64_t i = 0; i < depth; ++i) {
    int64_t cout = width << i;
    x = b.conv_bn(x, "block" + std::to_string(i) + ".conv", c, cout, 3, 1, 1, "relu");
    if (h >= 2 && w >= 2) {
      x = b.maxpool(x, "block" + std::to_string(i) + ".pool");
      h /= 2;
      w /= 2;
    }
    c = cout;
  }
  Node& f = b.g.add_node("Flatten", {x}, {"flatten"}, "flatten");
  f.set_attr("axis", int64_t{1});
  x = b.dropout("flatten", "head.dropout", o.dropout);
  x = b.gemm(x, "head.fc1", c * h * w, 4 * width);
  x = b.op("Relu", {x}, "head.relu");
  x = b.gemm(x, "head.fc2", 4 * width, o.num_outputs);
  b.g.nodes.back().outputs[0] = "output";
  b.output("output", o.num_outputs);
  b.g.name = "vision_cnn";
  return std::move(b.g);
}

// MobileNetV2 (Sandler et al. 2018): inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1
// linear projection), residual add when stride 1 and channels match. Strides adapt to small inputs
// so a 28x28 image still ends at >= 2x2.
Graph mobilenet_v2(const ZooOptions& o) {
  need_rank(o, 3, "mobilenet_v2", "[C, H, W]");
  Builder b(o.seed, "");
  auto ch = [&](int64_t c) {
    int64_t v = static_cast<int64_t>(std::lround(c * o.width_mult / 8.0)) * 8;
    return std::max<int64_t>(v, 8);
  };
  // t (expansion), c (channels), n (repeats), s (stride)
  std::vector<std::array<int64_t, 4>> cfg = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  if (o.depth > 0 && o.depth < static_cast<int64_t>(cfg.size())) cfg.resize(static_cast<size_t>(o.depth));
  b.input("input", o.input_shape);
  int64_t h = o.input_shape[1];
  const bool small = h < 64;
  int64_t c = ch(32);
  std::string x = b.conv_bn("input", "stem", o.input_shape[0], c, 3, small ? 1 : 2, 1, "relu6");
  if (!small) h = (h + 1) / 2;
  int blk = 0;
  for (const auto& [t, cc, n, s0] : cfg) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t s = i == 0 && h >= 8 ? s0 : 1;
      int64_t cout = ch(cc), hidden = c * t;
      std::string name = "block" + std::to_string(blk++);
      std::string y = x;
      if (t != 1) y = b.conv_bn(y, name + ".expand", c, hidden, 1, 1, 1, "relu6");
      y = b.conv_bn(y, name + ".dw", hidden, hidden, 3, s, hidden, "relu6");
      y = b.conv_bn(y, name + ".project", hidden, cout, 1, 1, 1, "");
      if (s == 1 && c == cout) y = b.op("Add", {x, y}, name + ".add");
      if (s == 2) h = (h + 1) / 2;
      x = y;
      c = cout;
    }
  }
  int64_t last = std::max<int64_t>(ch(1280 / 4), c);  // a lighter head than ImageNet's 1280
  x = b.conv_bn(x, "head.conv", c, last, 1, 1, 1, "relu6");
  x = b.op("GlobalAveragePool", {x}, "head.pool");
  Node& f = b.g.add_node("Flatten", {x}, {"head.flatten"}, "head.flatten");
  f.set_attr("axis", int64_t{1});
  x = b.dropout("head.flatten", "head.dropout", o.dropout);
  x = b.gemm(x, "head.fc", last, o.num_outputs);
  b.g.nodes.back().outputs[0] = "output";
  b.output("output", o.num_outputs);
  b.g.name = "mobilenet_v2";
  return std::move(b.g);
}

// Stacked LSTM/GRU forecaster. Input [N, T, F] is transposed to ONNX's default layout [T, N, F]
// (layout=0 runs on every ONNX runtime), each layer's Y [T, 1, N, H] is squeezed for the next, and
// the last layer's final hidden state [1, N, H] feeds a linear head.
Graph env_rnn(const ZooOptions& o, const std::string& cell) {
  need_rank(o, 2, cell == "LSTM" ? "env_lstm" : "env_gru", "[T, F]");
  Builder b(o.seed, "");
  const int64_t hidden = o.width ? o.width : 64, layers = o.depth ? o.depth : 2;
  const int64_t gates = cell == "LSTM" ? 4 : 3;
  b.input("input", o.input_shape);
  Node& tr = b.g.add_node("Transpose", {"input"}, {"seq_first"}, "seq_first");
  tr.set_attr("perm", std::vector<int64_t>{1, 0, 2});
  std::string x = "seq_first";
  int64_t in = o.input_shape[1];
  std::string last_h;
  for (int64_t l = 0; l < layers; ++l) {
    std::string name = "rnn" + std::to_string(l);
    std::string w = b.weight(name + ".W", {1, gates * hidden, in}, hidden);
    std::string r = b.weight(name + ".R", {1, gates * hidden, hidden}, hidden);
    std::string bias = b.weight(name + ".B", {1, 2 * gates * hidden}, hidden);
    if (cell == "LSTM") {
      // Forget-gate bias 1 (Jozefowicz et al. 2015) helps long windows; ONNX gate order is i,o,f,c.
      float* pb = b.g.initializers[bias].data<float>();
      for (int64_t j = 2 * hidden; j < 3 * hidden; ++j) pb[j] = 1.f;
    }
    Node& n = b.g.add_node(cell, {x, w, r, bias}, {name + ".Y", name + ".Y_h"}, name);
    n.set_attr("hidden_size", hidden);
    if (cell == "GRU") n.set_attr("linear_before_reset", int64_t{1});
    last_h = name + ".Y_h";
    if (l + 1 < layers) {
      Node& sq = b.g.add_node("Squeeze", {name + ".Y", b.ints(name + ".squeeze_axes", {1})}, {name + ".seq"},
                              name + ".squeeze");
      (void)sq;
      x = name + ".seq";
    }
    in = hidden;
  }
  Node& f = b.g.add_node("Flatten", {last_h}, {"last_hidden"}, "last_hidden");
  f.set_attr("axis", int64_t{2});
  std::string y = b.gemm("last_hidden", "head.fc", hidden, o.num_outputs);
  if (o.residual_feature >= 0) {
    EDGEOPT_CHECK_ARG(o.residual_feature < o.input_shape[1],
                      "residual feature " + std::to_string(o.residual_feature) + " is not one of the " +
                          std::to_string(o.input_shape[1]) + " input features");
    b.g.initializers["residual.last_step"] = Tensor::from_vector<int64_t>({}, {o.input_shape[0] - 1});
    Node& g1 = b.g.add_node("Gather", {"input", "residual.last_step"}, {"residual.last"}, "residual.last");
    g1.set_attr("axis", int64_t{1});
    std::vector<int64_t> cols(static_cast<size_t>(o.num_outputs), o.residual_feature);
    b.ints("residual.feature", cols);
    Node& g2 = b.g.add_node("Gather", {"residual.last", "residual.feature"}, {"residual.value"}, "residual.value");
    g2.set_attr("axis", int64_t{1});
    y = b.op("Add", {y, "residual.value"}, "residual.add");
  }
  b.g.nodes.back().outputs[0] = "output";
  b.output("output", o.num_outputs);
  b.g.name = cell == "LSTM" ? "env_lstm" : "env_gru";
  return std::move(b.g);
}

Graph safety_mlp(const ZooOptions& o) {
  EDGEOPT_CHECK_ARG(!o.input_shape.empty(), "safety_mlp needs an input shape [F] (without the batch dim)");
  Builder b(o.seed, "");
  const int64_t width = o.width ? o.width : 64, depth = o.depth ? o.depth : 2;
  int64_t in = 1;
  for (int64_t d : o.input_shape) in *= d;
  b.input("input", o.input_shape);
  std::string x = "input";
  if (o.input_shape.size() > 1) {
    Node& f = b.g.add_node("Flatten", {x}, {"flat"}, "flat");
    f.set_attr("axis", int64_t{1});
    x = "flat";
  }
  for (int64_t l = 0; l < depth; ++l) {
    std::string name = "fc" + std::to_string(l);
    x = b.gemm(x, name, in, width);
    x = b.op("Relu", {x}, name + ".relu");
    x = b.dropout(x, name + ".dropout", o.dropout);
    in = width;
  }
  b.gemm(x, "head", in, o.num_outputs);
  b.g.nodes.back().outputs[0] = "output";
  b.output("output", o.num_outputs);
  b.g.name = "safety_mlp";
  return std::move(b.g);
}

}  // namespace

const std::vector<std::string>& zoo_model_names() {
  static const std::vector<std::string> names = {"vision_cnn", "mobilenet_v2", "env_lstm", "env_gru", "safety_mlp"};
  return names;
}

Graph build_zoo_model(const std::string& name, const ZooOptions& opts) {
  Graph g;
  if (name == "vision_cnn") g = vision_cnn(opts);
  else if (name == "mobilenet_v2") g = mobilenet_v2(opts);
  else if (name == "env_lstm") g = env_rnn(opts, "LSTM");
  else if (name == "env_gru") g = env_rnn(opts, "GRU");
  else if (name == "safety_mlp") g = safety_mlp(opts);
  else {
    std::string known;
    for (const auto& n : zoo_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw_error(ErrorCode::kInvalidArgument, "unknown zoo model '" + name + "' (known: " + known + ")");
  }
  g.opset = 17;
  g.metadata["edgeopt.zoo"] = name;
  return g;
}

ZooOptions zoo_options_for_data(const std::string& name, const DataSplits& d, uint64_t seed) {
  ZooOptions zo;
  zo.input_shape.assign(d.train.x.shape().dims().begin() + 1, d.train.x.shape().dims().end());
  zo.num_outputs = d.task == "classification" ? d.num_classes : d.train.y.numel() / std::max<int64_t>(d.train.size(), 1);
  zo.dropout = name == "safety_mlp" ? 0.1f : 0.f;
  zo.seed = seed;
  const bool rnn = name == "env_lstm" || name == "env_gru";
  if (rnn && d.target_feature_index >= 0 && zo.num_outputs == 1) zo.residual_feature = d.target_feature_index;
  return zo;
}

void apply_zoo_train_defaults(const std::string& name, bool image, TrainOptions& o, int64_t batch, float lr) {
  if (name == "env_lstm" || name == "env_gru") {
    o.batch = batch > 0 ? batch : 32;
    o.lr = lr > 0 ? lr : 2e-3f;
  } else if (name == "safety_mlp") {
    o.batch = batch > 0 ? batch : 64;
    o.lr = lr > 0 ? lr : 1e-3f;
  } else {
    o.batch = batch > 0 ? batch : (image ? 128 : 64);
    o.lr = lr > 0 ? lr : 2e-3f;
  }
}

}  // namespace edgeopt::train
