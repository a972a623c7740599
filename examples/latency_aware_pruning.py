#!/usr/bin/env python3
"""Latency-aware pruning of a PyTorch model with hilsim, end to end:

  1. a model (a small CNN, or torchvision's ResNet-18) trained a few steps on synthetic data;
  2. its per-layer latency on the target device (hilsim.torch.layer_costs), the table a sensitivity
     analysis starts from;
  3. a plan to a latency target on that device's profile: per-layer formats, block sizes and ratios
     keeping the most weight saliency (hilsim.torch.plan), the masks applied to the module by name;
  4. fine-tuning with the masks held (torch.nn.utils.prune), checking the zeros stay;
  5. the fine-tuned model exported to ONNX, emitted with the plan (pruned ONNX + packed weights) and
     validated on this machine: numerics against the reference, measured vs predicted latency.

    python3 examples/latency_aware_pruning.py --profile x86_avx512_2core --target-speedup 1.5 --out /tmp/lap
    python3 examples/latency_aware_pruning.py --model resnet18 --input 224 --steps 50 ...

Needs the hilsim package (pip install ./python) and torch (Debian: python3-torch, python3-torchvision).
With --cli PATH it validates with the `hilsim validate` command too.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from torch import nn

import hilsim
import hilsim.torch as ht


def small_cnn(classes):
    def block(cin, cout, stride):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())
    return nn.Sequential(block(3, 16, 1), block(16, 32, 2), block(32, 64, 1), block(64, 64, 2), block(64, 128, 1),
                         nn.Conv2d(128, 128, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def make_model(name, classes):
    if name == "small":
        return small_cnn(classes)
    if name == "resnet18":
        import torchvision
        return torchvision.models.resnet18(num_classes=classes)
    raise SystemExit(f"--model: unknown '{name}' (small, resnet18)")


def batch(n, size, classes, gen):
    """Synthetic but learnable: the label is which horizontal band of the image is brightest."""
    x = torch.rand(n, 3, size, size, generator=gen) * 0.5
    y = torch.randint(0, classes, (n,), generator=gen)
    band = size // classes
    for i in range(n):
        x[i, :, y[i] * band:(y[i] + 1) * band, :] += 0.5
    return x, y


def train(model, steps, size, classes, gen, lr):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss = None
    for _ in range(steps):
        x, y = batch(16, size, classes, gen)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss) if loss is not None else float("nan")


def accuracy(model, size, classes, gen):
    model.eval()
    x, y = batch(64, size, classes, gen)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="small", help="small or resnet18 (random weights, nothing downloaded)")
    ap.add_argument("--input", type=int, default=32, help="input height and width")
    ap.add_argument("--profile", default="x86_avx512_2core", help="a bundled profile's name or a profile file")
    ap.add_argument("--target-speedup", type=float, default=1.5, help="latency target as speed-up over dense")
    ap.add_argument("--formats", default="block,pattern", help="formats the planner may use")
    ap.add_argument("--steps", type=int, default=20, help="training steps before and fine-tuning steps after")
    ap.add_argument("--repeat", type=int, default=10, help="timed runs of the validation")
    ap.add_argument("--out", required=True, help="directory for the exported and emitted model")
    ap.add_argument("--cli", help="the hilsim command, to validate with `hilsim validate` as well")
    a = ap.parse_args()
    classes = 4
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    profile = hilsim.profile_path(a.profile)
    model = make_model(a.model, classes)
    example = torch.rand(1, 3, a.input, a.input)
    os.makedirs(a.out, exist_ok=True)

    loss = train(model, a.steps, a.input, classes, gen, 0.05)
    print(f"1. {a.model} at {a.input}x{a.input}: {a.steps} training steps, loss {loss:.3f}, "
          f"accuracy {accuracy(model, a.input, classes, gen):.2f}")

    costs = ht.layer_costs(model, example, profile, setting="block:8x4@0.8")
    print(f"2. per-layer latency on {os.path.basename(profile)} (dense, and block 8x4 at 80%):")
    for name, row in sorted(costs.items(), key=lambda kv: -kv[1]["dense_ms"])[:6]:
        print(f"   {name:28s} {row['type']:8s} {row['dense_ms']:8.4f} ms -> {row['sparse_ms']:8.4f} ms")

    plan = ht.plan(model, example, profile, target_speedup=a.target_speedup, formats=a.formats)
    print(f"3. plan: {plan.predicted_ms:.3f} ms predicted (dense {plan.dense_ms:.3f} ms, target {a.target_speedup}x), "
          f"mean kept saliency {plan.plan.saliency:.3f}")
    for name, s in plan.layers.items():
        if s["format"] != "dense":
            shape = "x".join(map(str, s["block"])) if "block" in s else f"{s.get('entries', '')}EP"
            print(f"   {name:28s} {s['format']:8s} {shape:6s} ratio {s.get('ratio', 0):.2f}  "
                  f"kept saliency {s['kept_saliency']:.3f}")
    ht.apply_plan(model, plan)
    print(f"   accuracy with the masks, before fine-tuning: {accuracy(model, a.input, classes, gen):.2f}")

    loss = train(model, a.steps, a.input, classes, gen, 0.02)
    modules = dict(model.named_modules())
    for name, mask in plan.masks.items():
        if torch.any(modules[name].weight[~mask] != 0):
            raise SystemExit(f"fine-tuning moved masked weights of '{name}'")
    print(f"4. fine-tuned {a.steps} steps with the masks held: loss {loss:.3f}, "
          f"accuracy {accuracy(model, a.input, classes, gen):.2f}, masked weights still zero")

    onnx_path = os.path.join(a.out, "pruned_finetuned.onnx")
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, example, onnx_path, opset_version=13)
    plan_path = os.path.join(a.out, "plan.json")
    plan.save(plan_path)
    emitted = os.path.join(a.out, "emitted")
    # The plan applies to the fine-tuned export (same ops and shapes); its masks, recomputed from the
    # fine-tuned weights, keep exactly the weights fine-tuning kept.
    again = plan.plan.masks(onnx_path)
    for name, mask in plan.masks.items():
        if not torch.equal(torch.from_numpy(again[plan.op_of_module[name]]["keep"]).bool(), mask):
            raise SystemExit(f"emit would prune '{name}' differently from the masks fine-tuning held")
    hilsim.emit(onnx_path, plan.plan, emitted)
    v = hilsim.validate(emitted, profile, repeat=a.repeat)
    print(f"5. emitted to {emitted}; validate: numerics {'ok' if v['numerics_ok'] else 'FAILED'} "
          f"(max rel err {v['max_rel_err']:.2g}), measured p10 {v['measured_ms_p10']:.3f} ms here vs "
          f"{v['predicted_ms']:.3f} ms predicted on the profile")
    if not v["numerics_ok"]:
        return 1
    if a.cli:
        out = subprocess.run([a.cli, "validate", emitted, "--profile", profile, "--repeat", str(a.repeat), "--json"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        j = json.loads(out.stdout)
        print(f"   hilsim validate: numerics_ok {j['numerics_ok']}, measured p10 {j['measured_ms_p10']:.3f} ms, "
              f"predicted {j['predicted_ms']:.3f} ms")
        if not j["numerics_ok"]:
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except hilsim.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
