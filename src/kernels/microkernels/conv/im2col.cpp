#include "kernels/microkernels/conv/im2col.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace edgeopt::kernels::microkernels {
namespace {

// The output positions s in [0, n_out) whose input index s*stride + offset lies in [0, n_in).
void valid_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset, int64_t* lo, int64_t* hi) {
  // s*stride + offset >= 0  <=>  s >= ceil(-offset / stride)
  int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // s*stride + offset <= n_in - 1  <=>  s <= floor((n_in - 1 - offset) / stride)
  int64_t h = n_in - 1 - offset < 0 ? -1 : (n_in - 1 - offset) / stride;
  *lo = std::min(l, n_out);
  *hi = std::max(*lo, std::min(h + 1, n_out));
}

// Walks every (row, out position) pair of the col matrix with whole innermost runs:
// f(col_offset, inside, x_offset, run_lo, run_hi) per (row, s0, s1); x_offset is the input index of
// s2 = 0 (possibly negative: only [run_lo, run_hi) is read), meaningless when !inside.
template <typename RowFn>
void for_each_run(const Im2colGeometry& g, int64_t channels, RowFn&& f) {
  const int64_t out_sz = g.out_numel(), in_sz = g.in_numel();
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k0 = 0; k0 < g.kernel[0]; ++k0)
      for (int64_t k1 = 0; k1 < g.kernel[1]; ++k1)
        for (int64_t k2 = 0; k2 < g.kernel[2]; ++k2, ++row) {
          const int64_t off2 = k2 * g.dilation[2] - g.pad[2];
          int64_t lo2, hi2;
          valid_range(g.out[2], g.in[2], g.stride[2], off2, &lo2, &hi2);
          for (int64_t s0 = 0; s0 < g.out[0]; ++s0) {
            const int64_t b0 = s0 * g.stride[0] - g.pad[0] + k0 * g.dilation[0];
            for (int64_t s1 = 0; s1 < g.out[1]; ++s1) {
              const int64_t b1 = s1 * g.stride[1] - g.pad[1] + k1 * g.dilation[1];
              const int64_t col_off = row * out_sz + (s0 * g.out[1] + s1) * g.out[2];
              const bool inside = b0 >= 0 && b0 < g.in[0] && b1 >= 0 && b1 < g.in[1];
              f(col_off, inside, c * in_sz + (b0 * g.in[1] + b1) * g.in[2] + off2, lo2, hi2);
            }
          }
        }
}

}  // namespace

void im2col_f32(const Im2colGeometry& g, int64_t channels, const float* x, float* col) {
  const int64_t o2 = g.out[2], st = g.stride[2];
  for_each_run(g, channels, [&](int64_t col_off, bool inside, int64_t x_off, int64_t lo, int64_t hi) {
    float* dst = col + col_off;
    if (!inside) {
      std::memset(dst, 0, sizeof(float) * o2);
      return;
    }
    std::fill(dst, dst + lo, 0.f);
    if (hi > lo) {
      const float* src = x + (x_off + lo * st);  // the first in-bounds tap
      if (st == 1) {
        std::memcpy(dst + lo, src, sizeof(float) * (hi - lo));
      } else {
        for (int64_t s = lo; s < hi; ++s) dst[s] = src[(s - lo) * st];
      }
    }
    std::fill(dst + hi, dst + o2, 0.f);
  });
}

void im2col_pack_panels_f32(const Im2colGeometry& g, const float* x, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                            int64_t nr, float* dst) {
  thread_local std::vector<float> seg_buf;
  if (seg_buf.size() < static_cast<size_t>(nc)) seg_buf.resize(static_cast<size_t>(nc));
  float* seg = seg_buf.data();
  const int64_t kn = g.kernel_numel(), in_sz = g.in_numel();
  const int64_t o1 = g.out[1], o2 = g.out[2], st2 = g.stride[2];
  const int64_t panels = (nc + nr - 1) / nr;
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t row = p0 + k;
    const int64_t c = row / kn, rk = row % kn;
    const int64_t k0 = rk / (g.kernel[1] * g.kernel[2]), k1 = (rk / g.kernel[2]) % g.kernel[1], k2 = rk % g.kernel[2];
    const int64_t off2 = k2 * g.dilation[2] - g.pad[2];
    int64_t lo2, hi2;
    valid_range(o2, g.in[2], st2, off2, &lo2, &hi2);
    // The row's segment [j0, j0+nc) of col, one (s0, s1) output line at a time.
    int64_t s = j0;
    const int64_t s_end = j0 + nc;
    while (s < s_end) {
      const int64_t line = s / o2, s2_begin = s % o2;
      const int64_t s2_end = std::min(o2, s2_begin + (s_end - s));
      const int64_t s0 = line / o1, s1 = line % o1;
      const int64_t b0 = s0 * g.stride[0] - g.pad[0] + k0 * g.dilation[0];
      const int64_t b1 = s1 * g.stride[1] - g.pad[1] + k1 * g.dilation[1];
      float* out = seg + (s - j0);  // out[t - s2_begin] is column (line, t)
      int64_t lo = s2_end, hi = s2_end;      // the in-bounds part [lo, hi)
      if (b0 >= 0 && b0 < g.in[0] && b1 >= 0 && b1 < g.in[1]) {
        lo = std::max(lo2, s2_begin);
        hi = std::max(lo, std::min(hi2, s2_end));
      }
      std::fill(out, out + (lo - s2_begin), 0.f);
      if (hi > lo) {
        // Column t reads x[base + t * st2].
        const int64_t base = c * in_sz + (b0 * g.in[1] + b1) * g.in[2] + off2;
        float* o = out + (lo - s2_begin);
        if (st2 == 1) {
          std::memcpy(o, x + (base + lo), sizeof(float) * (hi - lo));
        } else {
          for (int64_t t = lo; t < hi; ++t) o[t - lo] = x[base + t * st2];
        }
      }
      std::fill(out + (hi - s2_begin), out + (s2_end - s2_begin), 0.f);
      s += s2_end - s2_begin;
    }
    for (int64_t q = 0; q < panels; ++q) {
      const int64_t cols = std::min(nr, nc - q * nr);
      float* o = dst + q * nr * kc + k * nr;
      std::memcpy(o, seg + q * nr, sizeof(float) * cols);
      for (int64_t j = cols; j < nr; ++j) o[j] = 0.f;
    }
  }
}

void col2im_add_f32(const Im2colGeometry& g, int64_t channels, const float* col, float* dx) {
  const int64_t st = g.stride[2];
  for_each_run(g, channels, [&](int64_t col_off, bool inside, int64_t x_off, int64_t lo, int64_t hi) {
    if (!inside) return;
    if (hi <= lo) return;
    const float* src = col + col_off;
    float* dst = dx + (x_off + lo * st);
    if (st == 1) {
      for (int64_t s = lo; s < hi; ++s) dst[s - lo] += src[s];
    } else {
      for (int64_t s = lo; s < hi; ++s) dst[(s - lo) * st] += src[s];
    }
  });
}

}  // namespace edgeopt::kernels::microkernels
