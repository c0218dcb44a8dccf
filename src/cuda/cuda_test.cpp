// CUDA backend vs the CPU runtime (the reference), per op and per model family, batch 1 and 32.
// Tolerances: fp32 |gpu - cpu| <= 1e-4 |cpu| + 1e-5 max(1, max|cpu|) (the absolute part scales
// with the output: cancellation in long sums makes single elements small); fp16 |gpu - cpu| <=
// 1e-2 (|cpu| + max|cpu|) (f16 storage has 11 significant bits; accumulation is f32); integer
// outputs bit-exact (the int8 GEMM epilogue runs quant::requantize, the CPU's own routine).
// Without a CUDA device every GPU test skips with the reason, and the no-device error paths are
// tested instead.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "cuda/cuda_qconv_plan.h"
#include "cuda/cuda_session.h"
#include "cuda/nvml.h"
#include "quantize/ptq.h"
#include "kernels/op_def.h"
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
// extra_abs_tol widens the f32 tolerance (int8 graphs that re-quantize an f32 result, see
// int8_cnn_check_graph).
void expect_matches_cpu(const Graph& g, Precision p, int64_t batch, const std::string& what, double extra_abs_tol = 0) {
  CudaSessionOptions o;
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
          const double tol = (p == Precision::kF32 ? 1e-4 * std::fabs(r) + 1e-5 * std::max(1.0, max_ref)
                                                   : 1e-2 * (std::fabs(r) + max_ref)) + extra_abs_tol;
          ASSERT_LE(std::fabs(v - r), tol) << what << " " << precision_name(p) << " batch " << batch << " output "
                                           << name << " at " << i << ": cpu=" << r << " cuda=" << v;
        }
      }
    }
  }
}

