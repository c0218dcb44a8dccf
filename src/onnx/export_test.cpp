#include "onnx/export.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include "onnx/import.h"
#include "onnx/tensor_proto.h"
#include "onnx/test_models.h"
#include "runtime/session.h"

namespace edgeopt::onnx {
namespace {

using namespace testing;
using ::onnx::TensorProto;

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

bool same_value_info(const ValueInfo& a, const ValueInfo& b) {
  return a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.dim_params == b.dim_params;
}

void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.opset, b.opset);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    const Node &x = a.nodes[i], &y = b.nodes[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op_type, y.op_type);
    EXPECT_EQ(x.domain, y.domain);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.outputs, y.outputs);
    ASSERT_EQ(x.attrs.size(), y.attrs.size()) << x.describe();
    for (const auto& [k, v] : x.attrs) {
      ASSERT_TRUE(y.attrs.count(k)) << k;
      const auto& w = y.attrs.at(k).value;
      ASSERT_EQ(v.value.index(), w.index()) << k;
      if (auto* t = std::get_if<Tensor>(&v.value)) EXPECT_TRUE(same_tensor(*t, std::get<Tensor>(w))) << k;
      else
        EXPECT_TRUE(std::visit(
            [&](const auto& av) {
              using T = std::decay_t<decltype(av)>;
              if constexpr (std::is_same_v<T, Tensor>) return true;
              else return av == std::get<T>(w);
            },
            v.value))
            << k;
    }
  }
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (size_t i = 0; i < a.inputs.size(); ++i) EXPECT_TRUE(same_value_info(a.inputs[i], b.inputs[i]));
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (size_t i = 0; i < a.outputs.size(); ++i) EXPECT_TRUE(same_value_info(a.outputs[i], b.outputs[i]));
  ASSERT_EQ(a.initializers.size(), b.initializers.size());
  for (const auto& [k, t] : a.initializers) {
    ASSERT_TRUE(b.initializers.count(k)) << k;
    EXPECT_TRUE(same_tensor(t, b.initializers.at(k))) << k;
  }
  ASSERT_EQ(a.value_info.size(), b.value_info.size());
  for (const auto& [k, v] : a.value_info) {
    ASSERT_TRUE(b.value_info.count(k)) << k;
    EXPECT_TRUE(same_value_info(v, b.value_info.at(k))) << k;
  }
}

// x[batch,3] -> Relu -> Add(b f32 typed field) -> Mul(scale, a scalar) -> y
::onnx::ModelProto richer_model() {
  auto m = make_model(13);
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", TensorProto::FLOAT, {-1, 3}, {"batch", ""});
  *g->add_output() = make_value("y", TensorProto::FLOAT, {-1, 3}, {"batch", ""});
  add_node(g, "Relu", {"x"}, {"r"}, "relu");
  add_node(g, "Add", {"r", "b"}, {"a"});
  add_node(g, "Mul", {"a", "scale"}, {"y"}, "mul");
  auto* b = g->add_initializer();
  b->set_name("b");
  b->set_data_type(TensorProto::FLOAT);
  b->add_dims(3);
  for (float v : {1.f, -2.f, 0.5f}) b->add_float_data(v);
  auto* s = g->add_initializer();
  s->set_name("scale");
  s->set_data_type(TensorProto::FLOAT);
  float half = 0.5f;
  s->set_raw_data(std::string(reinterpret_cast<const char*>(&half), 4));
  auto* md = m.add_metadata_props();
  md->set_key("author");
  md->set_value("test");
  return m;
}

TEST(OnnxExport, RoundTripGivesSameGraphAndOutputs) {
  Graph g1 = load_model_from_bytes(richer_model().SerializeAsString(), "m.onnx");
  std::string bytes = save_model_to_bytes(g1);
  Graph g2 = load_model_from_bytes(bytes, "saved.onnx");
  expect_same_graph(g1, g2);
  EXPECT_EQ(save_model_to_bytes(g2), bytes);  // deterministic

  Tensor x = Tensor::from_vector<float>({2, 3}, {-1, 2, 3, -4, 5, 6});
  auto o1 = runtime::Session(g1).run({{"x", x}});
  auto o2 = runtime::Session(g2).run({{"x", x}});
  EXPECT_TRUE(same_tensor(o1.at("y"), o2.at("y")));
}

