// ONNX model -> edgeopt Graph, using ONNX's own C++ library for parsing, checking and shape
// inference.
//
//   Graph g = onnx::load_model("resnet18.onnx");          // throws edgeopt::Error naming the file
//   runtime::Session s(std::move(g));
//
// What load does, in order:
//   1. parse the ModelProto (truncated/corrupt protobuf -> InvalidArgument);
//   2. take the ai.onnx opset import as Graph::opset; opsets < 7 are converted to 7 with ONNX's
//      version converter (rejected with Unimplemented when that fails), opsets > 18 are rejected;
//   3. inline external data (location/offset/length relative to the model's directory; paths that
//      escape it are rejected) so the checker sees one self-contained model;
//   4. onnx::checker::check_model and strict shape inference (types checked, errors thrown).
//      For opsets newer than the linked ONNX library knows (18 with ONNX 1.12) the checker would
//      apply stale schemas, so it is skipped and inference runs lenient (failures leave value_info
//      empty instead of rejecting the model);
//   5. convert: initializers (every storage form, DOUBLE -> f32), graph inputs that are not
//      initializers, outputs, inferred value_info of intermediates (symbolic dims are -1 with
//      their name in dim_params; unknown rank is an empty shape with dim_params = {"?"}), nodes
//      with all attributes (nodes without a name get "<op_type>_<index>"). Subgraph attributes,
//      sparse tensors, non-tensor inputs and dtypes without a DType (f64 inputs included) throw
//      Unimplemented naming the node or value;
//   6. when options.validate_ops, runtime::check_ops_supported: every unsupported node at once.
// Every error carries the context "file '<path>'". load never crashes on corrupt input (fuzzed).
#pragma once
#include <string>
#include <string_view>

#include "core/graph.h"

namespace edgeopt::onnx {

struct LoadOptions {
  bool validate_ops = true;  // reject models with ops edgeopt has no kernel for (all named at once)
  bool check = true;         // run onnx::checker + strict shape inference
};

Graph load_model(const std::string& path, const LoadOptions& options = {});
// `origin` names the bytes in errors; `model_dir` resolves external data ("" rejects it).
Graph load_model_from_bytes(std::string_view bytes, const std::string& origin = "<memory>",
                            const std::string& model_dir = "", const LoadOptions& options = {});

// The highest ai.onnx opset the linked ONNX library has schemas for (17 for ONNX 1.12).
int onnx_library_max_opset();

}  // namespace edgeopt::onnx
