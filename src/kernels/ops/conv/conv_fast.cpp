#include "kernels/ops/conv/conv_fast.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/conv/conv_small_k.h"
#include "kernels/microkernels/conv/dwconv.h"
#include "kernels/microkernels/conv/im2col.h"
#include "kernels/microkernels/conv/phase_split.h"
#include "kernels/microkernels/conv/winograd.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::conv {
namespace {

using microkernels::Im2colGeometry;

struct FastConvDims {
  int64_t n = 0, c = 0, m = 0, group = 1, cg = 0, mg = 0;
  Window win;
  Im2colGeometry geo;
  int64_t in_sz = 0, out_sz = 0, k_sz = 0;
  bool pointwise = false;    // 1x1 kernel, stride 1, no padding: X_ng is already the im2col matrix
  bool depthwise2d = false;  // C/group == 1 with at most 2 spatial dims: the direct kernel
};

// `attrs`: the node's attributes as prepare read them, or null to read them here.
FastConvDims fast_conv_dims(const Node& node, const ConvAttrs* attrs, const Shape& x, const Shape& w, const Tensor* b) {
  // The reference's validation and messages.
  const ConvDims base = attrs ? conv_dims(*attrs, x, w, b) : conv_dims(node, x, w, b);
  FastConvDims d;
  d.n = base.n;
  d.c = base.c;
  d.m = base.m;
  d.group = base.group;
  d.win = base.win;
  d.cg = d.c / d.group;
  d.mg = d.m / d.group;
  d.in_sz = d.win.big_numel();
  d.out_sz = d.win.small_numel();
  d.k_sz = d.win.kernel_numel();
  d.geo = im2col_geometry(d.win);
  d.pointwise = pointwise_window(d.win);
  d.depthwise2d = d.cg == 1 && d.group > 1 && d.win.big[0] == 1 && d.win.kernel[0] == 1 && d.win.small[0] == 1 &&
                  d.win.pad_begin[0] == 0;
  return d;
}

float* thread_buffer(int slot, size_t floats) {
  thread_local std::vector<float> bufs[2];
  if (bufs[slot].size() < floats) bufs[slot].resize(floats);
  return bufs[slot].data();
}

// Runs fn(item, inner_pool) for items [0, count): across the pool when there are enough items to
// balance, else one by one with the pool handed to the GEMM inside.
template <typename F>
void for_each_item(int64_t count, F&& fn) {
  ThreadPool& pool = default_pool();
  const int64_t t = pool.num_threads();
  if (t > 1 && count >= t && (count % t == 0 || count >= 4 * t)) {
    pool.parallel_for(count, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) fn(i, nullptr);
    });
  } else {
    for (int64_t i = 0; i < count; ++i) fn(i, &pool);
  }
}

// Pointwise convs on planes of at least this many pixels (14x14) read X's channel planes in place
// (the GEMM's indirect B) instead of packing them into B panels: on large planes the packing is a
// full extra pass over X, the largest cost of a short-K or few-output-channel conv (MobileNetV2's
// 16 -> 96 expansion at 112x112: 0.33 -> 0.27 ms; its 144 -> 24 projection at 56x56: 0.17 ->
// 0.13 ms). Since the GEMM prefetches the next panel of such rows, 14x14 gains too (MobileNetV2's
// twelve 14x14 pointwise convs 0.807 -> 0.773 ms at 1 thread, 0.429 -> 0.417 ms at 2); on 7x7 the
// packed panels stay faster (in place there, MobileNetV2 at 2 threads went 2.18-2.35 -> 2.48-2.60 ms).
constexpr int64_t kPointwiseInPlaceMinPixels = 196;
// 3x3 stride-1 convs over >= 256 channels run Winograd on output planes of at least this many
// pixels (14x14: 49 tiles; ResNet-18's layer3 in the model, 1.11 -> 0.91 ms per conv with the next
// U prefetched) and the pixel-rows form below it (7x7: 16 tiles for 49 outputs, and 16 MB of U).
constexpr int64_t kWinogradMinPixels = 196;

bool has_bias(const ForwardCtx& ctx) { return ctx.node.has_input(2) && ctx.in.size() > 2 && ctx.in[2].defined(); }

struct Im2colPack {
  const Im2colGeometry* geo;
  const float* x;  // one image's channels of one group
  static void fn(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, float* dst) {
    const auto* self = static_cast<const Im2colPack*>(ctx);
    microkernels::im2col_pack_panels_f32(*self->geo, self->x, p0, kc, j0, nc, nr, dst);
  }
};

