// CUDA backend vs the CPU runtime (the reference), per op and per model family, batch 1 and 32.
// Tolerances: fp32 |gpu - cpu| <= 1e-4 |cpu| + 1e-5 max(1, max|cpu|) (the absolute part scales
// with the output: cancellation in long sums makes single elements small); fp16 and tf32 |gpu - cpu| <=
// 1e-2 (|cpu| + max|cpu|) (f16 storage and TF32 products keep 11 significant bits; accumulation is f32); integer
// outputs bit-exact (the int8 GEMM epilogue runs quant::requantize, the CPU's own routine).
// Without a CUDA device every GPU test skips with the reason, and the no-device error paths are
// tested instead.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <tuple>

#include "cuda/cuda_rnn_math.h"
#include "cuda/cuda_session.h"
#include "cuda/nvml.h"
#include "quantize/ptq.h"
#include "runtime/session.h"
#include "train/zoo/zoo.h"

namespace edgeopt::cuda {
namespace {

#define EDGEOPT_REQUIRE_CUDA_DEVICE()                                                                  \
  do {                                                                                                 \
    if (cuda_device_count() == 0)                                                                      \
      GTEST_SKIP() << "no CUDA device on this machine (the backend is compiled and linked; run "       \
                      "cuda_test where a GPU is present)";                                             \
  } while (0)

Tensor random_tensor(DType dt, const Shape& s, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::zeros(dt, s);
  std::uniform_real_distribution<float> u(lo, hi);
  if (dt == DType::kF32)
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

std::map<std::string, Tensor> random_feeds(const CudaSession& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::map<std::string, Tensor> f;
  for (const auto& vi : s.input_infos()) f[vi.name] = random_tensor(vi.dtype, vi.shape, rng);
  return f;
}

// Runs g on the CPU runtime and on CUDA and compares every output; `what` names the case.
void expect_matches_cpu(const Graph& g, Precision p, int64_t batch, const std::string& what,
                        CudaSessionOptions o = {}) {
  o.precision = p;
  o.batch = batch;
  CudaSession gpu(g, o);
  runtime::Session cpu(g);
  for (uint32_t seed : {1u, 2u}) {
    const auto feeds = random_feeds(gpu, seed);
    const auto want = cpu.run(feeds);
    // Two runs through run_many exercise both staging slots (and their CUDA graphs).
    const auto got_all = gpu.run_many({feeds, feeds});
    for (const auto& got : got_all) {
      ASSERT_EQ(got.size(), want.size()) << what;
      for (const auto& [name, ref] : want) {
        const Tensor& t = got.at(name);
        ASSERT_EQ(t.shape(), ref.shape()) << what << " output " << name;
        ASSERT_EQ(t.dtype(), ref.dtype()) << what << " output " << name;
        if (ref.dtype() != DType::kF32) {
          for (int64_t i = 0; i < ref.numel(); ++i)
            ASSERT_EQ(t.at(i), ref.at(i)) << what << " output " << name << " at " << i << " (integer: bit-exact)";
          continue;
        }
        double max_ref = 0;
        for (int64_t i = 0; i < ref.numel(); ++i) max_ref = std::max(max_ref, std::fabs(ref.at(i)));
        for (int64_t i = 0; i < ref.numel(); ++i) {
          const double r = ref.at(i), v = t.at(i);
          const double tol = p == Precision::kF32 ? 1e-4 * std::fabs(r) + 1e-5 * std::max(1.0, max_ref)
                                                  : 1e-2 * (std::fabs(r) + max_ref);
          ASSERT_LE(std::fabs(v - r), tol) << what << " " << precision_name(p) << " batch " << batch << " output "
                                           << name << " at " << i << ": cpu=" << r << " cuda=" << v;
        }
      }
    }
  }
}

void expect_all(const Graph& g, const std::string& what, std::initializer_list<int64_t> batches = {1, 32}) {
  for (int64_t b : batches)
    for (Precision p : {Precision::kF32, Precision::kTF32, Precision::kF16}) {
      SCOPED_TRACE(what + " " + precision_name(p) + " batch " + std::to_string(b));
      expect_matches_cpu(g, p, b, what);
    }
}

// One-node graphs: input x [N, ...] (N dynamic), weights as initializers.
Graph one_node(const std::string& op, const Shape& x_no_batch, std::vector<std::pair<std::string, Tensor>> inits,
               const std::map<std::string, Attribute::Value>& attrs = {}) {
  Graph g;
  std::vector<int64_t> dims{-1};
  for (int64_t d : x_no_batch.dims()) dims.push_back(d);
  g.inputs.push_back({"x", DType::kF32, Shape(dims), {"N"}});
  std::vector<std::string> ins{"x"};
  for (auto& [name, t] : inits) {
    g.initializers[name] = t;
    ins.push_back(name);
  }
  Node& n = g.add_node(op, ins, {"y"}, "op");
  for (const auto& [k, v] : attrs) n.set_attr(k, v);
  g.outputs.push_back({"y", DType::kF32, Shape{}, {}});
  return g;
}

Tensor weights(const Shape& s, uint32_t seed) {
  std::mt19937 rng(seed);
  return random_tensor(DType::kF32, s, rng, -0.5f, 0.5f);
}

// ---------------------------------------------------------------------------------------------
// Device or not, the session and NVML say which (these run on every machine): without one, clear
// errors; with one, a session opens and NVML reads the device.

TEST(CudaDevice, SessionOpensOnADeviceOrSaysNoCudaDevice) {
  Graph g = one_node("Relu", Shape{4}, {});
  if (cuda_device_count() > 0) {
    EXPECT_NO_THROW(CudaSession s(g));
    return;
  }
  try {
    CudaSession s(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

TEST(CudaDevice, NvmlReadsTheDeviceOrIsAbsentWithAReason) {
  Nvml nvml(0);
  if (cuda_device_count() > 0) {
    ASSERT_TRUE(nvml.available()) << nvml.why_unavailable();
    EXPECT_TRUE(nvml.memory().has_value());
    return;
  }
  EXPECT_FALSE(nvml.available());
  EXPECT_NE(nvml.why_unavailable().find("NVML not available"), std::string::npos) << nvml.why_unavailable();
  EXPECT_FALSE(nvml.power_w().has_value());
  EXPECT_FALSE(nvml.memory().has_value());
}

TEST(CudaPrecision, ParsesNames) {
  EXPECT_EQ(precision_from_name("fp16"), Precision::kF16);
  EXPECT_EQ(precision_from_name("f32"), Precision::kF32);
  EXPECT_EQ(precision_from_name("tf32"), Precision::kTF32);
  EXPECT_STREQ(precision_name(Precision::kTF32), "tf32");
  EXPECT_THROW(precision_from_name("int4"), Error);
}

// ---------------------------------------------------------------------------------------------
// Per op (each at batch 1 and 32, fp32, tf32 and fp16).

TEST(CudaOps, ConvDenseStridesPadsDilation) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  using V = std::vector<int64_t>;
  expect_all(one_node("Conv", Shape{3, 13, 11}, {{"w", weights({8, 3, 3, 3}, 1)}, {"b", weights({8}, 2)}},
                      {{"pads", V{1, 1, 1, 1}}}),
             "conv 3x3 p1");
  expect_all(one_node("Conv", Shape{5, 12, 9}, {{"w", weights({7, 5, 3, 3}, 3)}},
                      {{"strides", V{2, 2}}, {"pads", V{1, 0, 1, 0}}, {"dilations", V{1, 2}}}),
             "conv s2 d(1,2) no bias");
  expect_all(one_node("Conv", Shape{16, 7, 7}, {{"w", weights({24, 16, 1, 1}, 4)}, {"b", weights({24}, 5)}}), "conv 1x1");
  expect_all(one_node("Conv", Shape{4, 20}, {{"w", weights({6, 4, 5}, 6)}}, {{"pads", V{2, 2}}}), "conv 1-D");
}

TEST(CudaOps, ConvGroupedAndDepthwise) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  using V = std::vector<int64_t>;
  expect_all(one_node("Conv", Shape{8, 10, 10}, {{"w", weights({8, 1, 3, 3}, 7)}, {"b", weights({8}, 8)}},
                      {{"group", int64_t{8}}, {"pads", V{1, 1, 1, 1}}}),
             "depthwise 3x3");
  expect_all(one_node("Conv", Shape{8, 9, 9}, {{"w", weights({8, 1, 3, 3}, 9)}},
                      {{"group", int64_t{8}}, {"pads", V{1, 1, 1, 1}}, {"strides", V{2, 2}}}),
             "depthwise 3x3 s2");
  // TF-style SAME padding (end only) changes the output size: the own kernel pads by pad_begin and
  // bounds-checks, so it runs what cuDNN's symmetric pads cannot.
  expect_all(one_node("Conv", Shape{8, 10, 10}, {{"w", weights({8, 1, 3, 3}, 13)}, {"b", weights({8}, 14)}},
                      {{"group", int64_t{8}}, {"pads", V{0, 0, 1, 1}}, {"strides", V{2, 2}}}),
             "depthwise 3x3 s2 end pads");
  expect_all(one_node("Conv", Shape{6, 8, 8}, {{"w", weights({4, 3, 3, 3}, 10)}}, {{"group", int64_t{2}}}), "conv group 2");
}

// Conv + Relu / Clip / residual Add: the runtime passes fuse them; CUDA runs the fused node
// (cuDNN's fused bias+ReLU in fp32, the own epilogue otherwise).
// Conv -> Add(residual x) -> Relu or Clip: the graph the CPU passes turn into one fused Conv.
Graph fused_conv_graph(const std::string& act) {
  using V = std::vector<int64_t>;
  Graph g = one_node("Conv", Shape{4, 9, 9}, {{"w", weights({4, 4, 3, 3}, 11)}, {"b", weights({4}, 12)}},
                     {{"pads", V{1, 1, 1, 1}}});
  g.nodes[0].outputs = {"c"};
  // The residual pass fuses only when both Add operands have known, equal shapes.
  ValueInfo c = g.inputs[0];
  c.name = "c";
  g.value_info["c"] = c;
  g.add_node("Add", {"c", "x"}, {"s"}, "res");
  if (act == "Relu") {
    g.add_node("Relu", {"s"}, {"y"}, "act");
  } else {
    g.initializers["lo"] = Tensor::scalar_f32(0.f);
    g.initializers["hi"] = Tensor::scalar_f32(0.25f);
    g.add_node("Clip", {"s", "lo", "hi"}, {"y"}, "act");
  }
  return g;
}

// Runs everywhere (no GPU needed): the fixture below really exercises the fused path.
TEST(CudaFixtures, ConvResidualActGraphFusesToOneNode) {
  for (const std::string act : {"Relu", "Clip"}) {
    runtime::Session check(fused_conv_graph(act));
    EXPECT_EQ(check.graph().nodes.size(), 1u) << "the passes should fuse Conv+Add+" << act;
  }
}

TEST(CudaOps, ConvFusedEpilogues) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  for (const std::string act : {"Relu", "Clip"}) expect_all(fused_conv_graph(act), "conv+residual+" + act);
}

TEST(CudaOps, GemmAndMatMul) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(one_node("Gemm", Shape{37}, {{"w", weights({19, 37}, 13)}, {"c", weights({19}, 14)}}, {{"transB", int64_t{1}}}),
             "gemm transB bias");
  expect_all(one_node("Gemm", Shape{16}, {{"w", weights({16, 24}, 15)}, {"c", weights({1, 24}, 16)}},
                      {{"alpha", 0.5f}, {"beta", 2.f}}),
             "gemm alpha beta");
  expect_all(one_node("Gemm", Shape{8}, {{"w", weights({8, 5}, 17)}, {"c", weights({1, 1}, 18)}}), "gemm scalar C");
  expect_all(one_node("MatMul", Shape{6, 33}, {{"w", weights({33, 17}, 19)}}), "matmul 3-D x 2-D");
  Graph relu = one_node("Gemm", Shape{32}, {{"w", weights({32, 64}, 20)}, {"c", weights({64}, 21)}});
  relu.nodes[0].outputs = {"h"};
  relu.add_node("Relu", {"h"}, {"y"}, "relu");
  expect_all(relu, "gemm+relu (cuBLASLt RELU_BIAS)");
}

TEST(CudaOps, BatchedMatMulOfTwoInputs) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g;
  g.inputs.push_back({"a", DType::kF32, Shape{-1, 5, 7}, {"N", "", ""}});
  g.inputs.push_back({"b", DType::kF32, Shape{-1, 7, 3}, {"N", "", ""}});
  g.add_node("MatMul", {"a", "b"}, {"y"}, "bmm");
  g.outputs.push_back({"y", DType::kF32, Shape{}, {}});
  expect_all(g, "batched matmul");
}

TEST(CudaOps, Pools) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  using V = std::vector<int64_t>;
  expect_all(one_node("MaxPool", Shape{3, 12, 10}, {}, {{"kernel_shape", V{2, 2}}, {"strides", V{2, 2}}}), "maxpool 2x2");
  expect_all(one_node("MaxPool", Shape{3, 11, 11}, {},
                      {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}, {"ceil_mode", int64_t{1}}}),
             "maxpool 3x3 s2 p1 ceil");
  expect_all(one_node("AveragePool", Shape{2, 9, 9}, {},
                      {{"kernel_shape", V{3, 3}}, {"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}}),
             "avgpool exclude pad");
  expect_all(one_node("AveragePool", Shape{2, 9, 9}, {},
                      {{"kernel_shape", V{3, 3}}, {"pads", V{1, 1, 1, 1}}, {"count_include_pad", int64_t{1}}}),
             "avgpool include pad");
  expect_all(one_node("GlobalAveragePool", Shape{5, 7, 9}, {}), "global average pool");
}

TEST(CudaOps, ElementwiseAndSoftmax) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  for (const std::string op : {"Relu", "Sigmoid", "Tanh", "HardSwish", "Exp", "Abs"})
    expect_all(one_node(op, Shape{3, 5, 7}, {}), op);
  expect_all(one_node("Clip", Shape{40}, {{"lo", Tensor::scalar_f32(-0.3f)}, {"hi", Tensor::scalar_f32(0.6f)}}), "clip");
  expect_all(one_node("Add", Shape{4, 3, 3}, {{"b", weights({4, 1, 1}, 22)}}), "add channel broadcast");
  expect_all(one_node("Mul", Shape{4, 6}, {{"b", weights({6}, 23)}}), "mul row broadcast");
  expect_all(one_node("Sub", Shape{5}, {{"b", weights({1}, 24)}}), "sub scalar");
  expect_all(one_node("Softmax", Shape{10}, {}), "softmax last axis");
  expect_all(one_node("Softmax", Shape{100}, {}), "softmax 100 (lanes stride)");
  expect_all(one_node("Softmax", Shape{6, 4, 5}, {}, {{"axis", int64_t{1}}}), "softmax inner axis");
  expect_all(one_node("LogSoftmax", Shape{33}, {}), "log softmax");
}

TEST(CudaOps, ViewsCostNothing) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = one_node("Flatten", Shape{2, 3, 4}, {});
  g.nodes[0].outputs = {"f"};
  g.initializers["w"] = weights({24, 5}, 25);
  g.add_node("MatMul", {"f", "w"}, {"y"}, "fc");
  expect_all(g, "flatten + matmul");
  CudaSession s(g);
  EXPECT_EQ(s.stats().view_nodes, 1);
  EXPECT_EQ(s.stats().device_nodes, 1);
}

