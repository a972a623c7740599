#include "hilsim/graph/zoo.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "hilsim/graph/builder.h"
#include "hilsim/util/error.h"

namespace hilsim::graph {

namespace {

int64_t ch(double c, double width) { return std::max<int64_t>(8, static_cast<int64_t>(std::lround(c * width / 8.0)) * 8); }

// ---- yolov5s (v6 layout: 6x6 stem, C3 blocks, SPPF, PANet neck, three 1x1 detect heads), SiLU as torch
// exports it (Sigmoid + Mul).
std::string cbs(GraphBuilder& b, const std::string& x, int64_t c, int64_t k, int64_t s, const std::string& name) {
  return b.silu(b.conv(x, c, k, s, 1, true, std::nullopt, 1, name));
}

std::string c3(GraphBuilder& b, const std::string& x, int64_t c, int n, bool shortcut, const std::string& name) {
  const int64_t h = c / 2;
  std::string y1 = cbs(b, x, h, 1, 1, name + ".cv1");
  const std::string y2 = cbs(b, x, h, 1, 1, name + ".cv2");
  for (int i = 0; i < n; ++i) {
    const std::string p = name + ".m" + std::to_string(i);
    std::string t = cbs(b, y1, h, 1, 1, p + ".cv1");
    t = cbs(b, t, h, 3, 1, p + ".cv2");
    y1 = shortcut ? b.add(y1, t) : t;
  }
  return cbs(b, b.concat({y1, y2}), c, 1, 1, name + ".cv3");
}

Graph yolov5s_like(const ZooOptions& o) {
  const double w = o.width * 0.5;  // yolov5s width multiple
  const int64_t r = o.resolution ? o.resolution : 320;
  GraphBuilder b("yolov5s_like", o.seed);
  std::string x = b.input("images", {1, 3, r, r});
  x = cbs(b, x, ch(64, w), 6, 2, "backbone.0");  // P1/2 (pad 2)
  const std::string p1 = cbs(b, x, ch(128, w), 3, 2, "backbone.1");
  const std::string c2 = c3(b, p1, ch(128, w), 1, true, "backbone.2");
  const std::string p3 = cbs(b, c2, ch(256, w), 3, 2, "backbone.3");
  const std::string c4 = c3(b, p3, ch(256, w), 2, true, "backbone.4");
  const std::string p4 = cbs(b, c4, ch(512, w), 3, 2, "backbone.5");
  const std::string c6 = c3(b, p4, ch(512, w), 3, true, "backbone.6");
  const std::string p5 = cbs(b, c6, ch(1024, w), 3, 2, "backbone.7");
  const std::string c8 = c3(b, p5, ch(1024, w), 1, true, "backbone.8");
  // SPPF
  const std::string s0 = cbs(b, c8, ch(512, w), 1, 1, "backbone.9.cv1");
  const std::string m1 = b.maxpool(s0, 5, 1, 2), m2 = b.maxpool(m1, 5, 1, 2), m3 = b.maxpool(m2, 5, 1, 2);
  const std::string sppf = cbs(b, b.concat({s0, m1, m2, m3}), ch(1024, w), 1, 1, "backbone.9.cv2");
  // neck
  const std::string h10 = cbs(b, sppf, ch(512, w), 1, 1, "head.10");
  const std::string h13 = c3(b, b.concat({b.resize_nearest(h10, 2.0f), c6}), ch(512, w), 1, false, "head.13");
  const std::string h14 = cbs(b, h13, ch(256, w), 1, 1, "head.14");
  const std::string h17 = c3(b, b.concat({b.resize_nearest(h14, 2.0f), c4}), ch(256, w), 1, false, "head.17");
  const std::string h18 = cbs(b, h17, ch(256, w), 3, 2, "head.18");
  const std::string h20 = c3(b, b.concat({h18, h14}), ch(512, w), 1, false, "head.20");
  const std::string h21 = cbs(b, h20, ch(512, w), 3, 2, "head.21");
  const std::string h23 = c3(b, b.concat({h21, h10}), ch(1024, w), 1, false, "head.23");
  // detect: 3 anchors x (80 classes + 5)
  b.output(b.conv(h17, 255, 1, 1, 1, true, std::nullopt, 1, "detect.m0"));
  b.output(b.conv(h20, 255, 1, 1, 1, true, std::nullopt, 1, "detect.m1"));
  b.output(b.conv(h23, 255, 1, 1, 1, true, std::nullopt, 1, "detect.m2"));
  return b.finish();
}

// ---- MobileOne-S0 in its train-time form: each block is k parallel conv-BN branches, a 1x1 conv-BN
// "scale" branch (for 3x3 convs) and a BN-only identity branch when shapes allow, summed, then ReLU.
std::string mobileone_block(GraphBuilder& b, const std::string& x, int64_t out, int64_t k, int64_t stride,
                            int64_t groups, int branches, const std::string& name) {
  const int64_t in = b.shape(x).at(1);
  std::vector<std::string> terms;
  for (int i = 0; i < branches; ++i)
    terms.push_back(b.batchnorm(b.conv(x, out, k, stride, groups, false, std::nullopt, 1, name + ".conv" + std::to_string(i)),
                                name + ".conv" + std::to_string(i) + "_bn"));
  if (k > 1)
    terms.push_back(b.batchnorm(b.conv(x, out, 1, stride, groups, false, 0, 1, name + ".scale"), name + ".scale_bn"));
  if (in == out && stride == 1) terms.push_back(b.batchnorm(x, name + ".skip_bn"));
  std::string s = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) s = b.add(s, terms[i]);
  return b.relu(s);
}

Graph mobileone_s0(const ZooOptions& o) {
  const int64_t r = o.resolution ? o.resolution : 224;
  GraphBuilder b("mobileone_s0", o.seed);
  std::string x = b.input("input", {1, 3, r, r});
  const int kb = 4;  // over-parameterisation factor of S0
  x = mobileone_block(b, x, ch(48, o.width), 3, 2, 1, 1, "stage0");
  const int64_t widths[] = {ch(48, o.width), ch(128, o.width), ch(256, o.width), ch(1024, o.width)};
  const int blocks[] = {2, 8, 10, 1};
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < blocks[s]; ++i) {
      const std::string p = "stage" + std::to_string(s + 1) + "." + std::to_string(i);
      const int64_t in = b.shape(x).at(1);
      x = mobileone_block(b, x, in, 3, i == 0 ? 2 : 1, in, kb, p + ".dw");
      x = mobileone_block(b, x, widths[s], 1, 1, 1, kb, p + ".pw");
    }
  x = b.flatten(b.global_avgpool(x));
  b.output(b.gemm(x, 1000));
  return b.finish();
}