void expect_all(const Graph& g, const std::string& what, std::initializer_list<int64_t> batches = {1, 32}) {
  for (int64_t b : batches)
    for (Precision p : {Precision::kF32, Precision::kF16}) {
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
  EXPECT_THROW(precision_from_name("int4"), Error);
}

// ---------------------------------------------------------------------------------------------
// Per op (each at batch 1 and 32, fp32 and fp16).

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

// QLinearConv (int8): f32 x -> QuantizeLinear -> QLinearConv -> codes, compared bit for bit.
struct QConvCase {
  std::string name;
  int64_t c = 8, h = 10, w = 10, m = 16, k = 3, stride = 1, pad = 1, dilation = 1, group = 1;
  bool w_u8 = false, per_channel = false, x_i8 = false, y_i8 = false, relu = false, pool = false, one_d = false;
  std::vector<int64_t> pads;  // overrides pad (begin..., end...)
};

Tensor q8_scalar(DType dt, int32_t v) {
  Tensor t(dt, Shape{});
  if (dt == DType::kU8) t.data<uint8_t>()[0] = static_cast<uint8_t>(v);
  else t.data<int8_t>()[0] = static_cast<int8_t>(v);
  return t;
}

Graph qconv_graph(const QConvCase& c) {
  Graph g;
  const int64_t cg = c.c / c.group;
  std::vector<int64_t> xd{-1, c.c, c.h, c.w}, wd{c.m, cg, c.k, c.k};
  if (c.one_d) {
    xd = {-1, c.c, c.w};
    wd = {c.m, cg, c.k};
  }
  g.inputs.push_back({"x", DType::kF32, Shape(xd), {}});
  std::mt19937 rng(static_cast<uint32_t>(c.name.size() * 131 + c.m));
  const DType x_dt = c.x_i8 ? DType::kI8 : DType::kU8, w_dt = c.w_u8 ? DType::kU8 : DType::kI8;
  const DType y_dt = c.y_i8 ? DType::kI8 : DType::kU8;
  Tensor w(w_dt, Shape(wd));
  std::uniform_int_distribution<int> wv(c.w_u8 ? 0 : -128, c.w_u8 ? 255 : 127);
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (c.w_u8) w.data<uint8_t>()[i] = static_cast<uint8_t>(wv(rng));
    else w.data<int8_t>()[i] = static_cast<int8_t>(wv(rng));
  }
  const float sx = 1.f / 100.f, sw0 = 0.01f;
  const int64_t kk = cg * c.k * (c.one_d ? 1 : c.k);
  // ~3 sigma of the accumulator (|x - zx| ~ 58, |w - zw| ~ 73 rms) spans ~120 output steps.
  const float sy = sx * sw0 * 4200.f * std::sqrt(static_cast<float>(kk)) / 40.f;
  g.initializers["xs"] = Tensor::scalar_f32(sx);
  g.initializers["xz"] = q8_scalar(x_dt, c.x_i8 ? 3 : 131);
  g.initializers["w"] = w;
  if (c.per_channel) {
    std::vector<float> sw(static_cast<size_t>(c.m));
    for (int64_t j = 0; j < c.m; ++j) sw[static_cast<size_t>(j)] = sw0 * (0.5f + 0.07f * static_cast<float>(j % 15));
    g.initializers["ws"] = Tensor::from_vector<float>(Shape{c.m}, sw);
    Tensor wz(w_dt, Shape{c.m});
    for (int64_t j = 0; j < c.m; ++j) {
      const int32_t z = static_cast<int32_t>(j % 7) - 3;
      if (c.w_u8) wz.data<uint8_t>()[j] = static_cast<uint8_t>(128 + z);
      else wz.data<int8_t>()[j] = static_cast<int8_t>(z);
    }
    g.initializers["wz"] = wz;
  } else {
    g.initializers["ws"] = Tensor::scalar_f32(sw0);
    g.initializers["wz"] = q8_scalar(w_dt, c.w_u8 ? 121 : 0);
  }
  g.initializers["ys"] = Tensor::scalar_f32(sy);
  g.initializers["yz"] = q8_scalar(y_dt, c.y_i8 ? -5 : 120);
  Tensor bias(DType::kI32, Shape{c.m});
  for (int64_t j = 0; j < c.m; ++j) bias.data<int32_t>()[j] = static_cast<int32_t>(j * 977 - 6000);
  g.initializers["bias"] = bias;
  g.add_node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"}, "q");
  Node& n = g.add_node("QLinearConv", {"xq", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"}, {"y"}, "qconv");
  const size_t nd = c.one_d ? 1 : 2;
  n.set_attr("kernel_shape", std::vector<int64_t>(nd, c.k));
  n.set_attr("strides", std::vector<int64_t>(nd, c.stride));
  n.set_attr("dilations", std::vector<int64_t>(nd, c.dilation));
  n.set_attr("pads", c.pads.empty() ? std::vector<int64_t>(2 * nd, c.pad) : c.pads);
  n.set_attr("group", c.group);
  if (c.relu) n.set_attr("activation", std::string("Relu"));
  if (c.pool) n.set_attr("maxpool", int64_t{2});
  g.outputs.push_back({"y", y_dt, Shape{}, {}});
  return g;
}

std::vector<QConvCase> qconv_cases() {
  std::vector<QConvCase> cases;
  auto add = [&](QConvCase c) { cases.push_back(c); };
  add({.name = "dense 3x3 pad 1"});
  add({.name = "dense 3x3 stride 2 u8 w per-channel i8 y", .c = 6, .h = 11, .w = 9, .m = 10, .stride = 2, .w_u8 = true,
       .per_channel = true, .y_i8 = true});
  add({.name = "dense 3x3 dilation 2 relu", .c = 5, .h = 12, .w = 12, .m = 7, .pad = 2, .dilation = 2, .relu = true});
  add({.name = "dense 3x3 asymmetric pads", .c = 4, .h = 9, .w = 8, .m = 6, .pads = {0, 1, 2, 0}});
  add({.name = "first layer K=27", .c = 3, .h = 16, .w = 16, .m = 8, .stride = 2, .per_channel = true});
  add({.name = "1x1", .c = 32, .h = 7, .w = 7, .m = 24, .k = 1, .pad = 0, .per_channel = true});
  add({.name = "1x1 u8 w, i8 x", .c = 12, .h = 5, .w = 6, .m = 20, .k = 1, .pad = 0, .w_u8 = true, .x_i8 = true});
  add({.name = "grouped 3x3 group 4", .c = 8, .h = 9, .w = 9, .m = 12, .group = 4, .per_channel = true});
  add({.name = "depthwise 3x3 s1", .c = 16, .h = 10, .w = 10, .m = 16, .group = 16, .per_channel = true, .relu = true});
  add({.name = "depthwise 3x3 s2 u8 w", .c = 12, .h = 11, .w = 11, .m = 12, .stride = 2, .group = 12, .w_u8 = true,
       .per_channel = true});
  add({.name = "depthwise 3x3 s2 i8 w per tensor", .c = 12, .h = 8, .w = 8, .m = 12, .stride = 2, .group = 12});
  add({.name = "dense + fused 2x2 max pool", .c = 4, .h = 11, .w = 11, .m = 8, .relu = true, .pool = true});
  add({.name = "depthwise + fused 2x2 max pool", .c = 6, .h = 10, .w = 10, .m = 6, .group = 6, .pool = true});
  add({.name = "1-D k3", .c = 6, .h = 1, .w = 20, .m = 8, .one_d = true});
  return cases;
}

TEST(CudaOps, QLinearConvInt8BitExact) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  const std::vector<QConvCase> cases = qconv_cases();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Graph g = qconv_graph(c);
    CudaSession s(g, {});
    ASSERT_EQ(s.stats().node_kernels.size(), 2u);
    const std::string& k = s.stats().node_kernels[1];
    EXPECT_NE(k.find(c.group == 1 ? "im2col" : "qconv_direct"), std::string::npos) << k;
    for (int64_t batch : {1, 32}) expect_matches_cpu(g, Precision::kF32, batch, "qlinear_conv " + c.name);
  }
}

