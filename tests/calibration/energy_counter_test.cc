#include "hilsim/calibration/energy_counter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "hilsim/calibration/device_facts.h"

namespace fs = std::filesystem;
using namespace hilsim::calibration;

namespace {

struct FakeTree {
  fs::path root;
  FakeTree() {
    root = fs::temp_directory_path() / ("hilsim_fake_sysfs_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~FakeTree() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
};

}  // namespace

TEST(EnergyCounter, NoneOnAnEmptyTree) {
  FakeTree t;
  EXPECT_EQ(find_energy_counter(t.root.string()), nullptr);
}

TEST(EnergyCounter, RaplPackagesOnlyAndWraparound) {
  FakeTree t;
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "999000000\n");
  t.write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", "1000000000\n");
  t.write("sys/class/powercap/intel-rapl:0:0/energy_uj", "5\n");  // sub-domain: must be ignored
  auto c = find_energy_counter(t.root.string());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source(), "rapl");
  EXPECT_EQ(c->description().find("intel-rapl:0:0"), std::string::npos);
  c->start();
  t.write("sys/class/powercap/intel-rapl:0/energy_uj", "2000000\n");  // wrapped past the range
  EXPECT_NEAR(c->stop_joules(), 3.0, 1e-9);                          // 1 J to the wrap + 2 J after
}

TEST(EnergyCounter, AndroidBatteryIsSampledPower) {
  FakeTree t;
  t.write("sys/class/power_supply/battery/current_now", "-500000\n");  // 0.5 A discharging
  t.write("sys/class/power_supply/battery/voltage_now", "4000000\n");  // 4 V
  auto c = find_energy_counter(t.root.string());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source(), "sysfs");
  c->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  double j = c->stop_joules();
  // 2 W for >= 60 ms: at least 0.12 J (scheduling only adds time), and not wildly more.
  EXPECT_GE(j, 0.11);
  EXPECT_LT(j, 2.0);
}

TEST(EnergyCounter, JetsonIna3221RailsAreSummed) {
  FakeTree t;
  t.write("sys/bus/i2c/drivers/ina3221x/0-0040/iio:device0/in_power0_input", "1000\n");  // mW
  t.write("sys/bus/i2c/drivers/ina3221x/0-0040/iio:device0/in_power1_input", "500\n");
  auto c = find_energy_counter(t.root.string());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source(), "ina");
  EXPECT_NE(c->description().find("in_power1_input"), std::string::npos);
}

TEST(EnergyCounter, IntegrationAndWrapHelpers) {
  EXPECT_DOUBLE_EQ(integrate_power({{0, 2}, {1, 4}, {3, 4}}), 3.0 + 8.0);
  EXPECT_EQ(wrapped_delta(10, 15, 100), 5u);
  EXPECT_EQ(wrapped_delta(90, 5, 100), 15u);
}

TEST(DeviceFacts, ReadsCpuinfoAndCachesFromATree) {
  FakeTree t;
  t.write("proc/cpuinfo",
          "processor\t: 0\nmodel name\t: Fake CPU 9000\nflags\t\t: fpu avx2 fma avx512f\n\n"
          "processor\t: 1\nmodel name\t: Fake CPU 9000\nflags\t\t: fpu avx2 fma avx512f\n");
  std::string c = "sys/devices/system/cpu/cpu0/cache/";
  t.write(c + "index0/level", "1\n");
  t.write(c + "index0/type", "Data\n");
  t.write(c + "index0/size", "48K\n");
  t.write(c + "index0/shared_cpu_list", "0\n");
  t.write(c + "index1/level", "1\n");
  t.write(c + "index1/type", "Instruction\n");
  t.write(c + "index1/size", "32K\n");
  t.write(c + "index2/level", "3\n");
  t.write(c + "index2/type", "Unified\n");
  t.write(c + "index2/size", "32M\n");
  t.write(c + "index2/shared_cpu_list", "0-1\n");
  t.write("sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "performance\n");
  auto d = detect_device(t.root.string());
  EXPECT_EQ(d.cpu_model, "Fake CPU 9000");
  EXPECT_EQ(d.cores, 2);
  ASSERT_EQ(d.caches.size(), 2u);  // the instruction cache is left out
  EXPECT_EQ(d.caches[0].bytes, 48 * 1024);
  EXPECT_EQ(d.caches[1].bytes, 32LL * 1024 * 1024);
  EXPECT_TRUE(d.caches[1].shared);
  EXPECT_EQ(d.governor, "performance");
  EXPECT_NE(std::find(d.isa.begin(), d.isa.end(), "avx512f"), d.isa.end());
  // The build's kernel digest goes into every calibrated profile (16 hex digits).
  ASSERT_EQ(d.kernels.size(), 16u);
  EXPECT_EQ(d.kernels.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(DeviceFacts, CachesFromLibcSizesWhenSysfsHasNone) {
  // A VM whose sysfs lists no cache directory: the sizes the C library reads from cpuid stand in.
  auto c = caches_from_sizes({48 * 1024, 1 << 20, 32LL << 20});
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].level, 1);
  EXPECT_EQ(c[0].type, "data");
  EXPECT_EQ(c[0].bytes, 48 * 1024);
  EXPECT_FALSE(c[0].shared);
  EXPECT_EQ(c[1].level, 2);
  EXPECT_EQ(c[1].bytes, 1 << 20);
  EXPECT_EQ(c[2].level, 3);
  EXPECT_TRUE(c[2].shared);
  // Levels the library does not know (0 or -1) are left out rather than written as empty caches.
  auto partial = caches_from_sizes({32 * 1024, 0, -1});
  ASSERT_EQ(partial.size(), 1u);
  EXPECT_EQ(partial[0].level, 1);
  // A fake tree is never completed from this machine's library: its caches are what the tree says.
  FakeTree t;
  t.write("proc/cpuinfo", "processor\t: 0\nmodel name\t: Fake\n");
  EXPECT_TRUE(detect_device(t.root.string()).caches.empty());
}
