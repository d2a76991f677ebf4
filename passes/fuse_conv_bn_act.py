"""``fuse-conv-bn-act``: fold BatchNormalization into the layer before it and fuse activations.

The pass is a set of rewrite rules.  Each :class:`Rule` has a ``match`` (pattern and checks:
the match, or a one-line reason it does not apply) and a ``rewrite`` of a match:

* :data:`FOLD_BN`: an inference BatchNormalization after Conv / ConvTranspose / Gemm / MatMul
  with constant float32 weights, when nothing else reads the layer's output, is folded into the
  weights and bias (a 2-D MatMul becomes a Gemm with that bias).
* :data:`FOLD_HARDSIGMOID`: ``HardSigmoid(layer(x))`` is ``Clip(alpha * layer(x) + beta, 0, 1)``:
  the affine part goes into the layer's weight and bias, as a BatchNormalization would, and a
  Clip to [0, 1] is left, which the quantizer takes as the layer's output range (onnxruntime
  then runs a squeeze-and-excitation gate as one QLinearConv, not DQ -> HardSigmoid -> Q).
* :data:`FUSE_ACTIVATION`: the activation after such a layer (Relu, Clip/Relu6, LeakyRelu,
  HardSigmoid, HardSwish, Sigmoid, Tanh, and the decomposed ``x*clip(x+3,0,6)/6``,
  ``x*HardSigmoid(x)`` and ``x*Sigmoid(x)``) joins it in one ``qcompiler.<Op>Act`` op, so the
  pair quantizes as a unit.  The fused op keeps the layer's name; the activation ops' names go
  to ``op.meta["fused_names"]``.
* :data:`CANONICALIZE_ACTIVATION`: a decomposed hard-swish that is not fused becomes one
  ``HardSwish`` (opset 14 on) or ``x*HardSigmoid(x)``, so it quantizes as one op, not four;
  the exact GELU ``x * 0.5 * (1 + erf(x / sqrt(2)))`` becomes ``Gelu`` (opset 20 on) or
  ``qcompiler.Gelu`` (one op, quantized once, an int8 table in C, the decomposition again in
  the ONNX written).
* :data:`MATMUL_BIAS`: ``Add(MatMul(x, W), c)`` with constant ``W`` [K, N] and ``c`` [N] (a
  PyTorch Linear on a 3-D input) becomes one Gemm with bias ``c`` over ``x`` reshaped to
  [M, K], and back: the bias quantizes as int32 in the product instead of an int8 Add after it.
* :data:`STANDALONE_BN`: a BatchNormalization with nothing to fold into becomes a per-channel
  ``Mul`` + ``Add`` (constants of shape ``[C, 1, 1]`` for NCHW), which quantizes.

Example::

    qcompiler compile m.onnx -o f.onnx --pipeline 'fuse-conv-bn-act{activations=[Relu,Clip]}'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qcompiler.errors import PipelineError
from qcompiler.ir import DType, Graph, Model, Op, Shape, TensorType, Value
from qcompiler.ir.ops import QC_DOMAIN
from qcompiler.ir.qc_ops import ACTIVATIONS, emit_activation, ensure_qc_domain
from qcompiler.pass_base import Pass, PassContext
from qcompiler.patterns import ActivationMatch, match_activation_at, scalar, single_user

__all__ = ["FuseConvBnActPass", "FuseOptions", "Rule", "RULES", "MATMUL_BIAS", "FOLD_BN", "FOLD_HARDSIGMOID", "FUSE_ACTIVATION",
           "CANONICALIZE_ACTIVATION", "STANDALONE_BN", "BnFold", "ActFusion"]  # fmt: skip

_LAYERS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
_PLAIN_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh")
_F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class FuseOptions:
    fuse_bn: bool = field(default=True, metadata={"help": "fold BatchNormalization into the layer before"})
    fuse_activation: bool = field(default=True, metadata={"help": "fuse the activation after a layer into it"})
    activations: list[str] = field(default_factory=lambda: list(ACTIVATIONS),
                                   metadata={"help": "activations fused into the layer before"})  # fmt: skip
    canonicalize: bool = field(default=True, metadata={"help": "decomposed hard-swish becomes one op"})
    fold_hardsigmoid: bool = field(default=True, metadata={
        "help": "a HardSigmoid after a layer: alpha and beta into the layer, a Clip to [0, 1] left"})
    standalone_bn: bool = field(default=True, metadata={"help": "lone BatchNormalization becomes Mul+Add"})
    matmul_bias: bool = field(default=True, metadata={
        "help": "MatMul by a constant weight + a constant bias becomes one Gemm (Reshapes around it for >2-D)"})

    def __post_init__(self) -> None:
        unknown = [a for a in self.activations if a not in ACTIVATIONS]
        if unknown:  # raised while the pipeline text is parsed, before any model is loaded
            raise PipelineError(f"pass 'fuse-conv-bn-act': unknown activation {unknown[0]!r} in "
                                f"activations (allowed: {', '.join(ACTIVATIONS)})")  # fmt: skip


@dataclass(frozen=True)
class Rule:
    """A rewrite rule: ``match(op, model, options)`` returns a match or the reason it does not
    apply; ``rewrite(match, model)`` changes the graph."""

    name: str
    match: Callable[[Op, Model, FuseOptions], Any]
    rewrite: Callable[[Any, Model], None]

    def apply(self, op: Op, model: Model, options: FuseOptions | None = None) -> str | None:
        """Rewrite at ``op``: ``None`` when it did, else the reason it did not."""
        m = self.match(op, model, options or FuseOptions())
        if isinstance(m, str):
            return m
        self.rewrite(m, model)
        return None


# -- helpers ------------------------------------------------------------------------------------
def _onnx(op: Op | None, *types: str) -> bool:
    return op is not None and op.domain in ("", "ai.onnx") and op.op_type in types


def _const(v: Value | None) -> np.ndarray | None:
    return None if v is None or not v.is_constant else np.asarray(v.const)


def _drop_if_unused(v: Value | None) -> None:
    """Remove a constant nobody reads any more (the weights a fold replaced)."""
    if v is None or not v.is_constant or v.has_uses():
        return
    g = v.graph()
    if g is not None and v in g.constants:
        g.remove_constant(v)


def _rename_like(g: Graph, v: Value, name: str) -> None:
    """Give ``v`` the (now free) name of the value it replaced, so tensor names stay stable."""
    if v.name != name and name not in g.names:
        g.rename(v, name)


def _bn_params(bn: Op, model: Model) -> tuple[np.ndarray, np.ndarray] | str:
    """Per-channel ``(k, shift)`` with ``BN(x) = k * x + shift`` in float64, or why not."""
    if any(o.has_uses() for o in bn.outputs[1:]):
        return "BatchNormalization is in training mode (running statistics are read)"
    if bn.attr("training_mode", 0):
        return "BatchNormalization has training_mode=1"
    if model.opset_imports.get("", 1) < 7 and not bn.attr("is_test", 0):
        return "BatchNormalization has is_test=0 (training mode)"
    if not bn.attr("spatial", 1):
        return "BatchNormalization has spatial=0 (statistics per element, not per channel)"
    vals = [_const(bn.input(i)) for i in range(1, 5)]
    if any(v is None for v in vals):
        return "BatchNormalization scale/B/mean/var are not constants"
    if any(not np.issubdtype(v.dtype, np.floating) or v.ndim != 1 for v in vals):  # type: ignore[union-attr]
        return "BatchNormalization scale/B/mean/var are not 1-D float tensors"
    if len({v.size for v in vals}) != 1:  # type: ignore[union-attr]
        return "BatchNormalization scale/B/mean/var differ in length"
    scale, bias, mean, var = (v.astype(np.float64) for v in vals)  # type: ignore[union-attr]
    k = scale / np.sqrt(var + float(bn.attr("epsilon", 1e-5)))
    return k, bias - mean * k


# -- fold BatchNormalization into the layer before ---------------------------------------------
@dataclass
class BnFold:
    """A BatchNormalization ``bn`` to fold into ``layer``: the new weight and bias."""

    bn: Op
    layer: Op
    weight: np.ndarray
    bias: np.ndarray


def _scaled_weight(layer: Op, w: np.ndarray, b: np.ndarray | None, k: np.ndarray,
                   x: Value) -> tuple[np.ndarray, np.ndarray | None] | str:  # fmt: skip
    """The layer's weight scaled per output channel by ``k`` and its bias (flattened), or why not."""
    t = layer.op_type
    if t == "Conv":
        if w.ndim < 3 or w.shape[0] != k.size:
            return f"Conv has {w.shape[0]} output channels, BatchNormalization {k.size}"
        return w * k.reshape(-1, *[1] * (w.ndim - 1)), b
    if t == "ConvTranspose":  # weight [Cin, Cout/group, k...], output channel = g * Cout/group + j
        groups = int(layer.attr("group", 1))
        cin, cpg = w.shape[0], w.shape[1]
        if w.ndim < 3 or cin % groups or cpg * groups != k.size:
            return f"ConvTranspose has {cpg * groups} output channels, BatchNormalization {k.size}"
        kk = k.reshape(groups, 1, cpg, *[1] * (w.ndim - 2))
        return (w.reshape(groups, cin // groups, cpg, *w.shape[2:]) * kk).reshape(w.shape), b
    if t == "Gemm":
        if layer.attr("transA", 0) or w.ndim != 2:
            return "Gemm with transA=1 or a weight that is not 2-D"
        trans_b = layer.attr("transB", 0)
        n = w.shape[0] if trans_b else w.shape[1]
        if n != k.size:
            return f"Gemm has {n} output features, BatchNormalization {k.size}"
        if b is not None and b.size not in (1, n):
            return "Gemm bias C is not 1-D over the output features"
        beta = float(layer.attr("beta", 1.0))
        b = None if b is None else np.broadcast_to(b.reshape(-1).astype(np.float64), (n,)) * beta
        return w * (k[:, None] if trans_b else k[None, :]), b
    # MatMul: BatchNormalization normalizes axis 1, the output features only for 2-D results.
    if w.ndim != 2 or x.shape is None or x.shape.rank != 2 or w.shape[1] != k.size:
        return "MatMul is not a 2-D layer [N, K] x [K, C] with BatchNormalization over C"
    return w * k[None, :], None


def _weight_bias(layer: Op) -> tuple[np.ndarray, np.ndarray | None] | str:
    """The layer's float32 constant weight and bias (``None`` without one), or why not."""
    w = _const(layer.input(1))
    if w is None or w.dtype != np.float32:
        return f"{layer.op_type} weight is not a float32 constant"
    b_in = layer.input(2)
    b = _const(b_in)
    if b_in is not None and (b is None or b.dtype != np.float32):
        return f"{layer.op_type} bias is not a float32 constant"
    return w, b


def _set_weight_bias(layer: Op, weight: np.ndarray, bias: np.ndarray, suffix: str, bias_name: str | None = None) -> None:
    """Give a Conv/ConvTranspose/Gemm new constant weight and bias (the old ones go if unused)."""
    g = layer.graph
    old = [layer.input(i) for i in range(1, 3)]
    wv = g.add_constant(weight, layer.input(1).name + suffix)
    bv = g.add_constant(bias, bias_name or (layer.name or layer.op_type.lower()) + "_bias")
    layer.replace_input(1, wv)
    layer.replace_input(2, bv)
    if layer.op_type == "Gemm":
        layer.set_attr("beta", 1.0)
    for v in old:
        _drop_if_unused(v)


def match_fold_bn(bn: Op, model: Model, options: FuseOptions) -> BnFold | str:
    """Pattern ``BatchNormalization(layer(x, W[, B]))``; checks constants, readers and shapes."""
    if not _onnx(bn, "BatchNormalization"):
        return "not a BatchNormalization"
    x = bn.input(0)
    layer = x.producer() if x is not None else None
    if layer is None or not _onnx(layer, *_LAYERS) or layer.graph is not bn.graph:
        return "BatchNormalization does not follow Conv/ConvTranspose/Gemm/MatMul"
    y = layer.output
    if single_user(y) is not bn:
        return f"{layer.op_type} output has other readers than the BatchNormalization"
    consts = _weight_bias(layer)
    if isinstance(consts, str):
        return consts
    w, b = consts
    if layer.op_type == "MatMul" and model.opset_imports.get("", 1) < 7:
        return "MatMul folds into a Gemm with a 1-D bias, which needs opset 7"
    params = _bn_params(bn, model)
    if isinstance(params, str):
        return params
    k, shift = params
    scaled = _scaled_weight(layer, w.astype(np.float64), b, k, layer.input(0))
    if isinstance(scaled, str):
        return scaled
    w2, b2 = scaled
    new_b = (np.zeros(k.size) if b2 is None else b2.astype(np.float64).reshape(-1)) * k + shift
    return BnFold(bn, layer, w2.astype(np.float32), new_b.astype(np.float32))


def rewrite_fold_bn(m: BnFold, model: Model) -> None:
    """Give the layer the scaled weight and new bias, and let BN's readers read the layer."""
    bn, layer = m.bn, m.layer
    g = layer.graph
    old = [layer.input(i) for i in range(1, 3)] + [bn.input(i) for i in range(1, 5)]
    name = bn.output.name
    if layer.op_type == "MatMul":  # x @ W' + b' as one Gemm, which can also take an activation
        wv = g.add_constant(m.weight, layer.input(1).name + "_bn")
        bv = g.add_constant(m.bias, (layer.name or layer.op_type.lower()) + "_bias")
        with g.inserting_before(layer) as b:
            new = b.create("Gemm", [layer.input(0), wv, bv], name=layer.name)
        new.meta.update(layer.meta)
        bn.output.replace_all_uses_with(new.output)
        new.output.type = bn.output.type
        g.remove([bn, layer])
    else:
        _set_weight_bias(layer, m.weight, m.bias, "_bn")
        layer.output.type = bn.output.type
        bn.output.replace_all_uses_with(layer.output)
        new = layer
        g.remove(bn)
    _rename_like(g, new.output, name)
    for v in old:
        _drop_if_unused(v)


FOLD_BN = Rule("fold-bn", match_fold_bn, rewrite_fold_bn)


# -- HardSigmoid's affine part into the layer before -------------------------------------------------
@dataclass
class HardSigmoidFold:
    """``HardSigmoid(layer(x)) = Clip(alpha * layer(x) + beta, 0, 1)``: the layer's new weight
    and bias take ``alpha`` and ``beta``, a Clip to [0, 1] is left."""

    hs: Op
    layer: Op
    weight: np.ndarray
    bias: np.ndarray


def _out_channels(layer: Op, w: np.ndarray) -> int:
    if layer.op_type == "Conv":
        return w.shape[0]
    if layer.op_type == "ConvTranspose":
        return w.shape[1] * int(layer.attr("group", 1))
    return w.shape[0] if layer.attr("transB", 0) else w.shape[1]  # Gemm


def match_fold_hardsigmoid(hs: Op, model: Model, options: FuseOptions) -> HardSigmoidFold | str:
    """Pattern ``HardSigmoid(layer(x, W[, B]))`` with Conv / ConvTranspose / Gemm the only
    reader of which is the HardSigmoid (a squeeze-and-excitation gate)."""
    if not _onnx(hs, "HardSigmoid"):
        return "not a HardSigmoid"
    x = hs.input(0)
    layer = x.producer() if x is not None else None
    if layer is None or not _onnx(layer, "Conv", "ConvTranspose", "Gemm") or layer.graph is not hs.graph:
        return "HardSigmoid does not follow Conv/ConvTranspose/Gemm"
    if single_user(layer.output) is not hs or layer.output.is_graph_output:
        return f"{layer.op_type} output has other readers than the HardSigmoid"
    consts = _weight_bias(layer)
    if isinstance(consts, str):
        return consts
    w, b = consts
    alpha, beta = float(hs.attr("alpha", 0.2)), float(hs.attr("beta", 0.5))
    if alpha == 0:
        return "HardSigmoid with alpha 0 is a constant"
    if w.ndim < 2 or (layer.op_type == "Gemm" and layer.attr("transA", 0)):
        return f"{layer.op_type} weight is not a layer's"
    n = _out_channels(layer, w)
    scaled = _scaled_weight(layer, w.astype(np.float64), b, np.full(n, alpha), layer.input(0))
    if isinstance(scaled, str):
        return scaled
    w2, b2 = scaled
    new_b = (np.zeros(n) if b2 is None else b2.astype(np.float64).reshape(-1)) * alpha + beta
    return HardSigmoidFold(hs, layer, w2.astype(np.float32), new_b.astype(np.float32))


def rewrite_fold_hardsigmoid(m: HardSigmoidFold, model: Model) -> None:
    """The layer takes the new weight and bias; a Clip to [0, 1] named like the HardSigmoid
    replaces it."""
    hs, layer = m.hs, m.layer
    g = hs.graph
    old_b = layer.input(2)
    _set_weight_bias(layer, m.weight, m.bias, "_hs", old_b.name + "_hs" if old_b is not None else None)
    with g.inserting_before(hs) as b:
        clip = emit_activation(b, layer.output, "Clip", 0.0, 1.0, model.opset_imports.get("", 1)).producer()
    clip.name = hs.name
    clip.meta.update(hs.meta)
    clip.output.type = hs.output.type
    name = hs.output.name
    hs.output.replace_all_uses_with(clip.output)
    g.remove(hs)
    _rename_like(g, clip.output, name)


FOLD_HARDSIGMOID = Rule("fold-hardsigmoid", match_fold_hardsigmoid, rewrite_fold_hardsigmoid)


# -- fuse the activation after a layer ---------------------------------------------------------
@dataclass
class ActFusion:
    """``layer`` followed by ``act`` (whose ``act.ops`` go) with the fused op's parameters."""

    layer: Op
    act: ActivationMatch
    alpha: float
    beta: float


def _plain_activation(op: Op) -> tuple[ActivationMatch, float, float] | str:
    """A one-op activation and its ``(act_alpha, act_beta)``, or why ``op`` is not one."""
    if not _onnx(op, *_PLAIN_ACTIVATIONS):
        return f"{op.op_type} is not an activation"
    alpha = beta = 0.0
    if op.op_type == "Clip":
        if len(op.inputs) > 1:  # opset 11: bounds are optional inputs
            lo_v, hi_v = op.input(1), op.input(2)
            lo, hi = scalar(lo_v), scalar(hi_v)
            if (lo_v is not None and lo is None) or (hi_v is not None and hi is None):
                return "Clip bounds are not constant scalars"
        else:
            lo, hi = op.attr("min"), op.attr("max")
        alpha = -_F32_MAX if lo is None else float(lo)
        beta = _F32_MAX if hi is None else float(hi)
    elif op.op_type == "LeakyRelu":
        alpha = float(op.attr("alpha", 0.01))
    elif op.op_type == "HardSigmoid":
        alpha, beta = float(op.attr("alpha", 0.2)), float(op.attr("beta", 0.5))
    return ActivationMatch(op.op_type, op.input(0), [op], op.output), alpha, beta


def match_fuse_activation(layer: Op, model: Model, options: FuseOptions) -> ActFusion | str:
    """Pattern ``act(layer(...))`` where ``act`` is the only reader of the layer's output."""
    if not _onnx(layer, *_LAYERS):
        return "not a Conv/ConvTranspose/Gemm/MatMul"
    y = layer.output
    users = y.users()
    if y.is_graph_output:
        return f"{layer.op_type} output is a graph output"
    if not users:
        return f"{layer.op_type} output is not read"
    alpha = beta = 0.0
    if len(users) == 1:
        plain = _plain_activation(users[0])
        if isinstance(plain, str):
            return plain
        act, alpha, beta = plain
    else:  # decomposed forms read the layer output twice (x + 3 and x * ...)
        found = [m for m in map(match_activation_at, users) if isinstance(m, ActivationMatch)]
        if not found:
            readers = ", ".join(op.op_type for op in users)
            return f"{layer.op_type} output has {len(users)} readers ({readers}), not one activation"
        act = found[0]
    if act.x is not y or set(users) - set(act.ops):
        return f"{layer.op_type} output has other readers than the {act.activation}"
    if any(op.graph is not layer.graph for op in act.ops):
        return f"the {act.activation} is in another graph than the {layer.op_type}"
    if act.activation not in options.activations:
        return f"{act.activation} is not in the activations to fuse"
    if any(o.is_graph_output for op in act.ops[:-1] for o in op.outputs):
        return f"an intermediate result of the {act.activation} is a graph output"
    return ActFusion(layer, act, alpha, beta)


def rewrite_fuse_activation(m: ActFusion, model: Model) -> None:
    """Replace layer + activation by ``qcompiler.<layer>Act`` named like the layer."""
    layer, act = m.layer, m.act
    g = layer.graph
    ensure_qc_domain(model)
    attrs = {**layer.attrs, "activation": act.activation, "act_alpha": m.alpha, "act_beta": m.beta}
    with g.inserting_before(layer) as b:
        fused = b.create(layer.op_type + "Act", list(layer.inputs), attrs, domain=QC_DOMAIN,
                         name=layer.name)  # fmt: skip
    fused.meta.update(layer.meta)
    fused.meta["fused_names"] = [op.name for op in act.ops if op.name]
    fused.output.type = act.output.type
    name = act.output.name
    act.output.replace_all_uses_with(fused.output)
    g.remove([*act.ops, layer])
    _rename_like(g, fused.output, name)
    for op in act.ops:  # Clip bounds and the 3 / 6 of a decomposed hard-swish
        for v in op.inputs:
            _drop_if_unused(v)


FUSE_ACTIVATION = Rule("fuse-activation", match_fuse_activation, rewrite_fuse_activation)


# -- decomposed hard-swish as one op -----------------------------------------------------------
def match_canonicalize(op: Op, model: Model, options: FuseOptions) -> ActivationMatch | str:
    """Pattern: a decomposed hard-swish starting at ``op`` that has a shorter form."""
    m = match_activation_at(op)
    if isinstance(m, str):
        return m
    if m.activation not in ("HardSwish", "Gelu"):
        return f"{m.activation} has no single ONNX op"
    if any(o.graph is not op.graph for o in m.ops):
        return f"the {m.activation} spans nested graphs"
    if m.activation == "Gelu":
        return m
    if len(m.ops) == 2 and model.opset_imports.get("", 1) < 14:
        return "x*HardSigmoid(x) is already the shortest form before opset 14"
    return m


def rewrite_canonicalize(m: ActivationMatch, model: Model) -> None:
    """``HardSwish(x)`` from opset 14, else ``Mul(x, HardSigmoid(x, 1/6, 1/2))``; a GELU
    becomes ``Gelu(x)`` from opset 20, else ``qcompiler.Gelu`` (written back as the
    decomposition: :mod:`qcompiler.ir.qc_ops`)."""
    last = m.ops[-1]
    g = last.graph
    opset = model.opset_imports.get("", 1)
    if m.activation == "Gelu" and opset < 20:
        ensure_qc_domain(model)
    with g.inserting_before(last) as b:
        if m.activation == "Gelu":
            y = (b.op("Gelu", m.x, name=last.name) if opset >= 20
                 else b.create("Gelu", [m.x], {}, domain=QC_DOMAIN, name=last.name).output)  # fmt: skip
        elif opset >= 14:
            y = b.op("HardSwish", m.x, name=last.name)
        else:
            y = b.op("Mul", m.x, b.op("HardSigmoid", m.x, alpha=1.0 / 6.0, beta=0.5), name=last.name)
    y.type = m.output.type
    y.producer().meta["fused_names"] = [op.name for op in m.ops if op.name]
    name = m.output.name
    m.output.replace_all_uses_with(y)
    g.remove(m.ops)
    _rename_like(g, y, name)
    for op in m.ops:
        for v in op.inputs:
            _drop_if_unused(v)


CANONICALIZE_ACTIVATION = Rule("canonicalize-activation", match_canonicalize, rewrite_canonicalize)


# -- lone BatchNormalization as Mul + Add -----------------------------------------------------------
@dataclass
class LoneBn:
    bn: Op
    scale: np.ndarray
    shift: np.ndarray


def match_standalone_bn(bn: Op, model: Model, options: FuseOptions) -> LoneBn | str:
    """Pattern: an inference BatchNormalization of a float32 input of known rank."""
    if not _onnx(bn, "BatchNormalization"):
        return "not a BatchNormalization"
    params = _bn_params(bn, model)
    if isinstance(params, str):
        return params
    x = bn.input(0)
    rank = x.shape.rank if x is not None and x.shape is not None else None
    if rank is None or rank < 2:
        return "BatchNormalization input rank is unknown"
    if x.dtype is None or x.dtype.numpy() != np.float32:
        return "BatchNormalization input is not float32"
    k, shift = params
    shape = (k.size,) + (1,) * (rank - 2)  # channels on axis 1, broadcast over the rest
    return LoneBn(bn, k.astype(np.float32).reshape(shape), shift.astype(np.float32).reshape(shape))


def rewrite_standalone_bn(m: LoneBn, model: Model) -> None:
    """``Add(Mul(x, k), shift)``; the Mul takes the BatchNormalization's name."""
    bn = m.bn
    g = bn.graph
    base = bn.name or "bn"
    kv, sv = g.add_constant(m.scale, base + "_scale"), g.add_constant(m.shift, base + "_shift")
    with g.inserting_before(bn) as b:
        mul = b.op("Mul", bn.input(0), kv, name=bn.name)
        y = b.op("Add", mul, sv, name=(bn.name + "_shift") if bn.name else "")
    mul.type = y.type = bn.output.type
    name = bn.output.name
    params = [bn.input(i) for i in range(1, 5)]
    bn.output.replace_all_uses_with(y)
    g.remove(bn)
    _rename_like(g, y, name)
    for v in params:
        _drop_if_unused(v)


STANDALONE_BN = Rule("standalone-bn", match_standalone_bn, rewrite_standalone_bn)

# -- MatMul + constant bias as one Gemm ---------------------------------------------------------
@dataclass
class MatMulBias:
    """``Add(MatMul(x, W), c)`` with ``W`` [K, N] and ``c`` [N] constants: one Gemm with bias
    ``c`` over ``x`` viewed as [M, K] (Reshapes around it when ``x`` has more than 2 dims)."""

    add: Op
    matmul: Op
    bias: np.ndarray
    in_shape: tuple[int, ...]


def match_matmul_bias(add: Op, model: Model, options: FuseOptions) -> MatMulBias | str:
    """Pattern ``Add(MatMul(x, W), c)`` (either order): a PyTorch Linear on a 3-D input
    (transformer blocks) exports as this pair, which would quantize as two ops with an int8
    rounding between the product and its bias; as a Gemm the bias is int32 in the product."""
    if not _onnx(add, "Add"):
        return "not an Add"
    for i in (0, 1):
        mm = add.input(i).producer() if add.input(i) is not None else None
        if _onnx(mm, "MatMul") and mm.graph is add.graph:
            c = _const(add.input(1 - i))
            break
    else:
        return "Add does not read a MatMul"
    if single_user(mm.output) is not add or mm.output.is_graph_output:
        return "MatMul output has other readers than the Add"
    w = _const(mm.input(1))
    if w is None or w.dtype != np.float32 or w.ndim != 2:
        return "MatMul weight is not a 2-D float32 constant"
    n = w.shape[1]
    if c is None or c.dtype != np.float32 or c.size != n or (c.ndim > 1 and c.shape[-1] != n):
        return "the Add's other input is not a float32 constant over the output features"
    x = mm.input(0)
    dims = x.shape.dims if x.shape is not None and x.shape.rank is not None else None
    if dims is None or len(dims) < 2 or not all(isinstance(d, int) for d in dims) or dims[-1] != w.shape[0]:
        return "MatMul input shape is not static [..., K]"
    if c.ndim > len(dims):
        return "the bias has more dims than the product"
    if model.opset_imports.get("", 1) < 7:
        return "a Gemm with a 1-D bias needs opset 7"
    return MatMulBias(add, mm, c.reshape(-1), tuple(dims))


def rewrite_matmul_bias(m: MatMulBias, model: Model) -> None:
    """Reshape(x, [M, K]) -> Gemm(W, c) -> Reshape(y, [..., N]) (no Reshapes for 2-D x); the
    Gemm takes the MatMul's name."""
    add, mm = m.add, m.matmul
    g = add.graph
    k, n = m.in_shape[-1], m.bias.size
    rows = int(np.prod(m.in_shape[:-1], dtype=np.int64))
    base = mm.name or "matmul"
    bv = g.add_constant(m.bias.astype(np.float32), base + "_bias")
    name = add.output.name
    old = [add.input(0), add.input(1), mm.input(1)]
    with g.inserting_before(add) as b:
        x = mm.input(0)
        if len(m.in_shape) > 2:
            x = b.op("Reshape", x, b.const(np.array([rows, k], np.int64), base + "_rows"), name=base + "_rows")
            x.type = TensorType(DType.FLOAT32, Shape.of([rows, k]))
        gemm = b.create("Gemm", [x, mm.input(1), bv], name=mm.name)
        y = gemm.output
        y.type = TensorType(DType.FLOAT32, Shape.of([rows, n]))
        if len(m.in_shape) > 2:
            y = b.op("Reshape", y, b.const(np.array([*m.in_shape[:-1], n], np.int64), base + "_shape"),
                     name=base + "_unrows")  # fmt: skip
    gemm.meta.update(mm.meta)
    y.type = add.output.type
    add.output.replace_all_uses_with(y)
    g.remove([add, mm])
    _rename_like(g, y, name)
    for v in old:
        _drop_if_unused(v)


MATMUL_BIAS = Rule("matmul-bias", match_matmul_bias, rewrite_matmul_bias)


#: Every rule, in the order the pass applies them.
RULES = (MATMUL_BIAS, FOLD_BN, FOLD_HARDSIGMOID, FUSE_ACTIVATION, CANONICALIZE_ACTIVATION, STANDALONE_BN)


class FuseConvBnActPass(Pass):
    name = "fuse-conv-bn-act"
    description = "Fold BatchNormalization into Conv/ConvTranspose/Gemm/MatMul and fuse the activation after."
    Options = FuseOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        opts: FuseOptions = self.options
        sweeps = [(MATMUL_BIAS, opts.matmul_bias), (FOLD_BN, opts.fuse_bn), (FOLD_HARDSIGMOID, opts.fold_hardsigmoid),
                  (FUSE_ACTIVATION, opts.fuse_activation and bool(opts.activations)),
                  (CANONICALIZE_ACTIVATION, opts.canonicalize), (STANDALONE_BN, opts.standalone_bn)]  # fmt: skip
        changed = False
        for rule, enabled in sweeps:
            if not enabled:
                continue
            for op in list(model.graph.all_ops()):  # a snapshot: rewrites remove later ops
                if op.graph is not None and rule.apply(op, model, opts) is None:
                    changed = True
        return changed
