"""hilsim for torch.nn.Module: predictions, plans and masks keyed by module names ("layer1.0.conv1").

    import hilsim.torch as ht
    r = ht.predict(model, x, profile, {"layer1.0.conv1": {"format": "block", "block": [8, 4], "ratio": 0.8}})
    r["by_module"]["layer1.0.conv1"]["ms"]
    p = ht.plan(model, x, profile, target_speedup=2.0, formats="block,pattern")
    ht.apply_plan(model, p)        # torch.nn.utils.prune.custom_from_mask: fine-tuning keeps the zeros
    ht.layer_costs(model, x, profile, setting="block:8x4@0.8")

The module is exported with torch.onnx.export (eval mode, so BatchNorm folds into its conv as hilsim's
own canonical passes do). ONNX node names carry the module scope ("/layer1/layer1.0/conv1/Conv"),
which maps each op back to its module. Exports for predictions are cached per module structure and
input shape; a plan exports again, since its masks come from the current weights.
Bad input (an unknown module name, a mask of another shape, a module that cannot be exported) raises
hilsim.Error naming it.
"""
import hashlib
import os
import tempfile
import warnings

import torch
from torch.nn.utils import prune

from . import Error, Plan, Predictor, emit as _emit, load_plan, plan as _plan

_EXPORTS = {}      # structure key -> _Export
_PREDICTORS = {}   # (structure key, profile, threads, unit) -> Predictor
_TMP = tempfile.TemporaryDirectory(prefix="hilsim_torch_")


def _inputs(example_input):
    return example_input if isinstance(example_input, tuple) else (example_input,)


def _structure_key(module, example_input):
    """What a prediction depends on: the modules' configuration, parameter shapes, input shapes."""
    h = hashlib.sha256()
    h.update(repr(module).encode())
    for n, p in list(module.named_parameters()) + list(module.named_buffers()):
        h.update(f"{n}:{tuple(p.shape)}:{p.dtype};".encode())
    for x in _inputs(example_input):
        if not torch.is_tensor(x):
            raise Error(f"example_input: expected a tensor or a tuple of tensors, got {type(x).__name__}")
        h.update(f"in:{tuple(x.shape)}:{x.dtype};".encode())
    return h.hexdigest()[:24]


def module_of_op(op, modules):
    """The module an ONNX node belongs to, by its scope name ("/layer1/layer1.0/conv1/Conv" ->
    "layer1.0.conv1"); "" (the root) for ops in the top-level forward; None when the name is not scoped.
    A scope component is the child's attribute name ("conv1") or, below a container, the container's
    name with the child's ("layer1.0", "downsample.0")."""
    if not op.startswith("/"):
        return None
    cur = ""
    for c in op.split("/")[1:-1]:
        parent = cur.rpartition(".")[0]
        for cand in (f"{cur}.{c}" if cur else c, f"{parent}.{c}" if parent else c):
            if cand in modules:
                cur = cand
                break
        else:
            return None
    return cur