// ---- ResNet-18.
std::string basic_block(GraphBuilder& b, const std::string& x, int64_t out, int64_t stride, const std::string& name) {
  std::string y = b.relu(b.conv_bn(x, out, 3, stride, 1, name + ".conv1"));
  y = b.conv_bn(y, out, 3, 1, 1, name + ".conv2");
  std::string sc = x;
  if (stride != 1 || b.shape(x).at(1) != out) sc = b.conv_bn(x, out, 1, stride, 1, name + ".downsample");
  return b.relu(b.add(y, sc));
}

// ResNet stem, four stages of residual blocks (stride 2 entering stages 2-4), pooled classifier.
using ResBlock = std::string (*)(GraphBuilder&, const std::string&, int64_t, int64_t, const std::string&);
Graph resnet_like(const ZooOptions& o, const std::string& name, const int (&blocks)[4], ResBlock block) {
  const int64_t r = o.resolution ? o.resolution : 224;
  GraphBuilder b(name, o.seed);
  std::string x = b.input("input", {1, 3, r, r});
  x = b.maxpool(b.relu(b.conv_bn(x, ch(64, o.width), 7, 2, 1, "conv1")), 3, 2, 1);
  const int64_t w[] = {64, 128, 256, 512};
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < blocks[s]; ++i)
      x = block(b, x, ch(w[s], o.width), (s > 0 && i == 0) ? 2 : 1,
                "layer" + std::to_string(s + 1) + "." + std::to_string(i));
  x = b.flatten(b.global_avgpool(x));
  b.output(b.gemm(x, 1000));
  return b.finish();
}