// QuantizeLinear -> QLinearMatMul -> (u8 graph output): integer outputs bit-exact with the CPU int8
// kernels. K = 64 takes cuBLASLt's s8 GEMM, K = 30 the own kernel; u8 and i8 activations.
TEST(CudaOps, QLinearMatMulInt8BitExact) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  for (int64_t k : {64, 30})
    for (DType a_dt : {DType::kU8, DType::kI8}) {
      const int64_t n = 24;
      Graph g;
      g.inputs.push_back({"x", DType::kF32, Shape{-1, k}, {"N", ""}});
      std::mt19937 rng(static_cast<uint32_t>(k));
      std::uniform_int_distribution<int> wv(-127, 127);
      Tensor b(DType::kI8, Shape{k, n});
      for (int64_t i = 0; i < b.numel(); ++i) b.data<int8_t>()[i] = static_cast<int8_t>(wv(rng));
      Tensor bias(DType::kI32, Shape{n});
      for (int64_t i = 0; i < n; ++i) bias.data<int32_t>()[i] = static_cast<int32_t>(i * 37 - 400);
      auto zp = [&](int32_t v) {
        Tensor t(a_dt, Shape{});
        if (a_dt == DType::kU8) t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
        else t.data<int8_t>()[0] = static_cast<int8_t>(v - 128);
        return t;
      };
      g.initializers["xs"] = Tensor::scalar_f32(1.f / 100.f);
      g.initializers["xz"] = zp(131);
      g.initializers["b"] = b;
      std::vector<float> bs(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) bs[static_cast<size_t>(j)] = 0.004f + 0.0003f * static_cast<float>(j);
      g.initializers["bs"] = Tensor::from_vector<float>(Shape{n}, bs);
      Tensor bz(DType::kI8, Shape{});
      bz.data<int8_t>()[0] = 0;
      g.initializers["bz"] = bz;
      g.initializers["ys"] = Tensor::scalar_f32(0.05f);
      g.initializers["yz"] = zp(120);
      g.initializers["bias"] = bias;
      g.add_node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}, "q");
      g.add_node("QLinearMatMul", {"xq", "xs", "xz", "b", "bs", "bz", "ys", "yz", "bias"}, {"y"}, "qmm");
      g.outputs.push_back({"y", a_dt, Shape{}, {}});
      for (int64_t batch : {1, 32}) expect_matches_cpu(g, Precision::kF32, batch, "qlinear_matmul k=" + std::to_string(k));
    }
}

