#include "hilsim/calibration/grid.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "hilsim/calibration/calibrator.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/model/instances.h"
#include "hilsim/graph/builder.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/passes/canonicalize.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {
namespace {

TEST(KernelGrid, DesignIsDeterministicAndCoversTheDeclaredRanges) {
  for (const auto& klass : calibration_classes()) {
    const auto a = design(klass, 1, 32, 1), b = design(klass, 1, 32, 1), c = design(klass, 1, 32, 2);
    ASSERT_EQ(a.size(), 32u) << klass;
    int differ = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].key(), b[i].key()) << klass;
      differ += a[i].key() != c[i].key();
    }
    EXPECT_GT(differ, 16) << klass;  // another seed, other points
    for (const auto& p : a) {
      // GEMMs run to 9216 inputs (classifier heads beyond the caches) and 3136 rows (tokens).
      const bool gemm = p.op == "gemm";
      EXPECT_GE(p.c, 3) << p.key();
      EXPECT_LE(p.c, gemm ? 9216 : 4096) << p.key();
      EXPECT_GE(p.h, 1) << p.key();
      // Image stems (3 channels) run on images up to 320 pixels a side.
      EXPECT_LE(p.h, gemm ? 3136 : p.c == 3 && p.op == "conv" ? 320 : 160) << p.key();
      EXPECT_GE(p.ratio, 0.0);
      EXPECT_LE(p.ratio, 0.95);
      EXPECT_LE(p.macs(), CalibrationPolicy{}.max_sample_macs) << p.key();
      EXPECT_EQ(instance_of(p).klass, klass) << p.key();  // each point lands in its class
    }
  }
  // The kxk class and every sparse class hold image stems (3 channels, 6x6 or 7x7 at stride 2).
  for (const std::string klass : {"dense_convkxk", "sparse_fb1", "sparse_fb8", "sparse_fb16"}) {
    int stems = 0;
    for (const auto& p : design(klass, 1, 24, 1)) stems += p.c == 3 && p.stride == 2 && (p.k == 6 || p.k == 7);
    EXPECT_GE(stems, 3) << klass;
  }
  // Conv designs span small and large layers, both strides, and the sparse ones a range of ratios.
  const auto d = design("dense_conv3x3", 1, 32, 1);
  int64_t cmin = 1 << 20, cmax = 0, hmin = 1 << 20, hmax = 0;
  std::set<int64_t> strides;
  for (const auto& p : d) {
    cmin = std::min(cmin, p.c), cmax = std::max(cmax, p.c), hmin = std::min(hmin, p.h), hmax = std::max(hmax, p.h);
    strides.insert(p.stride);
  }
  EXPECT_LT(cmin, 24);
  EXPECT_GT(cmax, 256);
  EXPECT_LT(hmin, 12);
  EXPECT_GT(hmax, 40);
  EXPECT_EQ(strides.size(), 2u);
  double rmin = 1, rmax = 0;
  std::set<std::string> formats;
  for (const auto& klass : {"sparse_fb1", "sparse_fb8"})
    for (const auto& p : design(klass, 1, 32, 1)) {
      rmin = std::min(rmin, p.ratio), rmax = std::max(rmax, p.ratio);
      formats.insert(p.format);
    }
  EXPECT_LT(rmin, 0.1);
  EXPECT_GT(rmax, 0.85);
  EXPECT_GE(formats.size(), 4u);  // block, block_col, pattern, csr
}

