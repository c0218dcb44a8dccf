#include "kernels/ops/qlinear_conv/conv_int8.h"

#include "kernels/quant/qop_inputs.h"

namespace edgeopt::kernels::ops::qlinear_conv {

ConvInt8Inputs read_conv_int8_inputs(const Node& node, const Tensor& x, const Tensor& x_zp, const Tensor& w,
                                     const Tensor& w_zp, const Tensor* bias, const char* x_zp_name,
                                     const char* w_zp_name, const conv::ConvAttrs* attrs) {
  quant::check_8bit(x, "x");
  quant::check_8bit(w, "w");
  ConvInt8Inputs in;
  in.x = &x;
  in.w = &w;
  in.d = attrs ? conv::conv_dims(*attrs, x.shape(), w.shape(), nullptr) : conv::conv_dims(node, x.shape(), w.shape(), nullptr);
  in.x_zp = quant::scalar_zero_point(x_zp, x.dtype(), x_zp_name);
  in.w_zp = quant::read_zero_points(w_zp, w.dtype(), in.d.m, w_zp_name);
  if (bias && bias->defined()) {
    EDGEOPT_CHECK_ARG(bias->dtype() == DType::kI32, "input B is " + bias->describe() + "; it must be i32");
    EDGEOPT_CHECK_ARG(bias->shape() == Shape({in.d.m}), "input B has shape " + bias->shape().str() +
                                                            ", but it must be [M] = [" + std::to_string(in.d.m) + "]");
    in.bias = bias;
  }
  return in;
}

std::vector<int64_t> conv_int8_out_dims(const conv::ConvDims& d) {
  std::vector<int64_t> y{d.n, d.m};
  for (int64_t o : d.win.real(d.win.small)) y.push_back(o);
  return y;
}

namespace {

template <typename TX, typename TW>
void conv_acc(const ConvInt8Inputs& in, int32_t* acc) {
  const conv::ConvDims& d = in.d;
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel(), k_sz = d.win.kernel_numel();
  const TX* px = in.x->data<TX>();
  const TW* pw = in.w->data<TW>();
  const int32_t* pb = in.bias ? in.bias->data<int32_t>() : nullptr;
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t m = 0; m < d.m; ++m) {
      const int64_t g = m / mg;
      const int32_t zw = in.w_zp_of(m);
      uint32_t* a = reinterpret_cast<uint32_t*>(acc + (n * d.m + m) * out_sz);  // unsigned: defined wrapping
      for (int64_t s = 0; s < out_sz; ++s) a[s] = pb ? static_cast<uint32_t>(pb[m]) : 0u;
      for (int64_t c = 0; c < cg; ++c) {
        const TX* xb = px + (n * d.c + g * cg + c) * in_sz;
        const TW* wb = pw + (m * cg + c) * k_sz;
        conv::for_each_tap(d.win, [&](int64_t s, int64_t k, int64_t b) {
          a[s] += static_cast<uint32_t>((int32_t{xb[b]} - in.x_zp) * (int32_t{wb[k]} - zw));
        });
      }
    }
}

}  // namespace

Tensor conv_int8_acc_ref(const ConvInt8Inputs& in) {
  Tensor acc(DType::kI32, Shape(conv_int8_out_dims(in.d)));
  const bool xu = in.x->dtype() == DType::kU8, wu = in.w->dtype() == DType::kU8;
  int32_t* p = acc.data<int32_t>();
  if (xu && wu) conv_acc<uint8_t, uint8_t>(in, p);
  if (xu && !wu) conv_acc<uint8_t, int8_t>(in, p);
  if (!xu && wu) conv_acc<int8_t, uint8_t>(in, p);
  if (!xu && !wu) conv_acc<int8_t, int8_t>(in, p);
  return acc;
}

}  // namespace edgeopt::kernels::ops::qlinear_conv
