#include "core/npy.h"

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

namespace edgeopt {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

[[noreturn]] void fail(ErrorCode code, const std::string& origin, const std::string& msg) {
  Error e(code, msg);
  e.add_context("file '" + origin + "'");
  throw e;
}

// A tiny parser for the header's Python dict literal. numpy writes it with repr(), so only
// strings, True/False, ints and tuples of ints appear.
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& origin) : s_(s), origin_(origin) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        descr = parse_string();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran = parse_bool();
        have_fortran = true;
      } else if (key == "shape") {
        shape = parse_tuple();
        have_shape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_ws();
      if (peek() != '}') bad("expected ',' or '}'");
    }
    if (!have_descr || !have_fortran || !have_shape)
      bad("the header dict needs the keys 'descr', 'fortran_order' and 'shape'");
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  void expect(char c) {
    skip_ws();
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++pos_;
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail(ErrorCode::kInvalidArgument, origin_,
         "corrupt .npy header at character " + std::to_string(pos_) + ": " + what + " in \"" +
             std::string(s_.substr(0, 200)) + "\"");
  }
  std::string parse_string() {
    skip_ws();
    char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    ++pos_;
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool parse_bool() {
    skip_ws();
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    bad("expected True or False");
  }
  std::vector<int64_t> parse_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    while (true) {
      skip_ws();
      if (peek() == ')') {
        ++pos_;
        return dims;
      }
      if (peek() < '0' || peek() > '9') bad("expected a non-negative integer dimension");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) bad("dimension too large");
        v = v * 10 + (peek() - '0');
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 longs
      dims.push_back(v);
      skip_ws();
      if (peek() == ',') ++pos_;
      else if (peek() != ')') bad("expected ',' or ')' in shape");
    }
  }

  std::string_view s_;
  const std::string& origin_;
  size_t pos_ = 0;
};

struct Descr {
  DType dtype;
  bool is_f64;  // stored as f64, converted to f32
};

Descr parse_descr(const std::string& d, const std::string& origin) {
  if (d.size() >= 2) {
    char order = d[0];
    std::string t = d.substr(1);
    bool one_byte = t == "i1" || t == "u1" || t == "b1";
    bool little = order == '<' || order == '=' || (order == '|' && one_byte);
    if (little || (order == '>' && one_byte)) {
      if (t == "f4") return {DType::kF32, false};
      if (t == "f2") return {DType::kF16, false};
      if (t == "f8") return {DType::kF32, true};
      if (t == "i1") return {DType::kI8, false};
      if (t == "u1") return {DType::kU8, false};
      if (t == "i4") return {DType::kI32, false};
      if (t == "i8") return {DType::kI64, false};
      if (t == "b1") return {DType::kBool, false};
    } else if (order == '>') {
      fail(ErrorCode::kUnimplemented, origin,
           "big-endian .npy data ('" + d + "') is not supported; save it with a '<' dtype");
    }
  }
  fail(ErrorCode::kUnimplemented, origin,
       ".npy dtype '" + d + "' is not supported (supported: <f4 <f2 <f8 |i1 |u1 <i4 <i8 |b1)");
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kF32: return "<f4";
    case DType::kBF16: return "<f4";  // written converted; npy has no bfloat16
    case DType::kF16: return "<f2";
    case DType::kI8: return "|i1";
    case DType::kU8: return "|u1";
    case DType::kI32: return "<i4";
    case DType::kI64: return "<i8";
    case DType::kBool: return "|b1";
  }
  return "<f4";
}

}  // namespace

