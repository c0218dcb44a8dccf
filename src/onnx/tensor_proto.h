// ONNX TensorProto <-> edgeopt Tensor, for initializers, tensor attributes and the .pb tensor files
// of the ONNX test suite (`edgeopt run --input x=input_0.pb`).
//
//   Tensor w = tensor_from_proto(init, "/models/resnet");   // model dir resolves external data
//   ::onnx::TensorProto p = tensor_to_proto(w, "conv1.weight");  // always raw_data
//   Tensor x = read_tensor_pb("test_data_set_0/input_0.pb");
//
// Import accepts every storage form: raw_data (little-endian), the typed fields (float_data;
// int32_data for i8/u8/i32/bool/f16/bf16 (f16/bf16 as their 16 bits); int64_data; double_data) and
// external data (data_location=EXTERNAL; location/offset/length relative to the model directory,
// paths escaping it are rejected). DOUBLE tensors are converted to f32; other dtypes edgeopt has no
// DType for (u16, i16, u32, u64, string, complex) throw Unimplemented naming the tensor. A payload
// whose size does not match the dims throws InvalidArgument. Nothing allocates before the payload
// size is checked, so corrupt dims cannot trigger huge allocations.
#pragma once
#include <string>
#include <string_view>

#include <onnx/onnx_pb.h>

#include "core/tensor.h"

namespace edgeopt::onnx {

// ONNX TensorProto::DataType <-> DType. dtype_from_onnx throws Unimplemented for types without a
// DType (what = the value's description for the message, e.g. "input 'x'").
int32_t dtype_to_onnx(DType t);
DType dtype_from_onnx(int32_t onnx_type, const std::string& what);
const char* onnx_dtype_name(int32_t onnx_type);  // "FLOAT", "DOUBLE", ... ("UNKNOWN(<n>)" is "?")

// `model_dir` is where external data lives ("" rejects external data). Errors name the tensor.
Tensor tensor_from_proto(const ::onnx::TensorProto& p, const std::string& model_dir = "");
::onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name = "");
// A sparse initializer (COO: values [NNZ], int64 indices [NNZ] linear or [NNZ, rank] coordinates)
// as the dense tensor it stands for. Errors name the tensor (out-of-range index, NNZ mismatch).
Tensor tensor_from_sparse_proto(const ::onnx::SparseTensorProto& p, const std::string& model_dir = "");

// Serialized TensorProto files/bytes. Errors name the file (or `origin`).
Tensor read_tensor_pb(const std::string& path);
Tensor tensor_from_pb_bytes(std::string_view bytes, const std::string& origin = "<memory>");
std::string tensor_to_pb_bytes(const Tensor& t, const std::string& name = "");
void write_tensor_pb(const std::string& path, const Tensor& t, const std::string& name = "");

// Reads a whole file into memory. Throws NotFound naming the path when it cannot be opened.
std::string read_file_bytes(const std::string& path);

}  // namespace edgeopt::onnx