// QLinearAdd (int8): u8 + i8 -> u8 with a fused Relu; that plus a broadcast constant [C, 1, 1]
// (-> i8); a + Q(-x) (-> i8), where only the two rounding errors remain, on a fine output step.
Graph qadd_graph() {
  Graph g;
  const int64_t ch = 6;
  g.inputs.push_back({"x", DType::kF32, Shape{-1, ch, 5, 7}, {}});
  g.initializers["s1"] = Tensor::scalar_f32(1.f / 90.f);
  g.initializers["z1"] = q8_scalar(DType::kU8, 127);
  g.initializers["s2"] = Tensor::scalar_f32(1.f / 50.f);
  g.initializers["z2"] = q8_scalar(DType::kI8, -7);
  g.initializers["s3"] = Tensor::scalar_f32(1.f / 70.f);
  g.initializers["z3"] = q8_scalar(DType::kU8, 10);
  g.initializers["s4"] = Tensor::scalar_f32(0.013f);
  g.initializers["z4"] = q8_scalar(DType::kU8, 140);
  g.initializers["s5"] = Tensor::scalar_f32(1.f / 60.f);
  g.initializers["z5"] = q8_scalar(DType::kI8, 4);
  g.initializers["s6"] = Tensor::scalar_f32(1.f / 2000.f);  // a - b nearly cancels: a fine output step
  g.initializers["z6"] = q8_scalar(DType::kI8, 0);
  Tensor bc(DType::kU8, Shape{ch, 1, 1});
  for (int64_t i = 0; i < ch; ++i) bc.data<uint8_t>()[i] = static_cast<uint8_t>(100 + 17 * i);
  g.initializers["bc"] = bc;
  g.add_node("QuantizeLinear", {"x", "s1", "z1"}, {"a"}, "qa");
  g.add_node("QuantizeLinear", {"x", "s2", "z2"}, {"b"}, "qb");
  g.add_node("Neg", {"x"}, {"nx"}, "neg");
  g.add_node("QuantizeLinear", {"nx", "s2", "z2"}, {"bn"}, "qbn");
  g.add_node("QLinearAdd", {"a", "s1", "z1", "b", "s2", "z2", "s3", "z3"}, {"c"}, "add1")
      .set_attr("activation", std::string("Relu"));
  g.add_node("QLinearAdd", {"c", "s3", "z3", "bc", "s4", "z4", "s5", "z5"}, {"y"}, "add2");
  g.add_node("QLinearAdd", {"a", "s1", "z1", "bn", "s2", "z2", "s6", "z6"}, {"y2"}, "add3");
  g.outputs.push_back({"c", DType::kU8, Shape{}, {}});
  g.outputs.push_back({"y", DType::kI8, Shape{}, {}});
  g.outputs.push_back({"y2", DType::kI8, Shape{}, {}});
  return g;
}

