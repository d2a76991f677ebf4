"""qcompiler's own ops (domain ``qcompiler``) and how each lowers to standard ONNX.

* ``ConvAct``, ``ConvTransposeAct``, ``GemmAct``, ``MatMulAct``: the ONNX op (same inputs,
  same attributes) followed by a fused activation, so the pair quantizes as one unit.
  Attributes beside the base op's: ``activation`` (one of :data:`ACTIVATIONS`) and
  ``act_alpha`` / ``act_beta`` (LeakyRelu alpha; HardSigmoid alpha and beta; Clip min and max).
* ``Gelu``: the exact GELU ``0.5 x (1 + erf(x / sqrt 2))`` on models older than opset 20
  (from 20 ONNX has ``Gelu``), so a decomposed GELU quantizes as one op; written back as the
  decomposition.
* ``FakeQuant``: marks a tensor to be quantized, before its parameters are known.  Attributes:
  ``role`` (``activation`` or ``weight``), ``bits``, ``signed``, ``symmetric``,
  ``narrow_range`` (ints 0/1), ``axis`` (per-channel axis, or ``-1000`` for per-tensor) and
  ``method`` (the calibration method of an activation).  Numerically it is the identity until
  ``fold-quant-params`` turns it into QuantizeLinear/DequantizeLinear.

The ONNX backend lowers these before serializing (:func:`lower_to_onnx`), so a model holding
them is still written and run as plain ONNX.
"""

from __future__ import annotations

import math

import numpy as np

from qcompiler.ir.builder import Builder
from qcompiler.ir.graph import Graph, Model
from qcompiler.ir.ops import QC_DOMAIN, Op
from qcompiler.ir.values import Value

__all__ = ["ensure_qc_domain", "ACTIVATIONS", "FUSED_BASE", "PER_TENSOR", "is_qc", "fused_base", "lower_to_onnx",
           "emit_activation"]  # fmt: skip

ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "Silu")
#: qcompiler fused op type -> the ONNX op it extends.
FUSED_BASE = {"ConvAct": "Conv", "ConvTransposeAct": "ConvTranspose", "GemmAct": "Gemm",
              "MatMulAct": "MatMul"}  # fmt: skip
#: ``axis`` attribute value of a per-tensor FakeQuant.
PER_TENSOR = -1000
_ACT_ATTRS = ("activation", "act_alpha", "act_beta")


def ensure_qc_domain(model: Model) -> None:
    """Import the ``qcompiler`` domain (call before adding qcompiler ops to a model)."""
    model.opset_imports.setdefault(QC_DOMAIN, 1)


def is_qc(op: Op, op_type: str | None = None) -> bool:
    return op.domain == QC_DOMAIN and (op_type is None or op.op_type == op_type)


def fused_base(op: Op) -> str | None:
    """The ONNX op type a fused qcompiler op extends (``None`` for other ops)."""
    return FUSED_BASE.get(op.op_type) if op.domain == QC_DOMAIN else None


def emit_activation(b: Builder, x: Value, activation: str, alpha: float, beta: float,
                    opset: int) -> Value:  # fmt: skip
    """Build ONNX ops computing ``activation(x)`` for the model's opset."""
    if activation in ("Relu", "Sigmoid", "Tanh"):
        return b.op(activation, x)
    if activation == "LeakyRelu":
        return b.op("LeakyRelu", x, alpha=alpha)
    if activation == "HardSigmoid":
        return b.op("HardSigmoid", x, alpha=alpha, beta=beta)
    if activation == "Clip":
        if opset >= 11:
            lo = b.const(np.array(alpha, dtype=np.float32), "clip_min")
            hi = b.const(np.array(beta, dtype=np.float32), "clip_max")
            return b.op("Clip", x, lo, hi)
        return b.op("Clip", x, min=alpha, max=beta)
    if activation == "HardSwish":
        if opset >= 14:
            return b.op("HardSwish", x)
        return b.op("Mul", x, b.op("HardSigmoid", x, alpha=1.0 / 6.0, beta=0.5))
    if activation == "Silu":
        return b.op("Mul", x, b.op("Sigmoid", x))
    raise ValueError(f"unknown activation {activation!r}")


def _lower_fused(op: Op, g: Graph, opset: int) -> None:
    base = FUSED_BASE[op.op_type]
    attrs = {k: a for k, a in op.attrs.items() if k not in _ACT_ATTRS}
    with g.inserting_before(op) as b:
        core = b.create(base, list(op.inputs), attrs, name=op.name).output
        y = emit_activation(b, core, op.attr("activation"), op.attr("act_alpha", 0.0),
                            op.attr("act_beta", 0.0), opset)  # fmt: skip
    act = y.producer()
    if not act.name and op.meta.get("fused_names"):
        act.name = op.meta["fused_names"][-1]  # the activation keeps the name it had
    core.type = op.output.type
    _take_place(op, y, g)


def _take_place(op: Op, y: Value, g: Graph) -> None:
    """``y`` (built before ``op``) replaces ``op``'s result, whose type and name it takes."""
    y.type = op.output.type
    name = op.output.name
    op.output.replace_all_uses_with(y)
    g.remove(op)
    if y.name != name and name not in g.names:
        g.rename(y, name)


def _lower_gelu(op: Op, g: Graph) -> None:
    """``qcompiler.Gelu``: ``Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)``, the form exporters
    write and onnxruntime fuses into its Gelu kernel."""
    x = op.input(0)
    with g.inserting_before(op) as b:
        d = b.op("Div", x, b.const(np.array(math.sqrt(2.0), np.float32), "gelu_sqrt2"))
        e = b.op("Erf", d)
        a = b.op("Add", e, b.const(np.array(1.0, np.float32), "gelu_one"))
        m = b.op("Mul", x, a)
        y = b.op("Mul", m, b.const(np.array(0.5, np.float32), "gelu_half"), name=op.name)
    for v in (d, e, a, m):
        v.type = op.output.type
    _take_place(op, y, g)


def _lower_fake_quant(op: Op, g: Graph) -> None:
    x = op.input(0)
    out = op.output
    if out.is_graph_output:  # keep both names: the output's and the quantized tensor's
        with g.inserting_before(op) as b:
            y = b.op("Identity", x)
        y.type = out.type
        out.replace_all_uses_with(y)
    else:
        out.replace_all_uses_with(x)
    g.remove(op)


def _lower_graph(g: Graph, opset: int) -> None:
    for op in g:
        for sub in op.regions():
            _lower_graph(sub, opset)
        if op.domain != QC_DOMAIN:
            continue
        if op.op_type in FUSED_BASE:
            _lower_fused(op, g, opset)
        elif op.op_type == "FakeQuant":
            _lower_fake_quant(op, g)
        elif op.op_type == "Gelu":
            _lower_gelu(op, g)


def lower_to_onnx(model: Model) -> Model:
    """A copy of ``model`` with every known qcompiler op replaced by standard ONNX ops.

    Unknown ops of the ``qcompiler`` domain are left as they are (a plugin's own ops).
    """
    if not any(op.domain == QC_DOMAIN for op in model.graph.all_ops()):
        return model
    lowered = model.clone()
    _lower_graph(lowered.graph, lowered.opset_imports.get("", 17))
    if not any(op.domain == QC_DOMAIN for op in lowered.graph.all_ops()):
        lowered.opset_imports.pop(QC_DOMAIN, None)
    return lowered