class _Export:
    def __init__(self, module, example_input, key):
        self.key = key
        self.path = os.path.join(_TMP.name, f"{key}_{len(os.listdir(_TMP.name))}.onnx")
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, _inputs(example_input), self.path, opset_version=13,
                                  do_constant_folding=True)
        except Exception as e:  # the exporter raises many types; all mean "cannot be exported"
            raise Error(f"module {type(module).__name__}: cannot be exported to ONNX: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        finally:
            module.train(was_training)
        self.modules = dict(module.named_modules())


def _export(module, example_input, cached=True):
    key = _structure_key(module, example_input)
    if cached and key in _EXPORTS:
        return _EXPORTS[key]
    ex = _Export(module, example_input, key)
    if cached:
        _EXPORTS[key] = ex
    return ex


def _predictor(ex, profile, threads, unit):
    k = (ex.key, os.fspath(profile), threads, unit)
    if k not in _PREDICTORS:
        _PREDICTORS[k] = Predictor(ex.path, profile, threads=threads, unit=unit)
    return _PREDICTORS[k]


def _op_map(pred, ex):
    """module name -> the canonical ops it holds (convs and gemms a config may name)."""
    out = {}
    for op, _ in pred.prunable_ops():
        m = module_of_op(op, ex.modules)
        if m is not None:
            out.setdefault(m, []).append(op)
    return out


def _to_ops(config, by_module, modules):
    if config is None or isinstance(config, str):
        return config
    ops = {}
    for name, setting in config.items():
        if name not in by_module:
            if name in modules:
                raise Error(f"config: module '{name}' ({type(modules[name]).__name__}) is not a prunable conv or "
                            "linear layer of the exported model")
            raise Error(f"config: module '{name}': the model has no module of that name")
        for op in by_module[name]:
            ops[op] = setting
    return ops


def predict(module, example_input, profile, config=None, threads=None, unit=""):
    """hilsim.Predictor.predict for a torch.nn.Module. config: {module name: {format, block, ratio, entries}}
    or a uniform SPEC ("block:8x4@0.8"). Returns the ops (each with its "module") and totals, plus
    "by_module": {module name: {ms, bytes, energy_mj, macs, executed_macs, format}} summed over its ops."""
    ex = _export(module, example_input)
    pred = _predictor(ex, profile, threads, unit)
    r = pred.predict(_to_ops(config, _op_map(pred, ex), ex.modules))
    by_module = {}
    for o in r["ops"]:
        m = module_of_op(o["name"], ex.modules)
        o["module"] = m
        if m is None:
            continue
        b = by_module.setdefault(m, {"ms": 0.0, "bytes": 0, "energy_mj": 0.0, "macs": 0, "executed_macs": 0,
                                     "format": o["format"], "ops": []})
        for k in ("ms", "bytes", "energy_mj", "macs", "executed_macs"):
            b[k] += o[k]
        b["ops"].append(o["name"])
    r["by_module"] = by_module
    return r


def layer_costs(module, example_input, profile, setting=None, threads=None, unit=""):
    """Per prunable layer (module name): dense_ms, and with setting ("block:8x4@0.8" or a setting dict)
    the layer's ms under it with every other layer dense (sparse_ms, saved_ms): the latency table of a
    pruning tool's sensitivity analysis. Rows are in the model's order."""
    ex = _export(module, example_input)
    pred = _predictor(ex, profile, threads, unit)
    by_module = _op_map(pred, ex)
    dense = {o["name"]: o["ms"] for o in pred.predict()["ops"]}
    sparse = None
    if setting is not None:
        sparse = {o["name"]: o["ms"] for o in pred.predict(setting if isinstance(setting, str) else
                                                           {op: setting for ops in by_module.values() for op in ops})["ops"]}
    rows = {}
    for m, ops in by_module.items():
        row = {"type": type(ex.modules[m]).__name__, "ops": ops, "dense_ms": sum(dense[o] for o in ops)}
        if sparse is not None:
            row["sparse_ms"] = sum(sparse[o] for o in ops)
            row["saved_ms"] = row["dense_ms"] - row["sparse_ms"]
        rows[m] = row
    return rows


class TorchPlan:
    """A hilsim.Plan for a module: per-module settings and masks (torch.bool, the weight's shape)."""

    def __init__(self, plan, onnx_path, masks, layers, op_of_module):
        self.plan = plan
        self.onnx_path = onnx_path
        self.masks = masks
        self.layers = layers
        self.op_of_module = op_of_module

    @property
    def predicted_ms(self):
        return self.plan.predicted_ms

    @property
    def dense_ms(self):
        return self.plan.dense_ms

    def save(self, path):
        self.plan.save(path)

    def emit(self, out):
        """`hilsim emit` of the exported model with this plan: DIR/model.onnx with zeros, packed weights."""
        return _emit(self.onnx_path, self.plan, out)

    def __repr__(self):
        return (f"<hilsim.torch.TorchPlan {self.predicted_ms:.3f} ms (dense {self.dense_ms:.3f} ms), "
                f"{len(self.masks)} masked modules>")


def plan(module, example_input, profile, target_ms=None, target_speedup=None, formats="block", threads=None,
         unit="", **kw):
    """hilsim.plan for a module, from its current weights. Returns a TorchPlan whose masks are the plan's
    own (the kernels' mask library: block-punched, pattern, CSR), keyed by module name."""
    ex = _export(module, example_input, cached=False)
    p = _plan(ex.path, profile, target_ms=target_ms, target_speedup=target_speedup, formats=formats,
              threads=threads, unit=unit, **kw)
    return _torch_plan(p, ex)


def from_plan(module, example_input, plan):
    """A TorchPlan for an existing hilsim.Plan or plan file (from `hilsim plan`, or edited by hand) made for
    this module's export at this input shape: its masks from the module's current weights."""
    ex = _export(module, example_input, cached=False)
    p = plan if isinstance(plan, Plan) else load_plan(plan)
    return _torch_plan(p, ex)


def _torch_plan(p, ex):
    masks, layers, op_of_module = {}, {}, {}
    for op, setting in p.layers.items():
        m = module_of_op(op, ex.modules)
        if m is None:
            continue
        layers[m] = setting
        op_of_module[m] = op
    for op, mk in p.masks(ex.path).items():
        m = module_of_op(op, ex.modules)
        if m is None:
            raise Error(f"plan: op '{op}' has a mask but no module of the model's owns it (unscoped ONNX name)")
        if m in masks:
            raise Error(f"plan: module '{m}' runs as more than one conv (called twice?): one mask cannot serve both")
        masks[m] = torch.from_numpy(mk["keep"]).to(torch.bool)
    return TorchPlan(p, ex.path, masks, layers, op_of_module)


def apply_plan(module, plan):
    """Applies a TorchPlan's masks (or a {module name: mask} dict) with torch.nn.utils.prune.custom_from_mask,
    so the masked weights stay zero while fine-tuning. Returns the names of the pruned modules."""
    masks = plan.masks if isinstance(plan, TorchPlan) else plan
    modules = dict(module.named_modules())
    # Check every mask before touching the module, so a bad plan leaves it unchanged.
    for name, mask in masks.items():
        if name not in modules:
            raise Error(f"apply_plan: module '{name}': the model has no module of that name")
        w = getattr(modules[name], "weight", None)
        if w is None and hasattr(modules[name], "weight_orig"):
            w = modules[name].weight_orig
        if not torch.is_tensor(w):
            raise Error(f"apply_plan: module '{name}' ({type(modules[name]).__name__}) has no weight to mask")
        if tuple(mask.shape) != tuple(w.shape):
            raise Error(f"apply_plan: module '{name}': mask of shape {tuple(mask.shape)} for a weight of shape "
                        f"{tuple(w.shape)}")
    for name, mask in masks.items():
        w = modules[name].weight
        prune.custom_from_mask(modules[name], "weight", mask.to(device=w.device, dtype=w.dtype))
    return sorted(masks)
