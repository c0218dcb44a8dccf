// The smallest program a device build links: a Graph built in code run by a runtime::Session.
// It links only edgeopt::runtime (runtime + kernels + core); runtime_footprint.sh checks that this
// pulls in no protobuf, ONNX, Eigen or server code and reports the stripped size.
#include <cstdio>

#include "runtime/session.h"

int main() {
  using namespace edgeopt;
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {1, 4}});
  g.initializers["w"] = Tensor::from_vector<float>({4, 2}, {1, 0, 0, 1, 1, 0, 0, 1});
  g.add_node("MatMul", {"x", "w"}, {"h"}, "mm");
  g.add_node("Relu", {"h"}, {"y"}, "relu");
  g.outputs.push_back({"y", DType::kF32, {1, 2}});
  runtime::Session s(g);
  auto out = s.run({{"x", Tensor::from_vector<float>({1, 4}, {1, -2, 3, -4})}});
  const auto y = out.at("y").to_f32_vector();
  std::printf("y = [%g, %g]\n", y[0], y[1]);
  return y[0] == 4.f && y[1] == 0.f ? 0 : 1;
}
