#include "train/loop/checkpoint.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace edgeopt::train {

namespace {
constexpr char kMagic[16] = {'E', 'D', 'G', 'E', 'O', 'P', 'T', '-', 'C', 'K', 'P', 'T', 0, 0, 0, 1};

template <typename T> void put(std::ofstream& f, T v) { f.write(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::ofstream& f, const std::string& s) {
  put<uint32_t>(f, static_cast<uint32_t>(s.size()));
  f.write(s.data(), static_cast<std::streamsize>(s.size()));
}

struct Reader {
  std::ifstream f;
  std::string path;
  uint64_t remaining;
  void read(void* p, uint64_t n) {
    if (n > remaining || !f.read(static_cast<char*>(p), static_cast<std::streamsize>(n)))
      throw_error(ErrorCode::kInvalidArgument, "checkpoint '" + path + "' is truncated or corrupt");
    remaining -= n;
  }
  template <typename T> T get() {
    T v;
    read(&v, sizeof v);
    return v;
  }
  std::string str() {
    uint32_t n = get<uint32_t>();
    if (n > remaining) throw_error(ErrorCode::kInvalidArgument, "checkpoint '" + path + "' has a bad string length");
    std::string s(n, '\0');
    read(s.data(), n);
    return s;
  }
};
}  // namespace

void save_checkpoint(const Checkpoint& c, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw_error(ErrorCode::kNotFound, "cannot write checkpoint '" + tmp + "'");
    f.write(kMagic, sizeof kMagic);
    put<uint32_t>(f, static_cast<uint32_t>(c.meta.size()));
    for (const auto& [k, v] : c.meta) {
      put_str(f, k);
      put_str(f, v);
    }
    put<uint32_t>(f, static_cast<uint32_t>(c.tensors.size()));
    for (const auto& [name, t] : c.tensors) {
      put_str(f, name);
      put<uint8_t>(f, static_cast<uint8_t>(t.dtype()));
      put<uint8_t>(f, static_cast<uint8_t>(t.rank()));
      for (size_t d = 0; d < t.rank(); ++d) put<int64_t>(f, t.shape()[d]);
      put<uint64_t>(f, t.nbytes());
      f.write(static_cast<const char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
    }
    if (!f) throw_error(ErrorCode::kResourceExhausted, "writing checkpoint '" + tmp + "' failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw_error(ErrorCode::kInternal, "cannot move '" + tmp + "' to '" + path + "'");
}

Checkpoint load_checkpoint(const std::string& path) {
  Reader r{std::ifstream(path, std::ios::binary | std::ios::ate), path, 0};
  if (!r.f) throw_error(ErrorCode::kNotFound, "checkpoint '" + path + "' does not exist or cannot be read");
  r.remaining = static_cast<uint64_t>(r.f.tellg());
  r.f.seekg(0);
  char magic[16];
  r.read(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof magic) != 0)
    throw_error(ErrorCode::kInvalidArgument, "'" + path + "' is not an edgeopt checkpoint (bad magic)");
  Checkpoint c;
  uint32_t nm = r.get<uint32_t>();
  for (uint32_t i = 0; i < nm; ++i) {
    std::string k = r.str();
    c.meta[k] = r.str();
  }
  uint32_t nt = r.get<uint32_t>();
  for (uint32_t i = 0; i < nt; ++i) {
    std::string name = r.str();
    uint8_t dt = r.get<uint8_t>(), rank = r.get<uint8_t>();
    if (dt > static_cast<uint8_t>(DType::kBool) || rank > 8)
      throw_error(ErrorCode::kInvalidArgument, "checkpoint '" + path + "': tensor '" + name + "' has a bad header");
    std::vector<int64_t> dims(rank);
    for (auto& d : dims) {
      d = r.get<int64_t>();
      if (d < 0 || d > (int64_t{1} << 40))
        throw_error(ErrorCode::kInvalidArgument, "checkpoint '" + path + "': tensor '" + name + "' has a bad dim");
    }
    uint64_t nbytes = r.get<uint64_t>();
    Shape shape(dims);
    if (nbytes > r.remaining || nbytes != static_cast<uint64_t>(shape.numel()) * dtype_size(static_cast<DType>(dt)))
      throw_error(ErrorCode::kInvalidArgument, "checkpoint '" + path + "': tensor '" + name + "' has a bad size");
    Tensor t(static_cast<DType>(dt), shape);
    r.read(t.raw(), nbytes);
    c.tensors[name] = t;
  }
  return c;
}

}  // namespace edgeopt::train