TEST(CudaOps, UnsupportedNodesAreListedByName) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = one_node("Relu", Shape{4, 4}, {});
  g.nodes[0].outputs = {"r"};
  g.add_node("Concat", {"r", "r"}, {"y"}, "my_concat").set_attr("axis", int64_t{1});
  try {
    CudaSession s(g);
    FAIL() << "expected Unimplemented";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("'my_concat' (Concat)"), std::string::npos) << e.what();
  }
}

TEST(CudaSessionTest, WrongBatchIsAClearError) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  CudaSession s(one_node("Relu", Shape{4}, {}), {.batch = 2});
  std::map<std::string, Tensor> feeds{{"x", Tensor::zeros(DType::kF32, Shape{3, 4})}};
  try {
    s.run(feeds);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("built for [2,4]"), std::string::npos) << e.what();
  }
}

TEST(CudaSessionTest, GraphsCapturedAndEagerAgree) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10});
  // Heuristic algorithm choice: deterministic, so both sessions run the same cuDNN algorithms
  // (measured choices can differ between two sessions when two algorithms time alike).
  CudaSession graphs(g, {.conv_algo_search = ConvAlgoSearch::kHeuristic});
  CudaSession eager(g, {.cuda_graphs = false, .conv_algo_search = ConvAlgoSearch::kHeuristic});
  EXPECT_TRUE(graphs.stats().cuda_graphs) << graphs.stats().cuda_graphs_note;
  const auto f = random_feeds(graphs, 3);
  const Tensor a = graphs.run(f).at("output"), b = eager.run(f).at("output");
  // Same algorithms, same launches; only a split-K reduction order could differ, hence not ==.
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a.at(i), b.at(i), 1e-6 + 1e-6 * std::fabs(b.at(i))) << i;
}

