// The OpenCL backend: the ICD loader (libOpenCL.so.1) opened at run time, so the binaries never link
// it and still run on a machine or phone that has none (the phone calibrator's constraint); one device,
// one context and one profiling queue per process; programs compiled once per device and source and
// cached on disk, so a second run does not pay the compiler (PoCL takes about a second per program).
//
// Where the Khronos headers were missing at build time (the aarch64 cross build) the backend is
// compiled out: available() says "built without OpenCL" and open() throws that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace hilsim::kernels::opencl {

bool built_with_opencl();

struct DeviceInfo {
  std::string platform;        // e.g. "Portable Computing Language"
  std::string name;            // e.g. "pthread-skylake-avx512-..."
  std::string version;         // CL_DEVICE_VERSION
  std::string driver;          // CL_DRIVER_VERSION
  int compute_units = 0;
  bool host_unified_memory = false;  // map/unmap is a real zero-copy path
  bool is_cpu = false;               // CL_DEVICE_TYPE_CPU (PoCL)
};

// A device buffer; released with its last owner.
class ClBuffer {
 public:
  ~ClBuffer();
  ClBuffer(const ClBuffer&) = delete;
  ClBuffer& operator=(const ClBuffer&) = delete;
  size_t bytes() const { return bytes_; }
  void* handle() const { return mem_; }  // cl_mem

 private:
  friend class ClContext;
  ClBuffer(void* mem, size_t bytes) : mem_(mem), bytes_(bytes) {}
  void* mem_;
  size_t bytes_;
};
using ClBufferPtr = std::shared_ptr<ClBuffer>;

// One kernel argument: a buffer, an int or a float.
struct ClArg {
  enum Kind { kMem, kInt, kFloat } kind;
  const ClBuffer* mem = nullptr;
  int32_t i = 0;
  float f = 0;
  ClArg(const ClBuffer& b) : kind(kMem), mem(&b) {}  // NOLINT: arguments read like a call
  ClArg(const ClBufferPtr& b) : kind(kMem), mem(b.get()) {}  // NOLINT
  ClArg(int32_t v) : kind(kInt), i(v) {}  // NOLINT
  ClArg(int64_t v) : kind(kInt), i(static_cast<int32_t>(v)) {}  // NOLINT
  ClArg(float v) : kind(kFloat), f(v) {}  // NOLINT
};

class ClKernel;

class ClContext {
 public:
  // Why OpenCL cannot be used here ("" when it can): no loader library, no platform, no device, or
  // "built without OpenCL". Never throws.
  static std::string unavailable_reason();
  // The process's context on the first device of the first platform that has one (a GPU preferred to
  // a CPU device). Throws hilsim::Error naming what is missing.
  static std::shared_ptr<ClContext> get();

  ~ClContext();
  ClContext(const ClContext&) = delete;
  ClContext& operator=(const ClContext&) = delete;

  const DeviceInfo& device() const { return info_; }

  // A program built from `source` with `options`: from memory, else from the disk cache, else compiled
  // (and then written to the cache). `from_disk_cache`, `compiled` say which happened.
  void* program(const std::string& source, const std::string& options, bool* from_disk_cache = nullptr,
                bool* compiled = nullptr);
  // Drops the in-memory programs (the next program() call reads the disk cache): what a new process sees.
  void forget_programs();
  // Where compiled programs and tuning results live for this device.
  static std::string cache_dir();
  std::string device_key() const;  // a hash of platform, device and driver, for cache file names

  std::shared_ptr<ClKernel> kernel(void* program, const std::string& name);

  ClBufferPtr alloc(size_t bytes);
  // Timed transfers (profiling events): the device's own view of the copy, in ms. Blocking.
  double write(const ClBuffer& b, const void* src, size_t bytes, size_t offset = 0);
  double read(const ClBuffer& b, void* dst, size_t bytes, size_t offset = 0);
  // Map/unmap round trip for unified memory: copies through the mapped pointer, each side timed.
  double write_mapped(const ClBuffer& b, const void* src, size_t bytes);
  double read_mapped(const ClBuffer& b, void* dst, size_t bytes);

  // Runs `k` over `global` work items in work groups of `local` (empty: the driver chooses); returns
  // the kernel's time from its profiling event, in ms. Blocking.
  double launch(ClKernel& k, const std::vector<ClArg>& args, const std::vector<size_t>& global,
                const std::vector<size_t>& local = {});

  void* queue() const { return queue_; }      // cl_command_queue
  void* context() const { return context_; }  // cl_context

  struct Api;
  const Api& api() const { return *api_; }

 private:
  ClContext() = default;
  void* context_ = nullptr;
  void* device_ = nullptr;
  void* queue_ = nullptr;
  DeviceInfo info_;
  const Api* api_ = nullptr;
  std::mutex mu_;  // one queue; kernels' arguments are set and enqueued under it
  std::vector<std::pair<uint64_t, void*>> programs_;
};

class ClKernel {
 public:
  ~ClKernel();
  ClKernel(const ClKernel&) = delete;
  ClKernel& operator=(const ClKernel&) = delete;
  const std::string& name() const { return name_; }
  void* handle() const { return kernel_; }

 private:
  friend class ClContext;
  ClKernel(const ClContext::Api* api, void* k, std::string name) : api_(api), kernel_(k), name_(std::move(name)) {}
  const ClContext::Api* api_;
  void* kernel_;
  std::string name_;
};


}  // namespace hilsim::kernels::opencl