// ConvNeXt's layers: its 7x7 depthwise convs in their own class, down to its 3x3 maps at 96x96, and its
// non-overlapping 2x2 s2 downsample convs and 4x4 s4 stem among the dense_convkxk points, unpadded.
TEST(KernelGrid, ConvNeXtLayersAreSampled) {
  const auto dw7 = design("depthwise_conv7x7", 1, 32, 1);
  int64_t hmin = 1 << 20, hmax = 0, cmax = 0;
  for (const auto& p : dw7) {
    EXPECT_EQ(p.k, 7) << p.key();
    EXPECT_TRUE(p.conv_shape().is_depthwise()) << p.key();
    EXPECT_EQ(p.conv_shape().pad_top, 3) << p.key();
    hmin = std::min(hmin, p.h), hmax = std::max(hmax, p.h), cmax = std::max(cmax, p.c);
  }
  EXPECT_LT(hmin, 7);
  EXPECT_GT(hmax, 28);
  EXPECT_GT(cmax, 256);
  int patchify = 0, stems = 0;
  for (const auto& p : design("dense_convkxk", 1, 32, 1)) {
    EXPECT_FALSE(p.conv_shape().is_depthwise()) << p.key();  // no depthwise share any more
    if (p.k != p.stride) continue;
    ++patchify, stems += p.c == 3;
    EXPECT_EQ(p.conv_shape().pad_top, 0) << p.key();
    EXPECT_EQ(p.conv_shape().out_h() * p.stride, p.h - p.h % p.stride) << p.key();
  }
  EXPECT_GE(patchify, 8);
  EXPECT_GE(stems, 1);
  EXPECT_LT(stems, patchify);
  // The real layers: ConvNeXt-base's depthwise 7x7 and its downsample convs.
  const auto real = reference_layers({"depthwise_conv7x7", "dense_convkxk"}, 1);
  bool dw_3x3_map = false, downsample = false;
  for (const auto& p : real) {
    dw_3x3_map = dw_3x3_map || (p.klass == "depthwise_conv7x7" && p.h == 3);
    downsample = downsample || (p.klass == "dense_convkxk" && p.k == 2 && p.stride == 2 && p.c >= 128);
  }
  EXPECT_TRUE(dw_3x3_map);
  EXPECT_TRUE(downsample);
}

