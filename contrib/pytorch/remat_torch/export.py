"""Exports a PyTorch module into remat's model-file format (docs/model-format.md),
so a user's own model can be profiled and planned by `remat`.

The module is traced with torch.fx (a tracer that keeps standard layers as leaves
and records each node's module path), shapes come from running the example inputs
through torch.fx's ShapeProp, and each node becomes one op of docs/op-conventions.md:

    nn.Linear / HF Conv1D  -> matmul         nn.LayerNorm -> layernorm
    nn.Embedding           -> embedding      (wte(ids) + wpe(pos) -> one embedding
                                              op with positions)
    nn.GELU, F.gelu        -> gelu           nn.ReLU, F.relu -> relu
    nn.Dropout (p > 0)     -> dropout        (p == 0: nothing, as PyTorch saves nothing)
    softmax                -> softmax        +, torch.add -> add
    F.cross_entropy        -> loss           remat_torch.gpt2.causal_attention -> attention
    nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d(1) -> the CNN ops
    view, reshape, flatten, contiguous, nn.Identity -> the same tensor (no op)

Anything else is refused with the node and its module named: remat's graph has
no generic op, and guessing what an unknown op saves would make the plan wrong.
Integer placeholders become i32 inputs (token ids, targets); activations keep the
model's float dtype (fp32, bf16 or fp16).
"""
import operator
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from . import gpt2 as _gpt2


class ExportError(ValueError):
    """The module uses something remat's graph cannot describe."""


_DTYPES = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
_LEAVES = (nn.Linear, nn.LayerNorm, nn.Embedding, nn.GELU, nn.ReLU, nn.Dropout, nn.Softmax,
           nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.Identity, nn.Flatten)


def _is_hf_conv1d(m: nn.Module) -> bool:
    return type(m).__name__ == "Conv1D" and hasattr(m, "nf") and hasattr(m, "weight")


class _Tracer(torch.fx.Tracer):
    """Keeps the layers above as leaves and stamps each node with its module path."""

    def __init__(self):
        super().__init__()
        self.stack: List[str] = []

    def is_leaf_module(self, m, qualname):
        return isinstance(m, _LEAVES) or _is_hf_conv1d(m)

    def call_module(self, m, forward, args, kwargs):
        self.stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.stack.pop()

    def create_node(self, *a, **k):
        node = super().create_node(*a, **k)
        node.meta["remat_module"] = self.stack[-1] if self.stack else ""
        return node


class _Builder:
    def __init__(self, root: nn.Module, model: str):
        self.root = root
        self.model = model
        self.tensors: List[Dict[str, Any]] = []
        self.tindex: Dict[str, int] = {}
        self.ops: List[Dict[str, Any]] = []
        self.opnames: Dict[str, int] = {}
        self.params: Dict[int, str] = {}  # id(param) -> tensor name
        self.value: Dict[str, Optional[str]] = {}  # fx node name -> tensor name (None: not a tensor)
        self.dtype = None
        self.seed = 0

    # ------------------------------------------------------------ tables
    def tensor(self, name: str, shape: Sequence[int], dtype: str, role: str) -> str:
        if name in self.tindex:
            raise ExportError(f"duplicate tensor name {name}")
        self.tindex[name] = len(self.tensors)
        self.tensors.append({"name": name, "shape": [int(s) for s in shape], "dtype": dtype, "role": role})
        return name

    def shape(self, tname: str) -> List[int]:
        return self.tensors[self.tindex[tname]]["shape"]

    def param(self, p: torch.Tensor, path: str) -> str:
        name = self.params.get(id(p))
        if name is None:
            name = self.tensor(path, p.shape, _DTYPES.get(p.dtype, "fp32"), "param")
            if not p.requires_grad:
                self.tensors[-1]["frozen"] = True
            self.params[id(p)] = name
        return name

    def op(self, name: str, kind: str, module: str, inputs, out_shape, *, out_dtype=None, extras=(),
           saved=None, params=(), attr=None, fattr=None, flops=(0, 0)) -> str:
        base, k = name, 1
        while name in self.opnames:
            name = f"{base}_{k}"
            k += 1
        self.opnames[name] = len(self.ops)
        out = self.tensor(f"{name}.out", out_shape, out_dtype or self.dtype, "act")
        ex = [self.tensor(f"{name}.{en}", es, ed, "extra") for en, es, ed in extras]
        names = {"in": list(inputs), "out": [out], "extras": ex}
        sv: List[str] = []
        for s in saved or []:
            sv.extend(names[s] if s in names else [s])
        o = {"name": name, "module": module, "kind": kind, "inputs": list(inputs), "output": out}
        if ex:
            o["extras"] = ex
        o["saved"] = sv
        if params:
            o["params"] = list(params)
        if attr:
            o["attrs"] = [int(a) for a in attr]
        if fattr:
            o["fattrs"] = [float(a) for a in fattr]
        o["flops_fwd"], o["flops_bwd"] = int(flops[0]), int(flops[1])
        self.ops.append(o)
        return out


