"""Exports torchvision models to ONNX the way users do (torch.onnx.export, dynamic batch), with a
random input and PyTorch's own output beside each, so the C++ tests can check hilsim's importer,
reference executor and graph executor against PyTorch itself.

Usage: export_torchvision.py OUT_DIR
Writes OUT_DIR/NAME.onnx, NAME.input.bin, NAME.output.bin (raw little-endian float32) and index.txt
(NAME H W OUTPUT_ELEMENTS per line).
"""
import os
import sys

import torch
import torchvision

class PadNet(torch.nn.Module):
    """Explicit pads as users write them: zero (folds into the conv), reflect, replicate, and a zero
    pad before a max pool (does not fold), then a mean over H, W (ReduceMean)."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Sequential(torch.nn.ZeroPad2d((1, 2, 1, 0)), torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
        self.c2 = torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(8, 8, 3), torch.nn.LeakyReLU(0.1))
        self.c3 = torch.nn.Sequential(torch.nn.ReplicationPad2d(2), torch.nn.Conv2d(8, 8, 5), torch.nn.Tanh())
        self.pool = torch.nn.Sequential(torch.nn.ZeroPad2d((0, 1, 0, 1)), torch.nn.MaxPool2d(2))

    def forward(self, x):
        return self.pool(self.c3(self.c2(self.c1(x)))).mean(dim=(2, 3))


class SegmentationOut(torch.nn.Module):
    """The "out" map of a torchvision segmentation model (they return a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


MODELS = [
    # name, constructor, resolution, opset: small inputs keep the naive reference fast
    ("resnet18", lambda: torchvision.models.resnet18(), 64, 13),
    ("mobilenet_v2", lambda: torchvision.models.mobilenet_v2(), 64, 13),
    ("mobilenet_v3_small", lambda: torchvision.models.mobilenet_v3_small(), 64, 13),
    ("shufflenet_v2_x0_5", lambda: torchvision.models.shufflenet_v2_x0_5(), 64, 13),
    ("squeezenet1_1", lambda: torchvision.models.squeezenet1_1(), 64, 13),
    ("efficientnet_b0", lambda: torchvision.models.efficientnet_b0(), 64, 13),
    # Standalone BN + ReLU before each conv, average pools behind explicit pads.
    ("densenet121", lambda: torchvision.models.densenet121(), 64, 13),
    # LayerNormalization (opset 17), GELU as Erf, permutes as Transpose, Linear as MatMul.
    ("convnext_tiny", lambda: torchvision.models.convnext_tiny(), 64, 17),
    ("padnet", PadNet, 32, 13),
    # Bilinear Resize (align_corners=False) back to the input size.
    ("lraspp_mobilenet_v3_large",
     lambda: SegmentationOut(
         torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)),
     64, 13),
]


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    lines = []
    for name, make, res, opset in MODELS:
        model = make().eval()
        # Non-trivial BN statistics, as in a trained net (fresh ones are mean 0, var 1).
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        x = torch.rand(1, 3, res, res) * 2 - 1
        with torch.no_grad():
            y = model(x)
        path = os.path.join(out_dir, name + ".onnx")
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.bin"))
        y.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".output.bin"))
        lines.append(f"{name} {res} {res} {y.numel()}")
        print("exported", name)
    with open(os.path.join(out_dir, "index.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
