#include "onnx/tensor_proto.h"

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <google/protobuf/io/coded_stream.h>

namespace edgeopt::onnx {

namespace fs = std::filesystem;
using ::onnx::TensorProto;

namespace {

std::string tensor_label(const TensorProto& p) { return "tensor '" + p.name() + "'"; }

[[noreturn]] void fail(ErrorCode code, const TensorProto& p, const std::string& msg) {
  throw_error(code, tensor_label(p) + ": " + msg);
}

// Bytes per element as stored in raw_data (DOUBLE is stored as 8 bytes and converted).
size_t stored_size(int32_t type) {
  return type == TensorProto::DOUBLE ? 8 : dtype_size(dtype_from_onnx(type, ""));
}

std::string read_external(const TensorProto& p, const std::string& model_dir, size_t want) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      fail(ErrorCode::kInvalidArgument, p, "external data '" + kv.key() + "' is not a number: '" + kv.value() + "'");
    }
  }
  if (location.empty()) fail(ErrorCode::kInvalidArgument, p, "external data has no 'location'");
  if (model_dir.empty())
    fail(ErrorCode::kInvalidArgument, p,
         "uses external data ('" + location + "') but the model was loaded from memory; load it from its file");
  if (offset < 0 || length < -1) fail(ErrorCode::kInvalidArgument, p, "external data offset/length are negative");
  fs::path rel(location);
  if (rel.is_absolute())
    fail(ErrorCode::kInvalidArgument, p, "external data location '" + location + "' must be relative to the model");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(model_dir), ec);
  fs::path full = fs::weakly_canonical(fs::path(model_dir) / rel, ec);
  if (ec) fail(ErrorCode::kNotFound, p, "cannot resolve external data '" + location + "': " + ec.message());
  auto [b_end, f_it] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b_end != base.end())
    fail(ErrorCode::kInvalidArgument, p,
         "external data location '" + location + "' escapes the model directory '" + model_dir + "'");
  uintmax_t size = fs::file_size(full, ec);
  if (ec) fail(ErrorCode::kNotFound, p, "cannot open external data file '" + full.string() + "': " + ec.message());
  if (static_cast<uintmax_t>(offset) > size)
    fail(ErrorCode::kInvalidArgument, p, "external data offset " + std::to_string(offset) + " is past the end of '" +
                                             location + "' (" + std::to_string(size) + " bytes)");
  uintmax_t avail = size - static_cast<uintmax_t>(offset);
  uintmax_t n = length < 0 ? avail : static_cast<uintmax_t>(length);
  if (n > avail)
    fail(ErrorCode::kInvalidArgument, p, "external data length " + std::to_string(n) + " at offset " +
                                             std::to_string(offset) + " exceeds '" + location + "' (" +
                                             std::to_string(size) + " bytes)");
  if (n != want)
    fail(ErrorCode::kInvalidArgument, p, "external data holds " + std::to_string(n) + " bytes but the dims need " +
                                             std::to_string(want));
  std::ifstream f(full, std::ios::binary);
  std::string buf(n, '\0');
  f.seekg(offset);
  f.read(buf.data(), static_cast<std::streamsize>(n));
  if (!f) fail(ErrorCode::kInvalidArgument, p, "error reading external data '" + location + "'");
  return buf;
}

template <typename Src, typename Dst>
void copy_converted(const Src* src, Dst* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
}

void check_count(const TensorProto& p, const char* field, int64_t have, int64_t want) {
  if (have != want)
    fail(ErrorCode::kInvalidArgument, p, std::string(field) + " has " + std::to_string(have) +
                                             " values but dims " + Shape(std::vector<int64_t>(p.dims().begin(), p.dims().end())).str() +
                                             " need " + std::to_string(want));
}

}  // namespace

int32_t dtype_to_onnx(DType t) {
  switch (t) {
    case DType::kF32: return TensorProto::FLOAT;
    case DType::kF16: return TensorProto::FLOAT16;
    case DType::kBF16: return TensorProto::BFLOAT16;
    case DType::kI8: return TensorProto::INT8;
    case DType::kU8: return TensorProto::UINT8;
    case DType::kI32: return TensorProto::INT32;
    case DType::kI64: return TensorProto::INT64;
    case DType::kBool: return TensorProto::BOOL;
  }
  return TensorProto::UNDEFINED;
}

const char* onnx_dtype_name(int32_t t) {
  if (TensorProto::DataType_IsValid(t)) {
    static thread_local std::string name;
    name = TensorProto::DataType_Name(static_cast<TensorProto::DataType>(t));
    return name.c_str();
  }
  return "?";
}

