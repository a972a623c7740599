#include "hilsim/costmodel/simulator.h"

#include <gtest/gtest.h>

#include "hilsim/util/error.h"

using namespace hilsim::costmodel;

namespace {
std::vector<hilsim::model::UnitSpec> two_units() {
  hilsim::model::UnitSpec a{"gpu", "gpu", 1, 100, 10, {}};
  hilsim::model::UnitSpec b{"cpu", "cpu", 1, 10, 10, {}};
  return {a, b};
}
}  // namespace

TEST(Simulator, ChainOnOneUnitIsTheSum) {
  std::vector<SimTask> t = {{"a", "gpu", {{"gpu", 1.0}}, {}, {}},
                            {"b", "gpu", {{"gpu", 2.0}}, {0}, {1000}},
                            {"c", "gpu", {{"gpu", 3.0}}, {1}, {1000}}};
  auto r = simulate(t, two_units(), {10, 1});
  EXPECT_DOUBLE_EQ(r.makespan_ms, 6.0);
  EXPECT_EQ(r.transfers, 0);
  EXPECT_DOUBLE_EQ(r.busy_ms["gpu"], 6.0);
}

TEST(Simulator, ParallelBranchesOverlapAndPayForCrossing) {
  // a -> {b on gpu, c on cpu} -> d on gpu. c's output crosses back: 1 MB at 1 GB/s + 10 us.
  hilsim::model::TransferSpec x{10, 1};
  std::vector<SimTask> t = {{"a", "gpu", {{"gpu", 1.0}}, {}, {}},
                            {"b", "gpu", {{"gpu", 4.0}}, {0}, {0}},
                            {"c", "cpu", {{"cpu", 3.0}}, {0}, {0}},
                            {"d", "gpu", {{"gpu", 1.0}}, {1, 2}, {0, 1000000}}};
  auto r = simulate(t, two_units(), x);
  double xfer0 = transfer_ms(x, 0), xfer1 = transfer_ms(x, 1000000);
  EXPECT_NEAR(xfer1, 0.01 + 1.0, 1e-12);
  // c starts after a's output reaches the cpu; d waits for b (gpu) and c's output back on the gpu.
  EXPECT_DOUBLE_EQ(r.start_ms[2], 1.0 + xfer0);
  EXPECT_DOUBLE_EQ(r.start_ms[3], std::max(5.0, 1.0 + xfer0 + 3.0 + xfer1));
  EXPECT_EQ(r.transfers, 2);
  EXPECT_EQ(r.transfer_bytes, 1000000);
  EXPECT_LT(r.makespan_ms, 1 + 4 + 3 + 1);  // better than running all on the gpu one after another
}

TEST(Simulator, UnassignedTasksPickTheEarliestFinish) {
  std::vector<SimTask> t = {{"a", "", {{"gpu", 1.0}, {"cpu", 5.0}}, {}, {}},
                            {"b", "", {{"gpu", 1.0}, {"cpu", 5.0}}, {0}, {0}}};
  auto r = simulate(t, two_units(), {0, 1});
  EXPECT_EQ(r.unit[0], "gpu");
  EXPECT_EQ(r.unit[1], "gpu");
  EXPECT_DOUBLE_EQ(r.makespan_ms, 2.0);
}

TEST(Simulator, UnitsBusyAtTheSameTimeSlowEachOtherByTheCorunShare) {
  // Two independent 10 ms tasks on two units: the one scheduled second overlaps the first for its whole
  // run and takes 10% of that longer; a third task after the first on its unit runs alone (the other
  // unit is idle by then) and keeps its time. Without a co-run share nothing changes.
  std::vector<SimTask> t = {{"a", "gpu", {{"gpu", 10.0}}, {}, {}},
                            {"b", "cpu", {{"cpu", 10.0}}, {}, {}},
                            {"c", "gpu", {{"gpu", 5.0}}, {0}, {0}}};
  const auto solo = simulate(t, two_units(), {0, 1}, false);
  EXPECT_DOUBLE_EQ(solo.makespan_ms, 15.0);
  const auto r = simulate(t, two_units(), {0, 1}, false, 0.1);
  const size_t second = r.start_ms[0] == 0 && r.end_ms[0] == 10.0 ? 1 : 0;
  EXPECT_DOUBLE_EQ(r.end_ms[second], 11.0);
  EXPECT_NEAR(r.end_ms[2] - r.start_ms[2], 5.0 + 0.1 * std::max(0.0, r.end_ms[1] - r.start_ms[2]), 1e-12);
  // From a speed reference: 2 threads at 0.75 ms where one took 1.35 ms is 0.9 per thread: 1/0.9 - 1.
  hilsim::model::SpeedReference ref;
  ref.ms = 1.35, ref.parallel_ms = 0.75, ref.parallel_threads = 2;
  EXPECT_NEAR(corun_slowdown(ref), 1.5 / 1.35 - 1, 1e-12);
  ref.parallel_threads = 0;
  EXPECT_EQ(corun_slowdown(ref), 0.0);
}