TEST(CudaSessionTest, AlgorithmChoicesAndDepthwiseKernelsAllMatchTheCpu) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = train::build_zoo_model("mobilenet_v2", {.input_shape = {3, 32, 32}, .num_outputs = 10, .width_mult = 0.5f});
  struct Case {
    ConvAlgoSearch search;
    bool own_dw;
  };
  for (const Case cs : {Case{ConvAlgoSearch::kMeasure, true}, Case{ConvAlgoSearch::kHeuristic, true},
                        Case{ConvAlgoSearch::kMeasure, false}}) {
    CudaSessionOptions o;
    o.conv_algo_search = cs.search;
    o.own_depthwise = cs.own_dw;
    CudaSession s(g, o);
    bool measured = false, own_dw = false;
    for (const auto& k : s.stats().node_kernels) {
      measured |= k.find("measured") != std::string::npos;
      own_dw |= k.find("own depthwise") != std::string::npos;
    }
    EXPECT_EQ(measured, cs.search == ConvAlgoSearch::kMeasure) << "the kernel notes say how each algorithm was chosen";
    EXPECT_EQ(own_dw, cs.own_dw) << "mobilenet_v2's depthwise 3x3 convs (s1 and s2) take the own kernel";
    for (Precision p : {Precision::kF32, Precision::kF16})
      for (int64_t b : {1, 8}) expect_matches_cpu(g, p, b, "mobilenet_v2 search/depthwise", o);
  }
}

// ---------------------------------------------------------------------------------------------
// Model families.

TEST(CudaModels, VisionCnn) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10}), "vision_cnn");
}

