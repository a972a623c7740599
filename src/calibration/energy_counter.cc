#include "hilsim/calibration/energy_counter.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>

namespace hilsim::calibration {

namespace fs = std::filesystem;

namespace {

bool read_u64(const fs::path& p, uint64_t* v) {
  std::ifstream in(p);
  long long x;
  if (!(in >> x) || x < 0) return false;
  *v = static_cast<uint64_t>(x);
  return true;
}

bool read_i64(const fs::path& p, int64_t* v) {
  std::ifstream in(p);
  long long x;
  if (!(in >> x)) return false;
  *v = x;
  return true;
}

// RAPL: package domains intel-rapl:N (not the :N:M sub-domains, which the package already contains).
class RaplCounter : public EnergyCounter {
 public:
  explicit RaplCounter(std::vector<fs::path> domains) : domains_(std::move(domains)) {}
  std::string source() const override { return "rapl"; }
  std::string description() const override {
    std::string s;
    for (const auto& d : domains_) s += (s.empty() ? "" : ", ") + (d / "energy_uj").string();
    return s;
  }
  void start() override {
    begin_.clear();
    for (const auto& d : domains_) {
      uint64_t v = 0;
      read_u64(d / "energy_uj", &v);
      begin_.push_back(v);
    }
  }
  double stop_joules() override {
    double j = 0;
    for (size_t i = 0; i < domains_.size(); ++i) {
      uint64_t now = 0, range = 0;
      read_u64(domains_[i] / "energy_uj", &now);
      if (!read_u64(domains_[i] / "max_energy_range_uj", &range)) range = 0;
      j += static_cast<double>(wrapped_delta(begin_[i], now, range)) * 1e-6;
    }
    return j;
  }

 private:
  std::vector<fs::path> domains_;
  std::vector<uint64_t> begin_;
};

// A power sensor sampled every few milliseconds by a background thread, integrated on stop.
class SampledPowerCounter : public EnergyCounter {
 public:
  SampledPowerCounter(std::string source, std::string desc, std::function<double()> watts)
      : source_(std::move(source)), desc_(std::move(desc)), watts_(std::move(watts)) {}
  ~SampledPowerCounter() override { halt(); }
  std::string source() const override { return source_; }
  std::string description() const override { return desc_; }
  void start() override {
    halt();
    samples_.clear();
    running_ = true;
    t0_ = std::chrono::steady_clock::now();
    thread_ = std::thread([this] {
      while (running_) {
        sample();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }
  double stop_joules() override {
    halt();
    sample();
    std::lock_guard<std::mutex> lk(mu_);
    return integrate_power(samples_);
  }

 private:
  void sample() {
    double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double w = watts_();
    std::lock_guard<std::mutex> lk(mu_);
    samples_.emplace_back(t, w);
  }
  void halt() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }

  std::string source_, desc_;
  std::function<double()> watts_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::pair<double, double>> samples_;
  std::chrono::steady_clock::time_point t0_;
};

std::unique_ptr<EnergyCounter> find_rapl(const fs::path& root) {
  std::error_code ec;
  fs::path dir = root / "sys/class/powercap";
  if (!fs::is_directory(dir, ec)) return nullptr;
  std::vector<fs::path> domains;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    // "intel-rapl:0" is a package; "intel-rapl:0:1" a sub-domain counted inside it.
    if (n.rfind("intel-rapl:", 0) == 0 && n.find(':', 11) == std::string::npos) {
      uint64_t v;
      if (read_u64(e.path() / "energy_uj", &v)) domains.push_back(e.path());
    }
  }
  if (domains.empty()) return nullptr;
  std::sort(domains.begin(), domains.end());
  return std::make_unique<RaplCounter>(domains);
}

// Jetson: the INA3221 rails report milliwatts in in_power*_input (iio) under the i2c driver.
std::unique_ptr<EnergyCounter> find_ina3221(const fs::path& root) {
  std::error_code ec;
  fs::path drv = root / "sys/bus/i2c/drivers/ina3221x";
  if (!fs::is_directory(drv, ec)) return nullptr;
  std::vector<fs::path> rails;
  for (const auto& dev : fs::recursive_directory_iterator(drv, fs::directory_options::skip_permission_denied, ec)) {
    std::string n = dev.path().filename().string();
    if (n.rfind("in_power", 0) == 0 && n.size() > 6 && n.substr(n.size() - 6) == "_input") rails.push_back(dev.path());
  }
  if (rails.empty()) return nullptr;
  std::sort(rails.begin(), rails.end());
  std::string desc;
  for (const auto& r : rails) desc += (desc.empty() ? "" : ", ") + r.string();
  return std::make_unique<SampledPowerCounter>("ina", desc, [rails] {
    double w = 0;
    for (const auto& r : rails) {
      int64_t mw = 0;
      if (read_i64(r, &mw)) w += static_cast<double>(mw) * 1e-3;
    }
    return w;
  });
}

// Android: battery current_now (µA) × voltage_now (µV). Discharge current may be reported negative.
std::unique_ptr<EnergyCounter> find_power_supply(const fs::path& root) {
  std::error_code ec;
  fs::path dir = root / "sys/class/power_supply";
  if (!fs::is_directory(dir, ec)) return nullptr;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    fs::path cur = e.path() / "current_now", volt = e.path() / "voltage_now";
    int64_t a, v;
    if (read_i64(cur, &a) && read_i64(volt, &v)) {
      return std::make_unique<SampledPowerCounter>("sysfs", cur.string() + " x " + volt.string(), [cur, volt] {
        int64_t ua = 0, uv = 0;
        read_i64(cur, &ua);
        read_i64(volt, &uv);
        return std::abs(static_cast<double>(ua)) * 1e-6 * static_cast<double>(uv) * 1e-6;
      });
    }
  }
  return nullptr;
}

}  // namespace

uint64_t wrapped_delta(uint64_t before, uint64_t after, uint64_t max_range) {
  if (after >= before) return after - before;
  return max_range > before ? max_range - before + after : after;
}

double integrate_power(const std::vector<std::pair<double, double>>& s) {
  double j = 0;
  for (size_t i = 1; i < s.size(); ++i) j += 0.5 * (s[i].second + s[i - 1].second) * (s[i].first - s[i - 1].first);
  return j;
}

std::unique_ptr<EnergyCounter> find_energy_counter(const std::string& root) {
  fs::path r(root);
  if (auto c = find_rapl(r)) return c;
  if (auto c = find_ina3221(r)) return c;
  if (auto c = find_power_supply(r)) return c;
  return nullptr;
}

}  // namespace hilsim::calibration