// The weights of a GEMM-path Conv packed once per group (the A operand, [M/g, C/g*k]): repacking
// per call cost ResNet-18's 3x3 layers as much time as their FLOPs (layer4: 9.4 MB per call).
struct ConvPackedState final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  std::optional<ConvAttrs> attrs;  // the node's attributes for w_shape (unset: invalid, the forward reports them)
  std::vector<gemm::PackedMatrix> packed_w;  // per group (the im2col/pointwise GEMM path)
  // Winograd F(2x2,3x3) path (3x3, stride 1, dilation 1, group 1): the 16 transformed weight
  // matrices U[e] [M, C], packed; empty when the conv does not qualify.
  std::vector<gemm::PackedMatrix> winograd_u;
  // Dense 2-D convs with a short K = C*kh*kw (small_k_geometry): the direct kernel's weight panels.
  microkernels::SmallKWeights small_k;
  // The pixel-rows form (pixel_rows_eligible): W^T packed as the GEMM's B; empty otherwise.
  gemm::PackedMatrix pixel_rows_w;
  // Packed by the first run that needs them (lazy_pixel_rows_weights): a plane_decides conv on a
  // plane below kWinogradMinPixels.
  mutable std::once_flag pixel_rows_once;
  mutable gemm::PackedMatrix pixel_rows_lazy;
  // 3x3 stride-1 convs over >= 256 channels: Winograd on planes of >= kWinogradMinPixels, the
  // pixel-rows form on smaller ones; the plane is known only at run time, so the first run packs
  // the form it needs (once).
  bool plane_decides = false;
  mutable std::once_flag winograd_once;
  mutable std::vector<gemm::PackedMatrix> winograd_lazy;
};

// The pixel-rows weights of a conv whose form the plane decided (see ConvPackedState), packed by
// the first run that needs them.
const gemm::PackedMatrix& lazy_pixel_rows_weights(const ConvPackedState& st, const float* w, int64_t kdim, int64_t m) {
  std::call_once(st.pixel_rows_once, [&] { st.pixel_rows_lazy = gemm::pack_b_f32(true, kdim, m, w, kdim); });
  return st.pixel_rows_lazy;
}

// Winograd's 16 transformed weight matrices U[e] [M, C], packed.
std::vector<gemm::PackedMatrix> pack_winograd(const float* w, int64_t m, int64_t c) {
  std::vector<float> u(static_cast<size_t>(microkernels::kWinogradF23Elems * m * c));
  microkernels::winograd_f23_weights(w, m, c, u.data());
  std::vector<gemm::PackedMatrix> packed;
  for (int e = 0; e < microkernels::kWinogradF23Elems; ++e)
    packed.push_back(gemm::pack_a_f32(false, m, c, u.data() + e * m * c, c));
  return packed;
}

// The direct small-K kernel's geometry for a dense (group 1) 2-D conv it handles, else nullopt.
std::optional<microkernels::ConvSmallKGeometry> small_k_geometry(const FastConvDims& d) {
  if (d.group != 1 || d.win.nd != 2 || d.k_sz == 1) return std::nullopt;
  microkernels::ConvSmallKGeometry g;
  g.c = d.c, g.ih = d.win.big[1], g.iw = d.win.big[2], g.oh = d.win.small[1], g.ow = d.win.small[2];
  g.kh = d.win.kernel[1], g.kw = d.win.kernel[2], g.sh = d.win.stride[1], g.sw = d.win.stride[2];
  g.ph = d.win.pad_begin[1], g.pw = d.win.pad_begin[2], g.dh = d.win.dilation[1], g.dw = d.win.dilation[2];
  if (!microkernels::conv_small_k_f32_supports(g)) return std::nullopt;
  return g;
}

// Y_n = the direct small-K conv of X_n, output rows split over the pool. A fused residual R is
// added (then clamped) per row range, while the rows are still in cache.
void conv_small_k(const FastConvDims& d, const microkernels::ConvSmallKGeometry& g,
                  const microkernels::SmallKWeights& w, const float* px, const float* pb, const float* pr,
                  const FusedActivation& act, float* py) {
  for (int64_t n = 0; n < d.n; ++n) {
    const float* x = px + n * d.c * d.in_sz;
    float* y = py + n * d.m * d.out_sz;
    const float* r = pr ? pr + n * d.m * d.out_sz : nullptr;
    parallel_for(g.oh, [&](int64_t r0, int64_t r1) {
      microkernels::conv_small_k_f32(g, x, w, pb, y, r ? -INFINITY : act.lo, r ? INFINITY : act.hi, r0, r1);
      if (!r) return;
      for (int64_t m = 0; m < d.m; ++m)
        for (int64_t i = m * d.out_sz + r0 * g.ow; i < m * d.out_sz + r1 * g.ow; ++i)
          y[i] = std::min(std::max(y[i] + r[i], act.lo), act.hi);
    });
  }
}