TEST(CudaOps, QLinearAddInt8BitExact) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  const Graph g = qadd_graph();
  for (int64_t batch : {1, 32}) expect_matches_cpu(g, Precision::kF32, batch, "qlinear_add");
}

TEST(CudaOps, UnsupportedNodesAreListedByName) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = one_node("Relu", Shape{4, 4}, {});
  g.nodes[0].outputs = {"r"};
  g.initializers["perm"] = Tensor::from_vector<int64_t>(Shape{1}, {0});
  g.add_node("Transpose", {"r"}, {"y"}, "my_transpose").set_attr("perm", std::vector<int64_t>{0, 2, 1});
  try {
    CudaSession s(g);
    FAIL() << "expected Unimplemented";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("'my_transpose' (Transpose)"), std::string::npos) << e.what();
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
  CudaSession graphs(g, {});
  CudaSession eager(g, {.cuda_graphs = false});
  EXPECT_TRUE(graphs.stats().cuda_graphs) << graphs.stats().cuda_graphs_note;
  const auto f = random_feeds(graphs, 3);
  const Tensor a = graphs.run(f).at("output"), b = eager.run(f).at("output");
  // Same algorithms, same launches; only a split-K reduction order could differ, hence not ==.
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a.at(i), b.at(i), 1e-6 + 1e-6 * std::fabs(b.at(i))) << i;
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

// int8 CNNs from edgeopt's PTQ: after the runtime passes QuantizeLinear -> QLinearConv (fused
// Relu/Clip, vision_cnn's with the 2x2 max pool fused) / QLinearAdd -> ... -> DequantizeLinear ->
// f32 head. The integer layers are bit-exact, so only the f32 tail carries f32 tolerance.
Graph ptq_int8(const Graph& f, const Shape& calib_shape) {
  std::mt19937 rng(5);
  const Tensor calib = random_tensor(DType::kF32, calib_shape, rng);
  quantize::QuantOptions qo;
  qo.calib_samples = calib_shape[0];
  return quantize::quantize_ptq(f, calib, qo).graph;
}

Graph vision_cnn_int8() {
  return ptq_int8(train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10}),
                  Shape{16, 1, 28, 28});
}

Graph mobilenet_v2_int8() {
  return ptq_int8(
      train::build_zoo_model("mobilenet_v2", {.input_shape = {3, 32, 32}, .num_outputs = 10, .width_mult = 0.5f}),
      Shape{16, 3, 32, 32});
}

