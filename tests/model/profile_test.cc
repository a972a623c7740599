#include "hilsim/model/profile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "hilsim/util/error.h"

using hilsim::model::parse_profile;
using nlohmann::json;

namespace {

json valid() {
  return json::parse(R"({
    "schema_version": 1,
    "device": {"name": "test", "cpu_model": "x", "cores": 2, "os": "Linux",
               "caches": [{"level": 1, "bytes": 32768}, {"level": 2, "bytes": 1048576}]},
    "provenance": "measured",
    "units": [{"id": "cpu0", "kind": "cpu", "threads": 1, "peak_gflops": 50, "mem_gbps": 10, "cpus": [0]}],
    "transfer": {"latency_us": 5, "gbps": 8},
    "kernels": {"dense_conv3x3": {"model": "linear", "features": ["macs", "call"], "params": [1e-9, 0.002],
                                  "samples": 40, "fit_rmspe": 3.1, "valid_range": {"macs": [1000, 1e9]}}},
    "energy": {"source": "estimate", "pj_per_flop": 10, "pj_per_byte": 100, "static_w": 5,
               "basis": "public figures for this CPU class"}
  })");
}

// Parses `j` and returns the error's text; fails the test when it parses.
std::string error_of(const json& j) {
  try {
    parse_profile(j.dump(), "p.json");
  } catch (const hilsim::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

}  // namespace

TEST(Profile, ValidRoundTrips) {
  auto p = parse_profile(valid().dump(), "p.json");
  EXPECT_EQ(p.units.size(), 1u);
  EXPECT_EQ(p.kernels.at("dense_conv3x3").params[1], 0.002);
  auto q = parse_profile(hilsim::model::dump_profile(p), "again");
  EXPECT_EQ(hilsim::model::dump_profile(p), hilsim::model::dump_profile(q));
  EXPECT_EQ(q.kernels.at("dense_conv3x3").valid_range.at("macs").second, 1e9);
}

TEST(Profile, SpeedReferenceRoundTripsAndIsChecked) {
  json j = valid();
  j["device"]["speed_reference"] = {{"workload", "w"}, {"ms", 4.5}, {"spread", 1.2}, {"drift", -0.03}};
  auto p = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(p.device.speed_reference.ms, 4.5);
  EXPECT_EQ(p.device.speed_reference.drift, -0.03);
  auto q = parse_profile(hilsim::model::dump_profile(p), "again");
  EXPECT_EQ(q.device.speed_reference.workload, "w");
  EXPECT_EQ(q.device.speed_reference.spread, 1.2);
  // Without one, none is written (spec profiles have nothing to compare with).
  auto none = parse_profile(valid().dump(), "p.json");
  EXPECT_TRUE(none.device.speed_reference.workload.empty());
  EXPECT_EQ(hilsim::model::dump_profile(none).find("speed_reference"), std::string::npos);

  json bad = j;
  bad["device"]["speed_reference"]["ms"] = -1;
  EXPECT_NE(error_of(bad).find("field 'device.speed_reference.ms'"), std::string::npos) << error_of(bad);
  bad = j;
  bad["device"]["speed_reference"].erase("drift");
  EXPECT_NE(error_of(bad).find("field 'device.speed_reference.drift'"), std::string::npos) << error_of(bad);
  bad = j;
  bad["device"]["speed_reference"]["workload"] = "";
  EXPECT_NE(error_of(bad).find("field 'device.speed_reference.workload'"), std::string::npos) << error_of(bad);
  bad = j;
  bad["device"]["speed_reference"] = 3;
  EXPECT_NE(error_of(bad).find("field 'device.speed_reference'"), std::string::npos) << error_of(bad);
}

TEST(Profile, ParallelSpeedReferenceIsOptionalRoundTripsAndIsChecked) {
  json j = valid();
  j["device"]["speed_reference"] = {{"workload", "w"}, {"ms", 4.5}, {"spread", 1.2}, {"drift", 0.0},
                                    {"parallel", {{"threads", 2}, {"ms", 2.5}}}};
  auto p = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(p.device.speed_reference.parallel_threads, 2);
  EXPECT_EQ(p.device.speed_reference.parallel_ms, 2.5);
  auto q = parse_profile(hilsim::model::dump_profile(p), "again");
  EXPECT_EQ(q.device.speed_reference.parallel_threads, 2);
  EXPECT_EQ(q.device.speed_reference.parallel_ms, 2.5);
  // Older profiles have none, and none is written back.
  j["device"]["speed_reference"].erase("parallel");
  auto old = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(old.device.speed_reference.parallel_threads, 0);
  EXPECT_EQ(hilsim::model::dump_profile(old).find("parallel"), std::string::npos);

  auto with = [&](const json& par) {
    json b = valid();
    b["device"]["speed_reference"] = {{"workload", "w"}, {"ms", 4.5}, {"spread", 1.2}, {"drift", 0.0}, {"parallel", par}};
    return error_of(b);
  };
  EXPECT_NE(with({{"threads", 1}, {"ms", 2.5}}).find("field 'device.speed_reference.parallel.threads'"), std::string::npos)
      << with({{"threads", 1}, {"ms", 2.5}});
  EXPECT_NE(with({{"threads", 2}, {"ms", -2.5}}).find("field 'device.speed_reference.parallel.ms'"), std::string::npos);
  EXPECT_NE(with({{"threads", 2}}).find("field 'device.speed_reference.parallel.ms'"), std::string::npos);
  EXPECT_NE(with(7).find("field 'device.speed_reference.parallel'"), std::string::npos) << with(7);
}

TEST(Profile, MissingFieldIsNamed) {
  json j = valid();
  j["device"].erase("cores");
  EXPECT_NE(error_of(j).find("field 'device.cores'"), std::string::npos) << error_of(j);
}

TEST(Profile, MistypedFieldIsNamed) {
  json j = valid();
  j["units"][0]["peak_gflops"] = "fast";
  EXPECT_NE(error_of(j).find("field 'units[0].peak_gflops'"), std::string::npos) << error_of(j);
}

TEST(Profile, WrongSchemaVersion) {
  json j = valid();
  j["schema_version"] = 7;
  EXPECT_NE(error_of(j).find("schema_version"), std::string::npos);
}

TEST(Profile, NegativeCoefficientRejected) {
  json j = valid();
  j["kernels"]["dense_conv3x3"]["params"][0] = -1.0;
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.params[0]"), std::string::npos) << error_of(j);
  json e = valid();
  e["energy"]["pj_per_byte"] = -3;
  EXPECT_NE(error_of(e).find("energy.pj_per_byte"), std::string::npos);
}

TEST(Profile, DriftExponentIsOptionalRoundTripsAndIsChecked) {
  EXPECT_EQ(parse_profile(valid().dump(), "p.json").kernels.at("dense_conv3x3").drift_exponent, -1);
  json j = valid();
  j["kernels"]["dense_conv3x3"]["drift_exponent"] = 0.45;
  auto p = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(p.kernels.at("dense_conv3x3").drift_exponent, 0.45);
  EXPECT_EQ(parse_profile(hilsim::model::dump_profile(p), "again").kernels.at("dense_conv3x3").drift_exponent, 0.45);
  for (double bad : {-0.5, 3.0}) {
    j["kernels"]["dense_conv3x3"]["drift_exponent"] = bad;
    EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.drift_exponent"), std::string::npos) << error_of(j);
  }
  j["kernels"]["dense_conv3x3"]["drift_exponent"] = "half";
  EXPECT_NE(error_of(j).find("drift_exponent"), std::string::npos);
}

TEST(Profile, NanCoefficientRejected) {
  // JSON has no NaN literal; nlohmann writes NaN as null, so a NaN that went through a file arrives
  // as null and must be refused as "not a number".
  json j = valid();
  j["energy"]["static_w"] = std::nan("");
  EXPECT_NE(error_of(j).find("energy.static_w"), std::string::npos) << error_of(j);
}

TEST(Profile, EstimateWithoutBasisRejected) {
  json j = valid();
  j["energy"].erase("basis");
  EXPECT_NE(error_of(j).find("energy.basis"), std::string::npos);
}

TEST(Profile, BadProvenanceAndUnitKind) {
  json j = valid();
  j["provenance"] = "guessed";
  EXPECT_NE(error_of(j).find("must be one of"), std::string::npos);
  json k = valid();
  k["units"][0]["kind"] = "npu";
  EXPECT_NE(error_of(k).find("units[0].kind"), std::string::npos);
}

TEST(Profile, ParamsCountMustMatchFeatures) {
  json j = valid();
  j["kernels"]["dense_conv3x3"]["params"] = {1.0};
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.params"), std::string::npos);
}

TEST(Profile, NotJsonAndMissingFile) {
  EXPECT_THROW(parse_profile("{not json", "p.json"), hilsim::Error);
  EXPECT_THROW(hilsim::model::load_profile("/nonexistent/dir/p.json"), hilsim::Error);
}

TEST(Profile, PhysicallyImpossibleFiguresAreRefusedNamingTheField) {
  // Each loaded before, and then answered 1.9e142 ms and "inf mJ", or ignored the bad key silently.
  json j = valid();
  j["kernels"]["dense_conv3x3"]["params"][0] = 1e300;
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.params[0]"), std::string::npos) << error_of(j);
  j = valid();
  j["kernels"]["dense_conv3x3"]["params"][1] = 1e9;  // a day per call
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.params[1]"), std::string::npos) << error_of(j);
  j = valid();
  j["units"][0]["threads"] = 2;  // pinned to one core
  EXPECT_NE(error_of(j).find("units[0].threads"), std::string::npos) << error_of(j);
  j = valid();
  j["units"][0].erase("cpus");
  j["units"][0]["threads"] = 64;  // the device has 2 cores
  EXPECT_NE(error_of(j).find("units[0].threads"), std::string::npos) << error_of(j);
  j = valid();
  j["units"][0]["cpus"] = {5};
  EXPECT_NE(error_of(j).find("units[0].cpus[0]"), std::string::npos) << error_of(j);
  j = valid();
  j["kernels"]["dense_conv3x3"]["unit"] = "npu";
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3.unit"), std::string::npos) << error_of(j);
  j = valid();
  j["kernels"]["warp_conv/t1"] = j["kernels"]["dense_conv3x3"];
  EXPECT_NE(error_of(j).find("kernels.warp_conv/t1"), std::string::npos) << error_of(j);
  j = valid();
  j["kernels"]["dense_conv3x3/tx"] = j["kernels"]["dense_conv3x3"];
  EXPECT_NE(error_of(j).find("kernels.dense_conv3x3/tx"), std::string::npos) << error_of(j);
  j = valid();
  j["energy"]["pj_per_flop"] = 1e300;
  EXPECT_NE(error_of(j).find("energy.pj_per_flop"), std::string::npos) << error_of(j);
  // What stays accepted: a kernel placed by unit kind, a class with its thread count.
  j = valid();
  j["kernels"]["dense_conv3x3"]["unit"] = "cpu";
  j["kernels"]["dense_conv3x3/t1"] = j["kernels"]["dense_conv3x3"];
  EXPECT_NO_THROW(parse_profile(j.dump(), "p.json"));
}

TEST(Profile, BundledProfilesLoad) {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(HILSIM_SOURCE_DIR) / "device_profiles")) {
    if (e.path().extension() != ".json") continue;
    SCOPED_TRACE(e.path().filename().string());
    const std::string name = e.path().filename().string();
    if (name.size() > 13 && name.substr(name.size() - 13) == ".samples.json") continue;  // samples_test.cc
    auto p = hilsim::model::load_profile(e.path().string());
    EXPECT_FALSE(p.units.empty());
    ++n;
  }
  EXPECT_GE(n, 3);
}

