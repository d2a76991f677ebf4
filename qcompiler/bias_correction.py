"""Empirical bias correction (MindSpore's ``bias_correction``).

For every quantized layer with an int32 bias, the per-output-channel mean of
``y_quantized - y_float`` over the calibration data is measured at the layer's output (before
its activation is quantized) and subtracted from the bias.  Both models run in onnxruntime
with the layer outputs exposed; one pass over the data corrects all layers.
"""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Model, Op
from qcompiler.ir.qc_ops import fused_base
from qcompiler.pass_base import PassContext

__all__ = ["correct_bias"]


def _bias_layers(model: Model) -> list[Op]:
    out = []
    for op in model.graph:
        base = fused_base(op) or op.op_type
        b = op.input(2)
        if base in ("Conv", "ConvTranspose", "Gemm") and b is not None:
            p = b.producer()
            if p is not None and p.op_type == "DequantizeLinear" and p.input(0).is_constant:
                out.append(op)
    return out


def correct_bias(model: Model, ctx: PassContext, max_samples: int = 64) -> dict[str, tuple[float, float]]:
    """Correct biases in place; returns layer name -> (mean correction, variance) for reports."""
    from qcompiler.calibration.collect import _session
    from qcompiler.codegen.onnx_backend import ir_to_proto

    float_proto = ctx.state.get("float_model")
    data = ctx.calib_data
    layers = _bias_layers(model)
    if float_proto is None or data is None or not layers:
        return {}
    float_names = {o for n in float_proto.graph.node for o in n.output}
    layers = [op for op in layers if op.outputs[0].name in float_names]
    names = [op.outputs[0].name for op in layers]
    # Fused layers' outputs are after the activation; the error is measured there too.
    fsess = _session(float_proto, names)
    qsess = _session(ir_to_proto(model), names)
    fidx = [[o.name for o in fsess.get_outputs()].index(n) for n in names]
    qidx = [[o.name for o in qsess.get_outputs()].index(n) for n in names]
    sums: list[np.ndarray | None] = [None] * len(names)
    sq: list[np.ndarray | None] = [None] * len(names)
    count = 0
    for i, sample in enumerate(data):
        if i >= max_samples:
            break
        fo, qo = fsess.run(None, sample), qsess.run(None, sample)
        for k in range(len(names)):
            err = qo[qidx[k]].astype(np.float64) - fo[fidx[k]].astype(np.float64)
            axis = 1 if err.ndim > 1 else 0
            red = tuple(a for a in range(err.ndim) if a != axis)
            m = err.mean(axis=red)
            sums[k] = m if sums[k] is None else sums[k] + m
            sq[k] = m * m if sq[k] is None else sq[k] + m * m
        count += 1
    report = {}
    for k, op in enumerate(layers):
        if sums[k] is None:
            continue
        mean = sums[k] / count
        var = np.maximum(sq[k] / count - mean * mean, 0)
        dq = op.input(2).producer()
        qc, scale = dq.input(0), dq.input(1)
        bq = np.asarray(qc.const, np.int64)
        s = np.broadcast_to(np.asarray(scale.const, np.float64), bq.shape)
        if mean.shape != bq.shape:
            continue
        new = np.clip(bq - np.round(mean / s), -(2**31), 2**31 - 1).astype(np.int32)
        qc.const = new
        report[op.name or op.outputs[0].name] = (float(mean.mean()), float(var.mean()))
    ctx.state["bias_correction"] = report
    return report
