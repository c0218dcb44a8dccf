#include "train/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace edgeopt::train {

namespace {

struct GzFile {
  gzFile f = nullptr;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string find_idx(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  for (const std::string& name : {stem + ".gz", stem, stem + ".idx"}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_regular_file(p)) return p.string();
  }
  throw_error(ErrorCode::kNotFound, "IDX directory '" + dir + "' has no '" + stem + "' or '" + stem + ".gz'");
}

}  // namespace

int64_t IdxArray::numel() const {
  // dims come from parse_idx, which checked their product against the payload; a zero dim after
  // huge ones must not overflow on the way.
  for (int64_t d : dims)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

double IdxArray::at(int64_t i) const {
  switch (type) {
    case 0x08: return bytes[static_cast<size_t>(i)];
    case 0x09: return static_cast<int8_t>(bytes[static_cast<size_t>(i)]);
    case 0x0B: {
      const uint8_t* p = bytes.data() + 2 * i;
      return static_cast<int16_t>((p[0] << 8) | p[1]);
    }
    case 0x0C: return static_cast<int32_t>(be32(bytes.data() + 4 * i));
    case 0x0D: {
      const uint32_t u = be32(bytes.data() + 4 * i);
      float f;
      std::memcpy(&f, &u, 4);
      return f;
    }
    default: {
      const uint8_t* p = bytes.data() + 8 * i;
      const uint64_t u = (uint64_t{be32(p)} << 32) | be32(p + 4);
      double d;
      std::memcpy(&d, &u, 8);
      return d;
    }
  }
}

IdxArray read_idx(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw_error(ErrorCode::kNotFound, "IDX file '" + path + "' not found");
  GzFile g;
  g.f = gzopen(path.c_str(), "rb");
  if (!g.f) throw_error(ErrorCode::kNotFound, "cannot open IDX file '" + path + "'");
  // Decompress the whole file first, so the header's dims are checked against the bytes that are
  // really there before anything is allocated from them.
  std::string bytes;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const int got = gzread(g.f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(g.f, &code);
      throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "': cannot decompress: " + (msg ? msg : "zlib error"));
    }
    if (got == 0) break;
    bytes.append(chunk.data(), static_cast<size_t>(got));
  }
  return parse_idx(bytes, path);
}

IdxArray parse_idx(std::string_view bytes, const std::string& origin) {
  const std::string path = origin;
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 4) throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "' is shorter than its 4-byte magic");
  const uint8_t* magic = p;
  if (magic[0] != 0 || magic[1] != 0)
    throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "': bad magic (first two bytes must be 0; not an IDX file?)");
  size_t esize = 0;
  switch (magic[2]) {
    case 0x08: case 0x09: esize = 1; break;
    case 0x0B: esize = 2; break;
    case 0x0C: case 0x0D: esize = 4; break;
    case 0x0E: esize = 8; break;
    default:
      throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "': unknown element type 0x" +
                                                   [&] { char b[3]; std::snprintf(b, 3, "%02x", magic[2]); return std::string(b); }() +
                                                   " (known: 08 09 0B 0C 0D 0E)");
  }
  const int rank = magic[3];
  EDGEOPT_CHECK_ARG(rank >= 1 && rank <= 8, "IDX file '" + path + "': rank " + std::to_string(rank) + " is outside 1..8");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header) throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "' is truncated in its header");
  IdxArray a;
  // The payload size bounds the element count; the product is computed without overflow (a zero
  // dim anywhere makes it 0), so nothing is allocated from a bogus header.
  const size_t payload = bytes.size() - header;
  uint64_t count = 1;
  bool zero = false, overflow = false;
  for (int i = 0; i < rank; ++i) {
    a.dims.push_back(be32(p + 4 + 4 * i));
    if (a.dims.back() == 0) zero = true;
    else if (__builtin_mul_overflow(count, static_cast<uint64_t>(a.dims.back()), &count)) overflow = true;
  }
  if (zero) count = 0;
  if (!zero && (overflow || count > payload / esize))
    count = payload / esize + 1;  // only reported below: more elements than bytes
  if (count * esize > payload)
    throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "' is truncated: its header promises " +
                                                 [&] {
                                                   std::string s;
                                                   for (int64_t d : a.dims) s += (s.empty() ? "" : "x") + std::to_string(d);
                                                   return s;
                                                 }() + " elements of " + std::to_string(esize) + " bytes, the file has " +
                                                 std::to_string(payload) + " payload bytes");
  if (count * esize < payload)
    throw_error(ErrorCode::kInvalidArgument, "IDX file '" + path + "' has bytes after the " + std::to_string(count) +
                                                 " elements its header declares");
  a.type = magic[2];
  a.bytes.assign(p + header, p + header + count * esize);
  return a;
}

