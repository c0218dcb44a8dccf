// The four stride-2 phase planes of one input plane, for convs that read a stride-2 window as
// contiguous pixels (the pixel-rows form): phase (ry, rx) row i, column j holds the zero-padded
// input at row 2i + ry - pt, column 2j + rx - pl (0 outside the input), for i < ph, j < pw.
//
//   split_phases2_f32(x, 56, 56, /*pt=*/1, /*pl=*/1, /*ph=*/29, /*pw=*/29, /*plane=*/848, out);
//
// Phase p = 2 ry + rx starts at out + p * plane (plane >= ph * pw); every element of the four
// planes is written. Vectorized (Highway, dynamic dispatch): each input row is split into its even
// and odd columns a vector pair at a time. Single-threaded, thread-safe.
#pragma once
#include <cstdint>

namespace edgeopt::kernels::microkernels {

void split_phases2_f32(const float* x, int64_t ih, int64_t iw, int64_t pt, int64_t pl, int64_t ph, int64_t pw,
                       int64_t plane, float* out);

}  // namespace edgeopt::kernels::microkernels