namespace hilsim::model {
namespace {
TEST(ProfileFuzzFindings, OverflowingNumberIsAnError) {
  EXPECT_THROW(parse_profile("{\"schema_version\": 444E444444444444}", "<t>"), Error);
}
}  // namespace
}  // namespace hilsim::model

TEST(Profile, DeviceMismatchesNameWhatMovesKernelSpeed) {
  using hilsim::model::CacheLevel;
  using hilsim::model::DeviceInfo;
  DeviceInfo a;
  a.cpu_model = "AMD EPYC";
  a.cores = 2;
  a.isa = {"sse4_2", "avx", "avx2", "fma"};
  a.caches = {{1, "data", 32768, false}, {1, "instruction", 32768, false}, {2, "unified", 524288, false},
              {3, "unified", 8 << 20, true}};
  DeviceInfo b = a;
  b.isa.push_back("sse4a");  // not a dispatch extension
  EXPECT_TRUE(hilsim::model::device_mismatches(a, b).empty());
  b.caches[3].bytes = 32 << 20;
  b.caches[1].bytes = 65536;  // instruction caches are not compared
  b.isa.push_back("avx512f");
  auto m = hilsim::model::device_mismatches(a, b);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].text, "avx512f here, not in the profile");
  EXPECT_EQ(m[1].text, "L3 cache 8 MiB in the profile, 32 MiB here");
  EXPECT_EQ(m[0].kind, hilsim::model::DeviceMismatch::Kind::kIsa);
  EXPECT_EQ(m[1].kind, hilsim::model::DeviceMismatch::Kind::kCache);
  b = a;
  b.cores = 8;
  b.cpu_model = "Kryo 585";
  b.caches.pop_back();
  m = hilsim::model::device_mismatches(a, b);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].text, "2 cores in the profile, 8 here");
  EXPECT_EQ(m[1].text, "L3 cache 8 MiB in the profile, none here");
  EXPECT_NE(m[2].text.find("Kryo 585"), std::string::npos);
  EXPECT_EQ(m[0].kind, hilsim::model::DeviceMismatch::Kind::kCores);
  EXPECT_EQ(m[2].kind, hilsim::model::DeviceMismatch::Kind::kCpuModel);
  // Kernels are compared only where both sides recorded them.
  b = a;
  b.kernels = "0123456789abcdef";
  EXPECT_TRUE(hilsim::model::device_mismatches(a, b).empty());
  a.kernels = "fedcba9876543210";
  m = hilsim::model::device_mismatches(a, b);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].kind, hilsim::model::DeviceMismatch::Kind::kKernels);
  EXPECT_NE(m[0].text.find("fedcba9876543210"), std::string::npos);
  a.kernels = b.kernels;
  EXPECT_TRUE(hilsim::model::device_mismatches(a, b).empty());
}

