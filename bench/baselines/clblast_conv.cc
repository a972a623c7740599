#include "baselines/clblast_conv.h"

#include "hilsim/util/error.h"

#if defined(__has_include)
#if __has_include(<clblast_c.h>) && __has_include(<CL/cl.h>) && __has_include(<dlfcn.h>)
#define HILSIM_HAVE_CLBLAST_HEADERS 1
#endif
#endif

#ifdef HILSIM_HAVE_CLBLAST_HEADERS
#define CL_TARGET_OPENCL_VERSION 120
#include <clblast_c.h>
#include <dlfcn.h>
#endif

namespace hilsim::bench {

#ifndef HILSIM_HAVE_CLBLAST_HEADERS

std::string clblast_unavailable_reason() { return "built without the CLBlast headers (libclblast-dev)"; }
ClblastConv::ClblastConv(const kernels::ConvShape& s, const float*) : s_(s) {
  throw Error("CLBlast", clblast_unavailable_reason());
}
void ClblastConv::run(const kernels::opencl::ClBuffer&, const kernels::opencl::ClBuffer&) {}

#else

namespace {

struct Api {
  decltype(&::CLBlastSgemm) sgemm = nullptr;
  decltype(&::CLBlastSim2col) im2col = nullptr;
  std::string error;
  Api() {
    void* lib = nullptr;
    for (const char* n : {"libclblast.so.1", "libclblast.so"})
      if ((lib = ::dlopen(n, RTLD_NOW | RTLD_LOCAL))) break;
    if (!lib) {
      error = "no libclblast.so.1 on this machine (Debian: libclblast1)";
      return;
    }
    sgemm = reinterpret_cast<decltype(sgemm)>(::dlsym(lib, "CLBlastSgemm"));
    im2col = reinterpret_cast<decltype(im2col)>(::dlsym(lib, "CLBlastSim2col"));
    if (!sgemm || !im2col) error = "libclblast lacks CLBlastSgemm or CLBlastSim2col";
  }
  static const Api& get() {
    static const Api a;
    return a;
  }
};

void check(CLBlastStatusCode rc, const char* what) {
  if (rc != CLBlastSuccess) throw Error("CLBlast", std::string(what) + " failed with status " + std::to_string(rc));
}

}  // namespace

std::string clblast_unavailable_reason() {
  if (std::string why = kernels::opencl::ClContext::unavailable_reason(); !why.empty()) return why;
  return Api::get().error;
}

ClblastConv::ClblastConv(const kernels::ConvShape& s, const float* w) : s_(s) {
  if (std::string why = clblast_unavailable_reason(); !why.empty()) throw Error("CLBlast", why);
  if (s.groups != 1 || s.n != 1 || s.pad_top != s.pad_bottom || s.pad_left != s.pad_right)
    throw Error("CLBlast conv " + s.str(), "needs groups 1, batch 1 and symmetric padding");
  ctx_ = kernels::opencl::ClContext::get();
  w_ = ctx_->alloc(static_cast<size_t>(s.weight_count()) * 4);
  ctx_->write(*w_, w, static_cast<size_t>(s.weight_count()) * 4);
  col_ = ctx_->alloc(static_cast<size_t>(s.c * s.kh * s.kw * s.out_h() * s.out_w()) * 4);
}

void ClblastConv::run(const kernels::opencl::ClBuffer& in, const kernels::opencl::ClBuffer& out) {
  const Api& a = Api::get();
  auto q = static_cast<cl_command_queue>(ctx_->queue());
  const size_t K = static_cast<size_t>(s_.c * s_.kh * s_.kw), P = static_cast<size_t>(s_.out_h() * s_.out_w());
  const size_t F = static_cast<size_t>(s_.f);
  check(a.im2col(CLBlastKernelModeCrossCorrelation, static_cast<size_t>(s_.c), static_cast<size_t>(s_.h),
                 static_cast<size_t>(s_.w), static_cast<size_t>(s_.kh), static_cast<size_t>(s_.kw),
                 static_cast<size_t>(s_.pad_top), static_cast<size_t>(s_.pad_left), static_cast<size_t>(s_.stride_h),
                 static_cast<size_t>(s_.stride_w), static_cast<size_t>(s_.dil_h), static_cast<size_t>(s_.dil_w),
                 static_cast<cl_mem>(in.handle()), 0, static_cast<cl_mem>(col_->handle()), 0, &q, nullptr),
        "im2col");
  // out[F, P] = W[F, K] x col, col stored [K, P] (Caffe's order) or [P, K].
  check(a.sgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, cols_transposed_ ? CLBlastTransposeYes : CLBlastTransposeNo,
                F, P, K, 1.0f, static_cast<cl_mem>(w_->handle()), 0, K, static_cast<cl_mem>(col_->handle()), 0,
                cols_transposed_ ? K : P, 0.0f, static_cast<cl_mem>(out.handle()), 0, P, &q, nullptr),
        "sgemm");
  // The queue is in order: a blocking read of one value waits for both, as a caller would.
  std::vector<float> one(1);
  ctx_->read(out, one.data(), 4);
}

#endif

}  // namespace hilsim::bench
