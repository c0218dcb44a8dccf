// Checkpoints: named tensors plus string metadata in one binary file, written atomically (temp file
// + rename) so an interrupted run never leaves a truncated checkpoint behind.
//
// Format (little-endian): "EDGEOPT-CKPT\0\0\0\1" (16 bytes), u32 n_meta, n x (str key, str value),
// u32 n_tensors, n x (str name, u8 dtype, u8 rank, i64 dims[rank], u64 nbytes, bytes);
// str = u32 length + bytes.
#pragma once
#include <map>
#include <string>
#include <unordered_map>

#include "core/tensor.h"

namespace edgeopt::train {

struct Checkpoint {
  std::map<std::string, std::string> meta;
  std::unordered_map<std::string, Tensor> tensors;
};

void save_checkpoint(const Checkpoint& c, const std::string& path);
// Throws NotFound for a missing file, InvalidArgument (naming the file) for a corrupt one.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace edgeopt::train
