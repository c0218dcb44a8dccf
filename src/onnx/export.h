// edgeopt Graph -> ONNX model file, so optimized graphs run in any ONNX runtime.
//
//   onnx::save_model(graph, "resnet18.opt.onnx");
//
// The ModelProto gets opset_import {ai.onnx: graph.opset} (plus version 1 of any other domain a
// node uses), the IR version that matches that opset, initializers as raw_data (sorted by name so
// the bytes are deterministic), every attribute, inputs/outputs/value_info with symbolic dims
// restored from ValueInfo::dim_params, and Graph::metadata as metadata_props. The result is run
// through onnx::checker and shape inference before it is written (graphs with experimental ops,
// or with opsets the linked ONNX library does not know, are not checked); a failure throws
// Internal, because it means a pass built a graph ONNX cannot express. Write errors throw InvalidArgument naming the path.
#pragma once
#include <string>

#include "core/graph.h"

namespace edgeopt::onnx {

struct SaveOptions {
  // Pruned weights on disk: f32 initializers with at least `min_sparsity` exact zeros (and 64+
  // entries) are written as ONNX sparse_initializer (COO: the non-zero values and their linear
  // int64 indices), so the file shrinks with the sparsity; ONNX Runtime densifies them at load.
  // Needs opset >= 11 (IR 6); ignored below. Graph inputs with default values stay dense.
  bool sparse_initializers = false;
  double min_sparsity = 0.6;  // below ~50% zeros COO (4 + 8 bytes per non-zero) is larger than dense
};

void save_model(const Graph& graph, const std::string& path, const SaveOptions& options = {});
std::string save_model_to_bytes(const Graph& graph, const SaveOptions& options = {});

}  // namespace edgeopt::onnx
