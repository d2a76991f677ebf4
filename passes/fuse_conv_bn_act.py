"""``fuse-conv-bn-act``: fold BatchNormalization into the layer before it and fuse activations.

Rules (each: a match with a reason when it does not apply, then a rewrite):

* ``fold_bn``: BatchNormalization after Conv / ConvTranspose / Gemm / 2-D MatMul with constant
  weights (and no other reader of the layer's output) is folded into the weights and bias.
* ``fuse_activation``: the activation after such a layer (Relu, Clip, LeakyRelu, HardSigmoid,
  HardSwish, Sigmoid, Tanh, and the decomposed ``x*clip(x+3,0,6)/6``, ``x*HardSigmoid(x)``,
  ``x*Sigmoid(x)``) joins it in one ``qcompiler.<Op>Act`` op, so the pair quantizes as a unit.
  ``activations`` lists which ones to fuse (onnxruntime fuses only Relu and Clip into its
  integer convolutions, so the default pipeline for the ONNX backend fuses those two).
* ``canonicalize``: a decomposed activation that is not fused becomes one op (HardSwish from
  opset 14, else ``x*HardSigmoid(x)``), so it quantizes as one op instead of four.
* ``standalone_bn``: a BatchNormalization with nothing to fold into becomes a per-channel
  ``Mul`` + ``Add``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qcompiler.ir import DType, Graph, Model, Op, TensorType, Value
from qcompiler.ir.ops import QC_DOMAIN
from qcompiler.ir.qc_ops import ACTIVATIONS, ensure_qc_domain, fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import ActivationMatch, match_activation_at, scalar, single_user

__all__ = ["FuseConvBnActPass", "fold_bn", "fuse_activation"]

_LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass
class FuseOptions:
    fold_bn: bool = field(default=True, metadata={"help": "fold BatchNormalization into the layer before"})
    activations: list[str] = field(default_factory=lambda: list(ACTIVATIONS),
                                   metadata={"help": "activations fused into the layer before"})  # fmt: skip
    canonicalize: bool = field(default=True, metadata={"help": "decomposed activations become one op"})
    standalone_bn: bool = field(default=True, metadata={"help": "lone BatchNormalization becomes Mul+Add"})


def _const(v: Value | None) -> np.ndarray | None:
    return None if v is None or not v.is_constant else np.asarray(v.const)


def _layer_type(op: Op) -> str | None:
    if op.domain in ("", "ai.onnx") and op.op_type in _LAYERS:
        return op.op_type
    return None


def _bn_params(bn: Op) -> tuple[np.ndarray, np.ndarray] | str:
    vals = [_const(bn.input(i)) for i in range(1, 5)]
    if any(v is None for v in vals):
        return "BatchNormalization parameters are not constants"
    if any(o.has_uses() for o in bn.outputs[1:]):
        return "BatchNormalization is in training mode"
    scale, bias, mean, var = (v.astype(np.float64) for v in vals)  # type: ignore[union-attr]
    k = scale / np.sqrt(var + bn.attr("epsilon", 1e-5))
    return k, bias - mean * k


def fold_bn(bn: Op, g: Graph) -> str | None:
    """Fold ``bn`` into its producer; returns None on success, else why not."""
    x = bn.input(0)
    layer = x.producer() if x is not None else None
    if layer is None or _layer_type(layer) is None:
        return "BatchNormalization does not follow Conv/ConvTranspose/Gemm/MatMul"
    if single_user(x) is not bn:
        return f"{layer.op_type} output has other readers"
    w = _const(layer.input(1))
    if w is None or w.dtype != np.float32:
        return f"{layer.op_type} weight is not a float constant"
    params = _bn_params(bn)
    if isinstance(params, str):
        return params
    k, shift = params
    t = layer.op_type
    b_in = layer.input(2)
    b = _const(b_in)
    if b_in is not None and b is None:
        return "bias is not a constant"
    if t == "Conv":
        if w.shape[0] != k.size:
            return "channel count mismatch"
        w2 = w * k.reshape(-1, *[1] * (w.ndim - 1))
    elif t == "ConvTranspose":
        groups = layer.attr("group", 1)
        cin, cpg = w.shape[0], w.shape[1]
        if cpg * groups != k.size:
            return "channel count mismatch"
        w2 = (w.reshape(groups, cin // groups, cpg, *w.shape[2:]) *
              k.reshape(groups, 1, cpg, *[1] * (w.ndim - 2))).reshape(w.shape)  # fmt: skip
    elif t == "Gemm":
        if layer.attr("transA", 0) or w.ndim != 2:
            return "Gemm with transA"
        n = w.shape[0] if layer.attr("transB", 0) else w.shape[1]
        if n != k.size or (b is not None and b.size not in (1, n)):
            return "channel count mismatch"
        w2 = w * (k[:, None] if layer.attr("transB", 0) else k[None, :])
        beta = layer.attr("beta", 1.0)
        b = None if b is None else np.broadcast_to(b.reshape(-1), (n,)) * beta
        layer.set_attr("beta", 1.0)
    else:  # MatMul
        if w.ndim != 2 or x.shape is None or x.shape.rank != 2 or w.shape[1] != k.size:
            return "MatMul is not a 2-D layer with BN over its output features"
        w2 = w * k[None, :]
    new_b = (np.zeros(k.size) if b is None else b.astype(np.float64).reshape(-1)) * k + shift
    wv = g.add_constant(w2.astype(np.float32), layer.input(1).name + "_bn")
    bv = g.add_constant(new_b.astype(np.float32), (layer.name or "layer") + "_bias")
    layer.replace_input(1, wv)
    if t == "MatMul":
        with g.inserting_after(layer) as bld:
            y = bld.op("Add", layer.output, bv)
        y.type = bn.output.type
        bn.output.replace_all_uses_with(y)
    else:
        layer.replace_input(2, bv)
        layer.output.type = bn.output.type
        bn.output.replace_all_uses_with(layer.output)
    g.remove(bn)
    return None


def _simple_activation(op: Op) -> ActivationMatch | str:
    if op.domain not in ("", "ai.onnx") or op.op_type not in ("Relu", "Clip", "LeakyRelu", "HardSigmoid",
                                                               "HardSwish", "Sigmoid", "Tanh"):
        return f"{op.op_type} is not an activation"
    if op.op_type == "Clip":
        lo = scalar(op.input(1)) if op.input(1) is not None else op.attr("min")
        hi = scalar(op.input(2)) if op.input(2) is not None else op.attr("max")
        if (op.input(1) is not None and lo is None) or (op.input(2) is not None and hi is None):
            return "Clip bounds are not constants"
        op.meta["_clip"] = (float(lo) if lo is not None else float(np.finfo(np.float32).min),
                            float(hi) if hi is not None else float(np.finfo(np.float32).max))  # fmt: skip
    return ActivationMatch(op.op_type, op.input(0), [op], op.output)


def _act_params(m: ActivationMatch) -> tuple[float, float]:
    op = m.ops[0]
    if m.activation == "LeakyRelu":
        return op.attr("alpha", 0.01), 0.0
    if m.activation == "HardSigmoid":
        return op.attr("alpha", 0.2), op.attr("beta", 0.5)
    if m.activation == "Clip":
        return op.meta.pop("_clip")
    return 0.0, 0.0


def fuse_activation(layer: Op, g: Graph, model: Model, allowed: list[str]) -> str | None:
    """Fuse the activation reading ``layer``'s output into it; None on success, else why not."""
    if _layer_type(layer) is None:
        return "not a Conv/ConvTranspose/Gemm/MatMul"
    y = layer.output
    users = y.users()
    if not users or y.is_graph_output:
        return "layer output has no single activation reader"
    if len(users) == 1:  # a plain activation op
        m: ActivationMatch | str = _simple_activation(users[0])
    else:  # decomposed forms read the layer output twice (x + 3 and x * ...)
        m = "layer output has several readers and no decomposed activation"
        for first in users:
            found = match_activation_at(first)
            if isinstance(found, ActivationMatch):
                m = found
                break
    if not isinstance(m, ActivationMatch):
        return m
    if m.x is not y or set(users) - set(m.ops):
        return "layer output is read outside the activation"
    if m.activation not in allowed:
        return f"{m.activation} is not in the activations to fuse"
    alpha, beta = _act_params(m)
    ensure_qc_domain(model)
    with g.inserting_before(layer) as b:
        fused = b.create(layer.op_type + "Act", list(layer.inputs),
                         {**layer.attrs, "activation": m.activation, "act_alpha": float(alpha),
                          "act_beta": float(beta)}, domain=QC_DOMAIN, name=layer.name)  # fmt: skip
    fused.meta.update(layer.meta)
    fused.meta["fused_names"] = [op.name for op in m.ops if op.name]
    fused.output.type = m.output.type
    m.output.replace_all_uses_with(fused.output)
    g.remove(m.ops + [layer])
    return None


