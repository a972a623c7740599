"""The real-model suite: networks exported from PyTorch the way users export them (torch.onnx.export,
dynamic batch, random weights, nothing downloaded), so that hilsim is tried on models nothing in the
project was tuned on. torchvision classifiers from the families real pruning work uses, plus
YOLO-style detectors written here in PyTorch (a YOLOv5-style net with C3 blocks and an anchor decode,
and a YOLOv8-style net with C2f blocks and a decoupled, DFL head).

Usage: real_models.py OUT_DIR [--suite test|bench|baseline|NAME[,NAME...]] [--opset N]
  test   small inputs, every op family the suite has; writes NAME.input.bin / NAME.output.bin
         (PyTorch's own output, raw little-endian float32) beside each model for numerics checks
  bench  the benchmark set (bench-predictor --models-dir): each model at two input sizes
  baseline  ResNet-18/50, MobileNetV2, EfficientNet-B0 at 224 and a YOLOv5s-style net at 320, the models
         scripts/compare_ort.py times on ONNX Runtime and on hilsim
Writes OUT_DIR/NAME.onnx and OUT_DIR/index.txt, one line per model: NAME H W OUTPUT_ELEMENTS.
Models already exported (same name, file present) are kept, so a second call costs nothing.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torchvision.models as tvm


# ---------------------------------------------------------------------------------------- YOLO-style
def make_divisible(x, d=8):
    return int(math.ceil(x / d) * d)


class ConvBnAct(nn.Module):
    """Conv + BN + SiLU with 'same' padding, the detectors' basic layer."""

    def __init__(self, c1, c2, k=1, s=1, p=None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, e=1.0):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = ConvBnAct(c1, c_, 1)
        self.cv2 = ConvBnAct(c_, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class Bottleneck33(Bottleneck):
    """YOLOv8's bottleneck: two 3x3 convs."""

    def __init__(self, c1, c2, shortcut=True):
        super().__init__(c1, c2, shortcut)
        self.cv1 = ConvBnAct(c1, c2, 3)


class C3(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True):
        super().__init__()
        c_ = c2 // 2
        self.cv1 = ConvBnAct(c1, c_, 1)
        self.cv2 = ConvBnAct(c1, c_, 1)
        self.cv3 = ConvBnAct(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = ConvBnAct(c1, 2 * self.c, 1)
        self.cv2 = ConvBnAct((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck33(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))  # exported as Split
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = ConvBnAct(c1, c_, 1)
        self.cv2 = ConvBnAct(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class YoloV5(nn.Module):
    """YOLOv5 v6 layout (C3, SPPF, PANet) with the export-time anchor decode (Sigmoid, Split, Pow, grids)."""

    def __init__(self, depth, width, nc=80, img=320):
        super().__init__()
        ch = lambda c: make_divisible(c * width)
        n = lambda k: max(round(k * depth), 1)
        self.b0 = ConvBnAct(3, ch(64), 6, 2, 2)
        self.b1 = ConvBnAct(ch(64), ch(128), 3, 2)
        self.b2 = C3(ch(128), ch(128), n(3))
        self.b3 = ConvBnAct(ch(128), ch(256), 3, 2)
        self.b4 = C3(ch(256), ch(256), n(6))
        self.b5 = ConvBnAct(ch(256), ch(512), 3, 2)
        self.b6 = C3(ch(512), ch(512), n(9))
        self.b7 = ConvBnAct(ch(512), ch(1024), 3, 2)
        self.b8 = C3(ch(1024), ch(1024), n(3))
        self.b9 = SPPF(ch(1024), ch(1024))
        self.h10 = ConvBnAct(ch(1024), ch(512), 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h13 = C3(ch(1024), ch(512), n(3), False)
        self.h14 = ConvBnAct(ch(512), ch(256), 1)
        self.h17 = C3(ch(512), ch(256), n(3), False)
        self.h18 = ConvBnAct(ch(256), ch(256), 3, 2)
        self.h20 = C3(ch(512), ch(512), n(3), False)
        self.h21 = ConvBnAct(ch(512), ch(512), 3, 2)
        self.h23 = C3(ch(1024), ch(1024), n(3), False)
        self.no, self.na = nc + 5, 3
        self.detect = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in (ch(256), ch(512), ch(1024)))
        anchors = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
                               dtype=torch.float32).view(3, 3, 2)
        self.strides = (8, 16, 32)
        for i, s in enumerate(self.strides):
            ny, nx = img // s, img // s
            yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
            self.register_buffer(f"grid{i}", (torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float() - 0.5))
            self.register_buffer(f"anchor{i}", anchors[i].view(1, 3, 1, 1, 2).expand(1, 3, ny, nx, 2).clone())

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        x = self.b9(self.b8(self.b7(p4)))
        h10 = self.h10(x)
        h14 = self.h14(self.h13(torch.cat((self.up(h10), p4), 1)))
        o3 = self.h17(torch.cat((self.up(h14), p3), 1))
        o4 = self.h20(torch.cat((self.h18(o3), h14), 1))
        o5 = self.h23(torch.cat((self.h21(o4), h10), 1))
        z = []
        for i, o in enumerate((o3, o4, o5)):
            y = self.detect[i](o)
            bs, _, ny, nx = y.shape
            y = y.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
            xy, wh, conf = y.split((2, 2, self.no - 4), 4)
            xy = (xy * 2 + getattr(self, f"grid{i}")) * self.strides[i]
            wh = (wh * 2) ** 2 * getattr(self, f"anchor{i}")
            z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return torch.cat(z, 1)


class YoloV8(nn.Module):
    """YOLOv8 layout (C2f, SPPF, decoupled head) with the DFL box decode (Transpose, Softmax, 1x1 conv)."""

    def __init__(self, depth, width, nc=80, reg_max=16):
        super().__init__()
        ch = lambda c: make_divisible(c * width)
        n = lambda k: max(round(k * depth), 1)
        self.b0 = ConvBnAct(3, ch(64), 3, 2)
        self.b1 = ConvBnAct(ch(64), ch(128), 3, 2)
        self.b2 = C2f(ch(128), ch(128), n(3), True)
        self.b3 = ConvBnAct(ch(128), ch(256), 3, 2)
        self.b4 = C2f(ch(256), ch(256), n(6), True)
        self.b5 = ConvBnAct(ch(256), ch(512), 3, 2)
        self.b6 = C2f(ch(512), ch(512), n(6), True)
        self.b7 = ConvBnAct(ch(512), ch(1024), 3, 2)
        self.b8 = C2f(ch(1024), ch(1024), n(3), True)
        self.b9 = SPPF(ch(1024), ch(1024))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.h12 = C2f(ch(1024) + ch(512), ch(512), n(3))
        self.h15 = C2f(ch(512) + ch(256), ch(256), n(3))
        self.h16 = ConvBnAct(ch(256), ch(256), 3, 2)
        self.h18 = C2f(ch(256) + ch(512), ch(512), n(3))
        self.h19 = ConvBnAct(ch(512), ch(512), 3, 2)
        self.h21 = C2f(ch(512) + ch(1024), ch(1024), n(3))
        self.nc, self.reg_max = nc, reg_max
        levels = (ch(256), ch(512), ch(1024))
        c2, c3 = max(16, levels[0] // 4, reg_max * 4), max(levels[0], min(nc, 100))
        self.box = nn.ModuleList(
            nn.Sequential(ConvBnAct(c, c2, 3), ConvBnAct(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1)) for c in levels)
        self.cls = nn.ModuleList(
            nn.Sequential(ConvBnAct(c, c3, 3), ConvBnAct(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for c in levels)
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p3 = self.b4(self.b3(x))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        o3 = self.h15(torch.cat((self.up(h12), p3), 1))
        o4 = self.h18(torch.cat((self.h16(o3), h12), 1))
        o5 = self.h21(torch.cat((self.h19(o4), p5), 1))
        outs = []
        for i, o in enumerate((o3, o4, o5)):
            outs.append(torch.cat((self.box[i](o), self.cls[i](o)), 1).flatten(2))
        y = torch.cat(outs, 2)
        b, _, a = y.shape
        box, cls = y.split((4 * self.reg_max, self.nc), 1)
        box = self.dfl(box.view(b, 4, self.reg_max, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        return torch.cat((box, cls.sigmoid()), 1)


class PadNet(nn.Module):
    """Explicit pads as users write them: zero (folds into the conv), reflect, replicate, and a zero
    pad before a max pool (does not fold), then a mean over H, W (ReduceMean)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 0)), nn.Conv2d(3, 8, 3), nn.ReLU())
        self.c2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(8, 8, 3), nn.LeakyReLU(0.1))
        self.c3 = nn.Sequential(nn.ReplicationPad2d(2), nn.Conv2d(8, 8, 5), nn.Tanh())
        self.pool = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2))

    def forward(self, x):
        return self.pool(self.c3(self.c2(self.c1(x)))).mean(dim=(2, 3))


class SegmentationOut(nn.Module):
    """The "out" map of a torchvision segmentation model (they return a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


# ---------------------------------------------------------------------------------------- the suites
def tv(name, **kw):
    return lambda: getattr(tvm, name)(weights=None, **kw)


# (name, constructor, input sizes[, opset]; else the command's, 13 by default). The benchmark set keeps
# each model's 1-thread dense run in the 10-200 ms range so that a full bench-predictor pass stays within
# minutes.
BENCH = [
    # VGG's adaptive pool exports only where 7 divides its input (224 / 32).
    ("vgg13", tv("vgg13"), (224,)),
    ("vgg16_bn", tv("vgg16_bn"), (224,)),
    ("resnet34", tv("resnet34"), (160, 224)),
    ("resnet101", tv("resnet101"), (128, 160)),
    ("resnext101_32x8d", tv("resnext101_32x8d"), (96, 128)),
    ("wide_resnet101_2", tv("wide_resnet101_2"), (96, 128)),
    ("regnet_x_800mf", tv("regnet_x_800mf"), (160, 224)),
    ("regnet_y_1_6gf", tv("regnet_y_1_6gf"), (160, 224)),
    ("regnet_y_3_2gf", tv("regnet_y_3_2gf"), (128, 160)),
    ("mnasnet0_75", tv("mnasnet0_75"), (160, 224)),
    ("mnasnet1_3", tv("mnasnet1_3"), (160, 224)),
    ("shufflenet_v2_x0_5", tv("shufflenet_v2_x0_5"), (160, 224)),
    ("shufflenet_v2_x2_0", tv("shufflenet_v2_x2_0"), (160, 224)),
    ("squeezenet1_0", tv("squeezenet1_0"), (160, 224)),
    ("densenet161", tv("densenet161"), (96, 128)),
    ("efficientnet_b2", tv("efficientnet_b2"), (160, 224)),
    ("efficientnet_b3", tv("efficientnet_b3"), (128, 160)),
    ("mobilenet_v3_large_075", tv("mobilenet_v3_large", width_mult=0.75), (160, 224)),
    ("convnext_base", tv("convnext_base"), (96, 128), 17),
    ("inception_v3", tv("inception_v3", aux_logits=False, init_weights=True), (160, 224)),
    ("yolov5n", lambda img: YoloV5(0.33, 0.25, img=img), (320, 416)),
    ("yolov5m", lambda img: YoloV5(0.67, 0.75, img=img), (224, 320)),
    ("yolov8s", lambda img: YoloV8(0.33, 0.50), (224, 320)),
]

# What users would run instead: the models and sizes that scripts/compare_ort.py times on ONNX Runtime and
# on hilsim (a YOLOv5s-sized detector at 320).
BASELINE = [
    ("resnet18", tv("resnet18"), (224,)),
    ("resnet50", tv("resnet50"), (224,)),
    ("mobilenet_v2", tv("mobilenet_v2"), (224,)),
    ("yolov5s", lambda img: YoloV5(0.33, 0.50, img=img), (320,)),
    ("efficientnet_b0", tv("efficientnet_b0"), (224,)),
]

# Small inputs so that the naive reference executor stays quick; together they hold every op family
# of the benchmark set (standalone BN, explicit Pad, channel shuffle, SE blocks, LayerNorm and GELU,
# Split/Pow/Transpose/Softmax in the detector heads).
TEST = [
    ("resnet18", tv("resnet18"), (64,)),
    ("mobilenet_v2", tv("mobilenet_v2"), (64,)),
    ("mobilenet_v3_small", tv("mobilenet_v3_small"), (64,)),
    ("shufflenet_v2_x0_5", tv("shufflenet_v2_x0_5"), (64,)),
    ("squeezenet1_1", tv("squeezenet1_1"), (64,)),
    ("efficientnet_b0", tv("efficientnet_b0"), (64,)),
    ("densenet121", tv("densenet121"), (64,)),
    ("regnet_y_400mf", tv("regnet_y_400mf"), (64,)),
    ("mnasnet0_5", tv("mnasnet0_5"), (64,)),
    # LayerNormalization (opset 17) and, below it, the ReduceMean/Sub/Pow/Sqrt/Div chain; GELU as Erf;
    # permutes as Transpose, Linear as MatMul.
    ("convnext_tiny", tv("convnext_tiny"), (64,), 17),
    ("convnext_tiny_opset13", tv("convnext_tiny"), (64,), 13),
    # Average pools behind explicit pads.
    ("inception_v3", tv("inception_v3", aux_logits=False, init_weights=True), (96,)),
    ("padnet", PadNet, (32,)),
    # Bilinear Resize back to the input size.
    ("lraspp_mobilenet_v3_large",
     lambda: SegmentationOut(tvm.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)), (64,)),
    ("yolov5n", lambda img: YoloV5(0.33, 0.25, img=img), (96,)),
    ("yolov8n", lambda img: YoloV8(0.33, 0.25), (96,)),
]


def build(make, img):
    try:
        return make(img)
    except TypeError:
        return make()


def export(out_dir, suite, opset, with_io):
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    for name, make, sizes, *rest in suite:
        model_opset = rest[0] if rest else opset
        for img in sizes:
            tag = f"{name}_{img}" if not with_io else name
            path = os.path.join(out_dir, tag + ".onnx")
            io_path = os.path.join(out_dir, tag + ".output.bin")
            meta = os.path.join(out_dir, tag + ".meta")
            if os.path.exists(path) and os.path.exists(meta) and (not with_io or os.path.exists(io_path)):
                with open(meta) as f:
                    lines.append(f.read().strip())
                continue
            torch.manual_seed(0)
            model = build(make, img).eval()
            # Non-trivial BN statistics and LayerNorm affines, as in a trained net.
            with torch.no_grad():
                for m in model.modules():
                    if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)) and m.weight is not None:
                        m.weight.uniform_(0.5, 1.5)
                        m.bias.uniform_(-0.2, 0.2)
                    if isinstance(m, nn.BatchNorm2d):
                        m.running_mean.uniform_(-0.2, 0.2)
                        m.running_var.uniform_(0.5, 1.5)
            x = torch.rand(1, 3, img, img) * 2 - 1
            with torch.no_grad():
                y = model(x)
            torch.onnx.export(model, x, path, opset_version=model_opset, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
            if with_io:
                x.numpy().astype("<f4").tofile(os.path.join(out_dir, tag + ".input.bin"))
                y.numpy().astype("<f4").tofile(io_path)
            line = f"{tag} {img} {img} {y.numel()}"
            with open(meta, "w") as f:
                f.write(line + "\n")
            lines.append(line)
            print("exported", tag, flush=True)
    with open(os.path.join(out_dir, "index.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv):
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.exit(__doc__)
    out_dir, which, opset = argv[1], "test", 13
    rest = argv[2:]
    while rest:
        flag = rest.pop(0)
        if flag in ("--suite", "--opset") and rest:
            value = rest.pop(0)
            if flag == "--suite":
                which = value
            else:
                opset = int(value)
        else:
            sys.exit(f"real_models.py: unknown argument '{flag}'\n" + __doc__)
    if which == "test":
        export(out_dir, TEST, opset, True)
    elif which == "bench":
        export(out_dir, BENCH, opset, False)
    elif which == "baseline":
        export(out_dir, BASELINE, opset, False)
    else:
        names = which.split(",")
        known = {e[0]: e for e in BENCH + TEST}
        unknown = [n for n in names if n not in known]
        if unknown:
            sys.exit("real_models.py: unknown model(s) " + ", ".join(unknown) + "; known: " + ", ".join(sorted(known)))
        export(out_dir, [known[n] for n in names], opset, False)


if __name__ == "__main__":
    main(sys.argv)