// The int8 model as the sessions see it (after the CPU passes), with every integer tensor that
// leaves the int8 body (a DequantizeLinear input produced by QLinearConv/QLinearAdd/QLinearMatMul)
// as an extra output, compared bit for bit. The f32 logits carry the fp32 tolerance, widened where
// an f32 result is quantized again (mobilenet_v2: GlobalAveragePool -> QuantizeLinear): the pool's
// f32 sum is associated differently on the GPU, so a value on a rounding boundary may take the
// neighbouring code; *tail_tol allows two such codes per logit: 2 * scale * max|W| of the Gemms.
Graph int8_cnn_check_graph(const Graph& q, double* tail_tol) {
  Graph g = runtime::Session(q).graph();
  std::map<std::string, const Node*> producer;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  static const std::set<std::string> kInt8{"QLinearConv", "QLinearAdd", "QLinearMatMul"};
  std::vector<ValueInfo> extra;
  double max_w = 0, max_requant_scale = 0;
  for (const auto& n : g.nodes) {
    auto it = producer.find(n.inputs[0]);
    const Node* src = it == producer.end() ? nullptr : it->second;
    if (n.op_type == "DequantizeLinear" && src && kInt8.count(src->op_type))
      extra.push_back({n.inputs[0], g.initializers.at(src->inputs[7]).dtype(), Shape{}, {}});
    if (n.op_type == "QuantizeLinear" && src && !kInt8.count(src->op_type))
      max_requant_scale = std::max(max_requant_scale, static_cast<double>(g.initializers.at(n.inputs[1]).at(0)));
    if (n.op_type == "Gemm")
      for (const auto& [name, t] : g.initializers)
        if (name == n.inputs[1])
          for (int64_t i = 0; i < t.numel(); ++i) max_w = std::max(max_w, std::fabs(t.at(i)));
  }
  for (auto& vi : extra) g.outputs.push_back(vi);
  *tail_tol = 2 * max_requant_scale * max_w;
  return g;
}

void expect_int8_cnn(const Graph& q, const std::string& what) {
  double tail_tol = 0;
  const Graph g = int8_cnn_check_graph(q, &tail_tol);
  CudaSession s(g, {});
  int qconv = 0;
  for (const auto& k : s.stats().node_kernels) qconv += k.find("(QLinearConv)") != std::string::npos;
  EXPECT_GE(qconv, 2) << "expected the passes to produce QLinearConv nodes";
  for (int64_t b : {1, 32}) expect_matches_cpu(g, Precision::kF32, b, what, tail_tol);
}

TEST(CudaModels, VisionCnnInt8) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_int8_cnn(vision_cnn_int8(), "vision_cnn int8");
}

TEST(CudaModels, MobileNetV2Int8) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  expect_int8_cnn(mobilenet_v2_int8(), "mobilenet_v2 int8");
}

// ---------------------------------------------------------------------------------------------
// The int8 kernels' arithmetic on the host (every machine, no device): the session's plan
// (plan_qlinear_conv / plan_qlinear_add) and the per-element functions every CUDA thread runs
// (cuda_qconv_math.h), with a plain s8 GEMM in place of cuBLASLt, against the CPU int8 kernels.
// On a GPU the device tests above then only add the launches and cuBLASLt's GEMM.

std::vector<const Tensor*> const_inputs(const Graph& g, const Node& n) {
  std::vector<const Tensor*> c(n.inputs.size(), nullptr);
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    auto it = n.has_input(i) ? g.initializers.find(n.inputs[i]) : g.initializers.end();
    if (it != g.initializers.end()) c[i] = &it->second;
  }
  return c;
}

Tensor host_qconv(const Graph& gr, const Node& n, const Tensor& x) {
  const QConvPlan p = plan_qlinear_conv(n, x.dtype(), x.shape(), const_inputs(gr, n));
  QConvGeom g = p.g;
  g.multiplier = p.multiplier.data();
  g.shift = p.shift.data();
  g.bias = p.bias.empty() ? nullptr : p.bias.data();
  Tensor y(g.y_u8 ? DType::kU8 : DType::kI8, p.y_shape);
  const int64_t count = qconv_out_count(g);
  EXPECT_EQ(count, y.numel());
  if (p.direct) {
    const QConvDirect d{x.raw(), p.w_raw.data(), p.w_zp.data(), p.x_zp, p.x_u8, p.w_u8};
    for (int64_t i = 0; i < count; ++i) store_q8(y.raw(), g.y_u8, i, qconv_direct_out(d, g, i));
    return y;
  }
  std::vector<int8_t> a(static_cast<size_t>(p.rows * p.k_pad));
  for (int64_t i = 0; i < static_cast<int64_t>(a.size()); ++i) a[static_cast<size_t>(i)] = im2col_s8_at(x.raw(), p.x_u8, g, p.za, p.k_pad, i);
  std::vector<int32_t> rs(static_cast<size_t>(p.rows), 0), s(static_cast<size_t>(p.rows * g.m), 0);
  for (int64_t r = 0; r < p.rows; ++r)
    for (int64_t kk = 0; kk < p.k_pad; ++kk) {
      const int32_t av = a[static_cast<size_t>(r * p.k_pad + kk)];
      rs[static_cast<size_t>(r)] += av;
      for (int64_t j = 0; j < g.m; ++j) s[static_cast<size_t>(r * g.m + j)] += av * p.bt[static_cast<size_t>(j * p.k_pad + kk)];
    }
  const QConvGemmTerms t{s.data(), rs.data(), p.col_sum.data(), p.zb.data(), p.za, p.k};
  for (int64_t i = 0; i < count; ++i) store_q8(y.raw(), g.y_u8, i, qconv_gemm_out(t, g, i));
  return y;
}