Graph resnet18_like(const ZooOptions& o) { return resnet_like(o, "resnet18_like", {2, 2, 2, 2}, basic_block); }

// ---- ResNet-50: bottleneck blocks [3, 4, 6, 3], 53 convs (the size of graph a pruning search queries).
std::string bottleneck(GraphBuilder& b, const std::string& x, int64_t mid, int64_t stride, const std::string& name) {
  const int64_t out = mid * 4;
  std::string y = b.relu(b.conv_bn(x, mid, 1, 1, 1, name + ".conv1"));
  y = b.relu(b.conv_bn(y, mid, 3, stride, 1, name + ".conv2"));
  y = b.conv_bn(y, out, 1, 1, 1, name + ".conv3");
  std::string sc = x;
  if (stride != 1 || b.shape(x).at(1) != out) sc = b.conv_bn(x, out, 1, stride, 1, name + ".downsample");
  return b.relu(b.add(y, sc));
}

Graph resnet50_like(const ZooOptions& o) { return resnet_like(o, "resnet50_like", {3, 4, 6, 3}, bottleneck); }

// ---- MobileNetV2 (ReLU6 as Clip 0..6).
Graph mobilenetv2_like(const ZooOptions& o) {
  const int64_t r = o.resolution ? o.resolution : 224;
  GraphBuilder b("mobilenetv2_like", o.seed);
  std::string x = b.input("input", {1, 3, r, r});
  x = b.clip(b.conv_bn(x, ch(32, o.width), 3, 2, 1, "features.0"), 0.0f, 6.0f);
  struct Cfg { int t, c, n, s; };
  const Cfg cfg[] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int idx = 1;
  for (const Cfg& c : cfg)
    for (int i = 0; i < c.n; ++i, ++idx) {
      const std::string p = "features." + std::to_string(idx);
      const int64_t in = b.shape(x).at(1), out = ch(c.c, o.width), hid = in * c.t;
      const int64_t stride = i == 0 ? c.s : 1;
      std::string y = x;
      if (c.t != 1) y = b.clip(b.conv_bn(y, hid, 1, 1, 1, p + ".expand"), 0.0f, 6.0f);
      y = b.clip(b.conv_bn(y, hid, 3, stride, hid, p + ".dw"), 0.0f, 6.0f);
      y = b.conv_bn(y, out, 1, 1, 1, p + ".project");
      x = (stride == 1 && in == out) ? b.add(x, y) : y;
    }
  x = b.clip(b.conv_bn(x, ch(1280, std::max(1.0, o.width)), 1, 1, 1, "features.18"), 0.0f, 6.0f);
  x = b.flatten(b.global_avgpool(x));
  b.output(b.gemm(x, 1000));
  return b.finish();
}

// ---- VGG-11 style plain 3x3 stack (half width by default: the full net is 7.6 GMACs).
Graph vgg_like(const ZooOptions& o) {
  const int64_t r = o.resolution ? o.resolution : 224;
  GraphBuilder b("vgg_like", o.seed);
  std::string x = b.input("input", {1, 3, r, r});
  const int cfg[] = {64, -1, 128, -1, 256, 256, -1, 512, 512, -1, 512, 512, -1};
  int i = 0;
  for (int c : cfg) {
    if (c < 0) {
      x = b.maxpool(x, 2, 2, 0);
    } else {
      x = b.relu(b.conv_bn(x, ch(c, o.width * 0.5), 3, 1, 1, "features." + std::to_string(i++)));
    }
  }
  x = b.flatten(b.global_avgpool(x));
  x = b.relu(b.gemm(x, 512));
  b.output(b.gemm(x, 1000));
  return b.finish();
}

