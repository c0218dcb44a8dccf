#include "onnx/import.h"

#include <gtest/gtest.h>

#include <fstream>

#include "onnx/tensor_proto.h"
#include "onnx/test_models.h"
#include "runtime/session.h"

namespace edgeopt::onnx {
namespace {

using namespace testing;
using ::onnx::TensorProto;

std::string bytes_of(const ::onnx::ModelProto& m) { return m.SerializeAsString(); }

// Runs `fn`, expecting an edgeopt::Error with `code` whose message contains every needle.
template <typename Fn>
void expect_error(Fn fn, ErrorCode code, std::vector<std::string> needles) {
  try {
    fn();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << n << " in: " << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "multi-line: " << e.what();
  }
}

TEST(OnnxImport, LoadsGraphStructureAndRunsIt) {
  Graph g = load_model_from_bytes(bytes_of(relu_add_model()), "m.onnx");
  EXPECT_EQ(g.opset, 13);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  EXPECT_EQ(g.inputs[0].shape, (Shape{2, 3}));
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "relu");
  ASSERT_TRUE(g.value_info.count("r"));  // shape inference filled the intermediate
  EXPECT_EQ(g.value_info.at("r").shape, (Shape{2, 3}));
  EXPECT_EQ(g.initializers.at("b").to_f32_vector(), (std::vector<float>{1, -2, 0.5f}));
  runtime::Session s(std::move(g));
  auto out = s.run({{"x", Tensor::from_vector<float>({2, 3}, {-1, 2, 3, -4, 5, 6})}});
  EXPECT_EQ(out.at("y").to_f32_vector(), (std::vector<float>{1, 0, 3.5f, 1, 3, 6.5f}));
}

TEST(OnnxImport, TypedFieldStorageFormsAndDoubleConversion) {
  auto m = relu_add_model();
  auto* g = m.mutable_graph();
  auto add_init = [&](const std::string& name, int type, std::vector<int64_t> dims) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (auto d : dims) t->add_dims(d);
    return t;
  };
  auto* f = add_init("f", TensorProto::FLOAT, {2});
  f->add_float_data(1.5f);
  f->add_float_data(-2.f);
  auto* d = add_init("d", TensorProto::DOUBLE, {2});
  d->add_double_data(0.25);
  d->add_double_data(-8.0);
  auto* i8 = add_init("i8", TensorProto::INT8, {3});
  for (int v : {-128, 0, 127}) i8->add_int32_data(v);
  auto* u8 = add_init("u8", TensorProto::UINT8, {2});
  for (int v : {0, 255}) u8->add_int32_data(v);
  auto* b = add_init("b1", TensorProto::BOOL, {2});
  for (int v : {0, 1}) b->add_int32_data(v);
  auto* h = add_init("h", TensorProto::FLOAT16, {1});
  h->add_int32_data(0x3c00);  // 1.0
  auto* i64 = add_init("i64", TensorProto::INT64, {});
  i64->add_int64_data(-7);
  auto* rd = add_init("rd", TensorProto::DOUBLE, {1});
  double dv = 3.25;
  rd->set_raw_data(std::string(reinterpret_cast<const char*>(&dv), 8));
  Graph gr = load_model_from_bytes(bytes_of(m), "m.onnx");
  EXPECT_EQ(gr.initializers.at("f").to_f32_vector(), (std::vector<float>{1.5f, -2.f}));
  EXPECT_EQ(gr.initializers.at("d").dtype(), DType::kF32);
  EXPECT_EQ(gr.initializers.at("d").to_f32_vector(), (std::vector<float>{0.25f, -8.f}));
  EXPECT_EQ(gr.initializers.at("i8").to_i64_vector(), (std::vector<int64_t>{-128, 0, 127}));
  EXPECT_EQ(gr.initializers.at("u8").to_i64_vector(), (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(gr.initializers.at("b1").dtype(), DType::kBool);
  EXPECT_EQ(gr.initializers.at("h").to_f32_vector(), (std::vector<float>{1.f}));
  EXPECT_EQ(gr.initializers.at("i64").rank(), 0u);
  EXPECT_EQ(gr.initializers.at("i64").to_i64_vector(), (std::vector<int64_t>{-7}));
  EXPECT_EQ(gr.initializers.at("rd").to_f32_vector(), (std::vector<float>{3.25f}));
}

TEST(OnnxImport, BadPayloadSizeNamesFileAndTensor) {
  auto m = relu_add_model();
  m.mutable_graph()->mutable_initializer(0)->set_raw_data("abc");
  expect_error([&] { load_model_from_bytes(bytes_of(m), "bad.onnx"); }, ErrorCode::kInvalidArgument,
               {"file 'bad.onnx'", "tensor 'b'", "raw_data has 3 bytes"});
  auto m2 = relu_add_model();
  auto* t = m2.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->add_float_data(1.f);
  expect_error([&] { load_model_from_bytes(bytes_of(m2), "bad.onnx"); }, ErrorCode::kInvalidArgument,
               {"float_data has 1 values"});
}

TEST(OnnxImport, CorruptTruncatedAndMissingFiles) {
  std::string bytes = bytes_of(relu_add_model());
  expect_error([&] { load_model_from_bytes(bytes.substr(0, bytes.size() / 2), "t.onnx"); },
               ErrorCode::kInvalidArgument, {"file 't.onnx'", "truncated or corrupt"});
  expect_error([&] { load_model_from_bytes(std::string(64, '\xff'), "r.onnx"); }, ErrorCode::kInvalidArgument,
               {"file 'r.onnx'"});
  expect_error([&] { load_model_from_bytes("", "e.onnx"); }, ErrorCode::kInvalidArgument, {"empty"});
  expect_error([&] { load_model("/nonexistent/dir/m.onnx"); }, ErrorCode::kNotFound, {"/nonexistent/dir/m.onnx"});
}

TEST(OnnxImport, ExternalDataRelativeToModelAndNoEscape) {
  auto dir = temp_dir("ext");
  float vals[3] = {4.f, 5.f, 6.f};
  {
    std::ofstream f(dir / "weights.bin", std::ios::binary);
    f.write("PADDING!", 8);
    f.write(reinterpret_cast<const char*>(vals), sizeof vals);
  }
  auto m = relu_add_model();
  auto* t = m.mutable_graph()->mutable_initializer(0);
  t->clear_raw_data();
  t->set_data_location(TensorProto::EXTERNAL);
  auto kv = [&](const char* k, const char* v) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", "weights.bin");
  kv("offset", "8");
  kv("length", "12");
  std::ofstream(dir / "m.onnx", std::ios::binary) << m.SerializeAsString();
  Graph g = load_model((dir / "m.onnx").string());
  EXPECT_EQ(g.initializers.at("b").to_f32_vector(), (std::vector<float>{4, 5, 6}));

  t->mutable_external_data(0)->set_value("../escape.bin");
  std::ofstream(dir / "m2.onnx", std::ios::binary) << m.SerializeAsString();
  expect_error([&] { load_model((dir / "m2.onnx").string()); }, ErrorCode::kInvalidArgument, {"escapes", "m2.onnx"});
  t->mutable_external_data(0)->set_value("/etc/passwd");
  std::ofstream(dir / "m3.onnx", std::ios::binary) << m.SerializeAsString();
  expect_error([&] { load_model((dir / "m3.onnx").string()); }, ErrorCode::kInvalidArgument, {"must be relative"});
  t->mutable_external_data(0)->set_value("weights.bin");
  t->mutable_external_data(2)->set_value("16");
  std::ofstream(dir / "m4.onnx", std::ios::binary) << m.SerializeAsString();
  expect_error([&] { load_model((dir / "m4.onnx").string()); }, ErrorCode::kInvalidArgument, {"exceeds"});
  std::filesystem::remove_all(dir);
}

TEST(OnnxImport, InitializerThatIsAlsoAnInputIsNotARuntimeInput) {
  auto m = relu_add_model();
  *m.mutable_graph()->add_input() = make_value("b", TensorProto::FLOAT, {3});
  Graph g = load_model_from_bytes(bytes_of(m));
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
}

TEST(OnnxImport, DoubleInputIsUnimplemented) {
  auto m = make_model();
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", TensorProto::DOUBLE, {2});
  *g->add_output() = make_value("y", TensorProto::DOUBLE, {2});
  add_node(g, "Relu", {"x"}, {"y"}, "r");
  expect_error([&] { load_model_from_bytes(bytes_of(m), "f64.onnx"); }, ErrorCode::kUnimplemented,
               {"graph input 'x'", "DOUBLE", "f64.onnx"});
}

TEST(OnnxImport, SymbolicDimsKeepTheirNames) {
  auto m = make_model();
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", TensorProto::FLOAT, {-1, 3}, {"batch", ""});
  *g->add_output() = make_value("y", TensorProto::FLOAT, {-1, 3}, {"batch", ""});
  add_node(g, "Relu", {"x"}, {"r"}, "r1");
  add_node(g, "Relu", {"r"}, {"y"}, "r2");
  Graph gr = load_model_from_bytes(bytes_of(m));
  EXPECT_EQ(gr.inputs[0].shape, (Shape{-1, 3}));
  EXPECT_EQ(gr.inputs[0].dim_params, (std::vector<std::string>{"batch", ""}));
  ASSERT_TRUE(gr.value_info.count("r"));
  EXPECT_EQ(gr.value_info.at("r").dim_params[0], "batch");
  runtime::Session s(std::move(gr));
  auto out = s.run({{"x", Tensor::zeros(DType::kF32, {5, 3})}});
  EXPECT_EQ(out.at("y").shape(), (Shape{5, 3}));
}

TEST(OnnxImport, AllAttributeTypes) {
  auto m = relu_add_model();
  auto* n = m.mutable_graph()->mutable_node(0);
  auto add = [&](const char* name, ::onnx::AttributeProto::AttributeType type) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  add("i", ::onnx::AttributeProto::INT)->set_i(-3);
  add("f", ::onnx::AttributeProto::FLOAT)->set_f(0.5f);
  add("s", ::onnx::AttributeProto::STRING)->set_s("hello");
  auto* is = add("is", ::onnx::AttributeProto::INTS);
  is->add_ints(1);
  is->add_ints(2);
  auto* fs = add("fs", ::onnx::AttributeProto::FLOATS);
  fs->add_floats(1.5f);
  auto* ss = add("ss", ::onnx::AttributeProto::STRINGS);
  ss->add_strings("a");
  ss->add_strings("b");
  *add("t", ::onnx::AttributeProto::TENSOR)->mutable_t() = tensor_to_proto(Tensor::from_vector<int64_t>({2}, {7, 8}));
  LoadOptions lo;
  lo.check = false;  // Relu has no such attributes; the checker would reject them
  Graph g = load_model_from_bytes(bytes_of(m), "<m>", "", lo);
  const Node& r = g.nodes[0];
  EXPECT_EQ(r.attr_int("i", 0), -3);
  EXPECT_EQ(r.attr_float("f", 0), 0.5f);
  EXPECT_EQ(r.attr_string("s", ""), "hello");
  EXPECT_EQ(r.attr_ints("is"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r.attr_floats("fs"), (std::vector<float>{1.5f}));
  EXPECT_EQ(r.attr_strings("ss"), (std::vector<std::string>{"a", "b"}));
  ASSERT_NE(r.attr_tensor("t"), nullptr);
  EXPECT_EQ(r.attr_tensor("t")->to_i64_vector(), (std::vector<int64_t>{7, 8}));
}

TEST(OnnxImport, SubgraphAttributeIsUnimplementedNamingTheNode) {
  auto m = make_model();
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("c", TensorProto::BOOL, {});
  *g->add_output() = make_value("y", TensorProto::FLOAT, {1});
  auto* n = add_node(g, "If", {"c"}, {"y"}, "branch");
  for (const char* name : {"then_branch", "else_branch"}) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::GRAPH);
    auto* sg = a->mutable_g();
    sg->set_name(name);
    *sg->add_output() = make_value("k", TensorProto::FLOAT, {1});
    auto* k = add_node(sg, "Constant", {}, {"k"});
    auto* v = k->add_attribute();
    v->set_name("value");
    v->set_type(::onnx::AttributeProto::TENSOR);
    *v->mutable_t() = tensor_to_proto(Tensor::from_vector<float>({1}, {1.f}));
  }
  expect_error([&] { load_model_from_bytes(bytes_of(m), "if.onnx"); }, ErrorCode::kUnimplemented,
               {"node 'branch' (If)", "subgraph", "if.onnx"});
}

TEST(OnnxImport, UnsupportedOpsAreAllNamedAtOnce) {
  auto m = make_model();
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", TensorProto::FLOAT, {2, 2});
  *g->add_output() = make_value("y", TensorProto::FLOAT, {2, 2});
  add_node(g, "Hardmax", {"x"}, {"a"}, "hm");
  add_node(g, "Relu", {"a"}, {"b"}, "ok");
  add_node(g, "Sin", {"b"}, {"y"}, "sin1");
  expect_error([&] { load_model_from_bytes(bytes_of(m), "u.onnx"); }, ErrorCode::kUnimplemented,
               {"2 node(s)", "'hm' (Hardmax)", "'sin1' (Sin)", "u.onnx"});
  LoadOptions lo;
  lo.validate_ops = false;
  EXPECT_EQ(load_model_from_bytes(bytes_of(m), "u.onnx", "", lo).nodes.size(), 3u);
}

TEST(OnnxImport, OldOpsetIsConvertedOrRejectedAndNewRejected) {
  auto m = make_model(6);
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", TensorProto::FLOAT, {2});
  *g->add_output() = make_value("y", TensorProto::FLOAT, {2});
  add_node(g, "Relu", {"x"}, {"y"}, "r");
  Graph gr = load_model_from_bytes(bytes_of(m));
  EXPECT_GE(gr.opset, 7);
  auto m19 = relu_add_model();
  m19.mutable_opset_import(0)->set_version(19);
  expect_error([&] { load_model_from_bytes(bytes_of(m19), "new.onnx"); }, ErrorCode::kUnimplemented,
               {"opset 19", "7-18"});
}

TEST(OnnxImport, CheckerErrorsAreOneLineAndNameTheFile) {
  auto m = relu_add_model();
  m.mutable_graph()->mutable_node(1)->set_input(1, "nowhere");
  expect_error([&] { load_model_from_bytes(bytes_of(m), "chk.onnx"); }, ErrorCode::kInvalidArgument,
               {"chk.onnx", "nowhere"});
}

TEST(OnnxImport, UnnamedNodesGetNames) {
  auto m = relu_add_model();
  m.mutable_graph()->mutable_node(0)->clear_name();
  Graph g = load_model_from_bytes(bytes_of(m));
  EXPECT_EQ(g.nodes[0].name, "Relu_0");
}

}  // namespace
}  // namespace edgeopt::onnx