TEST(Simulator, AUnitsOwnCorunShareReplacesTheProfileWideOne) {
  // The gpu unit measured 0.5 of its own (PoCL beside a busy CPU unit); the cpu keeps the 0.1. Task b
  // on the gpu is scheduled after a on the cpu and overlaps all 10 ms of it: 10 + 0.5 x 10.
  auto units = two_units();
  units[0].corun_share = 0.5;
  std::vector<SimTask> t = {{"a", "cpu", {{"cpu", 10.0}}, {}, {}}, {"b", "gpu", {{"gpu", 10.0}}, {}, {}}};
  auto r = simulate(t, units, {0, 1}, false, 0.1);
  const size_t gpu = r.unit[0] == "gpu" ? 0 : 1, cpu = 1 - gpu;
  if (r.start_ms[gpu] == 0 && r.start_ms[cpu] == 0 && r.end_ms[cpu] == 10.0) {
    EXPECT_DOUBLE_EQ(r.end_ms[gpu], 15.0);  // the gpu task was placed second
  } else {
    EXPECT_DOUBLE_EQ(r.end_ms[cpu], 11.0);  // the cpu task was placed second, at the profile's share
  }
  // A measured 0 switches the slowdown off for that unit alone; the other keeps the profile's share.
  units[0].corun_share = 0.0;
  r = simulate(t, units, {0, 1}, false, 0.1);
  EXPECT_LE(r.makespan_ms, 11.0 + 1e-12);
  EXPECT_GE(r.makespan_ms, 10.0);
}

TEST(Simulator, UnknownUnitAndMissingTimeAreErrors) {
  std::vector<SimTask> t = {{"a", "npu", {{"npu", 1.0}}, {}, {}}};
  EXPECT_THROW(simulate(t, two_units(), {0, 1}), hilsim::Error);
  std::vector<SimTask> u = {{"a", "cpu", {{"gpu", 1.0}}, {}, {}}};
  EXPECT_THROW(simulate(u, two_units(), {0, 1}), hilsim::Error);
}

TEST(Trace, JsonHasOneTrackPerUnit) {
  std::vector<hilsim::TraceEvent> ev = {{"conv \"1\"", "kernel", "cpu0", 0, 10, {}},
                                        {"conv2", "kernel", "cpu1", 5, 10, {{"k", "v"}}}};
  std::string j = hilsim::trace_json(ev, "predicted");
  EXPECT_NE(j.find("\"thread_name\",\"args\":{\"name\":\"cpu0\"}"), std::string::npos);
  EXPECT_NE(j.find("\"thread_name\",\"args\":{\"name\":\"cpu1\"}"), std::string::npos);
  EXPECT_NE(j.find("conv \\\"1\\\""), std::string::npos);  // escaped
}

TEST(Simulator, GpuCrossingPaysSyncOnceEachWayEvenWithoutBytes) {
  // A synthetic profile's gpu unit: 5 us per copy, 1 GB/s, 40 us to learn of the tensor per crossing.
  auto units = two_units();
  units[0].host_transfer = {5, 1, 40, "measured", ""};
  const hilsim::model::TransferSpec cores{10, 1};
  std::vector<SimTask> t = {{"a", "cpu", {{"cpu", 1.0}}, {}, {}},
                            {"b", "gpu", {{"gpu", 2.0}}, {0}, {1000000}},
                            {"c", "cpu", {{"cpu", 1.0}}, {1}, {0}}};
  auto r = simulate(t, units, cores);
  const double in_ms = 0.040 + 0.005 + 1.0, out_ms = 0.040 + 0.005;
  EXPECT_DOUBLE_EQ(crossing_ms(units[0].host_transfer, 1000000), in_ms);
  EXPECT_DOUBLE_EQ(r.start_ms[1], 1.0 + in_ms);
  EXPECT_DOUBLE_EQ(r.start_ms[2], 1.0 + in_ms + 2.0 + out_ms);
  EXPECT_EQ(r.transfers, 2);
  EXPECT_NEAR(r.transfer_ms, in_ms + out_ms, 1e-12);
  // Between CPU cores only the profile's core-to-core figure applies, with its own sync term.
  std::vector<SimTask> u = {{"a", "cpu", {{"cpu", 1.0}}, {}, {}}, {"b", "gpu", {{"gpu", 1.0}}, {0}, {0}}};
  units[0].host_transfer = {};
  auto plain = simulate(u, units, {10, 1, 3});
  EXPECT_DOUBLE_EQ(plain.start_ms[1], 1.0 + 0.010 + 0.003);
}