def canonicalize_activation(op: Op, g: Graph, model: Model) -> str | None:
    m = match_activation_at(op)
    if not isinstance(m, ActivationMatch):
        return m
    opset = model.opset_imports.get("", 1)
    if m.activation == "HardSwish" and len(m.ops) == 2 and opset < 14:
        return "already the shortest form for this opset"
    if m.activation == "Silu":
        return "x*Sigmoid(x) has no single ONNX op"
    with g.inserting_before(m.ops[-1]) as b:
        if opset >= 14:
            y = b.op("HardSwish", m.x, name=m.ops[-1].name)
        else:
            y = b.op("Mul", m.x, b.op("HardSigmoid", m.x, alpha=1.0 / 6.0, beta=0.5), name=m.ops[-1].name)
    y.type = m.output.type
    m.output.replace_all_uses_with(y)
    g.remove(m.ops)
    return None


def standalone_bn(bn: Op, g: Graph) -> str | None:
    params = _bn_params(bn)
    if isinstance(params, str):
        return params
    k, shift = params
    x = bn.input(0)
    rank = x.shape.rank if x.shape is not None else None
    if rank is None or rank < 2:
        return "input rank unknown"
    shape = (k.size,) + (1,) * (rank - 2)
    kv = g.add_constant(k.astype(np.float32).reshape(shape), (bn.name or "bn") + "_scale")
    sv = g.add_constant(shift.astype(np.float32).reshape(shape), (bn.name or "bn") + "_shift")
    with g.inserting_before(bn) as b:
        m = b.op("Mul", x, kv, name=bn.name)
        y = b.op("Add", m, sv)
    m.type = y.type = bn.output.type if bn.output.type else TensorType(DType.FLOAT32)
    bn.output.replace_all_uses_with(y)
    g.remove(bn)
    return None