// A 2-D conv's window in plain names (the direct paths below).
struct Win2d {
  int64_t oh, ow, ih, iw, pt, pl, kh, kw, dh, dw;
  explicit Win2d(const Window& w)
      : oh(w.small[1]), ow(w.small[2]), ih(w.big[1]), iw(w.big[2]), pt(w.pad_begin[1]), pl(w.pad_begin[2]),
        kh(w.kernel[1]), kw(w.kernel[2]), dh(w.dilation[1]), dw(w.dilation[2]) {}
};

// Every channel of image x as a zero-padded plane of `ph` rows by `pw` columns (input pixel (y, x)
// at (y + pt, x + pl); rows/columns past the plane are not copied), planes `plane` floats apart.
void pad_planes(const FastConvDims& d, const Win2d& v, const float* x, int64_t ph, int64_t pw, int64_t plane,
                float* planes) {
  const int64_t rows = std::min(v.ih, ph - v.pt), cols = std::min(v.iw, pw - v.pl);
  parallel_for(d.c, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* pc = planes + c * plane;
      std::fill(pc, pc + plane, 0.f);
      for (int64_t y = 0; y < rows; ++y)
        std::memcpy(pc + (y + v.pt) * pw + v.pl, x + (c * v.ih + y) * v.iw, sizeof(float) * static_cast<size_t>(cols));
    }
  });
}

// The virtual-grid conv (conv_grid) for a dense 2-D stride-1 conv: the output is computed on a grid
// of OH rows as wide as the padded input (wp = OW + (kw-1)*dw columns, the extra ones computed and
// dropped), so the taps of consecutive outputs are consecutive pixels of the zero-padded planes and
// the GEMM reads B's rows in place (gemm_f32_packed_a_indirect_b), one offset per (channel, tap):
// no im2col. Only where the dropped columns plus the last partial tile cost at most a tenth more.
struct GridGeometry {
  int64_t wp = 0, hp = 0, nv = 0, plane = 0;  // grid width, padded rows, grid outputs, floats per plane
};
std::optional<GridGeometry> grid_geometry(const FastConvDims& d) {
  if (d.group != 1 || d.win.nd != 2 || d.k_sz == 1 || d.win.stride[1] != 1 || d.win.stride[2] != 1) return std::nullopt;
  GridGeometry g;
  const int64_t oh = d.win.small[1], ow = d.win.small[2];
  g.wp = ow + (d.win.kernel[2] - 1) * d.win.dilation[2];
  g.hp = oh + (d.win.kernel[1] - 1) * d.win.dilation[1];
  g.nv = oh * g.wp;
  const int64_t nr = gemm::gemm_f32_b_tile(), tiles = (g.nv + nr - 1) / nr * nr;
  if (oh * ow == 0 || tiles * 10 > oh * ow * 11) return std::nullopt;
  // The last tile reads up to `tiles` columns past a tap's offset: slack after the rows.
  g.plane = (g.hp * g.wp + (tiles - g.nv) + (d.win.kernel[2] - 1) * d.win.dilation[2] + 15) / 16 * 16;
  return g;
}

// Y_n = conv(X_n) on the virtual grid (see grid_geometry), + bias, + residual R, clamped.
void conv_grid(const FastConvDims& d, const GridGeometry& g, const gemm::PackedMatrix& w, const float* px,
               const float* pb, const float* pr, const FusedActivation& act, float* py) {
  const Win2d v(d.win);
  thread_local std::vector<int64_t> offs;
  offs.resize(static_cast<size_t>(d.c * v.kh * v.kw));
  for (int64_t c = 0, i = 0; c < d.c; ++c)  // K order (channel, kernel row, kernel column): the weights'
    for (int64_t a = 0; a < v.kh; ++a)
      for (int64_t b = 0; b < v.kw; ++b, ++i) offs[i] = c * g.plane + a * v.dh * g.wp + b * v.dw;
  float* planes = thread_buffer(0, static_cast<size_t>(d.c * g.plane));
  float* grid = thread_buffer(1, static_cast<size_t>(d.m * g.nv));
  const int64_t oh = v.oh, ow = v.ow;
  for (int64_t n = 0; n < d.n; ++n) {
    pad_planes(d, v, px + n * d.c * d.in_sz, g.hp, g.wp, g.plane, planes);
    gemm::GemmEpilogue ep;
    ep.row_bias = pb;
    if (!pr) ep = ep.with_clamp(act.lo, act.hi);
    gemm::gemm_f32_packed_a_indirect_b(w, g.nv, planes, offs.data(), 0.f, grid, g.nv, ep, &default_pool());
    // The real columns out (+ the residual, then the clamp, when one is fused).
    float* y = py + n * d.m * d.out_sz;
    const float* r = pr ? pr + n * d.m * d.out_sz : nullptr;
    parallel_for(d.m, [&](int64_t m0, int64_t m1) {
      for (int64_t m = m0; m < m1; ++m)
        for (int64_t row = 0; row < oh; ++row) {
          const float* src = grid + m * g.nv + row * g.wp;
          float* dst = y + (m * oh + row) * ow;
          if (!r) {
            std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(ow));
            continue;
          }
          const float* rr = r + (m * oh + row) * ow;
          for (int64_t x = 0; x < ow; ++x) dst[x] = std::min(std::max(src[x] + rr[x], act.lo), act.hi);
        }
    });
  }
}