// Pruned weights as ONNX sparse initializers: smaller bytes, the same dense values on import, and
// the checker (sorted, in-range indices) accepts the model.
TEST(OnnxExport, SparseInitializersRoundTrip) {
  Graph g;
  g.opset = 13;
  g.inputs.push_back({"x", DType::kF32, {2, 64}});
  Tensor w(DType::kF32, {64, 32});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = i % 10 == 3 ? 0.25f * static_cast<float>(i % 7 + 1) : 0.f;
  g.initializers["w"] = w;
  g.initializers["b"] = Tensor::from_vector<float>({32}, std::vector<float>(32, 0.5f));  // dense: few zeros
  g.add_node("MatMul", {"x", "w"}, {"h"}, "mm");
  g.add_node("Add", {"h", "b"}, {"y"}, "add");
  g.outputs.push_back({"y", DType::kF32, {2, 32}});
  const std::string dense = save_model_to_bytes(g);
  const std::string sparse = save_model_to_bytes(g, {.sparse_initializers = true});
  EXPECT_LT(sparse.size(), dense.size() / 3) << "90% zeros should shrink the weight ~4x";
  ::onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(sparse));
  ASSERT_EQ(m.graph().sparse_initializer_size(), 1);
  EXPECT_EQ(m.graph().sparse_initializer(0).values().name(), "w");
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  Graph back = load_model_from_bytes(sparse, "sparse.onnx");
  EXPECT_TRUE(same_tensor(back.initializers.at("w"), w));
  EXPECT_TRUE(same_tensor(back.initializers.at("b"), g.initializers.at("b")));
}

TEST(OnnxExport, BadSparseInitializerNamesTheTensor) {
  ::onnx::SparseTensorProto sp;
  sp.add_dims(4);
  *sp.mutable_values() = tensor_to_proto(Tensor::from_vector<float>({2}, {1.f, 2.f}), "w_sparse");
  *sp.mutable_indices() = tensor_to_proto(Tensor::from_vector<int64_t>({2}, {1, 9}), "");
  try {
    tensor_from_sparse_proto(sp);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'w_sparse'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("index 9"), std::string::npos) << e.what();
  }
  *sp.mutable_indices() = tensor_to_proto(Tensor::from_vector<int64_t>({3}, {0, 1, 2}), "");
  EXPECT_THROW(tensor_from_sparse_proto(sp), Error);  // 3 indices for 2 values
  sp.clear_dims();  // 2 values declaring a 2^36-element dense tensor: refused before allocating
  sp.add_dims(int64_t{1} << 18);
  sp.add_dims(int64_t{1} << 18);
  *sp.mutable_indices() = tensor_to_proto(Tensor::from_vector<int64_t>({2}, {0, 1}), "");
  try {
    tensor_from_sparse_proto(sp);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("implausibly large"), std::string::npos) << e.what();
  }
}

TEST(OnnxExport, SavedModelPassesCheckerAndShapeInference) {
  Graph g = load_model_from_bytes(relu_add_model().SerializeAsString());
  ::onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(save_model_to_bytes(g)));
  EXPECT_NO_THROW(::onnx::checker::check_model(m));
  ::onnx::ShapeInferenceOptions si(true, 1, false);
  EXPECT_NO_THROW(::onnx::shape_inference::InferShapes(m, ::onnx::OpSchemaRegistry::Instance(), si));
  EXPECT_EQ(m.ir_version(), 7);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_TRUE(m.graph().initializer(0).has_raw_data());
}

