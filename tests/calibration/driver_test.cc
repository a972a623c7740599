#include "hilsim/calibration/driver.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "hilsim/calibration/calibrator.h"
#include "hilsim/calibration/runner.h"
#include "hilsim/calibration/speed_reference.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/model/instances.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {
namespace {

// Small points and a single round: what is compared is what each backend samples, not how fast.
CalibrationPolicy plan_policy() {
  CalibrationPolicy p;
  p.max_sample_macs = 4'000'000;
  p.max_sample_elements = 200'000;
  p.sample_min_time_s = 0;
  p.sample_min_rounds = 1;
  p.sample_max_rounds = 1;
  p.stable_spread = 1e9;  // never time a series twice
  p.cold_round_bytes = p.far_round_bytes = 0;  // one copy a round
  return p;
}

// The CLI (executor) and the phone calibrator (prepared kernels) time one plan: for every point the
// driver can ask of either (design points of every class, the shared real-layer table) both give the
// same class, the same features (the fit's inputs: executed MACs, weight bytes in the storage format,
// tiles, ...) and the same instance key. A backend whose kernel choice, packing or feature source
// drifts from the other fails here.
TEST(CalibrationDriver, BothBackendsSampleOnePlanAlike) {
  const CalibrationPolicy pol = plan_policy();
  MeasureOptions mo;
  mo.policy = pol;
  std::vector<KernelPoint> points;
  for (const auto& klass : calibration_classes())
    for (const KernelPoint& p : design(klass, 1, 4, 1, pol)) points.push_back(p);
  // One real layer of each class from the table both backends design from (the first has the most
  // kinds: sparse variants follow each conv).
  std::set<std::string> seen;
  for (const KernelPoint& p : reference_layers(calibration_classes(), 1, pol))
    if (seen.insert(p.klass).second) points.push_back(p);
  ASSERT_GT(points.size(), 4 * calibration_classes().size());
  for (const KernelPoint& p : points) {
    const Sample cli = measure_point(p, mo);
    const Sample phone = run_point(p, {}, pol);
    EXPECT_EQ(cli.klass, p.klass) << p.key();
    EXPECT_EQ(phone.klass, p.klass) << p.key();
    EXPECT_EQ(cli.instance, phone.instance);
    // The same features, bar the time stamp the driver adds: both prune the same weights.
    std::map<std::string, double> a = cli.features, b = phone.features;
    a.erase("t_unix"), b.erase("t_unix");
    EXPECT_EQ(a, b) << p.key();
    EXPECT_GT(cli.ms_median, 0) << p.key();
    EXPECT_GT(phone.ms_median, 0) << p.key();
  }
}

// The in-context runs: the phone's run of a model is the executor's run of the same zoo model where
// the table holds its family: the same key, and each layer in the class the executor gives the same
// kind of layer under the same sparsity (eligibility and row height from one rule).
TEST(CalibrationDriver, PhoneInContextRunsMatchTheExecutorsClasses) {
  int compared = 0;
  std::set<std::string> families;
  for (const ContextRun& r : context_runs(1)) {
    const std::vector<KernelPoint> layers = context_layers(r);
    if (layers.empty()) continue;
    families.insert(r.model.substr(0, r.model.find('@')));
    if (r.model.find("resnet18") == std::string::npos) continue;  // one family run through both: a few seconds
    ContextRun small = r;
    small.model = "zoo:resnet18_like@32x0.25";
    std::set<std::string> executor_classes;
    for (const Sample& s : measure_context(small, {}, 1)) executor_classes.insert(s.klass);
    std::set<std::string> phone_classes;
    const std::vector<Sample> timed = run_context(small, {}, 1);
    EXPECT_EQ(timed.size(), context_layers(small).size()) << "every layer timed, none at 0 ms";
    for (const Sample& s : timed) {
      EXPECT_EQ(s.instance.rfind(small.key() + "/L", 0), 0u) << s.instance;
      EXPECT_TRUE(executor_classes.count(s.klass)) << small.key() << ": " << s.klass << " is not among the executor's";
      phone_classes.insert(s.klass);
      ++compared;
    }
    // The stem's max pool and the global pool, the residual Adds, the Flatten.
    for (const char* k : {"pool", "elementwise", "copy"}) EXPECT_TRUE(phone_classes.count(k)) << k;
  }
  EXPECT_GT(compared, 20);
  EXPECT_EQ(families, (std::set<std::string>{"zoo:mobilenetv2_like", "zoo:resnet18_like", "zoo:yolov5s_like"}));
  // Each family's rows start at its 3-channel stem (the table's row ranges are right).
  for (const char* m : {"zoo:mobilenetv2_like@224x1", "zoo:resnet18_like@224x1", "zoo:yolov5s_like@640x1"})
    EXPECT_EQ(context_layers({m, "", 1}).front().c, 3) << m;
  // Widths and resolutions scale the table; a uniform spec leaves grouped convs dense.
  const auto base = context_layers({"zoo:mobilenetv2_like@224x1", "", 1});
  const auto wide = context_layers({"zoo:mobilenetv2_like@112x2", "block:8x4@0.5", 2});
  ASSERT_EQ(base.size(), wide.size());
  for (size_t i = 0; i < base.size(); ++i) {
    EXPECT_EQ(wide[i].threads, 2);
    if (base[i].op != "conv") continue;
    if (base[i].c > 3) EXPECT_EQ(wide[i].c, 2 * base[i].c) << base[i].key();
    EXPECT_EQ(wide[i].klass, base[i].groups == 1 ? "sparse_fb8" : base[i].klass) << base[i].key();
  }
  EXPECT_THROW(context_layers({"zoo:resnet18_like", "", 1}), Error);
  EXPECT_THROW(context_layers({"zoo:resnet18_like@64x1", "block:8@0.5", 1}), Error);
}

// The memory-bound layers of a phone's in-context run are the executor's: for every in-context run of
// the table's families (and each family at its zoo defaults), the adds, pools, concats, resizes and
// copies of context_layers() are those of the zoo model's canonical graph, in its order, each with the
// class and features the cost model gives the graph's op (shapes, inputs, pool windows).
TEST(CalibrationDriver, PhoneInContextMemoryOpsAreTheExecutors) {
  using Op = std::pair<std::string, std::map<std::string, double>>;
  std::set<std::string> models = {"zoo:mobilenetv2_like@224x1", "zoo:resnet18_like@224x1", "zoo:yolov5s_like@640x1"};
  for (const ContextRun& r : context_runs(1))
    if (!context_layers(r).empty()) models.insert(r.model);
  std::set<std::string> classes_seen;
  for (const std::string& m : models) {
    std::vector<Op> phone, executor;
    for (const KernelPoint& p : context_layers({m, "", 1}))
      if (p.op != "conv" && p.op != "gemm") phone.emplace_back(p.klass, model::features_of(instance_of(p)));
    graph::Graph g = graph::load_model(m);
    graph::passes::canonicalize(g);
    for (graph::OpId id : g.topological_order()) {
      const model::KernelInstance k = model::op_instance(g, id, {}, 1, false).k;
      if (k.klass != "gemm" && k.klass.find("conv") == std::string::npos && k.klass.rfind("sparse_fb", 0) != 0)
        executor.emplace_back(k.klass, model::features_of(k));
    }
    ASSERT_EQ(phone.size(), executor.size()) << m;
    for (size_t i = 0; i < phone.size(); ++i) {
      EXPECT_EQ(phone[i].first, executor[i].first) << m << " memory op " << i;
      EXPECT_EQ(phone[i].second, executor[i].second) << m << " memory op " << i << " (" << phone[i].first << ")";
      classes_seen.insert(phone[i].first);
    }
  }
  EXPECT_EQ(classes_seen, (std::set<std::string>{"concat", "copy", "elementwise", "pool", "resize"}));
}

// Two visits of one instance keep the faster (a burst only ever adds time), never one without a time,
// and count the repeats of both.
TEST(CalibrationDriver, MergeSampleKeepsTheFasterVisit) {
  Sample slow, fast, none;
  slow.instance = fast.instance = none.instance = "ctx/x/L1";
  slow.ms_p10 = 2.0, slow.ms_median = 2.4, slow.repeats = 4;
  fast.ms_p10 = 1.5, fast.ms_median = 3.0, fast.repeats = 4;  // p10 is what the fit reads
  EXPECT_EQ(merge_sample(slow, fast).ms_p10, 1.5);
  EXPECT_EQ(merge_sample(fast, slow).ms_p10, 1.5);
  EXPECT_EQ(merge_sample(slow, fast).ms_median, 3.0);  // the whole visit, not a mix of two
  EXPECT_EQ(merge_sample(slow, fast).repeats, 8);
  none.repeats = 1;
  EXPECT_EQ(merge_sample(slow, none).ms_p10, 2.0);
  EXPECT_EQ(merge_sample(none, slow).ms_p10, 2.0);
}

// A backend that times nothing: every context run has one layer, slow on its first visit (the host in
// a slow phase) and fast on the second.
class TwoPhaseBackend : public MeasureBackend {
 public:
  Sample measure(const KernelPoint& p) override {
    const int visit = ++visits[p.key()];
    Sample s;
    s.klass = p.klass, s.instance = p.key(), s.repeats = 5;
    s.ms_median = s.ms_p10 = visit == 1 ? 2.0 : 1.0;
    s.features["threads"] = p.threads;
    return s;
  }
  std::vector<KernelPoint> real_layers(const std::vector<std::string>&, int) override { return {}; }
  bool runs_in_context(const ContextRun&) override { return true; }
  std::vector<Sample> measure_context(const ContextRun& r, const std::vector<std::string>&, int repeats) override {
    const int visit = ++visits[r.key()];
    repeats_asked.insert(repeats);
    Sample s;
    s.klass = "dense_conv3x3", s.instance = r.key() + "/L0", s.repeats = repeats;
    s.ms_median = s.ms_p10 = visit == 1 ? 2.0 : 1.0;
    s.features["threads"] = r.threads;
    return {s};
  }
  std::map<std::string, int> visits;
  std::set<int> repeats_asked;
};

// Each in-context run is visited context_visits times with its share of the repeats, each grid point
// grid_visits times, and each keeps its faster visit: one sample per instance, never a duplicate.
TEST(CalibrationDriver, ContextRunsAndGridPointsAreVisitedTwiceAndKeepTheFasterVisit) {
  TwoPhaseBackend backend;
  DriverOptions o;
  o.samples_path = testing::TempDir() + "/two_visits.samples.json";
  o.budget_s = 600;
  o.max_threads = 1;
  o.classes = {"dense_conv3x3", "pool"};
  o.policy.context_share = 1.0;
  o.policy.context_repeats = 7;
  o.policy.context_visits = o.policy.grid_visits = 2;
  o.policy.slow_phase_max_tries = 0;  // this test is about visits, not waiting
  o.policy.reference_runs = o.policy.short_reference_runs = 1;
  CalibrationDriver driver(backend, o);
  driver.measure_context();
  driver.measure_grid();
  ASSERT_GT(backend.visits.size(), 8u);
  for (const auto& [key, n] : backend.visits) EXPECT_EQ(n, 1) << key;
  driver.revisit_context();
  driver.revisit_grid();
  for (const auto& [key, n] : backend.visits) EXPECT_EQ(n, 2) << key;
  EXPECT_EQ(backend.repeats_asked, (std::set<int>{4}));  // ceil(7 / 2) a visit
  const CalibrationDriver::Result r = driver.finish();
  int layers = 0;
  std::set<std::string> instances;
  for (const Sample& s : r.samples.samples) {
    if (s.klass == kSpeedReferenceClass) continue;
    ++layers;
    EXPECT_TRUE(instances.insert(s.instance).second) << s.instance << " twice";
    EXPECT_EQ(s.ms_p10, 1.0) << s.instance;
    EXPECT_EQ(s.repeats, s.instance.rfind("ctx/", 0) == 0 ? 8 : 10) << s.instance;
  }
  EXPECT_EQ(layers, static_cast<int>(backend.visits.size()));
  EXPECT_EQ(r.measured, layers);  // a later visit merges, it adds nothing
}

}  // namespace
}  // namespace hilsim::calibration