class FuseConvBnActPass(Pass):
    name = "fuse-conv-bn-act"
    description = "Fold BatchNormalization into Conv/ConvTranspose/Gemm/MatMul and fuse the activation after."
    Options = FuseOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        g = model.graph
        changed = False
        for op in list(g):
            if op.graph is None:
                continue
            if op.op_type == "BatchNormalization" and op.domain in ("", "ai.onnx") and self.options.fold_bn:
                changed |= fold_bn(op, g) is None
        unknown = set(self.options.activations) - set(ACTIVATIONS)
        if unknown:
            from qcompiler.errors import PipelineError

            raise PipelineError(f"fuse-conv-bn-act: unknown activation {sorted(unknown)[0]!r} "
                                f"(activations: {', '.join(ACTIVATIONS)})")  # fmt: skip
        for op in list(g):
            if op.graph is not None and _layer_type(op) is not None and self.options.activations:
                changed |= fuse_activation(op, g, model, self.options.activations) is None
        for op in list(g):
            if op.graph is None:
                continue
            if self.options.canonicalize and op.domain in ("", "ai.onnx") and op.op_type in ("Add", "HardSigmoid"):
                changed |= canonicalize_activation(op, g, model) is None
            elif op.op_type == "BatchNormalization" and self.options.standalone_bn and fused_base(op) is None:
                changed |= standalone_bn(op, g) is None
        return changed