TEST(Profile, KernelsDigestRoundTrips) {
  json j = valid();
  j["device"]["kernels"] = "0123456789abcdef";
  auto p = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(p.device.kernels, "0123456789abcdef");
  EXPECT_EQ(parse_profile(hilsim::model::dump_profile(p), "q.json").device.kernels, "0123456789abcdef");
  EXPECT_EQ(parse_profile(valid().dump(), "p.json").device.kernels, "");  // older files: unrecorded
}

TEST(Profile, TransferSourceSaysWhetherTheFiguresWereMeasured) {
  auto old = parse_profile(valid().dump(), "p.json");  // written before the field existed
  EXPECT_EQ(old.transfer.source, "unrecorded");
  json j = valid();
  j["transfer"]["source"] = "assumed";
  j["transfer"]["basis"] = "one core";
  auto p = parse_profile(j.dump(), "p.json");
  EXPECT_EQ(p.transfer.source, "assumed");
  auto q = parse_profile(hilsim::model::dump_profile(p), "again");
  EXPECT_EQ(q.transfer.source, "assumed");
  EXPECT_EQ(q.transfer.basis, "one core");
  j["transfer"]["source"] = "guessed";
  EXPECT_NE(error_of(j).find("transfer.source"), std::string::npos);
}

TEST(Profile, GpuUnitModelsAndCopiesRoundTripAndAreChecked) {
  json j = valid();
  j["units"].push_back({{"id", "gpu"}, {"kind", "gpu"}, {"threads", 1}, {"peak_gflops", 20}, {"mem_gbps", 8},
                        {"cpus", {1}}, {"device", "OpenCL device 'x', PoCL on CPU core 1"},
                        {"host_transfer", {{"latency_us", 30}, {"gbps", 4}, {"source", "measured"}}}});
  j["kernels"]["dense_conv3x3/gpu"] = j["kernels"]["dense_conv3x3"];
  j["kernels"]["dense_conv3x3/gpu"]["unit"] = "gpu";
  auto p = parse_profile(j.dump(), "p.json");
  ASSERT_NE(p.unit("gpu"), nullptr);
  EXPECT_EQ(p.unit("gpu")->host_transfer.gbps, 4);
  EXPECT_EQ(p.unit("gpu")->device, "OpenCL device 'x', PoCL on CPU core 1");
  EXPECT_EQ(p.kernels.at("dense_conv3x3/gpu").unit, "gpu");
  auto q = parse_profile(hilsim::model::dump_profile(p), "again");
  EXPECT_EQ(hilsim::model::dump_profile(p), hilsim::model::dump_profile(q));
  std::string klass;
  EXPECT_TRUE(hilsim::model::split_gpu_profile_key("dense_conv3x3/gpu", &klass));
  EXPECT_EQ(klass, "dense_conv3x3");
  EXPECT_FALSE(hilsim::model::split_gpu_profile_key("dense_conv3x3/t1", &klass));
  // A CLASS/gpu model must be the gpu's; copies to the host belong to a gpu unit; a class is a class.
  json cpu_model = j;
  cpu_model["kernels"]["dense_conv3x3/gpu"]["unit"] = "cpu";
  EXPECT_NE(error_of(cpu_model).find("kernels.dense_conv3x3/gpu.unit"), std::string::npos) << error_of(cpu_model);
  json cpu_copies = j;
  cpu_copies["units"][0]["host_transfer"] = {{"latency_us", 1}, {"gbps", 1}};
  EXPECT_NE(error_of(cpu_copies).find("units[0].host_transfer"), std::string::npos) << error_of(cpu_copies);
  json bad_gbps = j;
  bad_gbps["units"][1]["host_transfer"]["gbps"] = 0;
  EXPECT_NE(error_of(bad_gbps).find("host_transfer.gbps"), std::string::npos) << error_of(bad_gbps);
  // The sync term per crossing: optional (0 in older files), kept through a round trip, never negative.
  EXPECT_EQ(p.unit("gpu")->host_transfer.sync_us, 0);
  json sync = j;
  sync["units"][1]["host_transfer"]["sync_us"] = 42.5;
  sync["transfer"]["sync_us"] = 3;
  const auto ps = parse_profile(sync.dump(), "sync.json");
  EXPECT_EQ(ps.unit("gpu")->host_transfer.sync_us, 42.5);
  EXPECT_EQ(ps.transfer.sync_us, 3);
  EXPECT_EQ(parse_profile(hilsim::model::dump_profile(ps), "again").unit("gpu")->host_transfer.sync_us, 42.5);
  sync["units"][1]["host_transfer"]["sync_us"] = -1;
  EXPECT_NE(error_of(sync).find("host_transfer.sync_us"), std::string::npos) << error_of(sync);
  json bad_class = j;
  bad_class["kernels"]["conv9x9/gpu"] = j["kernels"]["dense_conv3x3/gpu"];
  EXPECT_NE(error_of(bad_class).find("conv9x9"), std::string::npos) << error_of(bad_class);
  // Compute units: 1 in older files, kept through a round trip, a positive integer, a gpu unit's only.
  EXPECT_EQ(p.unit("gpu")->compute_units, 1);
  json cu = j;
  cu["units"][1]["compute_units"] = 6;
  EXPECT_EQ(parse_profile(hilsim::model::dump_profile(parse_profile(cu.dump(), "cu.json")), "again").unit("gpu")->compute_units, 6);
  cu["units"][1]["compute_units"] = 0;
  EXPECT_NE(error_of(cu).find("units[1].compute_units"), std::string::npos) << error_of(cu);
  json cpu_cu = j;
  cpu_cu["units"][0]["compute_units"] = 2;
  EXPECT_NE(error_of(cpu_cu).find("units[0].compute_units"), std::string::npos) << error_of(cpu_cu);
  // The co-run share: none (-1) in older files, kept through a round trip, never negative, a gpu unit's only.
  EXPECT_EQ(p.unit("gpu")->corun_share, -1);
  json co = j;
  co["units"][1]["corun_share"] = 0.55;
  EXPECT_EQ(parse_profile(hilsim::model::dump_profile(parse_profile(co.dump(), "co.json")), "again").unit("gpu")->corun_share, 0.55);
  co["units"][1]["corun_share"] = -0.2;
  EXPECT_NE(error_of(co).find("units[1].corun_share"), std::string::npos) << error_of(co);
  json cpu_co = j;
  cpu_co["units"][0]["corun_share"] = 0.1;
  EXPECT_NE(error_of(cpu_co).find("units[0].corun_share"), std::string::npos) << error_of(cpu_co);
  // Without a gpu unit a gpu model has nothing to describe.
  json no_gpu = valid();
  no_gpu["kernels"]["dense_conv3x3/gpu"] = j["kernels"]["dense_conv3x3/gpu"];
  EXPECT_NE(error_of(no_gpu).find("unit"), std::string::npos) << error_of(no_gpu);
}

TEST(Profile, FileThatIsNotJsonOrIsMissingIsNamed) {
  try {
    parse_profile("{\"schema_version\": 1,", "p.json");
    ADD_FAILURE() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_EQ(e.where(), "p.json");
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
  try {
    hilsim::model::load_profile("no/such/profile.json");
    ADD_FAILURE() << "expected an error";
  } catch (const hilsim::Error& e) {
    EXPECT_EQ(e.where(), "no/such/profile.json");
    EXPECT_NE(std::string(e.what()).find("cannot open the profile"), std::string::npos) << e.what();
  }
}