// The pixel-rows form (gemm::conv_f32_pixel_rows: output pixels as the tile's rows, each read
// through its own offset into zero-padded planes, 48 channels as its columns): for dense 2-D convs
// with stride 2 (dilation 1; on four column/row parity planes per channel, so the taps of a pixel
// are again fixed offsets) and for stride 1 from 256 input channels, where the planes are small
// (ResNet-18's layer3/4: 14x14 and 7x7, on which 48-column tiles over the outputs compute up to
// half junk and Winograd's 16 GEMMs have 16-49 columns). No im2col in either case.
// Pointwise (1x1, stride 1, unpadded) convs read X itself: where the channels are many and so the
// planes likely small (MobileNetV2's 7x7 block ends, 960 -> 160/320 and 320 -> 1280), 49 outputs
// fill 56 rows instead of 48 + a 1-column vector tile, and K is long enough (>= 320) for the
// transposed stores not to matter.
bool pixel_rows_eligible(const Node& node, const Shape& w, int64_t group) {
  if (w.rank() != 4 || group != 1) return false;
  bool s1 = true, s2 = true, d1 = true, unpadded = true;
  for (int64_t s : node.attr_ints("strides", {1, 1})) s1 = s1 && s == 1, s2 = s2 && s == 2;
  for (int64_t dl : node.attr_ints("dilations", {1, 1})) d1 = d1 && dl == 1;
  for (int64_t p : node.attr_ints("pads", {0, 0, 0, 0})) unpadded = unpadded && p == 0;
  if (w[2] * w[3] == 1) {
    if (!unpadded || node.has_attr("auto_pad")) return false;
    // 1x1 stride 2 reads X in place too, from 256 channels: with a short K the transposed stores
    // cost more than im2col saves (ResNet's 64 -> 128 at 56x56: 0.082 -> 0.095 ms; 256 -> 512 at
    // 14x14: 0.085 -> 0.071). Stride 1 runs the packed GEMM on every plane: on 7x7 the pixel-rows
    // form (7 tiles of 7 pixel rows) had been faster than a 48-column tile plus a 1-column one, but
    // with the narrow N-edge kernel and its cold weight panels prefetched the GEMM is faster in the
    // model: MobileNetV2's 320 -> 1280 0.217 -> 0.179 ms, 960 -> 160 0.082 -> 0.073, 160 -> 960
    // 0.111 -> 0.088; the model 4.23 -> 3.95-4.09 ms at 1 thread, 2.40 -> 2.21-2.35 ms at 2.
    return s2 && w[1] >= 256;
  }
  return (s2 && d1) || (s1 && w[1] >= 256);
}

// Zero-padded input planes and the tap offsets of the pixel-rows form, for one image.
struct PixelRowsGeometry {
  bool s2 = false;
  bool pointwise = false;  // 1x1: the planes are X itself (rows of pw = the input width)
  int64_t stride = 1;      // of a 1x1 conv
  int64_t pw = 0, ph = 0, plane = 0;  // plane columns and rows (per stride phase), floats per plane
};
std::optional<PixelRowsGeometry> pixel_rows_geometry(const FastConvDims& d) {
  if (d.group != 1 || d.win.nd != 2) return std::nullopt;
  const int64_t oh = d.win.small[1], ow = d.win.small[2], kh = d.win.kernel[1], kw = d.win.kernel[2];
  PixelRowsGeometry g;
  if (d.k_sz == 1 && d.win.pad_begin[1] == 0 && d.win.pad_begin[2] == 0 && d.win.stride[1] == d.win.stride[2]) {
    // 1x1, unpadded: the taps are X's own pixels, output (r, c) at input (s r, s c).
    g.pointwise = true;
    g.stride = d.win.stride[1];
    g.pw = d.win.big[2];
    g.ph = d.win.big[1];
    g.plane = d.in_sz;
    return g;
  }
  if (d.k_sz == 1) return std::nullopt;
  if (d.win.stride[1] == 1 && d.win.stride[2] == 1) {
    g.pw = ow + (kw - 1) * d.win.dilation[2];
    g.ph = oh + (kh - 1) * d.win.dilation[1];
  } else if (d.win.stride[1] == 2 && d.win.stride[2] == 2 && d.win.dilation[1] == 1 && d.win.dilation[2] == 1) {
    g.s2 = true;  // phase (a % 2, b % 2) of tap (a, b), at pixel offset (a / 2, b / 2)
    g.pw = ow + (kw - 1) / 2;
    g.ph = oh + (kh - 1) / 2;
  } else {
    return std::nullopt;
  }
  g.plane = (g.ph * g.pw + 15) / 16 * 16;
  return g;
}

