#include "serve/grpc_codec.h"

#include <cstring>
#include <limits>
#include <type_traits>

#include "serve/model_config.h"
#include "serve/status.h"

namespace edgeopt::serve {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw ServeError(Status::kBadRequest, msg); }

// Integer contents into a narrower type: out-of-range values are an error, not a silent wrap.
template <typename T, typename Src>
void copy_typed(Tensor& t, const Src& src, const std::string& what, const char* field) {
  T* p = static_cast<T*>(t.raw());
  for (int i = 0; i < src.size(); ++i) {
    const auto v = src[i];
    using V = decltype(v);
    if constexpr (!std::is_same_v<T, V> && !std::is_same_v<T, uint8_t>) {
      if (v < static_cast<V>(std::numeric_limits<T>::min()) || v > static_cast<V>(std::numeric_limits<T>::max()))
        bad(what + ": contents." + field + "[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range");
    } else if constexpr (std::is_same_v<T, uint8_t> && !std::is_same_v<V, bool>) {
      if (v > static_cast<V>(255))
        bad(what + ": contents." + field + "[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range");
    }
    p[i] = static_cast<T>(v);
  }
}

// One input tensor from typed `contents`; the count is checked before the tensor is allocated.
Tensor tensor_from_contents(const inference::ModelInferRequest::InferInputTensor& in, DType dt, const Shape& shape,
                            int64_t numel) {
  const auto& c = in.contents();
  const std::string what = "input '" + in.name() + "'";
  auto check = [&](int n, const char* field) {
    if (n != numel)
      bad(what + ": contents." + field + " has " + std::to_string(n) + " values but shape " + shape.str() + " needs " +
          std::to_string(numel));
  };
  switch (dt) {
    case DType::kF32: check(c.fp32_contents_size(), "fp32_contents"); break;
    case DType::kI64: check(c.int64_contents_size(), "int64_contents"); break;
    case DType::kI32:
    case DType::kI8: check(c.int_contents_size(), "int_contents"); break;
    case DType::kU8: check(c.uint_contents_size(), "uint_contents"); break;
    case DType::kBool: check(c.bool_contents_size(), "bool_contents"); break;
    case DType::kF16:
    case DType::kBF16: bad(what + ": " + oip_datatype(dt) + " has no typed contents field; send it in raw_input_contents");
  }
  Tensor t(dt, shape);
  switch (dt) {
    case DType::kF32:
      if (numel) std::memcpy(t.raw(), c.fp32_contents().data(), static_cast<size_t>(numel) * 4);
      break;
    case DType::kI64: copy_typed<int64_t>(t, c.int64_contents(), what, "int64_contents"); break;
    case DType::kI32: copy_typed<int32_t>(t, c.int_contents(), what, "int_contents"); break;
    case DType::kI8: copy_typed<int8_t>(t, c.int_contents(), what, "int_contents"); break;
    case DType::kU8: copy_typed<uint8_t>(t, c.uint_contents(), what, "uint_contents"); break;
    case DType::kBool: copy_typed<uint8_t>(t, c.bool_contents(), what, "bool_contents"); break;
    default: break;
  }
  return t;
}

}  // namespace

InferRequest decode_grpc_infer_request(const inference::ModelInferRequest& q, int64_t* timeout_us) {
  InferRequest req;
  const bool raw = q.raw_input_contents_size() > 0;
  if (raw && q.raw_input_contents_size() != q.inputs_size())
    bad("raw_input_contents has " + std::to_string(q.raw_input_contents_size()) + " entries for " +
        std::to_string(q.inputs_size()) + " inputs (one per input, in order)");
  if (q.inputs_size() == 0) bad("the request has no inputs");
  for (int i = 0; i < q.inputs_size(); ++i) {
    const auto& in = q.inputs(i);
    const std::string what = "input '" + in.name() + "'";
    if (req.inputs.count(in.name())) bad(what + " is given twice");
    DType dt;
    try {
      dt = dtype_from_oip(in.datatype(), what);
    } catch (const Error& e) {
      bad(e.message());
    }
    std::vector<int64_t> dims(in.shape().begin(), in.shape().end());
    int64_t numel = 1;
    for (int64_t d : dims) {
      if (d < 0) bad(what + ": shape has dim " + std::to_string(d));
      if (d > 0 && numel > kMaxGrpcElements / d)
        bad(what + ": shape " + Shape(dims).str() + " has more than " + std::to_string(kMaxGrpcElements) + " elements");
      numel *= d;
    }
    Shape shape(dims);
    if (raw) {
      const std::string& bytes = q.raw_input_contents(i);
      const size_t need = static_cast<size_t>(numel) * dtype_size(dt);
      if (bytes.size() != need)
        bad(what + ": raw_input_contents has " + std::to_string(bytes.size()) + " bytes but " + in.datatype() + shape.str() +
            " needs " + std::to_string(need));
      Tensor t(dt, shape);
      if (need) std::memcpy(t.raw(), bytes.data(), need);
      req.inputs[in.name()] = t;
    } else {
      req.inputs[in.name()] = tensor_from_contents(in, dt, shape, numel);
    }
  }
  for (const auto& o : q.outputs()) req.outputs.push_back(o.name());
  *timeout_us = 0;
  auto pit = q.parameters().find("timeout");
  if (pit != q.parameters().end()) *timeout_us = pit->second.int64_param();
  return req;
}

}  // namespace edgeopt::serve
