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

// One row per distinct conv: which net it is from, C, F, H=W, k, stride, in the --quick subset.
struct NetConv {
  bool yolo;  // yolov5s_like@320 (SiLU after the conv), else resnet18_like@224 (ReLU)
  int64_t c, f, hw, k, s;
  bool quick;
};
inline constexpr NetConv kNetConvs[] = {
    // YOLOv5s backbone + neck, 3x3 convs.
    {true, 3, 32, 320, 6, 2, false},
    {true, 32, 64, 160, 3, 2, false},
    {true, 32, 32, 80, 3, 1, true},
    {true, 64, 128, 80, 3, 2, false},
    {true, 64, 64, 40, 3, 1, false},
    {true, 128, 256, 40, 3, 2, false},
    {true, 128, 128, 20, 3, 1, true},
    {true, 256, 512, 20, 3, 2, false},
    {true, 256, 256, 10, 3, 1, false},
    {true, 128, 128, 40, 3, 2, false},
    {true, 256, 256, 20, 3, 2, false},
    // 1x1 convs (C3 cv1/cv2/cv3, bottleneck cv1, SPPF, neck, detect).
    {true, 64, 32, 80, 1, 1, true},
    {true, 32, 32, 80, 1, 1, false},
    {true, 64, 64, 80, 1, 1, false},
    {true, 128, 64, 40, 1, 1, false},
    {true, 64, 64, 40, 1, 1, false},
    {true, 128, 128, 40, 1, 1, false},
    {true, 256, 128, 20, 1, 1, false},
    {true, 128, 128, 20, 1, 1, false},
    {true, 256, 256, 20, 1, 1, false},
    {true, 512, 256, 10, 1, 1, true},
    {true, 256, 256, 10, 1, 1, false},
    {true, 512, 512, 10, 1, 1, false},
    {true, 1024, 512, 10, 1, 1, false},
    {true, 512, 128, 20, 1, 1, false},
    {true, 256, 64, 40, 1, 1, false},
    {true, 128, 255, 40, 1, 1, false},
    {true, 256, 255, 20, 1, 1, false},
    {true, 512, 255, 10, 1, 1, false},
    // ResNet-18.
    {false, 3, 64, 224, 7, 2, false},
    {false, 64, 64, 56, 3, 1, true},
    {false, 64, 128, 56, 3, 2, false},
    {false, 64, 128, 56, 1, 2, false},
    {false, 128, 128, 28, 3, 1, false},
    {false, 128, 256, 28, 3, 2, false},
    {false, 128, 256, 28, 1, 2, false},
    {false, 256, 256, 14, 3, 1, false},
    {false, 256, 512, 14, 3, 2, false},
    {false, 256, 512, 14, 1, 2, false},
    {false, 512, 512, 7, 3, 1, true},
};

// The depthwise convs of MobileNetV2 (3x3; ReLU here, a clamp as its ReLU6) and EfficientNet-B0 (3x3 and
// 5x5, SiLU) at 224x224, and ConvNeXt-base's 7x7 ones (pad 3, no activation: a LayerNorm follows) at
// 224x224 and at 96x96:
// net, C, H=W, k, stride, in the --quick subset.
enum class DwNet { kMobileNetV2, kEfficientNetB0, kConvNeXt224, kConvNeXt96 };
struct DepthwiseConv {
  DwNet net;
  int64_t c, hw, k, s;
  bool quick;
};
inline constexpr DwNet kMbv2 = DwNet::kMobileNetV2, kEffB0 = DwNet::kEfficientNetB0;
inline constexpr DepthwiseConv kDepthwiseConvs[] = {
    {kMbv2, 32, 112, 3, 1, false},   {kMbv2, 96, 112, 3, 2, true},    {kMbv2, 144, 56, 3, 1, true},
    {kMbv2, 144, 56, 3, 2, false},   {kMbv2, 192, 28, 3, 1, true},    {kMbv2, 192, 28, 3, 2, false},
    {kMbv2, 384, 14, 3, 1, true},    {kMbv2, 576, 14, 3, 1, false},   {kMbv2, 576, 14, 3, 2, false},
    {kMbv2, 960, 7, 3, 1, true},     {kEffB0, 240, 56, 5, 2, false},  {kEffB0, 240, 28, 5, 1, true},
    {kEffB0, 480, 14, 5, 1, false},  {kEffB0, 672, 14, 5, 1, false},  {kEffB0, 672, 14, 5, 2, true},
    {kEffB0, 1152, 7, 5, 1, false},  {kEffB0, 1152, 7, 3, 1, false},
    {DwNet::kConvNeXt224, 128, 56, 7, 1, false}, {DwNet::kConvNeXt224, 256, 28, 7, 1, true},
    {DwNet::kConvNeXt224, 512, 14, 7, 1, true},  {DwNet::kConvNeXt224, 1024, 7, 7, 1, false},
    {DwNet::kConvNeXt96, 128, 24, 7, 1, false},  {DwNet::kConvNeXt96, 256, 12, 7, 1, false},
    {DwNet::kConvNeXt96, 512, 6, 7, 1, false},   {DwNet::kConvNeXt96, 1024, 3, 7, 1, false},
};

inline const std::vector<LayerShape>& depthwise_shapes() {
  static const std::vector<LayerShape> v = [] {
    std::vector<LayerShape> out;
    for (const DepthwiseConv& d : kDepthwiseConvs) {
      kernels::ConvShape s = conv_shape(d.c, d.c, d.hw, d.k, d.s, d.c);
      switch (d.net) {
        case DwNet::kMobileNetV2: out.push_back({"mobilenetv2@224", s, kernels::Act::kRelu, d.quick}); break;
        case DwNet::kEfficientNetB0: out.push_back({"efficientnet_b0@224", s, kernels::Act::kSiLU, d.quick}); break;
        case DwNet::kConvNeXt224: out.push_back({"convnext_base@224", s, kernels::Act::kNone, d.quick}); break;
        case DwNet::kConvNeXt96: out.push_back({"convnext_base@96", s, kernels::Act::kNone, d.quick}); break;
      }
    }
    return out;
  }();
  return v;
}

inline const std::vector<LayerShape>& layer_shapes() {
  static const std::vector<LayerShape> v = [] {
    std::vector<LayerShape> out;
    for (const NetConv& n : kNetConvs)
      out.push_back({n.yolo ? "yolov5s_like@320" : "resnet18_like@224", conv_shape(n.c, n.f, n.hw, n.k, n.s),
                     n.yolo ? kernels::Act::kSiLU : kernels::Act::kRelu, n.quick});
    return out;
  }();
  return v;
}

}  // namespace hilsim::bench