void conv_pixel_rows(const FastConvDims& d, const PixelRowsGeometry& g, const gemm::PackedMatrix& w, const float* px,
                     const float* pb, const float* pr, const FusedActivation& act, float* py) {
  const Win2d v(d.win);
  const int64_t phases = g.s2 ? 4 : 1;
  thread_local std::vector<int64_t> koff, poff;
  koff.resize(static_cast<size_t>(d.c * v.kh * v.kw));
  poff.resize(static_cast<size_t>(v.oh * v.ow));
  for (int64_t c = 0, i = 0; c < d.c; ++c)  // K order (channel, kernel row, kernel column): the weights'
    for (int64_t a = 0; a < v.kh; ++a)
      for (int64_t b = 0; b < v.kw; ++b, ++i)
        koff[i] = g.s2 ? (c * 4 + 2 * (a % 2) + b % 2) * g.plane + (a / 2) * g.pw + b / 2
                       : c * g.plane + a * v.dh * g.pw + b * v.dw;
  for (int64_t r = 0, n = 0; r < v.oh; ++r)
    for (int64_t x = 0; x < v.ow; ++x, ++n) poff[n] = (r * g.pw + x) * (g.pointwise ? g.stride : 1);
  float* planes = g.pointwise ? nullptr : thread_buffer(0, static_cast<size_t>(d.c * phases * g.plane));
  for (int64_t n = 0; n < d.n; ++n) {
    const float* x = px + n * d.c * d.in_sz;
    const float* taps = g.pointwise ? x : planes;  // a pointwise conv's taps are X's own pixels
    if (!g.pointwise && !g.s2) {
      pad_planes(d, v, x, g.ph, g.pw, g.plane, planes);
    } else if (g.s2) {
      parallel_for(d.c, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)  // phase (ry, rx) pixel (i, j) = padded input (2i + ry, 2j + rx)
          microkernels::split_phases2_f32(x + c * v.ih * v.iw, v.ih, v.iw, v.pt, v.pl, g.ph, g.pw, g.plane,
                                          planes + c * 4 * g.plane);
      });
    }
    gemm::PixelRowsConv p;
    p.w = &w;
    p.planes = taps;
    p.pixel_offsets = poff.data();
    p.k_offsets = koff.data();
    p.npx = v.oh * v.ow;
    p.bias = pb;
    p.residual = pr ? pr + n * d.m * d.out_sz : nullptr;
    p.lo = act.lo;
    p.hi = act.hi;
    p.y = py + n * d.m * d.out_sz;
    p.ldy = d.out_sz;
    gemm::conv_f32_pixel_rows(p, &default_pool());
  }
}

// 3x3 stride-1 dilation-1 dense 2-D convs with enough channels for the 16 GEMMs to pay: at least
// 128 in and out. On Zen 5 (full-width FMA) the transforms cost more than the saved multiplies
// below that (ResNet-18 layer1, 64 channels on 56x56: Winograd 1.45 ms, the virtual grid ~1.0);
// those convs take conv_grid.
bool winograd_eligible(const Node& node, const Shape& w, int64_t group) {
  if (w.rank() != 4 || w[2] != 3 || w[3] != 3 || group != 1 || w[0] < 128 || w[1] < 128) return false;
  for (int64_t s : node.attr_ints("strides", {1, 1}))
    if (s != 1) return false;
  for (int64_t dl : node.attr_ints("dilations", {1, 1}))
    if (dl != 1) return false;
  return true;
}