// ---- RegNetY-800MF style: grouped 3x3 bottlenecks (group width 16), squeeze-excite on the grouped
// conv's output, ReLU; then a two-layer classifier whose 4096x4096 hidden layer (at width 1) streams its 64 MiB
// of weights from DRAM. The layers real networks have and the other families lack: grouped convs between
// dense and depthwise, 1x1 convs on 1x1 maps, broadcast multiplies and far-beyond-cache GEMMs.
std::string se_bottleneck(GraphBuilder& b, const std::string& x, int64_t out, int64_t stride, int64_t group_width,
                          const std::string& name) {
  const int64_t in = b.shape(x).at(1);
  int64_t groups = std::max<int64_t>(1, out / group_width);
  while (out % groups != 0) --groups;  // width multipliers give widths the group width does not divide
  std::string y = b.relu(b.conv_bn(x, out, 1, 1, 1, name + ".a"));
  y = b.relu(b.conv_bn(y, out, 3, stride, groups, name + ".b"));
  const int64_t squeeze = std::max<int64_t>(8, in / 4);
  std::string s = b.relu(b.conv(b.global_avgpool(y), squeeze, 1, 1, 1, true, std::nullopt, 1, name + ".se.fc1"));
  s = b.sigmoid(b.conv(s, out, 1, 1, 1, true, std::nullopt, 1, name + ".se.fc2"));
  y = b.conv_bn(b.mul(y, s), out, 1, 1, 1, name + ".c");
  std::string sc = x;
  if (stride != 1 || in != out) sc = b.conv_bn(x, out, 1, stride, 1, name + ".proj");
  return b.relu(b.add(y, sc));
}

Graph regnety_like(const ZooOptions& o) {
  const int64_t r = o.resolution ? o.resolution : 224;
  GraphBuilder b("regnety_like", o.seed);
  std::string x = b.input("input", {1, 3, r, r});
  x = b.relu(b.conv_bn(x, ch(32, o.width), 3, 2, 1, "stem"));
  const int64_t widths[] = {64, 144, 320, 784};
  const int depths[] = {1, 3, 8, 2};
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < depths[s]; ++i)
      x = se_bottleneck(b, x, ch(widths[s], o.width), i == 0 ? 2 : 1, 16,
                        "s" + std::to_string(s + 1) + ".b" + std::to_string(i + 1));
  x = b.flatten(b.global_avgpool(x));
  x = b.relu(b.gemm(x, ch(4096, o.width)));
  x = b.relu(b.gemm(x, ch(4096, o.width)));
  b.output(b.gemm(x, 1000));
  return b.finish();
}

const std::map<std::string, std::function<Graph(const ZooOptions&)>>& registry() {
  static const std::map<std::string, std::function<Graph(const ZooOptions&)>> r = {
      {"yolov5s_like", yolov5s_like}, {"mobileone_s0", mobileone_s0}, {"resnet18_like", resnet18_like},
      {"mobilenetv2_like", mobilenetv2_like}, {"vgg_like", vgg_like}, {"resnet50_like", resnet50_like},
      {"regnety_like", regnety_like}};
  return r;
}

}  // namespace

const std::vector<std::string>& zoo_names() {
  static const std::vector<std::string> names = {"yolov5s_like", "mobileone_s0",  "resnet18_like",
                                                 "mobilenetv2_like", "vgg_like", "resnet50_like", "regnety_like"};
  return names;
}

Graph make_zoo_model(const std::string& name, const ZooOptions& opts) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string known;
    for (const auto& n : zoo_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("zoo:" + name, "no such built-in model (known: " + known + ")");
  }
  if (opts.width <= 0 || opts.width > 8) throw Error("zoo:" + name, "width must be in (0, 8]");
  if (opts.resolution < 0 || opts.resolution > 4096 || (opts.resolution && opts.resolution < 32))
    throw Error("zoo:" + name, "resolution must be in [32, 4096]");
  return it->second(opts);
}

}  // namespace hilsim::graph
