#include "hilsim/kernels/opencl/cl_runtime.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "hilsim/util/error.h"
#include "hilsim/util/hash.h"

// HILSIM_NO_OPENCL (cmake -DHILSIM_OPENCL=OFF) compiles the backend out as missing headers would.
#if defined(__has_include) && !defined(HILSIM_NO_OPENCL)
#if __has_include(<CL/cl.h>) && __has_include(<dlfcn.h>)
#define HILSIM_HAVE_OPENCL 1
#endif
#endif

#ifdef HILSIM_HAVE_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#endif

namespace hilsim::kernels::opencl {


namespace {

std::string hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

[[maybe_unused]] void make_dirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

}  // namespace

std::string ClContext::cache_dir() {
  const std::string root = cache_root();
  return root.empty() ? "/tmp/hilsim-cache/opencl" : root + "/opencl";
}

std::string ClContext::device_key() const {
  return hex(fnv1a(info_.platform + "\n" + info_.name + "\n" + info_.version + "\n" + info_.driver));
}

#ifndef HILSIM_HAVE_OPENCL

bool built_with_opencl() { return false; }
struct ClContext::Api {};
ClBuffer::~ClBuffer() = default;
ClKernel::~ClKernel() = default;
ClContext::~ClContext() = default;
std::string ClContext::unavailable_reason() { return "built without OpenCL (no CL/cl.h at build time)"; }
std::shared_ptr<ClContext> ClContext::get() { throw Error("OpenCL", unavailable_reason()); }
void* ClContext::program(const std::string&, const std::string&, bool*, bool*) { throw Error("OpenCL", unavailable_reason()); }
void ClContext::forget_programs() {}
std::shared_ptr<ClKernel> ClContext::kernel(void*, const std::string&) { throw Error("OpenCL", unavailable_reason()); }
ClBufferPtr ClContext::alloc(size_t) { throw Error("OpenCL", unavailable_reason()); }
double ClContext::write(const ClBuffer&, const void*, size_t, size_t) { throw Error("OpenCL", unavailable_reason()); }
double ClContext::read(const ClBuffer&, void*, size_t, size_t) { throw Error("OpenCL", unavailable_reason()); }
double ClContext::write_mapped(const ClBuffer&, const void*, size_t) { throw Error("OpenCL", unavailable_reason()); }
double ClContext::read_mapped(const ClBuffer&, void*, size_t) { throw Error("OpenCL", unavailable_reason()); }
double ClContext::launch(ClKernel&, const std::vector<ClArg>&, const std::vector<size_t>&, const std::vector<size_t>&) {
  throw Error("OpenCL", unavailable_reason());
}

#else

bool built_with_opencl() { return true; }

// The entry points hilsim uses, resolved from the ICD loader at run time.
struct ClContext::Api {
  void* lib = nullptr;
#define HILSIM_CL_FN(name) decltype(&::name) name = nullptr;
#define HILSIM_CL_FNS(X)                                                                                        \
  X(clGetPlatformIDs) X(clGetPlatformInfo) X(clGetDeviceIDs) X(clGetDeviceInfo) X(clCreateContext)              \
  X(clCreateCommandQueue) X(clCreateProgramWithSource) X(clCreateProgramWithBinary) X(clBuildProgram)           \
  X(clGetProgramBuildInfo) X(clGetProgramInfo) X(clCreateKernel) X(clSetKernelArg) X(clEnqueueNDRangeKernel)   \
  X(clCreateBuffer) X(clEnqueueWriteBuffer) X(clEnqueueReadBuffer) X(clEnqueueMapBuffer)                        \
  X(clEnqueueUnmapMemObject) X(clFinish) X(clWaitForEvents) X(clGetEventProfilingInfo) X(clReleaseEvent)       \
  X(clReleaseMemObject) X(clReleaseKernel) X(clReleaseProgram) X(clReleaseCommandQueue) X(clReleaseContext)
  HILSIM_CL_FNS(HILSIM_CL_FN)
#undef HILSIM_CL_FN
  std::string error;  // why loading failed