// Y = Winograd F(2x2,3x3) conv (see microkernels/conv/winograd.h), image by image.
void conv_winograd_f23(const FastConvDims& d, const std::vector<gemm::PackedMatrix>& u, const float* px,
                       const float* pb, const float* pr, const FusedActivation& act, float* py) {
  const microkernels::WinogradF23Shape s{d.c, d.win.big[1], d.win.big[2], d.win.pad_begin[1], d.win.pad_begin[2],
                                         d.m, d.win.small[1], d.win.small[2]};
  for (int64_t n = 0; n < d.n; ++n)
    microkernels::winograd_f23_conv_f32(u.data(), s, px + n * d.c * d.in_sz, pb, pr ? pr + n * d.m * d.out_sz : nullptr,
                                        act.lo, act.hi, py + n * d.m * d.out_sz, default_pool());
}

}  // namespace

std::shared_ptr<const OpState> conv_f32_nchw_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined() || ctx.in[1].dtype() != DType::kF32) return nullptr;
  const Tensor& w = ctx.in[1];
  if (w.rank() < 3) return nullptr;  // the forward reports it, with the input shapes
  const int64_t group = ctx.node.attr_int("group", 1);
  const int64_t m = w.shape()[0];
  if (group < 1 || m % group != 0) return nullptr;
  const int64_t cg = w.shape()[1];
  int64_t k_sz = 1;
  for (size_t i = 2; i < w.rank(); ++i) k_sz *= w.shape()[i];
  auto st = std::make_shared<ConvPackedState>();
  st->w_storage = w.raw();
  st->w_shape = w.shape();
  try {
    st->attrs = read_conv_attrs(ctx.node, w.shape());
  } catch (const Error&) {
    st->attrs.reset();
  }
  if (cg == 1 && group > 1) return st;  // depthwise: the direct kernel reads W as stored
  // Dense 2-D with a short K, not 1x1: the direct small-K kernel (geometry limits checked per run).
  if (group == 1 && w.rank() == 4 && microkernels::conv_small_k_f32_suits(cg, cg * k_sz) && k_sz > 1) {
    st->small_k = microkernels::conv_small_k_pack_f32(w.data<float>(), m, cg * k_sz);
    return st;
  }
  const int64_t mg = m / group, kdim = cg * k_sz;
  const float* pw = w.data<float>();
  const bool winograd = winograd_eligible(ctx.node, w.shape(), group);
  if (pixel_rows_eligible(ctx.node, w.shape(), group)) {
    if (winograd) {
      st->plane_decides = true;
      return st;
    }
    st->pixel_rows_w = gemm::pack_b_f32(true, kdim, m, pw, kdim);
    return st;
  }
  if (winograd) {
    st->winograd_u = pack_winograd(pw, m, cg);
    return st;
  }
  for (int64_t g = 0; g < group; ++g) st->packed_w.push_back(gemm::pack_a_f32(false, mg, kdim, pw + g * mg * kdim, kdim));
  return st;
}

