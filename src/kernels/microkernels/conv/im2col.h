// im2col / col2im for NCHW convolutions with 1 to 3 spatial dims (padded to 3, leading dims 1).
//
//   Im2colGeometry g{.in = {1, H, W}, .out = {1, OH, OW}, .kernel = {1, 3, 3}, .stride = {1, 1, 1},
//                    .dilation = {1, 1, 1}, .pad = {0, 1, 1}};
//   im2col_f32(g, channels, x, col);   // col [channels*prod(kernel), prod(out)], row-major
//   col2im_add_f32(g, channels, col, dx);  // dx[c, in] += every col entry that maps to it
//
// Row r = (c*K0 + k0)*K1*K2 + k1*K2 + k2, column s = (s0*O1 + s1)*O2 + s2 holds
// x[c, s0*st0 - pad0 + k0*d0, ...], 0 where the tap lands in the padding. So an NCHW conv is
// Y[M, out] = W[M, C*prod(kernel)] @ col. Single-threaded; callers split over images/groups.
#pragma once
#include <array>
#include <cstdint>

namespace edgeopt::kernels::microkernels {

struct Im2colGeometry {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1},
      pad{0, 0, 0};  // pad = leading (begin) padding; the end padding is implied by `out`
  int64_t in_numel() const { return in[0] * in[1] * in[2]; }
  int64_t out_numel() const { return out[0] * out[1] * out[2]; }
  int64_t kernel_numel() const { return kernel[0] * kernel[1] * kernel[2]; }
};

// x: [channels, in...]; col: [channels*kernel_numel, out_numel] (fully written).
void im2col_f32(const Im2colGeometry& g, int64_t channels, const float* x, float* col);
// Rows [p0, p0+kc) x columns [j0, j0+nc) of the col matrix that im2col_f32 would write, straight
// into NR-column GEMM B panels: dst[q*nr*kc + k*nr + j] = col[p0+k, j0+q*nr+j], zero past nc (the
// gemm::BPanelPacker layout). The conv GEMM packs B from the image this way, so the col matrix
// (7 MB for a ResNet-18 layer1 conv) is never written and re-read. Thread-safe.
void im2col_pack_panels_f32(const Im2colGeometry& g, const float* x, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                            int64_t nr, float* dst);
// dx: [channels, in...] accumulated into (not cleared).
void col2im_add_f32(const Im2colGeometry& g, int64_t channels, const float* col, float* dx);

}  // namespace edgeopt::kernels::microkernels
