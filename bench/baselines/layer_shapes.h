// The conv layer shapes the kernel benchmarks run: the distinct conv shapes of YOLOv5s (v6 layout:
// width 0.5, depth 0.33) at 320x320 and of ResNet-18 at 224x224, batch 1. One list feeds
// `hilsim bench-kernels`, the Google Benchmark suite and (if wanted) calibration grids.
#pragma once

#include <string>
#include <vector>

#include "hilsim/kernels/conv_desc.h"

namespace hilsim::bench {

struct LayerShape {
  std::string net;  // "yolov5s_like@320" | "resnet18_like@224"
  kernels::ConvShape shape;
  kernels::Act act;  // the activation fused after the conv in that net
  bool quick;        // part of the --quick subset
};

inline kernels::ConvShape conv_shape(int64_t c, int64_t f, int64_t hw, int64_t k, int64_t s, int64_t groups = 1) {
  kernels::ConvShape x;
  x.c = c, x.f = f, x.h = x.w = hw, x.kh = x.kw = k, x.stride_h = x.stride_w = s, x.groups = groups;
  // "same" padding for odd k; the YOLOv5 v6 stem is 6x6 s2 p2.
  x.pad_top = x.pad_left = x.pad_bottom = x.pad_right = k == 6 ? 2 : (k - 1) / 2;
  return x;
}

inline const std::vector<LayerShape>& layer_shapes() {
  using kernels::Act;
  static const std::vector<LayerShape> v = [] {
    std::vector<LayerShape> out;
    auto y = [&](int64_t c, int64_t f, int64_t hw, int64_t k, int64_t s, bool quick = false) {
      out.push_back({"yolov5s_like@320", conv_shape(c, f, hw, k, s), Act::kSiLU, quick});
    };
    auto r = [&](int64_t c, int64_t f, int64_t hw, int64_t k, int64_t s, bool quick = false) {
      out.push_back({"resnet18_like@224", conv_shape(c, f, hw, k, s), Act::kRelu, quick});
    };
    // YOLOv5s backbone + neck, 3x3 convs.
    y(3, 32, 320, 6, 2);
    y(32, 64, 160, 3, 2);
    y(32, 32, 80, 3, 1, true);
    y(64, 128, 80, 3, 2);
    y(64, 64, 40, 3, 1);
    y(128, 256, 40, 3, 2);
    y(128, 128, 20, 3, 1, true);
    y(256, 512, 20, 3, 2);
    y(256, 256, 10, 3, 1);
    y(128, 128, 40, 3, 2);
    y(256, 256, 20, 3, 2);
    // 1x1 convs (C3 cv1/cv2/cv3, bottleneck cv1, SPPF, neck, detect).
    y(64, 32, 80, 1, 1, true);
    y(32, 32, 80, 1, 1);
    y(64, 64, 80, 1, 1);
    y(128, 64, 40, 1, 1);
    y(64, 64, 40, 1, 1);
    y(128, 128, 40, 1, 1);
    y(256, 128, 20, 1, 1);
    y(128, 128, 20, 1, 1);
    y(256, 256, 20, 1, 1);
    y(512, 256, 10, 1, 1, true);
    y(256, 256, 10, 1, 1);
    y(512, 512, 10, 1, 1);
    y(1024, 512, 10, 1, 1);
    y(512, 128, 20, 1, 1);
    y(256, 64, 40, 1, 1);
    y(128, 255, 40, 1, 1);
    y(256, 255, 20, 1, 1);
    y(512, 255, 10, 1, 1);
    // ResNet-18.
    r(3, 64, 224, 7, 2);
    r(64, 64, 56, 3, 1, true);
    r(64, 128, 56, 3, 2);
    r(64, 128, 56, 1, 2);
    r(128, 128, 28, 3, 1);
    r(128, 256, 28, 3, 2);
    r(128, 256, 28, 1, 2);
    r(256, 256, 14, 3, 1);
    r(256, 512, 14, 3, 2);
    r(256, 512, 14, 1, 2);
    r(512, 512, 7, 3, 1, true);
    return out;
  }();
  return v;
}

}  // namespace hilsim::bench