DType dtype_from_onnx(int32_t t, const std::string& what) {
  switch (t) {
    case TensorProto::FLOAT: return DType::kF32;
    case TensorProto::FLOAT16: return DType::kF16;
    case TensorProto::BFLOAT16: return DType::kBF16;
    case TensorProto::INT8: return DType::kI8;
    case TensorProto::UINT8: return DType::kU8;
    case TensorProto::INT32: return DType::kI32;
    case TensorProto::INT64: return DType::kI64;
    case TensorProto::BOOL: return DType::kBool;
    default: break;
  }
  std::string name = TensorProto::DataType_IsValid(t) ? onnx_dtype_name(t) : "unknown (" + std::to_string(t) + ")";
  throw_error(ErrorCode::kUnimplemented, (what.empty() ? "" : what + ": ") + "ONNX element type " + name +
                                             " is not supported (supported: FLOAT, FLOAT16, BFLOAT16, INT8, "
                                             "UINT8, INT32, INT64, BOOL; DOUBLE initializers are converted to FLOAT)");
}

Tensor tensor_from_proto(const TensorProto& p, const std::string& model_dir) {
  if (p.has_segment()) fail(ErrorCode::kUnimplemented, p, "segmented tensors are not supported");
  const int32_t type = p.data_type();
  const bool is_f64 = type == TensorProto::DOUBLE;
  const DType dtype = is_f64 ? DType::kF32 : dtype_from_onnx(type, tensor_label(p));
  std::vector<int64_t> dims(p.dims().begin(), p.dims().end());
  for (int64_t d : dims)
    if (d < 0) fail(ErrorCode::kInvalidArgument, p, "has a negative dim " + std::to_string(d));
  Shape shape(dims);
  int64_t numel = 0;
  try {
    numel = shape.numel();
  } catch (Error& e) {
    e.add_context(tensor_label(p));
    throw;
  }
  const size_t elem = stored_size(type);
  if (static_cast<uint64_t>(numel) > (uint64_t{1} << 62) / elem)
    fail(ErrorCode::kInvalidArgument, p, "dims " + shape.str() + " are too large");
  const size_t want_bytes = static_cast<size_t>(numel) * elem;

  std::string external;
  const std::string* raw = nullptr;
  if (p.data_location() == TensorProto::EXTERNAL) {
    external = read_external(p, model_dir, want_bytes);
    raw = &external;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
    if (raw->size() != want_bytes)
      fail(ErrorCode::kInvalidArgument, p, "raw_data has " + std::to_string(raw->size()) + " bytes but dims " +
                                               shape.str() + " of " + onnx_dtype_name(type) + " need " +
                                               std::to_string(want_bytes));
  }

  if (raw) {  // all sizes checked above: allocation is bounded by the payload
    Tensor t(dtype, shape);
    if (is_f64) {
      float* out = t.data<float>();
      for (int64_t i = 0; i < numel; ++i) {
        double v;
        std::memcpy(&v, raw->data() + i * 8, 8);
        out[i] = static_cast<float>(v);
      }
    } else if (want_bytes) {
      std::memcpy(t.raw(), raw->data(), want_bytes);
    }
    if (dtype == DType::kBool) {
      auto* b = static_cast<uint8_t*>(t.raw());
      for (int64_t i = 0; i < numel; ++i) b[i] = b[i] != 0;
    }
    return t;
  }

  // Typed fields. Check the count before allocating.
  switch (type) {
    case TensorProto::FLOAT: {
      check_count(p, "float_data", p.float_data_size(), numel);
      Tensor t(dtype, shape);
      if (numel) std::memcpy(t.raw(), p.float_data().data(), numel * sizeof(float));
      return t;
    }
    case TensorProto::DOUBLE: {
      check_count(p, "double_data", p.double_data_size(), numel);
      Tensor t(dtype, shape);
      copy_converted(p.double_data().data(), t.data<float>(), numel);
      return t;
    }
    case TensorProto::INT64: {
      check_count(p, "int64_data", p.int64_data_size(), numel);
      Tensor t(dtype, shape);
      if (numel) std::memcpy(t.raw(), p.int64_data().data(), numel * sizeof(int64_t));
      return t;
    }
    default: {  // everything else edgeopt supports is carried in int32_data
      check_count(p, "int32_data", p.int32_data_size(), numel);
      Tensor t(dtype, shape);
      const int32_t* src = p.int32_data().data();
      switch (dtype) {
        case DType::kI32: copy_converted(src, t.data<int32_t>(), numel); break;
        case DType::kI8: copy_converted(src, t.data<int8_t>(), numel); break;
        case DType::kU8: copy_converted(src, t.data<uint8_t>(), numel); break;
        case DType::kBool:
          for (int64_t i = 0; i < numel; ++i) static_cast<uint8_t*>(t.raw())[i] = src[i] != 0;
          break;
        case DType::kF16:
        case DType::kBF16:
          for (int64_t i = 0; i < numel; ++i) t.data_u16()[i] = static_cast<uint16_t>(src[i]);
          break;
        default: fail(ErrorCode::kInternal, p, "unhandled dtype");
      }
      return t;
    }
  }
}

