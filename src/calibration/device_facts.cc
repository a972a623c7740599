#include "hilsim/calibration/device_facts.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "hilsim/build_id.h"
#include "hilsim/kernels/thread_pool.h"
#include "hilsim/version.h"

namespace hilsim::calibration {

namespace fs = std::filesystem;

namespace {

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  if (in) std::getline(in, s);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string trim(std::string s) {
  size_t a = s.find_first_not_of(" \t");
  size_t b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

int64_t parse_cache_size(const std::string& text) {
  if (text.empty()) return -1;
  size_t i = 0;
  int64_t v = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) v = v * 10 + (text[i++] - '0');
  if (i == 0) return -1;
  char unit = i < text.size() ? static_cast<char>(std::toupper(static_cast<unsigned char>(text[i]))) : 'B';
  switch (unit) {
    case 'K': return v * 1024;
    case 'M': return v * 1024 * 1024;
    case 'G': return v * 1024 * 1024 * 1024;
    default: return v;
  }
}

std::vector<model::CacheLevel> caches_from_sizes(const CacheSizes& s) {
  std::vector<model::CacheLevel> out;
  // Without sysfs nothing says which caches are shared; on the CPUs this runs on L1 and L2 are per
  // core and the last level is shared by the cores of a complex.
  auto add = [&](int level, const char* type, int64_t bytes, bool shared) {
    if (bytes > 0) out.push_back({level, type, bytes, shared});
  };
  add(1, "data", s.l1d, false);
  add(2, "unified", s.l2, false);
  add(3, "unified", s.l3, true);
  return out;
}

CacheSizes libc_cache_sizes() {
  CacheSizes s;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  s.l1d = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  s.l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  s.l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
  return s;
}

int64_t host_llc_bytes() {
  static const int64_t llc = model::last_level_cache_bytes(detect_device().caches);
  return llc;
}

std::string build_kernels_digest() { return HILSIM_KERNELS_FINGERPRINT; }

model::DeviceInfo detect_device(const std::string& root) {
  model::DeviceInfo d;
  // Provenance: the build that measures (a profile from other kernels is not comparable).
  d.hilsim_version = HILSIM_VERSION;
  d.git_sha = HILSIM_GIT_SHA;
  d.kernels = build_kernels_digest();
  fs::path r(root);

  // CPU model and ISA flags: x86 says "model name"/"flags", arm64 says "CPU part"/"Features".
  std::ifstream cpuinfo(r / "proc/cpuinfo");
  std::set<std::string> flags;
  int processors = 0;
  for (std::string line; std::getline(cpuinfo, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = trim(line.substr(0, colon)), val = trim(line.substr(colon + 1));
    if (key == "processor") ++processors;
    if ((key == "model name" || key == "Hardware") && d.cpu_model.empty()) d.cpu_model = val;
    if (key == "flags" || key == "Features") {
      std::istringstream ss(val);
      for (std::string f; ss >> f;) flags.insert(f);
    }
  }
  if (d.cpu_model.empty()) d.cpu_model = "unknown";
  for (const char* f : {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                        "amx_tile", "asimd", "asimdhp", "asimddp", "sve", "sve2", "neon"})
    if (flags.count(f)) d.isa.push_back(f);
  d.cores = processors > 0 ? processors : (root == "/" ? kernels::ThreadPool::hardware_threads() : 1);

  // Caches of cpu0: one entry per level/type (the instruction cache does not hold activations).
  fs::path cache_dir = r / "sys/devices/system/cpu/cpu0/cache";
  std::error_code ec;
  if (fs::is_directory(cache_dir, ec)) {
    std::vector<fs::path> idx;
    for (const auto& e : fs::directory_iterator(cache_dir, ec))
      if (e.path().filename().string().rfind("index", 0) == 0) idx.push_back(e.path());
    std::sort(idx.begin(), idx.end());
    for (const auto& p : idx) {
      std::string type = read_line(p / "type");
      if (type == "Instruction") continue;
      model::CacheLevel c;
      c.level = std::atoi(read_line(p / "level").c_str());
      c.type = type == "Data" ? "data" : "unified";
      c.bytes = parse_cache_size(read_line(p / "size"));
      std::string shared = read_line(p / "shared_cpu_list");
      c.shared = shared.find_first_of("-,") != std::string::npos;
      if (c.level > 0 && c.bytes > 0) d.caches.push_back(c);
    }
  }

  // Some VMs expose no cache directory in sysfs (this project's CI machines among them); the C library
  // still knows the sizes from cpuid, and an empty list would leave the cost model guessing.
  if (d.caches.empty() && root == "/") d.caches = caches_from_sizes(libc_cache_sizes());

  std::string gov = read_line(r / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  d.governor = gov.empty() ? "unknown" : gov;

  if (root == "/") {
    struct utsname u {};
    if (uname(&u) == 0) d.os = std::string(u.sysname) + " " + u.release + " " + u.machine;
  }
  if (d.os.empty()) {
    std::string rel = read_line(r / "proc/sys/kernel/osrelease");
    d.os = rel.empty() ? "unknown" : "Linux " + rel;
  }
  d.name = "unnamed";
  return d;
}

}  // namespace hilsim::calibration