TEST(CudaModels, MobileNetV2) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("mobilenet_v2", {.input_shape = {3, 32, 32}, .num_outputs = 10, .width_mult = 0.5f}),
             "mobilenet_v2");
}

TEST(CudaModels, SafetyMlp) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("safety_mlp", {.input_shape = {24}, .num_outputs = 2}), "safety_mlp");
}

// int8 (QDQ from edgeopt's PTQ, fused to QuantizeLinear/QLinearMatMul/DequantizeLinear by the
// runtime passes): the integer layers are bit-exact, so only the f32 logits layer carries f32
// rounding differences.
TEST(CudaModels, SafetyMlpInt8) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph f = train::build_zoo_model("safety_mlp", {.input_shape = {24}, .num_outputs = 2});
  std::mt19937 rng(5);
  const Tensor calib = random_tensor(DType::kF32, Shape{64, 24}, rng);
  quantize::QuantOptions qo;
  qo.calib_samples = 64;
  Graph q = quantize::quantize_ptq(f, calib, qo).graph;
  CudaSession s(q, {});
  bool int8 = false;
  for (const auto& k : s.stats().node_kernels) int8 |= k.find("QLinearMatMul") != std::string::npos;
  EXPECT_TRUE(int8) << "expected the passes to produce QLinearMatMul nodes";
  for (int64_t b : {1, 32}) expect_matches_cpu(q, Precision::kF32, b, "safety_mlp int8");
}

// ---------------------------------------------------------------------------------------------
// LSTM / GRU. The session's batch is dim 0 of its inputs, so layout-0 cases put a Transpose
// ([N, T, F] -> [T, N, F], as the env_* models) in front of X and of runtime initial states;
// constant initial states and sequence_lens are built for the batch under test.

struct RnnCase {
  std::string op = "LSTM";
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true;
  bool runtime_states = false;  // initial_h (and initial_c) as graph inputs
  bool const_states = false;    // ... or as initializers
  bool peepholes = false;
  bool sequence_lens = false;
  std::map<std::string, Attribute::Value> attrs;
  int64_t seq = 7, input = 5, hidden = 12;
};

Graph rnn_graph(const RnnCase& c, int64_t batch) {
  const bool lstm = c.op == "LSTM";
  const int64_t gates = lstm ? 4 : 3, dirs = c.direction == "bidirectional" ? 2 : 1, H = c.hidden;
  Graph g;
  const std::vector<int64_t> to_seq_first{1, 0, 2};
  auto runtime_input = [&](const std::string& name, int64_t d1, int64_t d2) {
    g.inputs.push_back({name, DType::kF32, Shape{-1, d1, d2}, {"N", "", ""}});
    if (c.layout == 1) return name;
    g.add_node("Transpose", {name}, {name + ".t"}, name + ".t").set_attr("perm", to_seq_first);
    return name + ".t";
  };
  std::vector<std::string> ins{runtime_input("x", c.seq, c.input), "W", "R", "", "", "", "", ""};
  g.initializers["W"] = weights(Shape{dirs, gates * H, c.input}, 11);
  g.initializers["R"] = weights(Shape{dirs, gates * H, H}, 12);
  if (c.bias) {
    g.initializers["B"] = weights(Shape{dirs, 2 * gates * H}, 13);
    ins[3] = "B";
  }
  if (c.sequence_lens) {
    std::vector<int32_t> lens;
    // 0 and full-length entries at batch 32, a short one at batch 1.
    for (int64_t b = 0; b < batch; ++b)
      lens.push_back(static_cast<int32_t>((b * 3 + (batch == 1 ? 4 : 0)) % (c.seq + 1)));
    Tensor t(DType::kI32, Shape{batch});
    std::copy(lens.begin(), lens.end(), t.data<int32_t>());
    g.initializers["lens"] = t;
    ins[4] = "lens";
  }
  const std::vector<std::string> states = lstm ? std::vector<std::string>{"h0", "c0"} : std::vector<std::string>{"h0"};
  for (size_t i = 0; i < states.size(); ++i) {
    if (c.runtime_states) ins[5 + i] = runtime_input(states[i], dirs, H);
    if (c.const_states) {
      g.initializers[states[i]] = weights(c.layout == 0 ? Shape{dirs, batch, H} : Shape{batch, dirs, H}, 20 + i);
      ins[5 + i] = states[i];
    }
  }
  if (c.peepholes) {
    g.initializers["P"] = weights(Shape{dirs, 3 * H}, 14);
    ins[7] = "P";
  }
  while (!ins.empty() && ins.back().empty()) ins.pop_back();
  std::vector<std::string> outs{"Y", "Y_h"};
  if (lstm) outs.push_back("Y_c");
  Node& n = g.add_node(c.op, ins, outs, "my_" + c.op);
  n.set_attr("hidden_size", H);
  n.set_attr("direction", c.direction);
  n.set_attr("layout", c.layout);
  for (const auto& [k, v] : c.attrs) n.set_attr(k, v);
  for (const auto& o : outs) g.outputs.push_back({o, DType::kF32, Shape{}, {}});
  return g;
}