TEST(KernelGrid, UnknownClassIsAnErrorNamingIt) {
  try {
    design("dense_conv4x4", 1, 3, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dense_conv4x4"), std::string::npos);
  }
}

TEST(KernelGrid, ReferenceLayersAreRealShapesUnderTheCap) {
  const auto pts = reference_layers(calibration_classes(), 2);
  std::set<std::string> classes;
  for (const auto& p : pts) {
    classes.insert(p.klass);
    EXPECT_EQ(p.threads, 2);
    EXPECT_LE(p.macs(), CalibrationPolicy{}.max_sample_macs) << p.key();
  }
  for (const char* k : {"dense_conv1x1", "dense_conv3x3", "dense_convkxk", "depthwise_conv3x3", "depthwise_conv5x5",
                        "depthwise_conv7x7", "sparse_fb1", "sparse_fb8", "gemm", "pool", "elementwise", "concat",
                        "resize", "copy"})
    EXPECT_TRUE(classes.count(k)) << k;
  EXPECT_TRUE(reference_layers({"gemm"}, 1).size() >= 2);
}

// The graph node a memory-bound point stands for, as the cost model sees it in a model.
graph::Graph memory_graph(const KernelPoint& p) {
  graph::GraphBuilder b("mem");
  // [1, h*w, c|f] joined (or split) per pixel
  const bool inner = (p.op == "concat" && p.concat_axis != 1) || p.op == "split";
  const std::string x = b.input("x", inner ? graph::Shape{1, p.h * p.w, p.c} : graph::Shape{1, p.c, p.h, p.w});
  if (p.op == "transpose") b.output(b.op("Transpose", {x}, {{"perm", std::vector<int64_t>{0, 2, 3, 1}}})[0]);
  if (p.op == "split")
    for (const auto& y : b.op("Split", {x}, {{"axis", int64_t{2}}, {"split", std::vector<int64_t>{p.f, p.c - p.f}}}, 2))
      b.output(y);
  if (p.op == "add") b.output(b.add(x, b.input("y", {1, p.c, p.h, p.w})));
  if (p.op == "affine") b.output(b.batchnorm(x));
  if (p.op == "scale") b.output(b.mul(x, b.input("s", {1, p.c, 1, 1})));
  if (p.op == "gelu") b.output(b.op("Gelu", {x}, {{"approximate", std::string("none")}})[0]);
  if (p.op == "resize") b.output(b.resize_nearest(x, 2.0f));
  if (p.op == "concat") {
    std::vector<std::string> xs = {x};
    for (int i = 1; i < p.inputs; ++i)
      xs.push_back(b.input("y" + std::to_string(i), inner ? graph::Shape{1, p.h * p.w, p.f} : graph::Shape{1, p.f, p.h, p.w}));
    b.output(b.concat(xs, inner ? 2 : 1));
  }
  return b.finish();
}

// The standalone grid describes instances exactly as the runtime's instance functions do, so its
// samples fit the keys and features the predictor evaluates.
TEST(KernelGrid, FeaturesMatchTheRuntimeInstances) {
  std::vector<KernelPoint> pts;
  for (const auto& klass : calibration_classes())
    for (const auto& p : design(klass, 2, 6, 3)) pts.push_back(p);
  for (const auto& p : pts) {
    const model::KernelInstance mine = instance_of(p);
    model::KernelInstance theirs;
    if (p.op == "conv") {
      const auto cs = p.conv_shape();
      const auto fp = model::conv_footprint(cs, p.format, p.ratio, p.bf, p.bc, p.entries, true);
      theirs = model::conv_instance(model::conv_class(cs, p.format, p.bf, p.bc, p.entries), cs, p.threads,
                                    fp.executed_macs, fp.weight_bytes);
      if (p.act == 2) theirs.act_bytes = theirs.out_bytes;
    } else if (p.op == "gemm") {
      theirs = model::gemm_instance(1, p.f, p.c, p.threads, true);
      continue;  // gemm's executed MACs and weight bytes come from the shape alone
    } else if (p.op == "maxpool" || p.op == "global_avgpool") {
      // What the cost model sees for the same pool as a graph node.
      graph::GraphBuilder b("pool");
      const std::string x = b.input("x", {1, p.c, p.h, p.w});
      if (p.op == "maxpool") b.maxpool(x, p.k, p.stride, p.k == 2 ? 0 : p.k / 2);
      else b.global_avgpool(x);
      graph::Graph g = b.finish();
      theirs = model::op_instance(g, g.topological_order().back(), {}, p.threads, true).k;
    } else if (p.op == "add" || p.op == "affine" || p.op == "gelu" || p.op == "scale" || p.op == "concat" ||
               p.op == "resize" || p.op == "transpose" || p.op == "split") {
      const graph::Graph g = memory_graph(p);
      theirs = model::op_instance(g, g.topological_order().back(), {}, p.threads, true).k;
    } else {
      theirs = model::memory_instance(mine.klass, mine.in_bytes, mine.out_bytes, p.threads);
    }
    EXPECT_EQ(mine.klass, theirs.klass) << p.key();
    EXPECT_EQ(model::features_of(mine), model::features_of(theirs)) << p.key();
  }
  KernelPoint g;
  g.op = "gemm", g.klass = "gemm", g.c = 512, g.f = 1000, g.h = 1, g.threads = 1;
  EXPECT_EQ(model::features_of(instance_of(g)),
            model::features_of(model::gemm_instance(1, 1000, 512, 1, true)));
  g.h = 196;  // token rows
  EXPECT_EQ(model::features_of(instance_of(g)),
            model::features_of(model::gemm_instance(196, 1000, 512, 1, true)));
}

TEST(KernelGrid, RoundsOfLayersWithFarWeightsReadThemFromOneCacheTier) {
  const CalibrationPolicy pol;
  const int64_t llc = int64_t{32} << 20;
  KernelPoint head;  // a 3 MB classifier: beyond L2, within the last level
  head.op = "gemm", head.klass = "gemm", head.c = 768, head.f = 1000, head.h = head.w = 1, head.threads = 1;
  ASSERT_GT(head.weight_bytes(), model::kNearWeightBytes);
  const int copies = round_copies(head, pol, llc);
  EXPECT_GE(copies, 2);  // still more than one copy: the private caches overflow
  EXPECT_TRUE(model::llc_holds(copies * head.working_set_bytes(), llc));
  model::KernelInstance k = instance_of(head);
  ASSERT_GT(k.wstream_far_bytes, 0);
  place_round_operands(k, head, pol, llc);
  EXPECT_EQ(k.wstream_far_bytes, 0);  // served by the last level: no DRAM term
  // Without a known last level the round is as before, and the far term stays.
  EXPECT_EQ(round_copies(head, pol, 0), static_cast<int>(std::min<int64_t>(pol.max_copies, pol.cold_round_bytes / head.working_set_bytes())));
  k = instance_of(head);
  place_round_operands(k, head, pol, 0);
  EXPECT_GT(k.wstream_far_bytes, 0);
  // A far head (VGG's 4096 x 4096, 64 MB) rounds through far_round_bytes: DRAM, whatever the cache.
  KernelPoint vgg = head;
  vgg.c = vgg.f = 4096;
  EXPECT_GE(round_copies(vgg, pol, llc) * vgg.working_set_bytes(), pol.far_round_bytes);
  k = instance_of(vgg);
  const int64_t far = k.wstream_far_bytes;  // the share of the stream a one-row GEMM leaves exposed
  EXPECT_GT(far, k.weight_bytes * 9 / 10);
  place_round_operands(k, vgg, pol, llc);
  EXPECT_EQ(k.wstream_far_bytes, far);
  // Layers with weights inside L2 keep the cold rounds (their activations must leave the private caches).
  KernelPoint small = head;
  small.c = 128, small.f = 256;
  EXPECT_EQ(round_copies(small, pol, llc), round_copies(small, pol, 0));
}

TEST(KernelGrid, NeighboursStayValidAndDiffer) {
  // The adaptive rounds draw 3-point designs at seeds 2, 3, ... and measure their neighbours: each must
  // stay in its class, and a memory op's must build a layer graph whose shapes infer (a split narrowed
  // below its first run once ended a calibration with a negative dimension).
  for (const auto& klass : calibration_classes())
    for (uint64_t seed = 2; seed < 12; ++seed)
      for (const auto& p : design(klass, 1, 3, seed))
        for (const auto& q : neighbours(p)) {
          EXPECT_NE(q.key(), p.key());
          EXPECT_EQ(instance_of(q).klass, instance_of(p).klass) << q.key();
          if (q.op == "conv" || q.op == "gemm") continue;  // their shapes are the conv's own (and slow to fill)
          EXPECT_NO_THROW({
            graph::Graph g = layer_graph(q, 1);
            graph::infer_shapes(g);
          }) << q.key();
        }
}


// What real networks have and a plain grid missed, in the design calibrate runs (24 points a class,
// seed 1, the default policy): grouped convs of 8, 24 and 64 channels a group, GEMMs from L2-resident
// weights (squeeze-excite's 1x1s on 1x1 maps run as such) to far beyond the last-level cache, concats of many inputs
// and standalone batch norms.
TEST(KernelGrid, DesignTakesEachRealNetworkKindOnceBeforeAnyTwice) {
  // A 120 s calibration reaches the first few points of a cell: those must span the kinds. The
  // elementwise design once led with batch norms only, and no calibration measured a GELU.
  for (const auto& klass : calibration_classes()) {
    std::vector<std::string> order;
    for (const auto& p : design(klass, 1, 24, 1))
      if (is_real_network_kind(p)) order.push_back(real_network_kind(p));
    const std::set<std::string> distinct(order.begin(), order.end());
    // Inner-axis concats lead their class with two in a row (their per-run term needs both).
    const size_t skip = klass == "concat" && order.size() > 1 && order[0] == "inner axis" && order[1] == "inner axis";
    const std::set<std::string> first(order.begin() + static_cast<long>(skip),
                                      order.begin() + static_cast<long>(std::min(order.size(), skip + distinct.size())));
    EXPECT_EQ(first, distinct) << klass;
  }
  std::set<std::string> elementwise;
  for (const auto& p : design("elementwise", 1, 24, 1))
    if (is_real_network_kind(p) && elementwise.size() < 2) elementwise.insert(real_network_kind(p));
  EXPECT_EQ(elementwise, (std::set<std::string>{"affine", "gelu"}));
}

TEST(KernelGrid, DesignSpansTheLayerKindsRealNetworksHave) {
  std::set<int64_t> widths;
  for (const auto& p : design("dense_conv3x3", 1, 24, 1))
    if (p.groups > 1 && p.groups < p.c) widths.insert(p.c / p.groups);
  for (int64_t w : {8, 24, 64}) EXPECT_TRUE(widths.count(w)) << "no grouped conv of width " << w;
  // Squeeze-excite 1x1 convs on 1x1 maps run as GEMMs: the one-row gemm points cover them, and the
  // dense 1x1 design holds none.
  for (const auto& p : design("dense_conv1x1", 1, 24, 1)) EXPECT_GT(p.h * p.w, 1) << p.key();
  int64_t smallest = INT64_MAX, largest = 0;
  for (const auto& p : design("gemm", 1, 24, 1)) {
    const int64_t weights = instance_of(p).weight_bytes;
    smallest = std::min(smallest, weights), largest = std::max(largest, weights);
  }
  EXPECT_LE(smallest, model::kNearWeightBytes);  // L2-resident
  EXPECT_GE(largest, int64_t{48} << 20);         // beyond any last-level cache of the hosts we run on
  int many = 0, two = 0, inner = 0;
  for (const auto& p : design("concat", 1, 24, 1)) {
    EXPECT_LE(p.inputs, 64) << p.key();
    EXPECT_EQ(instance_of(p).inputs, p.inputs);
    (p.inputs >= 8 ? many : two) += 1;
    if (p.inputs == 2 && p.concat_axis == 1) EXPECT_EQ(p.key().find("/n"), std::string::npos) << p.key();  // keys as before
    // A detector head's per-pixel concat: every pixel a run of each input, enough of them for the fit
    // to keep the term (policy.min_feature_samples).
    if (p.concat_axis != 1) {
      ++inner;
      EXPECT_EQ(instance_of(p).extra_runs, p.inputs * (p.h * p.w - 1)) << p.key();
      EXPECT_NE(p.key().find("/ax2"), std::string::npos) << p.key();
    }
  }
  EXPECT_GE(many, 4);
  EXPECT_GE(two, 4);
  EXPECT_GE(inner, CalibrationPolicy{}.min_feature_samples);
  std::set<std::string> ew;
  for (const auto& p : design("elementwise", 1, 24, 1)) ew.insert(p.op);
  EXPECT_EQ(ew, (std::set<std::string>{"add", "affine", "gelu"}));
  // The gpu unit's design (no OpenCL batch norm or GELU) has per-channel scales beside its adds, priced
  // as the cost model prices a squeeze-excite Mul.
  CalibrationPolicy gpu;
  gpu.affine_share = gpu.unary_math_share = 1.0, gpu.channel_scale_share = 0.5;
  std::set<std::string> gew;
  for (const auto& p : design("elementwise", 1, 24, 1, gpu)) {
    gew.insert(p.op);
    if (p.op != "scale") continue;
    const graph::Graph g = memory_graph(p);
    EXPECT_EQ(model::features_of(instance_of(p)),
              model::features_of(model::op_instance(g, g.topological_order().back(), {}, 1, true).k))
        << p.key();
  }
  EXPECT_EQ(gew, (std::set<std::string>{"add", "scale"}));
  // Those kinds lead each design, alternating with plain points, so a budget cut after one or two
  // points of a cell still samples what the in-context runs lack.
  for (const char* klass : {"dense_conv3x3", "dense_convkxk", "gemm", "pool", "elementwise"}) {
    const auto d = design(klass, 1, 24, 1);
    ASSERT_EQ(d.size(), 24u) << klass;
    EXPECT_TRUE(is_real_network_kind(d[0])) << klass << " " << d[0].key();
    EXPECT_FALSE(is_real_network_kind(d[1])) << klass << " " << d[1].key();
  }
  // Concat's first two are per-pixel ones, and the grid's queue puts the detector-head real layers
  // between them: the first four points a calibration measures all carry the per-run term.
  const auto cd = design("concat", 1, 24, 1);
  ASSERT_EQ(cd.size(), 24u);
  EXPECT_TRUE(cd[0].concat_axis == 2 && cd[1].concat_axis == 2) << cd[0].key() << " " << cd[1].key();
  EXPECT_FALSE(is_real_network_kind(cd[2])) << cd[2].key();
  const auto real = reference_layers({"concat"}, 1);
  ASSERT_GE(real.size(), 2u);
  for (const KernelPoint& p : {cd[0], real[0], cd[1], real[1]}) EXPECT_GT(instance_of(p).extra_runs, 0) << p.key();
  for (const auto& p : design("dense_conv5x5", 1, 24, 1)) EXPECT_FALSE(is_real_network_kind(p)) << p.key();
  // A policy can turn each off.
  CalibrationPolicy none;
  none.many_input_concat_share = 1.0, none.affine_share = none.unary_math_share = 1.0;
  none.inner_axis_concat_share = 0.0;
  for (const auto& p : design("concat", 1, 24, 1, none)) EXPECT_EQ(p.concat_axis * p.inputs, 2) << p.key();
  for (const auto& p : design("elementwise", 1, 24, 1, none)) EXPECT_EQ(p.op, "add") << p.key();
}

TEST(KernelGrid, ReferenceLayersHoldGroupedConvsFarHeadsAndDenseBlocks) {
  std::set<int64_t> widths;
  bool far_head = false, se = false, dense_concat = false, bn = false, head_concat = false, small_pool = false;
  for (const auto& p : reference_layers(calibration_classes(), 1)) {
    if (p.op == "conv" && p.groups > 1 && p.groups < p.c) {
      EXPECT_EQ(p.klass, "dense_conv3x3") << p.key();  // the dense kernel, group by group
      widths.insert(p.c / p.groups);
    }
    far_head = far_head || (p.op == "gemm" && p.c * p.f * 4 > int64_t{100} << 20);
    se = se || (p.op == "conv" && p.klass == "gemm" && p.h == 1);  // squeeze-excite, run as a GEMM
    dense_concat = dense_concat || (p.op == "concat" && p.inputs >= 32);
    bn = bn || (p.op == "affine" && p.klass == "elementwise");
    head_concat = head_concat || (p.op == "concat" && p.concat_axis == 2 && p.h * p.w >= 4096);
    small_pool = small_pool || (p.op == "maxpool" && p.k == 5 && p.h <= 8);
  }
  EXPECT_EQ(widths, (std::set<int64_t>{8, 24, 64}));
  EXPECT_TRUE(far_head && se && dense_concat && bn && head_concat && small_pool);
  // The gemm table leads with many-row (token) GEMMs, so the first two real gemm points a short
  // calibration times tell the per-MAC cost from the per-weight one; GELUs are there for the math term.
  const auto gemms = reference_layers({"gemm"}, 1);
  ASSERT_GE(gemms.size(), 2u);
  EXPECT_GT(gemms[0].h, 1) << gemms[0].key();
  EXPECT_GT(gemms[1].h, 1) << gemms[1].key();
  int gelus = 0;
  for (const auto& p : reference_layers({"elementwise"}, 1)) gelus += p.op == "gelu" && instance_of(p).act_bytes > 0;
  EXPECT_GE(gelus, 2);
}

// The in-context tables' memory-bound layers follow the run: the same ops in the same order at every
// size, channels scaled by the width (concats' every input), maps by the resolution (a flattened
// vector stays one pixel), and each point's class is instance_of()'s. A 2x upsample feeds a concat at
// twice its map; SPPF's concat joins its input and three pools.
// The phone's in-context runs place their weights by the whole model's weight set, as the executor's
// runs of the same zoo model do (model::graph_weight_bytes of its canonical graph).
TEST(KernelGrid, ContextWeightBytesAreTheWholeZooModels) {
  int compared = 0;
  for (const ContextRun& r : context_runs(1)) {
    const int64_t table = context_weight_bytes(r);
    if (context_layers(r).empty()) {
      EXPECT_EQ(table, 0) << r.model;
      continue;
    }
    graph::Graph g = graph::load_model(r.model);
    graph::passes::canonicalize(g);
    const double real = static_cast<double>(model::graph_weight_bytes(g));
    EXPECT_NEAR(static_cast<double>(table) / real, 1.0, 0.1) << r.model << ": " << table << " vs " << real;
    // With the activations at their peak (the table's largest layer stands for the graph's peak).
    const double reuse = static_cast<double>(model::graph_reuse_bytes(g));
    EXPECT_NEAR(static_cast<double>(context_reuse_bytes(r)) / reuse, 1.0, 0.15) << r.model << ": " << context_reuse_bytes(r) << " vs " << reuse;
    ++compared;
  }
  EXPECT_GT(compared, 10);
}

TEST(KernelGrid, ContextLayersScaleTheirMemoryOps) {
  for (const std::string family : {"mobilenetv2_like", "resnet18_like", "yolov5s_like"}) {
    const int64_t res = family == "yolov5s_like" ? 640 : 224;
    auto memory = [](const std::vector<KernelPoint>& layers) {
      std::vector<KernelPoint> m;
      for (const KernelPoint& p : layers)
        if (p.op != "conv" && p.op != "gemm") m.push_back(p);
      return m;
    };
    const auto base = memory(context_layers({"zoo:" + family + "@" + std::to_string(res) + "x1", "", 1}));
    const auto other = memory(
        context_layers({"zoo:" + family + "@" + std::to_string(2 * res) + "x2", "block:8x4@0.5", 3}));
    ASSERT_GE(base.size(), 10u) << family;
    ASSERT_EQ(base.size(), other.size()) << family;
    for (size_t i = 0; i < base.size(); ++i) {
      const KernelPoint &a = base[i], &b = other[i];
      EXPECT_EQ(a.op, b.op) << family << " " << i;
      EXPECT_EQ(a.klass, instance_of(a).klass) << a.key();
      EXPECT_EQ(b.klass, instance_of(b).klass) << b.key();
      EXPECT_EQ(b.threads, 3);
      EXPECT_EQ(b.format, "dense") << "a uniform sparsity spec prunes convs only";
      EXPECT_EQ(b.c, 2 * a.c) << a.key();
      if (a.op == "concat") EXPECT_EQ(b.f, 2 * a.f) << a.key();
      EXPECT_EQ(b.inputs, a.inputs);
      EXPECT_EQ(b.h, a.h > 1 ? 2 * a.h : 1) << a.key();
      EXPECT_EQ(b.w, b.h);
    }
  }
  const auto yolo = context_layers({"zoo:yolov5s_like@320x0.5", "", 1});
  int resizes = 0, sppf = 0;
  for (size_t i = 0; i < yolo.size(); ++i) {
    if (yolo[i].op == "maxpool" && yolo[i].k == 5) {
      EXPECT_EQ(yolo[i].stride, 1);
      ++sppf;
    }
    if (yolo[i].op == "concat" && yolo[i].inputs == 4) {
      EXPECT_EQ(sppf, 3) << "SPPF's concat follows its three pools";
      EXPECT_EQ(yolo[i].h, yolo[i - 1].h);
    }
    if (yolo[i].op != "resize") continue;
    ++resizes;
    ASSERT_LT(i + 1, yolo.size());
    EXPECT_EQ(yolo[i + 1].op, "concat");
    EXPECT_EQ(yolo[i + 1].c, yolo[i].c);
    EXPECT_EQ(yolo[i + 1].h, 2 * yolo[i].h);
  }
  EXPECT_EQ(resizes, 2);
  EXPECT_EQ(sppf, 3);
}

}  // namespace
}  // namespace hilsim::calibration
