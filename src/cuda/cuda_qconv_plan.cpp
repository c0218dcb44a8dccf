#include "cuda/cuda_qconv_plan.h"


#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/qlinear_conv/conv_int8.h"
#include "kernels/quant/qop_inputs.h"

namespace edgeopt::cuda {
namespace {

const Tensor* input(const Node& n, const std::vector<const Tensor*>& c, size_t i) {
  return i < c.size() && n.has_input(i) ? c[i] : nullptr;
}

const Tensor& need_const(const Node& n, const std::vector<const Tensor*>& c, size_t i, const char* role) {
  const Tensor* t = input(n, c, i);
  EDGEOPT_CHECK(t, ErrorCode::kUnimplemented,
                n.describe() + ": input " + std::to_string(i) + " (" + role + ") '" + (n.has_input(i) ? n.inputs[i] : "") +
                    "' must be a constant on CUDA");
  return *t;
}

// An optional input: absent, or a constant.
const Tensor* opt_const(const Node& n, const std::vector<const Tensor*>& c, size_t i, const char* role) {
  return n.has_input(i) ? &need_const(n, c, i, role) : nullptr;
}

}  // namespace

QConvPlan plan_qlinear_conv(const Node& n, DType x_dt, const Shape& xs, const std::vector<const Tensor*>& consts) {
  namespace q = kernels::quant;
  const std::string what = n.describe();
  QConvPlan p;
  EDGEOPT_CHECK_ARG(q::is_8bit(x_dt), what + ": input x is " + dtype_name(x_dt) + "; it must be u8 or i8");
  const Tensor& w = need_const(n, consts, 3, "w");
  q::check_8bit(w, "w");
  EDGEOPT_CHECK(xs.rank() == 3 || xs.rank() == 4, ErrorCode::kUnimplemented,
                what + ": input x has shape " + xs.str() + "; CUDA QLinearConv supports 1-D and 2-D (rank 3 or 4)");
  const auto d = kernels::ops::conv::conv_dims(n, xs, w.shape(), nullptr);
  const Tensor* x_zp = opt_const(n, consts, 2, "x_zero_point");
  const Tensor* w_zp = opt_const(n, consts, 5, "w_zero_point");
  const Tensor* y_zp = opt_const(n, consts, 7, "y_zero_point");
  const Tensor* bias = opt_const(n, consts, 8, "B");
  const int64_t m = d.m;
  const int32_t zx = x_zp ? q::scalar_zero_point(*x_zp, x_dt, "x_zero_point") : 0;
  const std::vector<int32_t> zw = w_zp ? q::read_zero_points(*w_zp, w.dtype(), m, "w_zero_point") : std::vector<int32_t>{0};
  const DType y_dt = y_zp ? y_zp->dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(q::is_8bit(y_dt), what + ": y_zero_point must be u8 or i8");
  const int32_t yz = y_zp ? q::scalar_zero_point(*y_zp, y_dt, "y_zero_point") : 0;
  const float sx = q::scalar_scale(need_const(n, consts, 1, "x_scale"), "x_scale");
  const std::vector<float> sw = q::read_scales(need_const(n, consts, 4, "w_scale"), m, "w_scale");
  const float sy = q::scalar_scale(need_const(n, consts, 6, "y_scale"), "y_scale");
  const q::RequantParams rq = q::requant_params(sx, sw, sy, m);
  const q::QRange range = q::fused_qrange(n, sy, yz, y_dt);
  if (bias) {
    EDGEOPT_CHECK_ARG(bias->dtype() == DType::kI32 && bias->numel() == m,
                      what + ": bias is " + bias->describe() + "; expected i32[" + std::to_string(m) + "]");
    p.bias.assign(bias->data<int32_t>(), bias->data<int32_t>() + m);
  }
  const int64_t pool = n.attr_int("maxpool", 0);
  EDGEOPT_CHECK_ARG(pool == 0 || (pool == 2 && d.win.nd == 2),
                    what + ": attribute maxpool is " + std::to_string(pool) + "; it must be 0, or 2 on a 2-D conv");
  QConvGeom& g = p.g;
  g.batch = d.n;
  g.c = d.c;
  g.m = m;
  g.group = d.group;
  // The window pads spatial dims to 3 with leading 1s: [1], [2] are H, W (1-D: 1, W).
  g.ih = d.win.big[1];
  g.iw = d.win.big[2];
  g.oh = d.win.small[1];
  g.ow = d.win.small[2];
  g.kh = d.win.kernel[1];
  g.kw = d.win.kernel[2];
  g.sh = d.win.stride[1];
  g.sw = d.win.stride[2];
  g.ph = d.win.pad_begin[1];
  g.pw = d.win.pad_begin[2];
  g.dh = d.win.dilation[1];
  g.dw = d.win.dilation[2];
  g.pool2x2 = pool == 2;
  g.y_zp = yz;
  g.qmin = range.lo;
  g.qmax = range.hi;
  g.y_u8 = y_dt == DType::kU8;
  p.y_shape = g.pool2x2 ? Shape{g.batch, m, g.oh / 2, g.ow / 2} : Shape(kernels::ops::qlinear_conv::conv_int8_out_dims(d));
  p.multiplier = rq.multiplier;
  p.shift = rq.shift;
  p.x_u8 = x_dt == DType::kU8;
  std::vector<int32_t> zw_m(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) zw_m[static_cast<size_t>(j)] = zw.size() == 1 ? zw[0] : zw[static_cast<size_t>(j)];
  if (d.group != 1) {
    p.direct = true;
    p.w_u8 = w.dtype() == DType::kU8;
    p.x_zp = zx;
    const auto* wr = static_cast<const uint8_t*>(w.raw());
    p.w_raw.assign(wr, wr + w.nbytes());
    p.w_zp = zw_m;
    return p;
  }
  // Group 1: K padded to a multiple of 4 with zero columns in both operands (they add nothing to
  // S, the row sums or the column sums), so cuBLASLt's IMMA rules always hold.
  p.k = d.c * g.kh * g.kw;
  p.k_pad = (p.k + 3) / 4 * 4;
  p.rows = g.batch * g.oh * g.ow;
  const int32_t ox8 = p.x_u8 ? 128 : 0, ow8 = w.dtype() == DType::kU8 ? 128 : 0;
  p.bt.assign(static_cast<size_t>(m * p.k_pad), 0);
  p.col_sum.assign(static_cast<size_t>(m), 0);
  p.zb.resize(static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) {
    for (int64_t kk = 0; kk < p.k; ++kk) {
      const int32_t v = static_cast<int32_t>(w.at(j * p.k + kk)) - ow8;
      p.bt[static_cast<size_t>(j * p.k_pad + kk)] = static_cast<int8_t>(v);
      p.col_sum[static_cast<size_t>(j)] += v;
    }
    p.zb[static_cast<size_t>(j)] = zw_m[static_cast<size_t>(j)] - ow8;
  }
  p.za = zx - ox8;
  return p;
}

QAddParams plan_qlinear_add(const Node& n, DType a_dt, DType b_dt, const std::vector<const Tensor*>& consts) {
  namespace q = kernels::quant;
  const std::string what = n.describe();
  EDGEOPT_CHECK_ARG(q::is_8bit(a_dt) && q::is_8bit(b_dt),
                    what + ": inputs are " + dtype_name(a_dt) + " and " + dtype_name(b_dt) + "; they must be u8 or i8");
  const Tensor* a_zp = opt_const(n, consts, 2, "A_zero_point");
  const Tensor* b_zp = opt_const(n, consts, 5, "B_zero_point");
  const Tensor* c_zp = opt_const(n, consts, 7, "C_zero_point");
  QAddParams p;
  p.sa = q::scalar_scale(need_const(n, consts, 1, "A_scale"), "A_scale");
  p.sb = q::scalar_scale(need_const(n, consts, 4, "B_scale"), "B_scale");
  p.sc = q::scalar_scale(need_const(n, consts, 6, "C_scale"), "C_scale");
  p.za = a_zp ? q::scalar_zero_point(*a_zp, a_dt, "A_zero_point") : 0;
  p.zb = b_zp ? q::scalar_zero_point(*b_zp, b_dt, "B_zero_point") : 0;
  const DType c_dt = c_zp ? c_zp->dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(q::is_8bit(c_dt), what + ": C_zero_point must be u8 or i8");
  p.zc = c_zp ? q::scalar_zero_point(*c_zp, c_dt, "C_zero_point") : 0;
  const kernels::FusedActivation act = kernels::fused_activation(n);
  p.lo = act.lo;
  p.hi = act.hi;
  p.qmin = q::qmin_of(c_dt);
  p.qmax = q::qmax_of(c_dt);
  p.a_u8 = a_dt == DType::kU8;
  p.b_u8 = b_dt == DType::kU8;
  p.c_u8 = c_dt == DType::kU8;
  return p;
}

}  // namespace edgeopt::cuda