  Api() {
    for (const char* n : {"libOpenCL.so.1", "libOpenCL.so"}) {
      lib = ::dlopen(n, RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
    }
    if (!lib) {
      error = "no OpenCL loader (libOpenCL.so.1) on this machine";
      return;
    }
#define HILSIM_CL_FN(name)                                                  \
  name = reinterpret_cast<decltype(&::name)>(::dlsym(lib, #name));          \
  if (!name && error.empty()) error = "the OpenCL loader lacks " #name;
    HILSIM_CL_FNS(HILSIM_CL_FN)
#undef HILSIM_CL_FN
  }
  // The loader stays open for the process: drivers keep threads that outlive any one context.
  static const Api& instance() {
    static const Api api;
    return api;
  }
};

namespace {

void check(cl_int rc, const char* what) {
  if (rc != CL_SUCCESS) throw Error("OpenCL", std::string(what) + " failed with error " + std::to_string(rc));
}

std::string device_string(const ClContext::Api& a, cl_device_id d, cl_device_info what) {
  size_t n = 0;
  if (a.clGetDeviceInfo(d, what, 0, nullptr, &n) != CL_SUCCESS || n == 0) return "";
  std::string s(n, '\0');
  a.clGetDeviceInfo(d, what, n, s.data(), nullptr);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

double event_ms(const ClContext::Api& a, cl_event e) {
  cl_ulong t0 = 0, t1 = 0;
  a.clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof t0, &t0, nullptr);
  a.clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof t1, &t1, nullptr);
  a.clReleaseEvent(e);
  return t1 > t0 ? static_cast<double>(t1 - t0) * 1e-6 : 0.0;
}

struct Found {
  cl_platform_id platform = nullptr;
  cl_device_id device = nullptr;
  std::string why;
};

Found find_device(const ClContext::Api& a) {
  Found f;
  if (!a.error.empty()) {
    f.why = a.error;
    return f;
  }
  cl_uint np = 0;
  if (a.clGetPlatformIDs(0, nullptr, &np) != CL_SUCCESS || np == 0) {
    f.why = "no OpenCL platform (the loader found no installed driver, e.g. pocl-opencl-icd)";
    return f;
  }
  std::vector<cl_platform_id> ps(np);
  a.clGetPlatformIDs(np, ps.data(), nullptr);
  // A GPU when there is one (a phone's Adreno or Mali), else any device (PoCL on the CPU cores).
  for (cl_device_type want : {static_cast<cl_device_type>(CL_DEVICE_TYPE_GPU), static_cast<cl_device_type>(CL_DEVICE_TYPE_ALL)})
    for (cl_platform_id p : ps) {
      cl_uint nd = 0;
      if (a.clGetDeviceIDs(p, want, 0, nullptr, &nd) != CL_SUCCESS || nd == 0) continue;
      std::vector<cl_device_id> ds(nd);
      a.clGetDeviceIDs(p, want, nd, ds.data(), nullptr);
      f.platform = p;
      f.device = ds[0];
      return f;
    }
  f.why = "no OpenCL device on any of the " + std::to_string(np) + " platform(s)";
  return f;
}

}  // namespace

std::string ClContext::unavailable_reason() {
  try {
    return find_device(Api::instance()).why;
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::shared_ptr<ClContext> ClContext::get() {
  static std::mutex m;
  static std::shared_ptr<ClContext> ctx;
  std::lock_guard<std::mutex> lk(m);
  if (ctx) return ctx;
  const Api& a = Api::instance();
  Found f = find_device(a);
  if (!f.device) throw Error("OpenCL device", f.why);
  std::shared_ptr<ClContext> c(new ClContext());
  c->api_ = &a;
  c->device_ = f.device;
  cl_int rc = CL_SUCCESS;
  c->context_ = a.clCreateContext(nullptr, 1, &f.device, nullptr, nullptr, &rc);
  check(rc, "clCreateContext");
  c->queue_ = a.clCreateCommandQueue(static_cast<cl_context>(c->context_), f.device, CL_QUEUE_PROFILING_ENABLE, &rc);
  check(rc, "clCreateCommandQueue");
  size_t n = 0;
  if (a.clGetPlatformInfo(f.platform, CL_PLATFORM_NAME, 0, nullptr, &n) == CL_SUCCESS && n) {
    c->info_.platform.assign(n, '\0');
    a.clGetPlatformInfo(f.platform, CL_PLATFORM_NAME, n, c->info_.platform.data(), nullptr);
    while (!c->info_.platform.empty() && c->info_.platform.back() == '\0') c->info_.platform.pop_back();
  }
  c->info_.name = device_string(a, f.device, CL_DEVICE_NAME);
  c->info_.version = device_string(a, f.device, CL_DEVICE_VERSION);
  c->info_.driver = device_string(a, f.device, CL_DRIVER_VERSION);
  cl_uint cu = 0;
  a.clGetDeviceInfo(f.device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, nullptr);
  c->info_.compute_units = static_cast<int>(cu);
  cl_bool unified = CL_FALSE;
  a.clGetDeviceInfo(f.device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, nullptr);
  c->info_.host_unified_memory = unified == CL_TRUE;
  cl_device_type type = 0;
  a.clGetDeviceInfo(f.device, CL_DEVICE_TYPE, sizeof type, &type, nullptr);
  c->info_.is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
  ctx = c;
  return ctx;
}

ClContext::~ClContext() {
  if (!api_) return;
  for (auto& [h, p] : programs_) api_->clReleaseProgram(static_cast<cl_program>(p));
  if (queue_) api_->clReleaseCommandQueue(static_cast<cl_command_queue>(queue_));
  if (context_) api_->clReleaseContext(static_cast<cl_context>(context_));
}

void* ClContext::program(const std::string& source, const std::string& options, bool* from_disk, bool* compiled) {
  std::lock_guard<std::mutex> lk(mu_);
  if (from_disk) *from_disk = false;
  if (compiled) *compiled = false;
  const uint64_t key = fnv1a(options + "\n" + source, fnv1a(device_key()));
  for (auto& [h, p] : programs_)
    if (h == key) return p;
  const Api& a = *api_;
  cl_device_id dev = static_cast<cl_device_id>(device_);
  const std::string dir = cache_dir();
  const std::string path = dir + "/" + hex(key) + ".bin";
  cl_program prog = nullptr;
  cl_int rc = CL_SUCCESS;
  // The disk cache: the device's own binary, rebuilt (a fast link on every driver) from it.
  if (std::ifstream f{path, std::ios::binary}) {
    std::string bin((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const unsigned char* ptr = reinterpret_cast<const unsigned char*>(bin.data());
    size_t len = bin.size();
    cl_int status = CL_SUCCESS;
    prog = bin.empty() ? nullptr
                       : a.clCreateProgramWithBinary(static_cast<cl_context>(context_), 1, &dev, &len, &ptr, &status, &rc);
    if (prog && (rc != CL_SUCCESS || status != CL_SUCCESS ||
                 a.clBuildProgram(prog, 1, &dev, options.c_str(), nullptr, nullptr) != CL_SUCCESS)) {
      a.clReleaseProgram(prog);
      prog = nullptr;  // a stale or foreign binary: compile from source below
    }
    if (prog && from_disk) *from_disk = true;
  }
  if (!prog) {
    const char* src = source.c_str();
    size_t len = source.size();
    prog = a.clCreateProgramWithSource(static_cast<cl_context>(context_), 1, &src, &len, &rc);
    check(rc, "clCreateProgramWithSource");
    rc = a.clBuildProgram(prog, 1, &dev, options.c_str(), nullptr, nullptr);
    if (rc != CL_SUCCESS) {
      size_t n = 0;
      a.clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, nullptr, &n);
      std::string log(n, '\0');
      a.clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, n, log.data(), nullptr);
      a.clReleaseProgram(prog);
      throw Error("OpenCL program", "build failed (error " + std::to_string(rc) + "): " + log.substr(0, 2000));
    }
    if (compiled) *compiled = true;
    size_t bin_size = 0;
    if (a.clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, nullptr) == CL_SUCCESS && bin_size) {
      std::string bin(bin_size, '\0');
      unsigned char* p = reinterpret_cast<unsigned char*>(bin.data());
      if (a.clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof p, &p, nullptr) == CL_SUCCESS) {
        // Written beside and renamed, so a concurrent reader never sees half a binary.
        make_dirs(dir);
        const std::string tmp = path + ".tmp" + std::to_string(::getpid());
        std::ofstream o(tmp, std::ios::binary);
        o.write(bin.data(), static_cast<std::streamsize>(bin.size()));
        o.close();
        if (!o || std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
      }
    }
  }
  programs_.emplace_back(key, prog);
  return prog;
}

void ClContext::forget_programs() {
  std::lock_guard<std::mutex> lk(mu_);
  // Kernels made from them hold their own references (OpenCL counts them), so this is safe.
  for (auto& [h, p] : programs_) api_->clReleaseProgram(static_cast<cl_program>(p));
  programs_.clear();
}

std::shared_ptr<ClKernel> ClContext::kernel(void* program, const std::string& name) {
  cl_int rc = CL_SUCCESS;
  cl_kernel k = api_->clCreateKernel(static_cast<cl_program>(program), name.c_str(), &rc);
  if (rc != CL_SUCCESS) throw Error("OpenCL kernel '" + name + "'", "clCreateKernel failed with error " + std::to_string(rc));
  return std::shared_ptr<ClKernel>(new ClKernel(api_, k, name));
}

ClKernel::~ClKernel() {
  if (kernel_) api_->clReleaseKernel(static_cast<cl_kernel>(kernel_));
}

ClBuffer::~ClBuffer() {
  if (mem_) ClContext::Api::instance().clReleaseMemObject(static_cast<cl_mem>(mem_));
}

ClBufferPtr ClContext::alloc(size_t bytes) {
  cl_int rc = CL_SUCCESS;
  // OpenCL refuses zero-sized buffers; a 4-byte one stands in for an empty tensor.
  cl_mem m = api_->clCreateBuffer(static_cast<cl_context>(context_), CL_MEM_READ_WRITE, bytes ? bytes : 4, nullptr, &rc);
  check(rc, ("clCreateBuffer of " + std::to_string(bytes) + " bytes").c_str());
  return ClBufferPtr(new ClBuffer(m, bytes));
}

double ClContext::write(const ClBuffer& b, const void* src, size_t bytes, size_t offset) {
  if (!bytes) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  cl_event e = nullptr;
  check(api_->clEnqueueWriteBuffer(static_cast<cl_command_queue>(queue_), static_cast<cl_mem>(b.handle()), CL_TRUE,
                                   offset, bytes, src, 0, nullptr, &e),
        "clEnqueueWriteBuffer");
  return event_ms(*api_, e);
}

double ClContext::read(const ClBuffer& b, void* dst, size_t bytes, size_t offset) {
  if (!bytes) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  cl_event e = nullptr;
  check(api_->clEnqueueReadBuffer(static_cast<cl_command_queue>(queue_), static_cast<cl_mem>(b.handle()), CL_TRUE,
                                  offset, bytes, dst, 0, nullptr, &e),
        "clEnqueueReadBuffer");
  return event_ms(*api_, e);
}

double ClContext::write_mapped(const ClBuffer& b, const void* src, size_t bytes) {
  if (!bytes) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  cl_int rc = CL_SUCCESS;
  cl_event e1 = nullptr, e2 = nullptr;
  auto q = static_cast<cl_command_queue>(queue_);
  void* p = api_->clEnqueueMapBuffer(q, static_cast<cl_mem>(b.handle()), CL_TRUE, CL_MAP_WRITE_INVALIDATE_REGION, 0,
                                     bytes, 0, nullptr, &e1, &rc);
  check(rc, "clEnqueueMapBuffer");
  std::memcpy(p, src, bytes);
  check(api_->clEnqueueUnmapMemObject(q, static_cast<cl_mem>(b.handle()), p, 0, nullptr, &e2), "clEnqueueUnmapMemObject");
  api_->clWaitForEvents(1, &e2);
  return event_ms(*api_, e1) + event_ms(*api_, e2);
}

double ClContext::read_mapped(const ClBuffer& b, void* dst, size_t bytes) {
  if (!bytes) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  cl_int rc = CL_SUCCESS;
  cl_event e1 = nullptr, e2 = nullptr;
  auto q = static_cast<cl_command_queue>(queue_);
  void* p = api_->clEnqueueMapBuffer(q, static_cast<cl_mem>(b.handle()), CL_TRUE, CL_MAP_READ, 0, bytes, 0, nullptr,
                                     &e1, &rc);
  check(rc, "clEnqueueMapBuffer");
  std::memcpy(dst, p, bytes);
  check(api_->clEnqueueUnmapMemObject(q, static_cast<cl_mem>(b.handle()), p, 0, nullptr, &e2), "clEnqueueUnmapMemObject");
  api_->clWaitForEvents(1, &e2);
  return event_ms(*api_, e1) + event_ms(*api_, e2);
}

double ClContext::launch(ClKernel& k, const std::vector<ClArg>& args, const std::vector<size_t>& global,
                         const std::vector<size_t>& local) {
  if (global.empty() || global.size() > 3) throw Error("OpenCL kernel '" + k.name() + "'", "needs 1 to 3 dimensions");
  for (size_t g : global)
    if (g == 0) return 0;  // nothing to compute (an empty tensor)
  std::lock_guard<std::mutex> lk(mu_);
  auto kk = static_cast<cl_kernel>(k.handle());
  for (size_t i = 0; i < args.size(); ++i) {
    const ClArg& a = args[i];
    cl_int rc = CL_SUCCESS;
    if (a.kind == ClArg::kMem) {
      cl_mem m = static_cast<cl_mem>(a.mem->handle());
      rc = api_->clSetKernelArg(kk, static_cast<cl_uint>(i), sizeof m, &m);
    } else if (a.kind == ClArg::kInt) {
      rc = api_->clSetKernelArg(kk, static_cast<cl_uint>(i), sizeof a.i, &a.i);
    } else {
      rc = api_->clSetKernelArg(kk, static_cast<cl_uint>(i), sizeof a.f, &a.f);
    }
    if (rc != CL_SUCCESS)
      throw Error("OpenCL kernel '" + k.name() + "'", "argument " + std::to_string(i) + " rejected (error " +
                                                         std::to_string(rc) + ")");
  }
  // Global sizes are rounded up to the work group; the kernels bound-check their indices.
  std::vector<size_t> g = global;
  if (!local.empty())
    for (size_t d = 0; d < g.size(); ++d) g[d] = (g[d] + local[d] - 1) / local[d] * local[d];
  cl_event e = nullptr;
  cl_int rc = api_->clEnqueueNDRangeKernel(static_cast<cl_command_queue>(queue_), kk, static_cast<cl_uint>(g.size()),
                                           nullptr, g.data(), local.empty() ? nullptr : local.data(), 0, nullptr, &e);
  if (rc != CL_SUCCESS)
    throw Error("OpenCL kernel '" + k.name() + "'", "clEnqueueNDRangeKernel failed with error " + std::to_string(rc));
  api_->clWaitForEvents(1, &e);
  return event_ms(*api_, e);
}

#endif  // HILSIM_HAVE_OPENCL

}  // namespace hilsim::kernels::opencl
