#include "core/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace edgeopt {
namespace {

// A .npy file as numpy writes it: v1 header padded to 64 bytes.
std::string make_npy(const std::string& dict, const std::string& payload, int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  uint32_t n = static_cast<uint32_t>(header.size());
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  return out + header + payload;
}

template <typename T>
std::string raw(std::vector<T> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

void expect_error(const std::string& bytes, const std::string& needle) {
  try {
    parse_npy(bytes, "x.npy");
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("file 'x.npy'"), std::string::npos) << w;
    EXPECT_NE(w.find(needle), std::string::npos) << w;
  }
}

TEST(Npy, ParsesNumpyHeadersOfEveryVersion) {
  for (int major : {1, 2, 3}) {
    Tensor t = parse_npy(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                  raw<float>({1, 2, 3, 4, 5, 6}), major));
    EXPECT_EQ(t.dtype(), DType::kF32);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.to_f32_vector()[5], 6.f);
  }
}

TEST(Npy, DtypesScalarsAndF64Conversion) {
  Tensor s = parse_npy(make_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", raw<int64_t>({-9})));
  EXPECT_EQ(s.rank(), 0u);
  EXPECT_EQ(s.to_i64_vector()[0], -9);
  Tensor d = parse_npy(make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", raw<double>({0.5, -1})));
  EXPECT_EQ(d.dtype(), DType::kF32);
  EXPECT_EQ(d.to_f32_vector(), (std::vector<float>{0.5f, -1.f}));
  EXPECT_EQ(parse_npy(make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", "\x01")).dtype(),
            DType::kBool);
  EXPECT_EQ(parse_npy(make_npy("{'descr': '|i1', 'fortran_order': False, 'shape': (1,), }", "\xff")).at(0), -1);
  EXPECT_EQ(parse_npy(make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", "\xff")).at(0), 255);
  EXPECT_EQ(parse_npy(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (0, 2), }", "")).numel(), 0);
  EXPECT_EQ(parse_npy(make_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", raw<uint16_t>({0x3c00})))
                .to_f32_vector()[0],
            1.f);
}

TEST(Npy, WriteReadRoundTripsEveryDtype) {
  auto path = (std::filesystem::temp_directory_path() / ("edgeopt_npy_" + std::to_string(::getpid()) + ".npy")).string();
  std::vector<Tensor> ts = {Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4}), Tensor::from_vector<int8_t>({1}, {-3}),
                            Tensor::from_vector<uint8_t>({3}, {1, 2, 3}), Tensor::from_vector<int32_t>({}, {5}),
                            Tensor::from_vector<int64_t>({1, 1, 1}, {7}), Tensor::from_vector<bool>({2}, {true, false}),
                            Tensor::from_vector<float>({1}, {2.5f}).cast(DType::kF16), Tensor::zeros(DType::kF32, {0})};
  for (const auto& t : ts) {
    write_npy(path, t);
    Tensor u = read_npy(path);
    EXPECT_EQ(u.dtype(), t.dtype()) << t.describe();
    EXPECT_EQ(u.shape(), t.shape()) << t.describe();
    EXPECT_EQ(std::memcmp(u.raw(), t.raw(), t.nbytes()), 0) << t.describe();
    std::string bytes = encode_npy(t);
    EXPECT_EQ(bytes.find('\n') + 1, bytes.size() - t.nbytes());  // header ends the prefix
    EXPECT_EQ((bytes.size() - t.nbytes()) % 64, 0u);              // data is 64-byte aligned
  }
  Tensor bf = Tensor::from_vector<float>({1}, {1.5f}).cast(DType::kBF16);
  write_npy(path, bf);
  EXPECT_EQ(read_npy(path).dtype(), DType::kF32);  // npy has no bfloat16
  std::filesystem::remove(path);
}

TEST(Npy, CorruptHeadersAreClearErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  expect_error("not a numpy file at all", "missing the \\x93NUMPY magic");
  expect_error(make_npy(ok, raw<float>({1})), "payload is 4 bytes");
  expect_error(make_npy(ok, raw<float>({1, 2, 3})), "payload is 12 bytes");
  expect_error(make_npy("{'descr': '<f4', 'shape': (2,), }", raw<float>({1, 2})), "needs the keys");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", raw<float>({1, 2})),
               "expected True or False");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", ""), "non-negative");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2", ""), "corrupt .npy header");
  expect_error(make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", raw<float>({1, 2})),
               "big-endian");
  expect_error(make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", raw<float>({1, 2})),
               "'<c8' is not supported");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", raw<float>({1, 2, 3, 4})),
               "fortran_order");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 9999999), }",
                        ""),
               "");
  std::string trunc = make_npy(ok, raw<float>({1, 2}));
  expect_error(trunc.substr(0, 20), "truncated .npy header");
  std::string v9 = trunc;
  v9[6] = 9;
  expect_error(v9, "version 9");
  try {
    read_npy("/nonexistent/a.npy");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/a.npy"), std::string::npos);
  }
}

}  // namespace
}  // namespace edgeopt