def _meta_shape(node: torch.fx.Node):
    tm = node.meta.get("tensor_meta")
    if tm is None or not hasattr(tm, "shape"):
        return None, None
    return list(tm.shape), tm.dtype


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def export_graph(module: nn.Module, example_inputs: Dict[str, torch.Tensor], *, name: str = "torch",
                 dropout_seed: int = 0) -> Dict[str, Any]:
    """Traces module with example_inputs (keyword name -> tensor, in forward's order)
    and returns the model-file mapping. The module's forward must return the loss
    (remat plans a training step)."""
    tracer = _Tracer()
    try:
        graph = tracer.trace(module)
    except Exception as e:  # torch.fx raises many kinds
        raise ExportError(f"torch.fx cannot trace {type(module).__name__}: {e}") from e
    gm = torch.fx.GraphModule(module, graph)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    args = []
    for n in placeholders:
        if n.target not in example_inputs:
            raise ExportError(f"no example input for forward argument '{n.target}'")
        args.append(example_inputs[n.target])
    ShapeProp(gm).propagate(*args)

    fdt = None
    for p in module.parameters():
        if p.dtype in _DTYPES:
            fdt = p.dtype
            break
    b = _Builder(module, name)
    b.dtype = _DTYPES.get(fdt, "fp32")
    mods = dict(module.named_modules())
    users = {n.name: list(n.users) for n in gm.graph.nodes}
    merged_pos: Dict[str, str] = {}  # add node name -> embedding op that already produced it
    loss_out = None
    seq = batch = None
    pending: Dict[str, Any] = {}      # "@arg" -> (name, shape, dtype) of a placeholder
    made_inputs: Dict[str, str] = {}  # "@arg" -> its input tensor, once an op reads it

    def val(a) -> str:
        if not isinstance(a, torch.fx.Node) or b.value.get(a.name) is None:
            raise ExportError(f"expected a tensor argument, got {a!r}")
        return b.value[a.name]

    for n in gm.graph.nodes:
        path = n.meta.get("remat_module", "")
        shp, dt = _meta_shape(n)
        where = f"node {n.name} ({n.op} {n.target}) in module '{path or '<top>'}'"
        if n.op == "placeholder":
            if shp is None:
                b.value[n.name] = None
                continue
            if dt in (torch.int64, torch.int32, torch.int16, torch.uint8):
                role_dt = "i32"
            else:
                role_dt = _DTYPES.get(dt, "fp32")
            # position ids only feed a position table merged below: keep them out of the graph
            b.value[n.name] = f"@{n.target}"
            pending[f"@{n.target}"] = (n.target, shp, role_dt)
            if batch is None and len(shp) >= 1:
                batch = shp[0]
                seq = shp[1] if len(shp) >= 2 and role_dt == "i32" else None
            continue
        if n.op == "get_attr":
            b.value[n.name] = None
            continue
        if n.op == "output":
            continue

        def use_input(a) -> str:
            """Materialises a pending placeholder the first time an op reads it."""
            t = val(a)
            if t.startswith("@"):
                if t not in made_inputs:
                    tgt, s, d = pending[t]
                    made_inputs[t] = b.tensor(tgt, s, d, "input")
                t = made_inputs[t]
            return t

        if n.op == "call_module":
            m = mods[n.target]
            x = n.args[0] if n.args else None
            if isinstance(m, (nn.Identity, nn.Flatten)) or (isinstance(m, nn.Dropout) and (m.p == 0 or not m.training)):
                b.value[n.name] = val(x)
                continue
            if isinstance(m, nn.Embedding):
                # wte(ids) + wpe(pos): one embedding op with positions, as GPT-2 does
                us = users[n.name]
                if len(us) == 1 and us[0].op == "call_function" and us[0].target in (operator.add, torch.add):
                    other = [a for a in us[0].args if isinstance(a, torch.fx.Node) and a is not n][0]
                    if other.op == "call_module" and isinstance(mods[other.target], nn.Embedding) and \
                            len(users[other.name]) == 1:
                        if us[0].name in merged_pos:
                            b.value[n.name] = None  # the position half, already folded in
                            continue
                        # the first of the pair in program order is the token table
                        pos_mod = mods[other.target]
                        tokens = use_input(n.args[0])
                        out = b.op(path, "embedding", path, [tokens], shp, saved=[tokens],
                                   params=[b.param(m.weight, f"{path}.weight"),
                                           b.param(pos_mod.weight, f"{other.target}.weight")],
                                   attr=[1], flops=(2 * _numel(shp), 2 * _numel(shp)))
                        merged_pos[us[0].name] = out
                        b.value[n.name] = None
                        continue
                tokens = use_input(x)
                b.value[n.name] = b.op(path, "embedding", path, [tokens], shp, saved=[tokens],
                                       params=[b.param(m.weight, f"{path}.weight")], attr=[0],
                                       flops=(_numel(shp), _numel(shp)))
                continue
            xin = val(x)
            xs = b.shape(xin)
            if isinstance(m, nn.Linear) or _is_hf_conv1d(m):
                if isinstance(m, nn.Linear):
                    N, K = m.out_features, m.in_features
                else:
                    K, N = m.weight.shape
                rows = _numel(xs) // K
                ps = [b.param(m.weight, f"{path}.weight")]
                if m.bias is not None:
                    ps.append(b.param(m.bias, f"{path}.bias"))
                fb = rows * N if m.bias is not None else 0
                b.value[n.name] = b.op(path, "matmul", path, [xin], shp, saved=["in"], params=ps,
                                       attr=[1 if m.bias is not None else 0, 1 if len(xs) == 4 else 0],
                                       flops=(2 * rows * K * N + fb, 4 * rows * K * N + fb))
                continue
            if isinstance(m, nn.LayerNorm):
                rows = _numel(xs) // xs[-1]
                ps = [b.param(m.weight, f"{path}.weight"), b.param(m.bias, f"{path}.bias")]
                b.value[n.name] = b.op(path, "layernorm", path, [xin], shp,
                                       extras=[("mean", [rows], "fp32"), ("rstd", [rows], "fp32")],
                                       saved=["in", "extras"], params=ps, fattr=[m.eps],
                                       flops=(8 * _numel(xs), 14 * _numel(xs)))
                continue
            if isinstance(m, nn.GELU):
                b.value[n.name] = b.op(path, "gelu", path, [xin], shp, saved=["in"],
                                       flops=(12 * _numel(xs), 20 * _numel(xs)))
                continue
            if isinstance(m, nn.ReLU):
                b.value[n.name] = b.op(path, "relu", path, [xin], shp, saved=["out"],
                                       flops=(_numel(xs), _numel(xs)))
                continue
            if isinstance(m, nn.Softmax):
                b.value[n.name] = b.op(path, "softmax", path, [xin], shp, saved=["out"],
                                       flops=(5 * _numel(xs), 4 * _numel(xs)))
                continue
            if isinstance(m, nn.Dropout):
                b.seed += 1
                b.value[n.name] = b.op(path, "dropout", path, [xin], shp, extras=[("mask", xs, "u8")],
                                       saved=["extras"], attr=[dropout_seed + b.seed], fattr=[m.p],
                                       flops=(2 * _numel(xs), _numel(xs)))
                continue
            if isinstance(m, nn.Conv2d):
                k, s_, p_ = m.kernel_size[0], m.stride[0], m.padding[0]
                if m.kernel_size[0] != m.kernel_size[1] or m.stride[0] != m.stride[1] or \
                        not isinstance(m.padding, tuple) or m.groups != 1 or m.dilation != (1, 1):
                    raise ExportError(f"{where}: only square, ungrouped, undilated Conv2d is supported")
                ps = [b.param(m.weight, f"{path}.weight")]
                if m.bias is not None:
                    ps.append(b.param(m.bias, f"{path}.bias"))
                f = 2 * shp[0] * shp[1] * shp[2] * shp[3] * xs[1] * k * k
                b.value[n.name] = b.op(path, "conv2d", path, [xin], shp, saved=["in"], params=ps,
                                       attr=[k, s_, p_, 1 if m.bias is not None else 0], flops=(f, 2 * f))
                continue
            if isinstance(m, nn.BatchNorm2d):
                C = xs[1]
                ps = [b.param(m.weight, f"{path}.weight"), b.param(m.bias, f"{path}.bias")]
                b.value[n.name] = b.op(path, "batchnorm", path, [xin], shp,
                                       extras=[("mean", [C], "fp32"), ("rstd", [C], "fp32")],
                                       saved=["in", "extras"], params=ps, fattr=[m.eps],
                                       flops=(8 * _numel(xs), 14 * _numel(xs)))
                continue
            if isinstance(m, nn.MaxPool2d):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                s_ = m.stride if isinstance(m.stride, int) else m.stride[0]
                b.value[n.name] = b.op(path, "maxpool", path, [xin], shp, extras=[("argmax", shp, "i32")],
                                       saved=["extras"], attr=[k, s_], flops=(_numel(xs), _numel(shp)))
                continue
            if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
                b.value[n.name] = b.op(path, "avgpool", path, [xin], [xs[0], xs[1]], saved=[],
                                       flops=(_numel(xs), _numel(xs)))
                continue
            raise ExportError(f"{where}: remat has no op for {type(m).__name__}")

        # call_function / call_method
        tgt = n.target
        fname = tgt if isinstance(tgt, str) else getattr(tgt, "__name__", str(tgt))
        if n.name in merged_pos:
            b.value[n.name] = merged_pos[n.name]
            continue
        if fname in ("size", "dim") or shp is None:
            b.value[n.name] = None
            continue
        if fname in ("view", "reshape", "flatten", "contiguous", "float") and \
                (fname != "float" or dt == torch.float32):
            b.value[n.name] = val(n.args[0])
            continue
        opname = f"{path}.{n.name}" if path else n.name
        if tgt in (operator.add, torch.add) or fname in ("add", "iadd"):
            a0, a1 = n.args[0], n.args[1]
            if not (isinstance(a0, torch.fx.Node) and isinstance(a1, torch.fx.Node)):
                raise ExportError(f"{where}: add of a tensor and a constant is not an op remat knows")
            t0, t1 = val(a0), val(a1)
            if b.shape(t0) != b.shape(t1):
                raise ExportError(f"{where}: add with broadcasting ({b.shape(t0)} + {b.shape(t1)})")
            b.value[n.name] = b.op(opname, "add", path, [t0, t1], shp, saved=[],
                                   flops=(_numel(shp), 0))
            continue
        if tgt is _gpt2.causal_attention or fname == "causal_attention":
            qkv = val(n.args[0])
            H = int(n.args[1])
            Bq, T, C3 = b.shape(qkv)
            D = C3 // 3 // H
            b.value[n.name] = b.op(opname, "attention", path, [qkv], shp,
                                   extras=[("probs", [Bq, H, T, T], b.dtype)], saved=["in", "extras"],
                                   attr=[H, H, D, 1, 1, 0],
                                   flops=(4 * Bq * H * T * T * D, 8 * Bq * H * T * T * D))
            continue
        if tgt in (F.gelu,) or fname == "gelu":
            xin = val(n.args[0])
            b.value[n.name] = b.op(opname, "gelu", path, [xin], shp, saved=["in"],
                                   flops=(12 * _numel(shp), 20 * _numel(shp)))
            continue
        if tgt in (F.relu, torch.relu) or fname == "relu":
            xin = val(n.args[0])
            b.value[n.name] = b.op(opname, "relu", path, [xin], shp, saved=["out"],
                                   flops=(_numel(shp), _numel(shp)))
            continue
        if tgt in (F.softmax, torch.softmax) or fname == "softmax":
            xin = val(n.args[0])
            b.value[n.name] = b.op(opname, "softmax", path, [xin], shp, saved=["out"],
                                   flops=(5 * _numel(shp), 4 * _numel(shp)))
            continue
        if tgt is F.cross_entropy or fname == "cross_entropy":
            logits = val(n.args[0])
            targets = use_input(n.args[1])
            rows = _numel(b.shape(logits)) // b.shape(logits)[-1]
            V = b.shape(logits)[-1]
            loss_out = b.op(opname if path else "loss", "loss", path or "loss", [logits, targets], [1],
                            out_dtype="fp32", extras=[("lse", [rows], "fp32")], saved=["in", "extras"],
                            flops=(5 * rows * V, 3 * rows * V))
            b.value[n.name] = loss_out
            continue
        raise ExportError(f"{where}: remat has no op for {fname}")

    if loss_out is None:
        raise ExportError("the module's forward must end in F.cross_entropy (remat plans a training step)")
    return {
        "version": 1,
        "model": name,
        "batch": int(batch or 1),
        "seq": int(seq or 1),
        "dtype": b.dtype,
        "tensors": b.tensors,
        "ops": b.ops,
    }


def export_yaml(module: nn.Module, example_inputs: Dict[str, torch.Tensor], **kw) -> str:
    """export_graph as YAML text (block style, keys in a stable order)."""
    import yaml

    return yaml.safe_dump(export_graph(module, example_inputs, **kw), sort_keys=False,
                          default_flow_style=None, width=100)


def saved_bytes(model_file: Dict[str, Any]) -> int:
    """What a step without checkpointing holds after the forward under the op
    conventions: every distinct act/extra tensor some op saves, each once (remat's
    graph_saved_bytes)."""
    sizes = {"fp32": 4, "bf16": 2, "fp16": 2, "i32": 4, "u8": 1}
    tens = {t["name"]: t for t in model_file["tensors"]}
    seen = set()
    total = 0
    for o in model_file["ops"]:
        for s in o.get("saved", []):
            t = tens[s]
            if s in seen or t["role"] not in ("act", "extra"):
                continue
            seen.add(s)
            total += _numel(t["shape"]) * sizes[t["dtype"]]
    return total
