#include "baselines/onednn_conv.h"

#include <dlfcn.h>

#include <oneapi/dnnl/dnnl.hpp>

#include "hilsim/util/error.h"

namespace hilsim::bench {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

bool set_onednn_threads(int threads) {
  // libgomp arrives through libdnnl, not our link line; look the symbol up in the loaded process.
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (!fn) return false;
  fn(threads);
  return true;
}

namespace {
dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

void add_post_ops(dnnl::post_ops& po, const kernels::Epilogue& ep) {
  using kernels::Act;
  using dnnl::algorithm;
  switch (ep.act) {
    case Act::kNone: break;
    case Act::kRelu: po.append_eltwise(1.0f, algorithm::eltwise_relu, 0.0f, 0.0f); break;
    case Act::kClip: po.append_eltwise(1.0f, algorithm::eltwise_clip, ep.min, ep.max); break;
    case Act::kSigmoid: po.append_eltwise(1.0f, algorithm::eltwise_logistic, 0.0f, 0.0f); break;
    case Act::kSiLU: po.append_eltwise(1.0f, algorithm::eltwise_swish, 1.0f, 0.0f); break;
    case Act::kHardSwish: po.append_eltwise(1.0f, algorithm::eltwise_hardswish, 0.0f, 0.0f); break;
    case Act::kHardSigmoid:  // no fused hardsigmoid in 2.6: linear then clip
      po.append_eltwise(1.0f, algorithm::eltwise_linear, ep.alpha, ep.beta);
      po.append_eltwise(1.0f, algorithm::eltwise_clip, 0.0f, 1.0f);
      break;
  }
}
}  // namespace

struct OnednnConv::Impl {
  dnnl::stream strm{engine()};
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  memory src, wei, bias, dst;
  memory::desc user_src_md, user_dst_md;
  bool has_bias = false;
};

OnednnConv::OnednnConv(const kernels::ConvShape& s, const float* w, const float* bias, const kernels::Epilogue& ep)
    : impl_(std::make_unique<Impl>()) {
  s.validate();
  auto& eng = engine();
  const memory::dims src_d = {s.n, s.c, s.h, s.w}, dst_d = {s.n, s.f, s.out_h(), s.out_w()};
  const memory::dims wei_d = s.groups == 1 ? memory::dims{s.f, s.c, s.kh, s.kw}
                                           : memory::dims{s.groups, s.f / s.groups, s.c / s.groups, s.kh, s.kw};
  const memory::dims bias_d = {s.f};
  auto any = [](const memory::dims& d) { return memory::desc(d, dt::f32, tag::any); };
  impl_->has_bias = bias != nullptr;
  auto desc = impl_->has_bias
                  ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_auto,
                                                    any(src_d), any(wei_d), memory::desc(bias_d, dt::f32, tag::x),
                                                    any(dst_d), {s.stride_h, s.stride_w}, {s.dil_h - 1, s.dil_w - 1},
                                                    {s.pad_top, s.pad_left}, {s.pad_bottom, s.pad_right})
                  : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_auto,
                                                    any(src_d), any(wei_d), any(dst_d), {s.stride_h, s.stride_w},
                                                    {s.dil_h - 1, s.dil_w - 1}, {s.pad_top, s.pad_left},
                                                    {s.pad_bottom, s.pad_right});
  dnnl::post_ops po;
  add_post_ops(po, ep);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  impl_->pd = dnnl::convolution_forward::primitive_desc(desc, attr, eng);
  impl_->conv = dnnl::convolution_forward(impl_->pd);
  impl_->user_src_md = memory::desc(src_d, dt::f32, tag::nchw);
  impl_->user_dst_md = memory::desc(dst_d, dt::f32, tag::nchw);
  impl_->src = memory(impl_->pd.src_desc(), eng);
  impl_->dst = memory(impl_->pd.dst_desc(), eng);
  impl_->wei = memory(impl_->pd.weights_desc(), eng);
  memory user_w(memory::desc(wei_d, dt::f32, s.groups == 1 ? tag::oihw : tag::goihw), eng, const_cast<float*>(w));
  dnnl::reorder(user_w, impl_->wei).execute(impl_->strm, user_w, impl_->wei);
  if (bias) {
    impl_->bias = memory(impl_->pd.bias_desc(), eng);
    memory user_b(memory::desc(bias_d, dt::f32, tag::x), eng, const_cast<float*>(bias));
    dnnl::reorder(user_b, impl_->bias).execute(impl_->strm, user_b, impl_->bias);
  }
  impl_->strm.wait();
}

OnednnConv::~OnednnConv() = default;

void OnednnConv::set_input_nchw(const float* in) {
  memory user(impl_->user_src_md, engine(), const_cast<float*>(in));
  dnnl::reorder(user, impl_->src).execute(impl_->strm, user, impl_->src);
  impl_->strm.wait();
}

void OnednnConv::run() {
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, impl_->src}, {DNNL_ARG_WEIGHTS, impl_->wei},
                                          {DNNL_ARG_DST, impl_->dst}};
  if (impl_->has_bias) args[DNNL_ARG_BIAS] = impl_->bias;
  impl_->conv.execute(impl_->strm, args);
  impl_->strm.wait();
}

std::vector<float> OnednnConv::output_nchw() const {
  const size_t n = impl_->user_dst_md.get_size() / sizeof(float);
  std::vector<float> out(n);
  memory user(impl_->user_dst_md, engine(), out.data());
  dnnl::reorder(impl_->dst, user).execute(impl_->strm, impl_->dst, user);
  impl_->strm.wait();
  return out;
}

std::string OnednnConv::impl_name() const { return impl_->pd.impl_info_str(); }

struct OnednnMatmul::Impl {
  dnnl::stream strm{engine()};
  dnnl::matmul mm;
  memory a, b, c;
};

OnednnMatmul::OnednnMatmul(int64_t m, int64_t n, int64_t k) : impl_(std::make_unique<Impl>()), m_(m), n_(n), k_(k) {
  auto& eng = engine();
  memory::desc a_md({m, k}, dt::f32, tag::ab), b_md({k, n}, dt::f32, tag::ab), c_md({m, n}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), eng);
  impl_->mm = dnnl::matmul(pd);
  impl_->a = memory(a_md, eng);
  impl_->b = memory(b_md, eng);
  impl_->c = memory(c_md, eng);
  // Finite inputs: denormals or NaNs could slow the FMAs down.
  for (auto* mem : {&impl_->a, &impl_->b}) {
    auto* p = static_cast<float*>(mem->get_data_handle());
    const size_t cnt = mem->get_desc().get_size() / sizeof(float);
    for (size_t i = 0; i < cnt; ++i) p[i] = static_cast<float>((i * 7919) % 13) * 0.01f;
  }
}

OnednnMatmul::~OnednnMatmul() = default;

void OnednnMatmul::run() {
  impl_->mm.execute(impl_->strm, {{DNNL_ARG_SRC, impl_->a}, {DNNL_ARG_WEIGHTS, impl_->b}, {DNNL_ARG_DST, impl_->c}});
  impl_->strm.wait();
}

}  // namespace hilsim::bench
