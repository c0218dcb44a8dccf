// Builders for small ModelProtos used by the onnx_test cases (tests only).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <onnx/onnx_pb.h>

namespace edgeopt::onnx::testing {

inline ::onnx::ValueInfoProto make_value(const std::string& name, int elem_type, std::vector<int64_t> dims,
                                         std::vector<std::string> params = {}) {
  ::onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* s = tt->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = s->add_dim();
    if (i < params.size() && !params[i].empty()) d->set_dim_param(params[i]);
    else d->set_dim_value(dims[i]);
  }
  return v;
}

inline ::onnx::NodeProto* add_node(::onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                                   std::vector<std::string> out, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (auto& i : in) n->add_input(i);
  for (auto& o : out) n->add_output(o);
  return n;
}

inline ::onnx::ModelProto make_model(int64_t opset = 13) {
  ::onnx::ModelProto m;
  m.set_ir_version(opset >= 15 ? 8 : opset >= 12 ? 7 : opset >= 11 ? 6 : opset >= 10 ? 5 : opset >= 9 ? 4 : 3);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("test");
  return m;
}

// x[2,3] -> Relu -> Add(b) -> y[2,3]; b is a raw_data initializer.
inline ::onnx::ModelProto relu_add_model() {
  auto m = make_model();
  auto* g = m.mutable_graph();
  *g->add_input() = make_value("x", ::onnx::TensorProto::FLOAT, {2, 3});
  *g->add_output() = make_value("y", ::onnx::TensorProto::FLOAT, {2, 3});
  add_node(g, "Relu", {"x"}, {"r"}, "relu");
  add_node(g, "Add", {"r", "b"}, {"y"}, "add");
  auto* b = g->add_initializer();
  b->set_name("b");
  b->set_data_type(::onnx::TensorProto::FLOAT);
  b->add_dims(3);
  float vals[3] = {1.f, -2.f, 0.5f};
  b->set_raw_data(std::string(reinterpret_cast<const char*>(vals), sizeof vals));
  return m;
}

// A fresh empty directory under the system temp dir.
inline std::filesystem::path temp_dir(const std::string& tag) {
  auto base = std::filesystem::temp_directory_path() /
              ("edgeopt_onnx_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base;
}

}  // namespace edgeopt::onnx::testing