// Every LSTM/GRU case the GPU tests run (by name).
const std::map<std::string, RnnCase>& rnn_cases() {
  static const std::map<std::string, RnnCase> cases = [] {
    std::map<std::string, RnnCase> m;
    m["lstm forward layout 0"] = {};
    m["lstm forward layout 1 no bias"] = {.layout = 1, .bias = false};
    m["lstm bidirectional layout 1 runtime states + P"] = {.direction = "bidirectional", .layout = 1,
                                                           .runtime_states = true, .peepholes = true};
    m["lstm bidirectional layout 0 runtime states"] = {.direction = "bidirectional", .runtime_states = true};
    m["lstm reverse layout 0 constant states + lens"] = {.direction = "reverse", .const_states = true,
                                                         .sequence_lens = true};
    m["lstm bidirectional layout 1 constant states + lens"] = {.direction = "bidirectional", .layout = 1,
                                                               .const_states = true, .sequence_lens = true};
    RnnCase acts{.direction = "bidirectional", .layout = 1, .peepholes = true};
    acts.attrs["activations"] =
        std::vector<std::string>{"HardSigmoid", "Tanh", "Softsign", "Sigmoid", "LeakyRelu", "Tanh"};
    acts.attrs["activation_alpha"] = std::vector<float>{0.3f, 0.2f};
    acts.attrs["activation_beta"] = std::vector<float>{0.4f};
    acts.attrs["clip"] = 0.9f;
    acts.attrs["input_forget"] = int64_t{1};
    m["lstm activations + clip + input_forget"] = acts;
    RnnCase lbr{.op = "GRU"};
    lbr.attrs["linear_before_reset"] = int64_t{1};
    m["gru lbr=1 forward layout 0"] = lbr;
    lbr.direction = "bidirectional";
    lbr.layout = 1;
    lbr.runtime_states = true;
    m["gru lbr=1 bidirectional layout 1 runtime h0"] = lbr;
    m["gru lbr=0 forward layout 1"] = {.op = "GRU", .layout = 1};
    m["gru lbr=0 bidirectional layout 0 runtime h0"] = {.op = "GRU", .direction = "bidirectional",
                                                        .runtime_states = true};
    m["gru lbr=0 reverse no bias constant h0 + lens"] = {.op = "GRU", .direction = "reverse", .bias = false,
                                                         .const_states = true, .sequence_lens = true};
    RnnCase gacts{.op = "GRU", .direction = "bidirectional", .layout = 1};
    gacts.attrs["activations"] = std::vector<std::string>{"Sigmoid", "Softsign", "HardSigmoid", "Tanh"};
    gacts.attrs["clip"] = 0.7f;
    m["gru lbr=0 activations + clip"] = gacts;
    return m;
  }();
  return cases;
}

// Runs the named cases (all whose name starts with `prefix`) on CUDA vs the CPU runtime.
void expect_rnn(const std::string& prefix) {
  int ran = 0;
  for (const auto& [name, c] : rnn_cases()) {
    if (name.rfind(prefix, 0) != 0) continue;
    ++ran;
    for (int64_t b : {1, 32})
      for (Precision p : {Precision::kF32, Precision::kF16}) {
        SCOPED_TRACE(name + " " + precision_name(p) + " batch " + std::to_string(b));
        expect_matches_cpu(rnn_graph(c, b), p, b, name);
      }
  }
  EXPECT_GT(ran, 0) << "no case named " << prefix;
}

Tensor seq_first(const Tensor& t) {  // [A, B, C] -> [B, A, C]
  const int64_t A = t.shape()[0], B = t.shape()[1], C = t.shape()[2];
  Tensor y(DType::kF32, Shape{B, A, C});
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) y.data<float>()[(b * A + a) * C + c] = t.data<float>()[(a * B + b) * C + c];
  return y;
}