Tensor host_qadd(const Graph& gr, const Node& n, const Tensor& a, const Tensor& b) {
  const QAddParams p = plan_qlinear_add(n, a.dtype(), b.dtype(), const_inputs(gr, n));
  const Shape out = broadcast_shapes(a.shape(), b.shape());
  // launch_binary's strides (right-aligned dims, 0 where broadcast), as the session builds them.
  BroadcastShape bs;
  bs.rank = std::max(1, static_cast<int>(out.rank()));
  for (int d = 0; d < bs.rank; ++d) bs.out[d] = out.rank() ? out[static_cast<size_t>(d)] : 1;
  for (auto [x, st] : {std::pair{&a.shape(), bs.a_stride}, std::pair{&b.shape(), bs.b_stride}}) {
    int64_t acc = 1;
    for (int d = bs.rank - 1; d >= 0; --d) {
      const int xd = d - (bs.rank - static_cast<int>(x->rank()));
      const int64_t dim = xd >= 0 ? (*x)[static_cast<size_t>(xd)] : 1;
      st[d] = dim == 1 ? 0 : acc;
      acc *= dim;
    }
  }
  Tensor c(p.c_u8 ? DType::kU8 : DType::kI8, out);
  for (int64_t i = 0; i < c.numel(); ++i) store_q8(c.raw(), p.c_u8, i, qlinear_add_out(a.raw(), b.raw(), bs, p, i));
  return c;
}

// Runs g node by node with the CPU kernels (the fast ones, as runtime::Session) and checks every
// QLinearConv / QLinearAdd output against the host-run CUDA arithmetic; returns how many it checked.
int check_int8_nodes_on_host(const Graph& g, int64_t batch, uint32_t seed, const std::string& what) {
  std::map<std::string, Tensor> vals(g.initializers.begin(), g.initializers.end());
  std::mt19937 rng(seed);
  for (const auto& vi : g.inputs) {
    std::vector<int64_t> dims(vi.shape.dims().begin(), vi.shape.dims().end());
    for (size_t d = 0; d < dims.size(); ++d)
      if (dims[d] < 0) dims[d] = d == 0 ? batch : 1;
    vals[vi.name] = random_tensor(vi.dtype, Shape(dims), rng);
  }
  int checked = 0;
  for (size_t idx : g.topo_order()) {
    const Node& n = g.nodes[idx];
    std::vector<Tensor> in;
    for (size_t i = 0; i < n.inputs.size(); ++i) in.push_back(n.has_input(i) ? vals.at(n.inputs[i]) : Tensor());
    std::vector<Tensor> out(n.outputs.size());
    kernels::ForwardCtx ctx{n, in, out};
    ctx.opset = g.opset;
    kernels::select_forward(*kernels::find_op(n.op_type))(ctx);
    Tensor mine;
    if (n.op_type == "QLinearConv") mine = host_qconv(g, n, in[0]);
    if (n.op_type == "QLinearAdd") mine = host_qadd(g, n, in[0], in[3]);
    if (mine.defined()) {
      ++checked;
      EXPECT_EQ(mine.shape(), out[0].shape()) << what << " " << n.describe();
      EXPECT_EQ(mine.dtype(), out[0].dtype()) << what << " " << n.describe();
      if (mine.shape() == out[0].shape())
        for (int64_t i = 0; i < mine.numel(); ++i)
          if (mine.at(i) != out[0].at(i)) {
            ADD_FAILURE() << what << " " << n.describe() << " at " << i << ": cpu " << out[0].at(i) << " cuda arithmetic "
                          << mine.at(i);
            break;
          }
    }
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) vals[n.outputs[o]] = out[o];
  }
  return checked;
}

