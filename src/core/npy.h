// NumPy .npy files <-> Tensor: the format `edgeopt run` reads inputs from and writes outputs to.
//
//   Tensor x = read_npy("input.npy");        // f32/f16/i8/u8/i32/i64/bool; f64 becomes f32
//   write_npy("out/y.npy", y);               // header v1 (v2 when the header needs it)
//
// Format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): the magic
// "\x93NUMPY", a major/minor version byte pair, a little-endian header length (u16 for v1, u32
// for v2/v3), a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded to 64 bytes, then the raw C-order data.
//
// Accepted descrs: <f4 <f2 <f8 (read as f32) |i1 |u1 <i4 <i8 |b1 ('<', '|' and '=' are all
// accepted for 1-byte types; '=' means little-endian on the hosts we build for). Big-endian data,
// fortran_order=True, object arrays and other dtypes are rejected. bf16 has no npy descr and is
// written as <f4. 0-d arrays are shape (). Every error names the file (or `origin`).
#pragma once
#include <string>
#include <string_view>

#include "core/tensor.h"

namespace edgeopt {

// Reads a whole .npy file. Throws NotFound when it cannot be opened, InvalidArgument for a corrupt
// header or a payload of the wrong size, Unimplemented for unsupported dtypes/layouts.
Tensor read_npy(const std::string& path);
// Parses .npy bytes already in memory; `origin` names them in errors.
Tensor parse_npy(std::string_view bytes, const std::string& origin = "<memory>");

// Writes `t` as .npy (overwrites). Throws InvalidArgument naming the path when it cannot be written.
void write_npy(const std::string& path, const Tensor& t);
std::string encode_npy(const Tensor& t);

}  // namespace edgeopt