DataSplits load_idx_classification(const std::string& dir, const IdxClassificationOptions& opts) {
  EDGEOPT_CHECK_ARG(opts.val_fraction >= 0 && opts.val_fraction < 1,
                    "val_fraction must be in [0, 1), got " + std::to_string(opts.val_fraction));
  if (!std::filesystem::is_directory(dir)) throw_error(ErrorCode::kNotFound, "IDX directory '" + dir + "' not found");
  struct Part {
    std::vector<int64_t> dims;  // [N,C,H,W]
    IdxArray images;
    double scale = 1;           // u8 pixels / 255 -> [0,1]
    std::vector<int64_t> labels;
    double pixel(int64_t i) const { return images.at(i) * scale; }
  };
  int64_t max_label = -1;
  auto load = [&](const std::string& prefix, int64_t limit) {
    const std::string ip = find_idx(dir, prefix + "-images-idx3-ubyte");
    const std::string lp = find_idx(dir, prefix + "-labels-idx1-ubyte");
    IdxArray im = read_idx(ip), lb = read_idx(lp);
    EDGEOPT_CHECK_ARG(im.dims.size() == 3 || im.dims.size() == 4,
                      "IDX images '" + ip + "' must be [N,H,W] or [N,C,H,W], got rank " + std::to_string(im.dims.size()));
    EDGEOPT_CHECK_ARG(lb.dims.size() == 1, "IDX labels '" + lp + "' must be rank 1, got rank " + std::to_string(lb.dims.size()));
    EDGEOPT_CHECK_ARG(lb.dims[0] == im.dims[0], "IDX '" + ip + "' has " + std::to_string(im.dims[0]) + " images but '" + lp +
                                                    "' has " + std::to_string(lb.dims[0]) + " labels");
    Part p;
    p.dims = im.dims.size() == 3 ? std::vector<int64_t>{im.dims[0], 1, im.dims[1], im.dims[2]} : im.dims;
    int64_t n = p.dims[0];
    if (limit > 0) n = std::min(n, limit);
    p.dims[0] = n;
    p.scale = im.type == 0x08 ? 1.0 / 255.0 : 1.0;
    p.images = std::move(im);
    for (int64_t i = 0; i < n; ++i) {
      const double v = lb.at(i);
      EDGEOPT_CHECK_ARG(v >= 0 && v == std::floor(v) && v < 100000,
                        "IDX labels '" + lp + "': label " + std::to_string(v) + " at index " + std::to_string(i) +
                            " is not a class id >= 0");
      p.labels.push_back(static_cast<int64_t>(v));
      max_label = std::max(max_label, p.labels.back());
    }
    return p;
  };
  Part tr = load("train", opts.max_train);
  Part te = load("t10k", opts.max_test);
  EDGEOPT_CHECK_ARG(std::equal(tr.dims.begin() + 1, tr.dims.end(), te.dims.begin() + 1),
                    "IDX directory '" + dir + "': train and test images differ in size");

  DataSplits d;
  d.name = dir;
  d.task = "classification";
  d.layout = "NCHW";
  d.num_classes = static_cast<int>(max_label + 1);
  if (!opts.class_names.empty()) {
    EDGEOPT_CHECK_ARG(static_cast<int>(opts.class_names.size()) >= d.num_classes,
                      "IDX directory '" + dir + "' has label " + std::to_string(max_label) + " but only " +
                          std::to_string(opts.class_names.size()) + " class names were given");
    d.class_names = opts.class_names;
    d.num_classes = static_cast<int>(opts.class_names.size());
  } else {
    for (int k = 0; k < d.num_classes; ++k) d.class_names.push_back(std::to_string(k));
  }
  const int64_t c = tr.dims[1], hw = tr.dims[2] * tr.dims[3];
  for (int64_t ch = 0; ch < c; ++ch) d.feature_names.push_back(c == 1 ? "pixel" : "channel" + std::to_string(ch));

  // Val carve first, so normalization sees only the remaining train images.
  const int64_t n_all = tr.dims[0];
  const int64_t n_val = static_cast<int64_t>(std::floor(opts.val_fraction * static_cast<double>(n_all)));
  std::vector<int64_t> perm = seeded_permutation(n_all, opts.seed);
  std::vector<int64_t> val_idx(perm.begin(), perm.begin() + n_val), train_idx(perm.begin() + n_val, perm.end());
  std::sort(val_idx.begin(), val_idx.end());
  std::sort(train_idx.begin(), train_idx.end());

  std::vector<double> sum(static_cast<size_t>(c), 0.0), sq(static_cast<size_t>(c), 0.0);
  for (int64_t i : train_idx)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t k = 0; k < hw; ++k) {
        const double v = tr.pixel((i * c + ch) * hw + k);
        sum[static_cast<size_t>(ch)] += v;
        sq[static_cast<size_t>(ch)] += v * v;
      }
  const double cnt = static_cast<double>(train_idx.size()) * static_cast<double>(hw);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = cnt > 0 ? sum[static_cast<size_t>(ch)] / cnt : 0.0;
    const double var = cnt > 0 ? std::max(0.0, sq[static_cast<size_t>(ch)] / cnt - m * m) : 0.0;
    d.feature_mean.push_back(static_cast<float>(m));
    d.feature_std.push_back(var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f);
  }

  auto make = [&](const Part& p, const std::vector<int64_t>& idx) {
    Dataset ds;
    ds.x = Tensor(DType::kF32, Shape{static_cast<int64_t>(idx.size()), c, p.dims[2], p.dims[3]});
    ds.y = Tensor(DType::kI64, Shape{static_cast<int64_t>(idx.size())});
    float* x = ds.x.data<float>();
    int64_t* y = ds.y.data<int64_t>();
    for (size_t j = 0; j < idx.size(); ++j) {
      const int64_t i = idx[j];
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t k = 0; k < hw; ++k)
          x[(static_cast<int64_t>(j) * c + ch) * hw + k] = static_cast<float>(
              (p.pixel((i * c + ch) * hw + k) - d.feature_mean[static_cast<size_t>(ch)]) /
              d.feature_std[static_cast<size_t>(ch)]);
      y[j] = p.labels[static_cast<size_t>(i)];
    }
    return ds;
  };
  std::vector<int64_t> test_idx(static_cast<size_t>(te.dims[0]));
  for (int64_t i = 0; i < te.dims[0]; ++i) test_idx[static_cast<size_t>(i)] = i;
  d.train = make(tr, train_idx);
  d.val = make(tr, val_idx);
  d.test = make(te, test_idx);
  d.notes = "pixels scaled to [0,1], then standardized with the train split's mean/std; val is " +
            std::to_string(n_val) + " images drawn from train by seed " + std::to_string(opts.seed);
  return d;
}

}  // namespace edgeopt::train