TEST(OnnxExport, AllAttributeTypesSurviveTheRoundTrip) {
  Graph g;
  g.opset = 13;
  g.inputs.push_back({"x", DType::kF32, Shape{2, 3}});
  g.outputs.push_back({"y", DType::kF32, Shape{3, 2}});
  g.add_node("Transpose", {"x"}, {"y"}, "t").set_attr("perm", std::vector<int64_t>{1, 0});
  g.add_node("Constant", {}, {"k"}, "c").set_attr("value", Tensor::from_vector<int8_t>({2}, {-1, 1}));
  Node& n = g.nodes[0];  // taken after the last add_node: it may reallocate
  g.outputs.push_back({"k", DType::kI8, Shape{2}});
  std::string bytes = save_model_to_bytes(g);
  Graph g2 = load_model_from_bytes(bytes);
  expect_same_graph(g, g2);

  // Unknown attributes on an ONNX op fail the checker: a pass built an invalid graph.
  n.set_attr("f", 0.25f);
  try {
    save_model_to_bytes(g);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
    EXPECT_NE(std::string(e.what()).find("Unrecognized attribute: f"), std::string::npos) << e.what();
  }
  n.attrs.erase("f");

  // Every attribute kind, on a custom-domain op the checker has no schema for.
  Node& custom = g.add_node("AllAttrs", {"x"}, {"z"}, "custom");
  custom.domain = "com.edgeopt.test";
  custom.set_attr("f", 0.25f);
  custom.set_attr("s", std::string("str"));
  custom.set_attr("fs", std::vector<float>{1.f, 2.f});
  custom.set_attr("ss", std::vector<std::string>{"a"});
  custom.set_attr("i", int64_t{4});
  custom.set_attr("is", std::vector<int64_t>{});
  custom.set_attr("t", Tensor::from_vector<float>({}, {3.f}));
  g.outputs.push_back({"z", DType::kF32, Shape{2, 3}});
  LoadOptions lo;
  lo.validate_ops = false;
  Graph g3 = load_model_from_bytes(save_model_to_bytes(g), "<m>", "", lo);
  expect_same_graph(g, g3);
}

TEST(OnnxExport, DoubleInitializerBecomesFloat) {
  auto m = make_model(13);
  auto* g = m.mutable_graph();
  *g->add_output() = make_value("y", TensorProto::FLOAT, {2});
  auto* cast = add_node(g, "Cast", {"d"}, {"y"}, "cast");
  auto* to = cast->add_attribute();
  to->set_name("to");
  to->set_type(::onnx::AttributeProto::INT);
  to->set_i(TensorProto::FLOAT);
  auto* d = g->add_initializer();
  d->set_name("d");
  d->set_data_type(TensorProto::DOUBLE);
  d->add_dims(2);
  d->add_double_data(0.5);
  d->add_double_data(-1.0);
  LoadOptions lo;
  lo.validate_ops = false;
  Graph gr = load_model_from_bytes(m.SerializeAsString(), "<m>", "", lo);
  EXPECT_EQ(gr.initializers.at("d").dtype(), DType::kF32);
  EXPECT_EQ(gr.initializers.at("d").to_f32_vector(), (std::vector<float>{0.5f, -1.f}));
  EXPECT_NO_THROW(save_model_to_bytes(gr));  // a FLOAT initializer feeding Cast(to=FLOAT) is valid
}

TEST(OnnxExport, WriteErrorNamesThePath) {
  Graph g = load_model_from_bytes(relu_add_model().SerializeAsString());
  try {
    save_model(g, "/nonexistent/dir/out.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/out.onnx"), std::string::npos);
  }
}