void conv_f32_nchw_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool has_b = has_bias(ctx);
  if (has_b) require_f32(ctx, 2);
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const auto* st = dynamic_cast<const ConvPackedState*>(ctx.state);
  if (st && (st->w_storage != w.raw() || st->w_shape != w.shape())) st = nullptr;
  const FastConvDims d =
      fast_conv_dims(ctx.node, st && st->attrs ? &*st->attrs : nullptr, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  std::vector<int64_t> y_dims{d.n, d.m};
  for (int64_t o : d.win.real(d.win.small)) y_dims.push_back(o);
  const FusedActivation act = fused_activation(ctx.node);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  if (y.numel() == 0) return;
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = has_b ? ctx.in[2].data<float>() : nullptr;
  float* py = y.data<float>();
  // A residual fused by the runtime: the GEMM paths start from Y = R and accumulate onto it (beta 1).
  const float* pr = conv_residual(ctx, y.shape());

  if (d.depthwise2d) {
    microkernels::DwConv2dGeometry g;
    g.ih = d.win.big[1], g.iw = d.win.big[2], g.oh = d.win.small[1], g.ow = d.win.small[2];
    g.kh = d.win.kernel[1], g.kw = d.win.kernel[2], g.sh = d.win.stride[1], g.sw = d.win.stride[2];
    g.ph = d.win.pad_begin[1], g.pw = d.win.pad_begin[2], g.dh = d.win.dilation[1], g.dw = d.win.dilation[2];
    // Items of `blk` input channels (16 with the channels as the vector lanes on small planes, one
    // plane per channel elsewhere and for channel multipliers > 1), whole items per thread.
    const int64_t blk = d.mg == 1 ? microkernels::dwconv2d_f32_channel_block(g) : 1, nb = (d.c + blk - 1) / blk;
    parallel_for(d.n * nb, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t n = i / nb, c0 = (i % nb) * blk, c1 = std::min(d.c, c0 + blk);
        const float* xp = px + (n * d.c + c0) * d.in_sz;
        const float* wp = pw + c0 * d.mg * d.k_sz;
        const float* bp = pb ? pb + c0 * d.mg : nullptr;
        float* yp = py + (n * d.m + c0 * d.mg) * d.out_sz;
        // A fused residual is added before the clamp.
        const float lo = pr ? -INFINITY : act.lo, hi = pr ? INFINITY : act.hi;
        if (d.mg == 1)
          microkernels::dwconv2d_f32_channels(g, xp, c1 - c0, wp, bp, yp, lo, hi);
        else
          microkernels::dwconv2d_f32_plane(g, xp, d.mg, wp, bp, yp, lo, hi);  // blk == 1
        if (pr) {
          const float* rp = pr + (n * d.m + c0 * d.mg) * d.out_sz;
          for (int64_t q = 0; q < (c1 - c0) * d.mg * d.out_sz; ++q)
            yp[q] = std::min(std::max(yp[q] + rp[q], act.lo), act.hi);
        }
      }
    });
    return;
  }

  const int64_t kdim = d.cg * d.k_sz;
  // The state's weight shape and the node's attributes fix the geometry prepare chose Winograd for.
  if (st && !st->winograd_u.empty()) {
    conv_winograd_f23(d, st->winograd_u, px, pb, pr, act, py);
    return;
  }
  if (const auto g = small_k_geometry(d)) {
    // The state's panels, unless packed for another dispatch target (tests force targets).
    microkernels::SmallKWeights here;
    const bool use_state =
        st && !st->small_k.panels.empty() && st->small_k.mr == microkernels::conv_small_k_panel_rows();
    if (!use_state) here = microkernels::conv_small_k_pack_f32(pw, d.m, kdim);
    conv_small_k(d, *g, use_state ? st->small_k : here, px, pb, pr, act, py);
    return;
  }
  if (st && st->plane_decides) {
    if (d.out_sz >= kWinogradMinPixels) {
      std::call_once(st->winograd_once, [&] { st->winograd_lazy = pack_winograd(pw, d.m, d.cg); });
      conv_winograd_f23(d, st->winograd_lazy, px, pb, pr, act, py);
      return;
    }
    if (const auto g = pixel_rows_geometry(d))
      return conv_pixel_rows(d, *g, lazy_pixel_rows_weights(*st, pw, kdim, d.m), px, pb, pr, act, py);
  }
  if (st && !st->pixel_rows_w.empty()) {
    if (const auto g = pixel_rows_geometry(d)) return conv_pixel_rows(d, *g, st->pixel_rows_w, px, pb, pr, act, py);
  }
  if (st && st->packed_w.size() != static_cast<size_t>(d.group)) st = nullptr;  // packed for another path
  std::vector<gemm::PackedMatrix> packed_here;
  if (!st) {
    packed_here.resize(static_cast<size_t>(d.group));
    for (int64_t g = 0; g < d.group; ++g)
      packed_here[g] = gemm::pack_a_f32(false, d.mg, kdim, pw + g * d.mg * kdim, kdim);
  }
  const std::vector<gemm::PackedMatrix>& packed_w = st ? st->packed_w : packed_here;
  if (const auto grid = grid_geometry(d)) return conv_grid(d, *grid, packed_w[0], px, pb, pr, act, py);
  if (pr) std::memcpy(py, pr, sizeof(float) * static_cast<size_t>(y.numel()));
  const float beta = pr ? 1.f : 0.f;
  for_each_item(d.n * d.group, [&](int64_t item, ThreadPool* pool) {
    const int64_t n = item / d.group, g = item % d.group;
    const float* xg = px + (n * d.c + g * d.cg) * d.in_sz;
    gemm::GemmEpilogue ep;
    ep.row_bias = pb ? pb + g * d.mg : nullptr;
    ep.clamp_min = act.lo;
    ep.clamp_max = act.hi;
    float* yg = py + (n * d.m + g * d.mg) * d.out_sz;
    if (d.pointwise && d.out_sz >= kPointwiseInPlaceMinPixels) {
      // B = X_ng read in place, one row offset per input channel (see kPointwiseInPlaceMinPixels).
      thread_local std::vector<int64_t> rows;
      rows.resize(static_cast<size_t>(d.cg));
      for (int64_t k = 0; k < d.cg; ++k) rows[k] = k * d.out_sz;
      gemm::gemm_f32_packed_a_indirect_b(packed_w[g], d.out_sz, xg, rows.data(), beta, yg, d.out_sz, ep, pool);
    } else if (d.pointwise) {
      gemm::gemm_f32_packed_a(packed_w[g], false, d.out_sz, 1.f, xg, d.out_sz, beta, yg, d.out_sz, ep, pool);
    } else {
      // B = im2col(X_ng), packed panel by panel from the image by the GEMM's own threads.
      const Im2colPack pack{&d.geo, xg};
      gemm::gemm_f32_packed_a_packer(packed_w[g], d.out_sz, {&Im2colPack::fn, &pack}, beta, yg, d.out_sz, ep, pool);
    }
  });
}