Tensor parse_npy(std::string_view bytes, const std::string& origin) {
  if (bytes.size() < kMagicLen + 4 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0)
    fail(ErrorCode::kInvalidArgument, origin,
         "not a .npy file (" + std::to_string(bytes.size()) + " bytes, missing the \\x93NUMPY magic)");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, prefix = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(ErrorCode::kInvalidArgument, origin, "truncated .npy header");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[8 + i]);
    prefix = 12;
  } else {
    fail(ErrorCode::kUnimplemented, origin, ".npy format version " + std::to_string(major) + " is not supported (1-3)");
  }
  if (header_len > bytes.size() - prefix)
    fail(ErrorCode::kInvalidArgument, origin,
         "truncated .npy header: it claims " + std::to_string(header_len) + " bytes but the file has " +
             std::to_string(bytes.size() - prefix) + " after the prefix");
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> dims;
  HeaderParser(bytes.substr(prefix, header_len), origin).parse(descr, fortran, dims);
  Descr d = parse_descr(descr, origin);
  if (fortran) {
    int non_one = 0;  // with at most one dim > 1, fortran order is the same bytes as C order
    for (int64_t v : dims) non_one += v != 1;
    if (non_one > 1)
      fail(ErrorCode::kUnimplemented, origin,
           "fortran_order=True .npy arrays are not supported; save with np.ascontiguousarray");
  }
  Shape shape(dims);
  int64_t numel = 0;
  try {
    numel = shape.numel();
  } catch (Error& e) {
    e.add_context("file '" + origin + "'");
    throw;
  }
  size_t elem = d.is_f64 ? 8 : dtype_size(d.dtype);
  size_t payload = bytes.size() - prefix - header_len;
  bool too_big = static_cast<uint64_t>(numel) > payload / elem;
  if (too_big || payload != static_cast<size_t>(numel) * elem)
    fail(ErrorCode::kInvalidArgument, origin,
         ".npy payload is " + std::to_string(payload) + " bytes but shape " + shape.str() + " of '" + descr +
             "' needs " + (too_big ? "more" : std::to_string(static_cast<size_t>(numel) * elem)) + " bytes");
  const char* src = bytes.data() + prefix + header_len;
  Tensor t(d.dtype, shape);
  if (d.is_f64) {
    float* out = t.data<float>();
    for (int64_t i = 0; i < numel; ++i) {
      double v;
      std::memcpy(&v, src + i * 8, 8);
      out[i] = static_cast<float>(v);
    }
  } else if (t.nbytes()) {
    std::memcpy(t.raw(), src, t.nbytes());
  }
  if (d.dtype == DType::kBool) {  // normalise to 0/1 so kernels can trust the bytes
    uint8_t* p = static_cast<uint8_t*>(t.raw());
    for (int64_t i = 0; i < numel; ++i) p[i] = p[i] != 0;
  }
  return t;
}

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(ErrorCode::kNotFound, path, "cannot open .npy file");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail(ErrorCode::kInvalidArgument, path, "error reading .npy file");
  std::string bytes = ss.str();
  return parse_npy(bytes, path);
}

std::string encode_npy(const Tensor& t) {
  EDGEOPT_CHECK_ARG(t.defined(), "encode_npy: undefined tensor");
  std::string header = "{'descr': '";
  header += descr_of(t.dtype());
  header += "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.rank(); ++i) header += (i ? ", " : "") + std::to_string(t.shape()[i]);
  if (t.rank() == 1) header += ",";
  header += "), }";
  // Pad with spaces so data starts on a 64-byte boundary; the header ends with '\n'.
  size_t prefix = 10;
  size_t total = prefix + header.size() + 1;
  bool v2 = false;
  size_t padded = (total + 63) / 64 * 64;
  if (padded - prefix > 0xffff) {
    v2 = true;
    prefix = 12;
    total = prefix + header.size() + 1;
    padded = (total + 63) / 64 * 64;
  }
  header.append(padded - total, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  size_t hl = header.size();
  out += static_cast<char>(hl & 0xff);
  out += static_cast<char>((hl >> 8) & 0xff);
  if (v2) {
    out += static_cast<char>((hl >> 16) & 0xff);
    out += static_cast<char>((hl >> 24) & 0xff);
  }
  out += header;
  if (t.dtype() == DType::kBF16) {
    std::vector<float> f = t.to_f32_vector();
    out.append(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float));
  } else {
    out.append(static_cast<const char*>(t.raw()), t.nbytes());
  }
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  std::string bytes = encode_npy(t);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail(ErrorCode::kInvalidArgument, path, "cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(ErrorCode::kInvalidArgument, path, "error writing .npy file");
}

}  // namespace edgeopt