// RnnOp::enqueue on the host in fp32: the cuBLASLt products as loops, the gate math through the
// element functions the kernels run (cuda_rnn_math.h), the same buffers and step order.
std::map<std::string, Tensor> emulate_rnn_f32(const RnnCase& c, const Graph& g,
                                              const std::map<std::string, Tensor>& feeds) {
  const Node& n = g.nodes.back();
  const bool lstm = c.op == "LSTM";
  auto rnn_layout = [&](const Tensor& t) { return c.layout == 0 ? seq_first(t) : t; };
  std::vector<Tensor> in(8);
  in[0] = rnn_layout(feeds.at("x"));
  in[1] = g.initializers.at("W");
  in[2] = g.initializers.at("R");
  if (c.bias) in[3] = g.initializers.at("B");
  if (c.sequence_lens) in[4] = g.initializers.at("lens");
  const std::vector<std::string> states = lstm ? std::vector<std::string>{"h0", "c0"} : std::vector<std::string>{"h0"};
  for (size_t i = 0; i < states.size(); ++i) {
    if (c.runtime_states) in[5 + i] = rnn_layout(feeds.at(states[i]));
    if (c.const_states) in[5 + i] = g.initializers.at(states[i]);
  }
  if (c.peepholes) in[7] = g.initializers.at("P");
  if (!lstm) in.resize(6);
  const auto cfg = kernels::recurrent::read_rnn_config(n, in, lstm ? 4 : 3,
                                                       lstm ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                                            : std::vector<std::string>{"Sigmoid", "Tanh"});
  RnnStep p = rnn_step_params(n, cfg, ElemType::kF32);
  const int64_t H = cfg.hidden, I = cfg.input, B = cfg.batch, T = cfg.seq, D = cfg.dirs;
  const int64_t GH = (lstm ? 4 : 3) * H, rows = T * B;
  const bool reset_first = p.cell == RnnCell::kGruResetFirst;
  const int64_t n_first = reset_first ? 2 * H : GH;
  const float* x = in[0].data<float>();
  const float* w = in[1].data<float>();
  const float* r = in[2].data<float>();
  std::vector<float> xp(static_cast<size_t>(rows * D * GH));
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t col = 0; col < D * GH; ++col) {
      float acc = 0.f;
      for (int64_t i = 0; i < I; ++i) acc += x[row * I + i] * w[col * I + i];
      xp[static_cast<size_t>(row * D * GH + col)] = acc;
    }
  std::vector<int32_t> lens;
  if (c.sequence_lens) lens.assign(in[4].data<int32_t>(), in[4].data<int32_t>() + B);
  std::vector<std::vector<float>> h(2), cc(2), z(2), rh(2), hp(2), hp2(2);
  p.lens = lens.empty() ? nullptr : lens.data();
  p.xp = xp.data();
  for (int64_t d = 0; d < D; ++d) {
    h[d].assign(static_cast<size_t>(B * H), NAN);
    cc[d].assign(static_cast<size_t>(B * H), NAN);
    z[d].assign(static_cast<size_t>(B * H), NAN);
    rh[d].assign(static_cast<size_t>(B * H), NAN);
    hp[d].assign(static_cast<size_t>(B * n_first), NAN);
    hp2[d].assign(static_cast<size_t>(B * H), NAN);
    p.bias[d] = c.bias ? in[3].data<float>() + d * 2 * GH : nullptr;
    p.peep[d] = c.peepholes ? in[7].data<float>() + d * 3 * H : nullptr;
    p.hp[d] = hp[d].data();
    p.hp2[d] = hp2[d].data();
    p.h[d] = h[d].data();
    p.c[d] = lstm ? cc[d].data() : nullptr;
    p.z[d] = z[d].data();
    p.hq[d] = h[d].data();  // fp32: the GEMM operand is the state itself
    p.rh[d] = rh[d].data();
  }
  int64_t steps = T;
  bool short_seq = false;
  if (!lens.empty()) {
    steps = 0;
    for (int32_t l : lens) {
      steps = std::max<int64_t>(steps, l);
      short_seq |= l < T;
    }
  }
  // The device zeroes Y only when a sequence ends early; NaN elsewhere shows a missed write.
  Tensor y = Tensor::zeros(DType::kF32, cfg.y_shape());
  if (!short_seq) std::fill(y.data<float>(), y.data<float>() + y.numel(), NAN);
  p.y = y.data<float>();
  Tensor y_h(DType::kF32, cfg.state_shape()), y_c(DType::kF32, cfg.state_shape());
  const int64_t elems = D * B * H;
  auto times_rt = [&](const float* a, const float* rt, int64_t nn, float* out) {  // out[B, nn] = a[B, H] rt[nn, H]^T
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < nn; ++k) {
        float acc = 0.f;
        for (int64_t j = 0; j < H; ++j) acc += a[b * H + j] * rt[k * H + j];
        out[b * nn + k] = acc;
      }
  };
  const float* h0 = in.size() > 5 && in[5].defined() ? in[5].data<float>() : nullptr;
  const float* c0 = in.size() > 6 && in[6].defined() ? in[6].data<float>() : nullptr;
  for (int64_t i = 0; i < elems; ++i) rnn_math::init_elem<float>(p, i, h0, c0);
  for (int64_t s = 0; s < steps; ++s) {
    for (int64_t d = 0; d < D; ++d) times_rt(h[d].data(), r + d * GH * H, n_first, hp[d].data());
    for (int64_t i = 0; i < elems; ++i) rnn_math::step_elem<float>(p, i, s, 0);
    if (!reset_first) continue;
    for (int64_t d = 0; d < D; ++d) times_rt(rh[d].data(), r + d * GH * H + 2 * H * H, H, hp2[d].data());
    for (int64_t i = 0; i < elems; ++i) rnn_math::step_elem<float>(p, i, s, 1);
  }
  for (int64_t i = 0; i < elems; ++i) rnn_math::final_elem<float>(p, i, y_h.data<float>(), y_c.data<float>());
  std::map<std::string, Tensor> out{{"Y", y}, {"Y_h", y_h}};
  if (lstm) out["Y_c"] = y_c;
  return out;
}

// Runs everywhere (no GPU needed): the kernels' element math, driven as RnnOp drives it, matches
// the CPU runtime for every case the GPU tests run, and those cases really differ (short
// sequences reach Y's zero padding; batch 1 and 3).
TEST(CudaRnnHost, KernelMathMatchesTheCpuRuntimeForEveryCase) {
  for (const auto& [name, c] : rnn_cases())
    for (int64_t batch : {1, 3}) {
      SCOPED_TRACE(name + " batch " + std::to_string(batch));
      const Graph g = rnn_graph(c, batch);
      runtime::Session cpu(g);
      std::mt19937 rng(7);
      std::map<std::string, Tensor> feeds;
      for (const auto& vi : g.inputs) {
        std::vector<int64_t> dims(vi.shape.dims().begin(), vi.shape.dims().end());
        dims[0] = batch;
        feeds[vi.name] = random_tensor(DType::kF32, Shape(dims), rng);
      }
      const auto want = cpu.run(feeds);
      const auto got = emulate_rnn_f32(c, g, feeds);
      ASSERT_EQ(got.size(), want.size());
      for (const auto& [out, ref] : want) {
        const Tensor& t = got.at(out);
        ASSERT_EQ(t.shape(), ref.shape()) << out;
        for (int64_t i = 0; i < ref.numel(); ++i)
          ASSERT_NEAR(t.at(i), ref.at(i), 1e-5 + 1e-5 * std::fabs(ref.at(i))) << out << " at " << i;
      }
    }
}