namespace edgeopt::onnx {
namespace {

// Fuzz regression: ONNX 1.12's version converter dereferenced the missing producer of an output.
TEST(OnnxImport, OutputWithoutProducerIsRejectedBeforeConversion) {
  for (int64_t opset : {6, 13}) {
    auto m = testing::make_model(opset);
    auto* g = m.mutable_graph();
    *g->add_input() = testing::make_value("x", ::onnx::TensorProto::FLOAT, {4});
    *g->add_output() = testing::make_value("y", ::onnx::TensorProto::FLOAT, {4});
    try {
      load_model_from_bytes(m.SerializeAsString(), "noprod.onnx");
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("graph output 'y' is not produced"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace edgeopt::onnx

namespace edgeopt::onnx {
namespace {

// Fuzz regression: ONNX 1.12's Conv shape inference segfaults when rank(W) > rank(X).
TEST(OnnxImport, ConvWithMismatchedRanksIsAnErrorNotACrash) {
  for (std::vector<int64_t> x : {std::vector<int64_t>{4, 4}, std::vector<int64_t>{1, 1, 4, 4}}) {
    auto m = testing::make_model(13);
    auto* g = m.mutable_graph();
    *g->add_input() = testing::make_value("x", ::onnx::TensorProto::FLOAT, x);
    *g->add_input() = testing::make_value("w", ::onnx::TensorProto::FLOAT,
                                          x.size() == 2 ? std::vector<int64_t>{2, 1, 3, 3} : std::vector<int64_t>{2, 1, 3, 3, 3});
    *g->add_output() = testing::make_value("y", ::onnx::TensorProto::FLOAT, {});
    testing::add_node(g, "Conv", {"x", "w"}, {"y"}, "conv");
    try {
      load_model_from_bytes(m.SerializeAsString(), "conv.onnx");
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rank"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace edgeopt::onnx

namespace edgeopt::onnx {
namespace {

// Opset 18 is newer than ONNX 1.12's schemas: ReduceMean-18 takes axes as an input, which the
// 1.12 checker would reject with its opset-13 schema. Load skips the checker, infers leniently.
TEST(OnnxImport, Opset18LoadsWithoutStaleSchemaChecks) {
  auto m = testing::make_model(18);
  auto* g = m.mutable_graph();
  *g->add_input() = testing::make_value("x", ::onnx::TensorProto::FLOAT, {2, 3});
  *g->add_output() = testing::make_value("y", ::onnx::TensorProto::FLOAT, {2, 1});
  testing::add_node(g, "ReduceMean", {"x", "axes"}, {"y"}, "mean");
  *g->add_initializer() = tensor_to_proto(Tensor::from_vector<int64_t>({1}, {1}), "axes");
  LoadOptions lo;
  lo.validate_ops = false;
  Graph gr = load_model_from_bytes(m.SerializeAsString(), "m18.onnx", "", lo);
  EXPECT_EQ(gr.opset, 18);
  ASSERT_EQ(gr.nodes.size(), 1u);
  EXPECT_EQ(gr.nodes[0].inputs.size(), 2u);
}

// The fuzzer found an FPE (division by zero) in ONNX's convPoolShapeInference on strides=[0,1].
TEST(OnnxImport, ZeroStridesAreAnErrorNotAnFpe) {
  for (std::string op : {"Conv", "MaxPool"}) {
    auto m = testing::make_model(13);
    auto* g = m.mutable_graph();
    *g->add_input() = testing::make_value("x", ::onnx::TensorProto::FLOAT, {1, 1, 4, 4});
    *g->add_input() = testing::make_value("w", ::onnx::TensorProto::FLOAT, {2, 1, 3, 3});
    *g->add_output() = testing::make_value("y", ::onnx::TensorProto::FLOAT, {});
    std::vector<std::string> in = op == "Conv" ? std::vector<std::string>{"x", "w"} : std::vector<std::string>{"x"};
    auto* n = testing::add_node(g, op, in, {"y"}, "n");
    auto* a = n->add_attribute();
    a->set_name("strides");
    a->set_type(::onnx::AttributeProto::INTS);
    a->add_ints(0);
    a->add_ints(1);
    auto* k = n->add_attribute();
    k->set_name("kernel_shape");
    k->set_type(::onnx::AttributeProto::INTS);
    k->add_ints(3);
    k->add_ints(3);
    try {
      load_model_from_bytes(m.SerializeAsString(), "stride0.onnx");
      FAIL() << op;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("strides"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace edgeopt::onnx