TensorProto tensor_to_proto(const Tensor& t, const std::string& name) {
  EDGEOPT_CHECK_ARG(t.defined(), "tensor_to_proto: tensor '" + name + "' is undefined");
  TensorProto p;
  p.set_name(name);
  p.set_data_type(dtype_to_onnx(t.dtype()));
  for (int64_t d : t.shape().dims()) p.add_dims(d);
  p.set_raw_data(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  return p;
}

std::string read_file_bytes(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw_error(ErrorCode::kInvalidArgument, "file '" + path + "': is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "file '" + path + "': cannot open (" + std::strerror(errno) + ")");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Tensor tensor_from_pb_bytes(std::string_view bytes, const std::string& origin) {
  try {
    if (bytes.size() > static_cast<size_t>(INT_MAX))
      throw_error(ErrorCode::kInvalidArgument, "TensorProto files over 2 GiB are not supported");
    TensorProto p;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(INT_MAX);
    if (!p.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      throw_error(ErrorCode::kInvalidArgument, "not a valid ONNX TensorProto (truncated or corrupt protobuf, " +
                                                   std::to_string(bytes.size()) + " bytes)");
    return tensor_from_proto(p, "");
  } catch (Error& e) {
    e.add_context("file '" + origin + "'");
    throw;
  }
}

Tensor read_tensor_pb(const std::string& path) {
  std::string bytes = read_file_bytes(path);
  return tensor_from_pb_bytes(bytes, path);
}

std::string tensor_to_pb_bytes(const Tensor& t, const std::string& name) {
  return tensor_to_proto(t, name).SerializeAsString();
}

void write_tensor_pb(const std::string& path, const Tensor& t, const std::string& name) {
  std::string bytes = tensor_to_pb_bytes(t, name);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw_error(ErrorCode::kInvalidArgument, "file '" + path + "': cannot write");
}

Tensor tensor_from_sparse_proto(const ::onnx::SparseTensorProto& p, const std::string& model_dir) {
  const std::string name = p.values().name();
  const std::string what = "sparse initializer '" + name + "'";
  EDGEOPT_CHECK_ARG(!name.empty(), "a sparse initializer has no name (its values tensor is unnamed)");
  std::vector<int64_t> dims;
  int64_t numel = 1;
  for (int64_t d : p.dims()) {
    EDGEOPT_CHECK_ARG(d >= 0 && (d == 0 || numel <= (int64_t{1} << 40) / d),
                      what + ": dense shape dimension " + std::to_string(d) + " is negative or too large");
    dims.push_back(d);
    numel *= d;
  }
  const Tensor values = tensor_from_proto(p.values(), model_dir);
  const Tensor indices = tensor_from_proto(p.indices(), model_dir);
  // The dense shape costs nothing to declare: cap what a tiny file can make us allocate (a 99.9%
  // sparse weight densifies to ~330x its COO bytes; 1000x leaves room, 16 MiB covers small ones).
  const size_t stored = values.nbytes() + indices.nbytes();
  const double dense_bytes = static_cast<double>(numel) * static_cast<double>(dtype_size(values.dtype()));
  EDGEOPT_CHECK_ARG(dense_bytes <= std::max(1000.0 * static_cast<double>(stored), 16.0 * (1 << 20)),
                    what + ": dense shape of " + std::to_string(numel) + " elements is implausibly large for " +
                        std::to_string(values.numel()) + " stored values");
  EDGEOPT_CHECK_ARG(values.rank() == 1, what + ": values must be 1-D [NNZ], got " + values.shape().str());
  const int64_t nnz = values.numel();
  EDGEOPT_CHECK_ARG(indices.dtype() == DType::kI64, what + ": indices must be int64");
  const bool linear = indices.rank() == 1;
  EDGEOPT_CHECK_ARG((linear && indices.numel() == nnz) ||
                        (indices.rank() == 2 && indices.shape()[0] == nnz &&
                         indices.shape()[1] == static_cast<int64_t>(dims.size())),
                    what + ": indices " + indices.shape().str() + " do not fit " + std::to_string(nnz) +
                        " values of a rank-" + std::to_string(dims.size()) + " tensor");
  Tensor dense = Tensor::zeros(values.dtype(), Shape(dims));
  const size_t es = dtype_size(values.dtype());
  const int64_t* idx = indices.data<int64_t>();
  const auto* src = static_cast<const uint8_t*>(values.raw());
  auto* dst = static_cast<uint8_t*>(dense.raw());
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t flat = 0;
    if (linear) {
      flat = idx[k];
    } else {
      for (size_t d = 0; d < dims.size(); ++d) {
        const int64_t c = idx[k * static_cast<int64_t>(dims.size()) + static_cast<int64_t>(d)];
        EDGEOPT_CHECK_ARG(c >= 0 && c < dims[d], what + ": coordinate " + std::to_string(c) + " of value " +
                                                     std::to_string(k) + " is outside dimension " + std::to_string(d));
        flat = flat * dims[d] + c;
      }
    }
    EDGEOPT_CHECK_ARG(flat >= 0 && flat < numel, what + ": index " + std::to_string(flat) + " of value " +
                                                     std::to_string(k) + " is outside the " + std::to_string(numel) +
                                                     "-element tensor");
    std::memcpy(dst + static_cast<size_t>(flat) * es, src + static_cast<size_t>(k) * es, es);
  }
  return dense;
}

}  // namespace edgeopt::onnx