TEST(CudaRnn, LstmForward) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("lstm forward");
}

TEST(CudaRnn, LstmBidirectionalWithInitialStatesAndPeepholes) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("lstm bidirectional layout 1 runtime");
  expect_rnn("lstm bidirectional layout 0 runtime");
}

TEST(CudaRnn, LstmConstantStatesSequenceLens) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("lstm reverse");
  expect_rnn("lstm bidirectional layout 1 constant");
}

TEST(CudaRnn, LstmActivationsClipInputForget) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("lstm activations");
}

TEST(CudaRnn, GruLinearBeforeReset) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("gru lbr=1");
}

TEST(CudaRnn, GruResetBeforeLinear) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("gru lbr=0 forward");
  expect_rnn("gru lbr=0 bidirectional");
  expect_rnn("gru lbr=0 reverse");
}

TEST(CudaRnn, GruActivationsAndClip) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_rnn("gru lbr=0 activations");
}

// Gather (constant indices) and Transpose cases: name -> (graph, output shape at batch 3).
std::vector<std::tuple<std::string, Graph, Shape>> movement_cases() {
  using V = std::vector<int64_t>;
  return {
      {"gather axis 1, 2-D indices with a negative one",
       one_node("Gather", Shape{5, 6}, {{"idx", Tensor::from_vector<int64_t>(Shape{2, 2}, {-1, 2, 0, 4})}},
                {{"axis", int64_t{1}}}),
       Shape{3, 2, 2, 6}},
      {"gather last axis, scalar index",
       one_node("Gather", Shape{5, 6}, {{"idx", Tensor::from_vector<int64_t>(Shape{}, {-1})}}, {{"axis", int64_t{-1}}}),
       Shape{3, 5}},
      {"transpose 4-D", one_node("Transpose", Shape{3, 4, 5}, {}, {{"perm", V{2, 0, 3, 1}}}), Shape{4, 3, 5, 3}},
      {"transpose default perm", one_node("Transpose", Shape{6}, {}), Shape{6, 3}},
  };
}

// Runs everywhere: the fixtures are valid graphs of the shapes meant.
TEST(CudaFixtures, GatherAndTransposeGraphsRunOnTheCpu) {
  for (const auto& [name, g, want] : movement_cases()) {
    runtime::Session cpu(g);
    std::mt19937 rng(1);
    std::vector<int64_t> dims(g.inputs[0].shape.dims().begin(), g.inputs[0].shape.dims().end());
    dims[0] = 3;
    const auto out = cpu.run({{"x", random_tensor(DType::kF32, Shape(dims), rng)}});
    EXPECT_EQ(out.at("y").shape(), want) << name;
  }
}

TEST(CudaOps, GatherConstantIndicesAndTranspose) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  for (const auto& [name, g, shape] : movement_cases()) expect_all(g, name);
}

// Recurrent weights computed at run time would need their layout rebuilt per run: refused at
// construction, naming the node (a session needs a device, hence skipped without one).
TEST(CudaRnn, RuntimeWeightsAreUnimplementedNamingTheNode) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = rnn_graph({.layout = 1}, 1);
  g.inputs.push_back({"W", DType::kF32, g.initializers.at("W").shape(), {}});
  g.initializers.erase("W");
  try {
    CudaSession s(g);
    FAIL() << "expected Unimplemented";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("'my_LSTM' (LSTM)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(W)"), std::string::npos) << e.what();
  }
}

// Runs everywhere: after the CPU passes the env_* models hold only ops the CUDA backend runs
// (Transpose, the cell, views, Gemm; Gather and Add with the residual head), so CudaModels.Env*
// test the new kernels.
TEST(CudaFixtures, EnvRnnModelsNeedOnlyCudaOps) {
  for (const std::string name : {"env_lstm", "env_gru"})
    for (int64_t residual : {-1, 2}) {
      runtime::Session cpu(
          train::build_zoo_model(name, {.input_shape = {24, 4}, .num_outputs = 1, .residual_feature = residual}));
      std::set<std::string> ops;
      for (const auto& n : cpu.graph().nodes) ops.insert(n.op_type);
      std::set<std::string> want{"Transpose", name == "env_lstm" ? "LSTM" : "GRU", "Squeeze", "Flatten", "Gemm"};
      if (residual >= 0) want.insert({"Gather", "Add"});  // the persistence head
      EXPECT_EQ(ops, want) << name << " residual " << residual;
    }
}

TEST(CudaModels, EnvLstm) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("env_lstm", {.input_shape = {24, 4}, .num_outputs = 1}), "env_lstm");
}

TEST(CudaModels, EnvGru) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("env_gru", {.input_shape = {24, 4}, .num_outputs = 1}), "env_gru");
}

// The forecasting head the CLI builds for a data set's own feature: last observed value (Gather)
// plus the network's output.
TEST(CudaModels, EnvLstmResidualHead) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_all(train::build_zoo_model("env_lstm", {.input_shape = {24, 4}, .num_outputs = 1, .residual_feature = 2}),
             "env_lstm residual");
}

}  // namespace
}  // namespace edgeopt::cuda
