"""hilsim.torch as a PyTorch pruning tool uses it: names are module names, masks are the plan's own.

The masked module, exported to ONNX, must have exactly the zeros of `hilsim emit`'s pruned ONNX for the
same plan, before and after a few fine-tuning steps; bad input raises hilsim.Error naming it.
Usage: test_torch.py BUILD_DIR SOURCE_DIR
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(sys.argv[1], "python"))
try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
    import torch
    import torchvision
except ImportError as e:
    print(f"skipped: hilsim.torch's test needs torch, torchvision and onnx ({e})")
    sys.exit(0)
import hilsim  # noqa: E402
import hilsim.torch as ht  # noqa: E402
from expect import expect_error  # noqa: E402

torch.manual_seed(0)
profile = hilsim.profile_path("x86_avx512_2core")
model = torchvision.models.resnet18(num_classes=10)
x = torch.rand(1, 3, 64, 64)


# Predictions keyed by module name, cached per structure.
dense = ht.predict(model, x, profile)
assert dense["total"]["ms"] > 0
assert "layer1.0.conv1" in dense["by_module"], sorted(dense["by_module"])[:5]
sparse = ht.predict(model, x, profile, {"layer1.0.conv1": {"format": "block", "block": [8, 4], "ratio": 0.8}})
a, b = dense["by_module"]["layer1.0.conv1"], sparse["by_module"]["layer1.0.conv1"]
assert b["format"] == "block" and b["ms"] < a["ms"], (a, b)
assert sparse["by_module"]["layer1.0.conv2"]["ms"] == dense["by_module"]["layer1.0.conv2"]["ms"]
assert len(ht._EXPORTS) == 1, "the second prediction should reuse the export"
costs = ht.layer_costs(model, x, profile, setting="block:8x4@0.8")
assert costs["layer2.0.conv2"]["saved_ms"] > 0, costs["layer2.0.conv2"]
assert costs["layer2.0.downsample.0"]["type"] == "Conv2d"

# Bad input names what is wrong.
expect_error(lambda: ht.predict(model, x, profile, {"layer9.conv1": {"format": "csr", "ratio": 0.5}}), "layer9.conv1")
expect_error(lambda: ht.predict(model, x, profile, {"layer1.0.bn1": {"format": "csr", "ratio": 0.5}}), "layer1.0.bn1")


class FFT(torch.nn.Module):
    def forward(self, t):
        return torch.fft.fft2(t).real


expect_error(lambda: ht.predict(FFT(), x, profile), "cannot be exported")

# A plan's masks, applied by prune.custom_from_mask, equal emit's zeros.
import copy  # noqa: E402
original = copy.deepcopy(model)
p = ht.plan(model, x, profile, target_speedup=1.4, formats="block,pattern,csr")
assert p.predicted_ms < p.dense_ms and p.masks, p
formats = {s["format"] for s in p.layers.values()}
pruned = ht.apply_plan(model, p)
assert pruned == sorted(p.masks)
tmp = tempfile.mkdtemp(prefix="hilsim_torch_test_")
p.emit(os.path.join(tmp, "emitted"))


def conv_zeros(path):
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    # Weights torch shares between nodes come through Identity nodes.
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity"}
    out = {}
    for n in g.node:
        if n.op_type == "Conv":
            w = n.input[1]
            w = alias.get(w, w)
            out[n.name] = init[w] == 0
    return out


def masked_export_zeros(m, name):
    path = os.path.join(tmp, name)
    m.eval()
    with torch.no_grad():
        torch.onnx.export(m, x, path, opset_version=13)
    return conv_zeros(path)


emitted = conv_zeros(os.path.join(tmp, "emitted", "model.onnx"))

def check_same_zeros(mine, p, emitted):
    checked = 0
    for op, zeros in emitted.items():
        assert op in mine, (op, sorted(mine)[:5])
        assert zeros.shape == mine[op].shape, op
        assert np.array_equal(zeros, mine[op]), (op, int(zeros.sum()), int(mine[op].sum()))
        checked += int(zeros.sum() > 0)
    assert checked == len(p.masks), (checked, len(p.masks))


# Each mask family of the kernels' library, one plan each, on a copy of the model.
import json  # noqa: E402
phone = hilsim.profile_path("samsung_galaxy_s20")
for fmt in ("pattern", "csr"):
    m2 = copy.deepcopy(original)
    if fmt == "pattern":
        p2 = ht.plan(m2, x, phone, target_speedup=1.3, formats=fmt)
    else:
        # No bundled profile makes CSR pay at the planner's ratios: a plan file edited by hand, as
        # from_plan() takes it, puts the two 1x1 downsample convs in CSR (its kernels run 1x1 convs).
        j = json.loads(ht.plan(m2, x, phone, target_speedup=1.01).plan.to_json())
        for op in ("/layer2/layer2.0/downsample/downsample.0/Conv", "/layer3/layer3.0/downsample/downsample.0/Conv"):
            j["ops"][op].update({"format": "csr", "ratio": 0.85})
        path = os.path.join(tmp, "csr_plan.json")
        with open(path, "w") as f:
            json.dump(j, f)
        p2 = ht.from_plan(m2, x, path)
    assert p2.masks and {s["format"] for s in p2.layers.values()} <= {fmt, "dense", "block"}, p2.layers
    assert any(s["format"] == fmt for s in p2.layers.values()), p2.layers
    ht.apply_plan(m2, p2)
    p2.emit(os.path.join(tmp, "emitted_" + fmt))
    check_same_zeros(masked_export_zeros(m2, fmt + ".onnx"), p2, conv_zeros(os.path.join(tmp, "emitted_" + fmt, "model.onnx")))
    formats.add(fmt)

check_same_zeros(masked_export_zeros(model, "masked.onnx"), p, emitted)

# A few fine-tuning steps on synthetic data keep the zeros (the mask multiplies weight_orig).
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for step in range(3):
    xb, yb = torch.rand(4, 3, 64, 64), torch.randint(0, 10, (4,))
    loss = torch.nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
for name, mask in p.masks.items():
    w = dict(model.named_modules())[name].weight
    assert torch.all(w[~mask] == 0), name
check_same_zeros(masked_export_zeros(model, "tuned.onnx"), p, emitted)

# Masks for a model of another shape are refused before anything is pruned.
other = torchvision.models.resnet18(num_classes=10)
other.layer1[0].conv1 = torch.nn.Conv2d(64, 32, 3, padding=1, bias=False)
some = sorted(p.masks)
bad = {n: p.masks[n] for n in some if n.startswith("layer1.0.conv1")} or {some[0]: p.masks[some[0]][:1]}
expect_error(lambda: ht.apply_plan(other, bad), "layer1.0.conv1" if "layer1.0.conv1" in bad else some[0])
assert not any(n.endswith("weight_orig") for n, _ in other.named_parameters()), "a refused plan pruned something"
expect_error(lambda: ht.apply_plan(other, {"no.such": p.masks[some[0]]}), "no.such")
print(f"hilsim.torch ok: {len(p.masks)} masked modules ({', '.join(sorted(formats))}), "
      f"{p.predicted_ms:.3f} ms planned vs {p.dense_ms:.3f} ms dense, zeros equal emit's before and after fine-tuning")