TEST(CudaInt8Host, QLinearConvArithmeticMatchesCpu) {
  for (const auto& c : qconv_cases()) {
    // The graph as the CUDA session sees it, after the CPU runtime's passes: still one QLinearConv.
    const Graph g = runtime::Session(qconv_graph(c)).graph();
    for (int64_t batch : {1, 3}) EXPECT_EQ(check_int8_nodes_on_host(g, batch, 7, c.name), 1) << c.name;
  }
}

TEST(CudaInt8Host, QLinearAddArithmeticMatchesCpu) {
  const Graph g = runtime::Session(qadd_graph()).graph();
  for (int64_t batch : {1, 3}) EXPECT_EQ(check_int8_nodes_on_host(g, batch, 3, "qlinear_add"), 3);
}

TEST(CudaInt8Host, Int8CnnNodesMatchCpu) {
  // After the CPU runtime's passes, as the CUDA session sees the graph.
  for (const auto& [name, q] : {std::pair{"vision_cnn int8", vision_cnn_int8()}, std::pair{"mobilenet_v2 int8", mobilenet_v2_int8()}}) {
    const Graph g = runtime::Session(q).graph();
    int qconv = 0, qadd = 0;
    for (const auto& n : g.nodes) {
      qconv += n.op_type == "QLinearConv";
      qadd += n.op_type == "QLinearAdd";
    }
    EXPECT_GE(qconv, 2) << name;
    for (int64_t batch : {1, 4}) EXPECT_EQ(check_int8_nodes_on_host(g, batch, 11, name), qconv + qadd) << name;
    // The GPU model test's graph: the int8 body's results as extra integer outputs.
    double tail_tol = -1;
    const Graph c = int8_cnn_check_graph(q, &tail_tol);
    EXPECT_GT(c.outputs.size(), q.outputs.size()) << name;
    EXPECT_GE(tail_tol, 0) << name;
    runtime::Session cpu(c);
    std::mt19937 rng(1);
    std::vector<int64_t> dims(c.inputs[0].shape.dims().begin(), c.inputs[0].shape.dims().end());
    dims[0] = 2;
    const auto out = cpu.run({{c.inputs[0].name, random_tensor(DType::kF32, Shape(dims), rng)}});
    EXPECT_EQ(out.size(), c.outputs.size()) << name;
    for (size_t o = q.outputs.size(); o < c.outputs.size(); ++o) {
      const Tensor& t = out.at(c.outputs[o].name);
      EXPECT_TRUE(t.dtype() == DType::kU8 || t.dtype() == DType::kI8);
      double lo = 1e9, hi = -1e9;
      for (int64_t i = 0; i < t.numel(); ++i) {
        lo = std::min(lo, t.at(i));
        hi = std::max(hi, t.at(i));
      }
      EXPECT_GT(hi - lo, 100) << name << " " << c.outputs[o].name << ": the codes compared bit-exactly should vary";
    }
  }
}

TEST(CudaModels, EnvLstmIsNotSupportedAndSaysSo) {
  EDGEOPT_REQUIRE_CUDA_DEVICE();
  Graph g = train::build_zoo_model("env_lstm", {.input_shape = {24, 4}, .num_outputs = 1});
  try {
    CudaSession s(g);
    FAIL() << "LSTM has no CUDA kernel yet; expected Unimplemented";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("(LSTM)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgeopt::cuda