namespace hilsim::calibration {
namespace {

// Every GEMM point gains 1.8x from the second thread, but the first one timed on two threads caught a
// slow phase of the second core (no gain) on its first visit.
class StraySpeedupBackend : public MeasureBackend {
 public:
  Sample measure(const KernelPoint& p) override {
    const int visit = ++visits[p.key()];
    if (p.threads == 2 && stray.empty()) stray = p.key();
    Sample s;
    s.klass = p.klass, s.instance = p.key(), s.repeats = 5;
    s.ms_median = s.ms_p10 = p.threads == 1 || (p.key() == stray && visit == 1) ? 1.8 : 1.0;
    s.features["threads"] = p.threads;
    return s;
  }
  std::vector<KernelPoint> real_layers(const std::vector<std::string>&, int) override { return {}; }
  std::map<std::string, int> visits;
  std::string stray;
};

TEST(CalibrationDriver, AStraySpeedupIsTimedAgainBothTwinsAndKeepsTheFasterVisit) {
  StraySpeedupBackend backend;
  DriverOptions o;
  o.samples_path = testing::TempDir() + "/twins.samples.json";
  o.budget_s = 600;
  o.max_threads = 2;
  o.classes = {"gemm"};
  o.policy.slow_phase_max_tries = 0;
  o.policy.reference_runs = o.policy.short_reference_runs = 1;
  CalibrationDriver driver(backend, o);
  if (driver.max_threads() < 2) GTEST_SKIP() << "one core: no thread-count twins";
  driver.measure_grid();
  ASSERT_FALSE(backend.stray.empty());
  for (const auto& [key, n] : backend.visits) EXPECT_EQ(n, 1) << key;
  driver.recheck_twins();
  int again = 0;
  for (const auto& [key, n] : backend.visits) again += n > 1;
  EXPECT_EQ(again, 2);  // the stray point and its one-thread twin, nothing else
  EXPECT_EQ(backend.visits.at(backend.stray), 2);
  const CalibrationDriver::Result r = driver.finish();
  EXPECT_EQ(r.rechecked, 1);
  for (const Sample& s : r.samples.samples)
    if (s.instance == backend.stray) EXPECT_EQ(s.ms_p10, 1.0);
}

}  // namespace
}  // namespace hilsim::calibration