TEST(TensorProto, EveryDtypeRoundTripsThroughPbBytes) {
  std::vector<Tensor> ts = {
      Tensor::from_vector<float>({2, 2}, {1, -2, 3.5f, 0}),
      Tensor::from_vector<int8_t>({3}, {-128, 0, 127}),
      Tensor::from_vector<uint8_t>({1}, {255}),
      Tensor::from_vector<int32_t>({2}, {-5, 7}),
      Tensor::from_vector<int64_t>({}, {42}),
      Tensor::from_vector<bool>({2}, {true, false}),
      Tensor::from_vector<float>({2}, {1.5f, -3}).cast(DType::kF16),
      Tensor::from_vector<float>({2}, {1.5f, -3}).cast(DType::kBF16),
      Tensor::zeros(DType::kF32, {0, 4}),
  };
  for (const auto& t : ts) {
    Tensor u = tensor_from_pb_bytes(tensor_to_pb_bytes(t, "v"));
    EXPECT_TRUE(same_tensor(t, u)) << t.describe();
  }
}

TEST(TensorProto, UnsupportedDtypesAndCorruptBytes) {
  TensorProto p;
  p.set_name("u16");
  p.set_data_type(TensorProto::UINT16);
  p.add_dims(1);
  p.add_int32_data(3);
  try {
    tensor_from_proto(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("UINT16"), std::string::npos) << e.what();
  }
  p.set_data_type(9999);
  EXPECT_THROW(tensor_from_proto(p), Error);
  try {
    tensor_from_pb_bytes("\x0a\xff\xff", "in.pb");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("file 'in.pb'"), std::string::npos) << e.what();
  }
  TensorProto big;
  big.set_name("big");
  big.set_data_type(TensorProto::FLOAT);
  for (int i = 0; i < 4; ++i) big.add_dims(int64_t{1} << 20);
  EXPECT_THROW(tensor_from_proto(big), Error);  // overflow, never a huge allocation
}

}  // namespace
}  // namespace edgeopt::onnx

namespace edgeopt::onnx {
namespace {

// Every ONNX node test model whose ops edgeopt supports: load -> save -> load gives the same
// Graph, and both run to bit-identical outputs on the case's own inputs.
TEST(OnnxExport, RoundTripsEveryOnnxNodeTestModel) {
  const std::filesystem::path root = "/usr/share/libonnx-testdata/data/node";
  if (!std::filesystem::exists(root)) FAIL() << "libonnx-testdata is not installed (" << root << "); scripts/install-deps.sh installs it";
  int tried = 0, ran = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const auto model = entry.path() / "model.onnx";
    if (!std::filesystem::exists(model)) continue;
    Graph g1;
    try {
      g1 = load_model(model.string());  // unsupported ops, sequences, f64 inputs: not our case
    } catch (const Error&) {
      continue;
    }
    ++tried;
    SCOPED_TRACE(entry.path().filename().string());
    Graph g2;
    ASSERT_NO_THROW(g2 = load_model_from_bytes(save_model_to_bytes(g1), "saved"));
    expect_same_graph(g1, g2);
    std::map<std::string, Tensor> feeds;
    std::map<std::string, Tensor> o1, o2;
    try {
      // Some inputs are stored in dtypes edgeopt has none of (the bf16 Cast cases keep their bf16
      // input as UINT16): like a kernel limitation, not this test's subject.
      for (size_t k = 0; k < g1.inputs.size(); ++k) {
        auto pb = entry.path() / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb");
        if (std::filesystem::exists(pb)) feeds[g1.inputs[k].name] = read_tensor_pb(pb.string());
      }
      o1 = runtime::Session(g1).run(feeds);
    } catch (const Error&) {
      continue;  // a kernel limitation, reported by the conformance test
    }
    ASSERT_NO_THROW(o2 = runtime::Session(g2).run(feeds));
    for (const auto& [k, t] : o1) {
      // Dropout in training mode draws a fresh mask per run; everything else is deterministic.
      if (g1.nodes.size() == 1 && g1.nodes[0].op_type == "Dropout") continue;
      EXPECT_TRUE(same_tensor(t, o2.at(k))) << k;
    }
    ++ran;
  }
  EXPECT_GT(tried, 200);
  EXPECT_GT(ran, 200);
}

}  // namespace
}  // namespace edgeopt::onnx
