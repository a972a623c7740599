#include "baselines/xnnpack_conv.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <limits>
#include <string>

#include "hilsim/util/error.h"

namespace hilsim::bench {

struct XnnpackConv::Impl {
  kernels::ConvShape s;
  xnn_operator_t op = nullptr;
  pthreadpool_t tp = nullptr;
  std::vector<float> in_nhwc, out_nhwc;
};

XnnpackConv::XnnpackConv(const kernels::ConvShape& s, const float* w, const float* bias, const kernels::Epilogue& ep,
                         int threads)
    : impl_(std::make_unique<Impl>()) {
  s.validate();
  if (xnn_initialize(nullptr) != xnn_status_success) throw Error("xnnpack", "xnn_initialize failed");
  impl_->s = s;
  const int64_t cg = s.c / s.groups, fg = s.f / s.groups;
  // OIHW -> [groups][fg][kh][kw][cg] (XNNPACK's grouped OHWI).
  std::vector<float> w_ohwi(static_cast<size_t>(s.weight_count()));
  for (int64_t f = 0; f < s.f; ++f)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t y = 0; y < s.kh; ++y)
        for (int64_t x = 0; x < s.kw; ++x)
          w_ohwi[((f * s.kh + y) * s.kw + x) * cg + c] = w[((f * cg + c) * s.kh + y) * s.kw + x];
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  if (ep.act == kernels::Act::kRelu) lo = 0.0f;
  else if (ep.act == kernels::Act::kClip) lo = ep.min, hi = ep.max;
  else act_fused_ = ep.act == kernels::Act::kNone;
  xnn_status st = xnn_create_convolution2d_nhwc_f32(
      static_cast<uint32_t>(s.pad_top), static_cast<uint32_t>(s.pad_right), static_cast<uint32_t>(s.pad_bottom),
      static_cast<uint32_t>(s.pad_left), static_cast<uint32_t>(s.kh), static_cast<uint32_t>(s.kw),
      static_cast<uint32_t>(s.stride_h), static_cast<uint32_t>(s.stride_w), static_cast<uint32_t>(s.dil_h),
      static_cast<uint32_t>(s.dil_w), static_cast<uint32_t>(s.groups), static_cast<size_t>(cg), static_cast<size_t>(fg),
      static_cast<size_t>(s.c), static_cast<size_t>(s.f), w_ohwi.data(), bias, lo, hi, 0, &impl_->op);
  if (st != xnn_status_success) throw Error("xnnpack conv " + s.str(), "create failed, status " + std::to_string(st));
  if (threads > 1) impl_->tp = pthreadpool_create(static_cast<size_t>(threads));
  impl_->in_nhwc.assign(static_cast<size_t>(s.n * s.h * s.w * s.c), 0.0f);
  impl_->out_nhwc.assign(static_cast<size_t>(s.n * s.out_h() * s.out_w() * s.f), 0.0f);
  st = xnn_setup_convolution2d_nhwc_f32(impl_->op, static_cast<size_t>(s.n), static_cast<size_t>(s.h),
                                        static_cast<size_t>(s.w), impl_->in_nhwc.data(), impl_->out_nhwc.data(), impl_->tp);
  if (st != xnn_status_success) throw Error("xnnpack conv " + s.str(), "setup failed, status " + std::to_string(st));
}

XnnpackConv::~XnnpackConv() {
  if (impl_->op) xnn_delete_operator(impl_->op);
  if (impl_->tp) pthreadpool_destroy(impl_->tp);
}

void XnnpackConv::set_input_nchw(const float* in) {
  const auto& s = impl_->s;
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t p = 0; p < s.h * s.w; ++p) impl_->in_nhwc[(b * s.h * s.w + p) * s.c + c] = in[(b * s.c + c) * s.h * s.w + p];
}

void XnnpackConv::run() {
  if (xnn_run_operator(impl_->op, impl_->tp) != xnn_status_success) throw Error("xnnpack", "run failed");
}

std::vector<float> XnnpackConv::output_nchw() const {
  const auto& s = impl_->s;
  const int64_t P = s.out_h() * s.out_w();
  std::vector<float> out(static_cast<size_t>(s.n * s.f * P));
  for (int64_t b = 0; b < s.n; ++b)
    for (int64_t f = 0; f < s.f; ++f)
      for (int64_t p = 0; p < P; ++p) out[(b * s.f + f) * P + p] = impl_->out_nhwc[(b * P + p) * s.f + f];
  return out;
}

}  // namespace hilsim::bench