void conv_f32_nchw_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const bool has_b = ctx.in.size() > 2 && ctx.in[2].defined();
  const FastConvDims d = fast_conv_dims(ctx.node, nullptr, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  const int64_t kdim = d.cg * d.k_sz;
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  Tensor dw = Tensor::zeros(DType::kF32, w.shape());
  Tensor db = Tensor::zeros(DType::kF32, {d.m});
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();

  ThreadPool& pool = default_pool();
  const int64_t chunks = std::max<int64_t>(1, pool.num_chunks(d.n));
  // Chunk 0 accumulates straight into dw/db; the others into partials added afterwards, in order.
  std::vector<float> partial_w(static_cast<size_t>((chunks - 1) * w.numel()));
  std::vector<float> partial_b(static_cast<size_t>((chunks - 1) * d.m), 0.f);
  auto run_chunk = [&](int64_t c, ThreadPool* inner) {
    int64_t ib, ie;
    ThreadPool::chunk_bounds(d.n, 1, chunks, c, &ib, &ie);
    float* dwc = c == 0 ? dw.data<float>() : partial_w.data() + (c - 1) * w.numel();
    float* dbc = c == 0 ? db.data<float>() : partial_b.data() + (c - 1) * d.m;
    for (int64_t n = ib; n < ie; ++n)
      for (int64_t g = 0; g < d.group; ++g) {
        const float* xg = px + (n * d.c + g * d.cg) * d.in_sz;
        const float* dyg = pdy + (n * d.m + g * d.mg) * d.out_sz;
        const float* wg = pw + g * d.mg * kdim;
        float* dxg = pdx + (n * d.c + g * d.cg) * d.in_sz;
        const float* bmat = xg;
        if (!d.pointwise) {
          float* col = thread_buffer(0, static_cast<size_t>(kdim * d.out_sz));
          microkernels::im2col_f32(d.geo, d.cg, xg, col);
          bmat = col;
        }
        // dW_g [mg, K] (+)= dY_g [mg, out] @ col^T [out, K]
        gemm::gemm_f32(false, true, d.mg, kdim, d.out_sz, 1.f, dyg, d.out_sz, bmat, d.out_sz, n == ib ? 0.f : 1.f,
                       dwc + g * d.mg * kdim, kdim, {}, inner);
        for (int64_t mm = 0; mm < d.mg; ++mm) {
          const float* row = dyg + mm * d.out_sz;
          float s = 0.f;
          for (int64_t i = 0; i < d.out_sz; ++i) s += row[i];
          dbc[g * d.mg + mm] += s;
        }
        // dX_g = col2im(W_g^T [K, mg] @ dY_g [mg, out])
        if (d.pointwise) {
          gemm::gemm_f32(true, false, kdim, d.out_sz, d.mg, 1.f, wg, kdim, dyg, d.out_sz, 0.f, dxg, d.out_sz, {}, inner);
        } else {
          float* dcol = thread_buffer(1, static_cast<size_t>(kdim * d.out_sz));
          gemm::gemm_f32(true, false, kdim, d.out_sz, d.mg, 1.f, wg, kdim, dyg, d.out_sz, 0.f, dcol, d.out_sz, {},
                         inner);
          microkernels::col2im_add_f32(d.geo, d.cg, dcol, dxg);
        }
      }
  };
  if (chunks > 1) {
    pool.parallel_for(chunks, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) run_chunk(c, nullptr);
    });
  } else {
    run_chunk(0, &pool);
  }
  float* pdw = dw.data<float>();
  float* pdb = db.data<float>();
  for (int64_t c = 1; c < chunks; ++c) {
    const float* pw_c = partial_w.data() + (c - 1) * w.numel();
    for (int64_t i = 0; i < w.numel(); ++i) pdw[i] += pw_c[i];
    for (int64_t i = 0; i < d.m; ++i) pdb[i] += partial_b[(c - 1) * d.m + i];
  }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  if (has_b) ctx.grad_in[2] = db;
}

}  // namespace edgeopt::kernels::ops::conv
