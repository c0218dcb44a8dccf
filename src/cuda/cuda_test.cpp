// CUDA backend vs the CPU runtime (the reference), per op and per model family, batch 1 and 32.
// Tolerances: fp32 |gpu - cpu| <= 1e-4 |cpu| + 1e-5 max(1, max|cpu|) (the absolute part scales
// with the output: cancellation in long sums makes single elements small); fp16 and tf32 |gpu - cpu| <=
// 1e-2 (|cpu| + max|cpu|) (f16 storage and TF32 products keep 11 significant bits; accumulation is f32); integer
// outputs bit-exact (the int8 GEMM epilogue runs quant::requantize, the CPU's own routine).
// Without a CUDA device every GPU test skips with the reason, and the no-device error paths are
// tested instead.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <set>
#include <tuple>

#include "cuda/cuda_qconv_plan.h"
#include "cuda/cuda_rnn_math.h"
#include "cuda/cuda_session.h"
#include "cuda/nvml.h"
#include "kernels/op_def.h"
#include "quantize/ptq.h"
#include "runtime/session.h"
#include "train/zoo/zoo.h"

namespace edgeopt::cuda {
namespace {

void expect_no_cuda_device_error();

// Without a device a GPU test checks what a user of this machine gets instead: a session fails
// with kFailedPrecondition naming the missing device (expect_no_cuda_device_error). With
// EDGEOPT_REQUIRE_CUDA set (scripts/gpu-check.sh on a lent GPU) a missing device is a failure.
#define EDGEOPT_REQUIRE_CUDA_DEVICE()                                                                  \
  do {                                                                                                 \
    if (cuda_device_count() == 0) {                                                                    \
      if (std::getenv("EDGEOPT_REQUIRE_CUDA")) FAIL() << "EDGEOPT_REQUIRE_CUDA is set but no CUDA device answers"; \
      expect_no_cuda_device_error();                                                                   \
      return;                                                                                          \
    }                                                                                                  \
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
// int8_cnn_check_graph); o carries session options besides precision and batch.
void expect_matches_cpu(const Graph& g, Precision p, int64_t batch, const std::string& what, double extra_abs_tol = 0,
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

void expect_no_cuda_device_error() {
  try {
    CudaSession s(one_node("Relu", Shape{4}, {}));
    FAIL() << "expected an error without a CUDA device";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

TEST(CudaDevice, SessionOpensOnADeviceOrSaysNoCudaDevice) {
  if (cuda_device_count() > 0) {
    EXPECT_NO_THROW(CudaSession s(one_node("Relu", Shape{4}, {})));
    return;
  }
  expect_no_cuda_device_error();
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
      for (int64_t b : {1, 8}) expect_matches_cpu(g, p, b, "mobilenet_v2 search/depthwise", 0, o);
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
