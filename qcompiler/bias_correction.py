"""Empirical bias correction (MindSpore's ``bias_correction``).

For every quantized layer with an int32 bias, the per-output-channel mean of
``y_quantized - y_float`` over the calibration data is measured at the layer's output (before
its activation is quantized) and subtracted from the bias.  Both models run in onnxruntime
with the layer outputs exposed; one pass over the data corrects all layers.
"""

from __future__ import annotations

import numpy as np
import onnx

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


def _linear_range(op: Op) -> tuple[float, float]:
    """Where a fused activation passes its input through unchanged."""
    act = op.attr("activation") if fused_base(op) else None
    if act == "Relu":
        return 0.0, np.inf
    if act == "Clip":
        return op.attr("act_alpha", -np.inf), op.attr("act_beta", np.inf)
    return -np.inf, np.inf


def _mean_error(floats: list[np.ndarray], quant: list[np.ndarray], bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    total = sq = None
    for f, q in zip(floats, quant):
        err = q.astype(np.float64) - f
        axis = 1 if err.ndim > 1 else 0
        red = tuple(a for a in range(err.ndim) if a != axis)
        # Behind a fused Relu/Clip the error is only seen where the activation is linear;
        # averaging there estimates the pre-activation error the bias can remove.
        mask = ((f > bounds[0]) & (f < bounds[1])).astype(np.float64)
        m = (err * mask).sum(axis=red) / np.maximum(mask.sum(axis=red), 1.0)
        total = m if total is None else total + m
        sq = m * m if sq is None else sq + m * m
    mean = total / len(floats)
    return mean, np.maximum(sq / len(floats) - mean * mean, 0)


def _biases_as_inputs(proto: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """The model with the given initializers turned into graph inputs (fed per run)."""
    m = onnx.ModelProto()
    m.CopyFrom(proto)
    keep = []
    for t in m.graph.initializer:
        if t.name in names:
            m.graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        else:
            keep.append(t)
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    return m


def correct_bias(model: Model, ctx: PassContext, max_samples: int = 32, values_per_channel: int = 1024) -> dict[str, tuple[float, float]]:
    """Correct biases in place, layer by layer in graph order (each correction sees the
    corrected layers before it); returns layer name -> (mean correction, variance).

    The quantized model runs in one onnxruntime session whose int32 biases are inputs, so a
    corrected bias takes effect without rebuilding the session.
    """
    from qcompiler.calibration.collect import _session
    from qcompiler.codegen.onnx_backend import ir_to_proto

    float_proto = ctx.state.get("float_model")
    data = ctx.calib_data
    if float_proto is None or data is None:
        return {}
    float_names = {o for n in float_proto.graph.node for o in n.output}
    layers = [op for op in _bias_layers(model) if op.outputs[0].name in float_names]
    if not layers:
        return {}
    names = [op.outputs[0].name for op in layers]
    consts = [op.input(2).producer().input(0) for op in layers]
    scales = [np.asarray(op.input(2).producer().input(1).const, np.float64) for op in layers]
    samples = [s for _, s in zip(range(max_samples), data)]
    # Each layer averages over enough samples to see about `values_per_channel` values per
    # channel: a few for convolutions (many positions), more for fully-connected layers.
    def samples_for(op: Op) -> int:
        shape = op.outputs[0].shape
        numel = shape.numel() if shape is not None else None
        channels = shape.dims[1] if shape is not None and shape.rank and shape.rank > 1 else None
        if not numel or not isinstance(channels, int) or channels <= 0:
            return len(samples)
        per_sample = max(numel // channels, 1)
        return max(4, min(len(samples), -(-values_per_channel // per_sample)))

    try:
        fsess = _session(float_proto, names)
        fidx = [[o.name for o in fsess.get_outputs()].index(n) for n in names]
        float_runs = [fsess.run(None, s) for s in samples]  # the float side runs once for all layers
        qsess = _session(_biases_as_inputs(ir_to_proto(model), [c.name for c in consts]), names)
    except Exception as e:  # noqa: BLE001 - onnxruntime lacks a kernel (new opsets, types)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        ctx.warn(f"bias correction skipped: onnxruntime cannot run the quantized model ({first[:160]})")
        return {}
    qidx = [[o.name for o in qsess.get_outputs()].index(n) for n in names]
    biases = {c.name: np.asarray(c.const, np.int32) for c in consts}
    report = {}
    for k, op in enumerate(layers):
        n = samples_for(op)
        quant = [qsess.run([qsess.get_outputs()[qidx[k]].name], {**s, **biases})[0] for s in samples[:n]]
        mean, var = _mean_error([r[fidx[k]].astype(np.float64) for r in float_runs[:n]], quant, _linear_range(op))
        bq = biases[consts[k].name].astype(np.int64)
        if mean.shape != bq.shape:
            continue
        s = np.broadcast_to(scales[k], bq.shape)
        biases[consts[k].name] = np.clip(bq - np.round(mean / s), -(2**31), 2**31 - 1).astype(np.int32)
        report[op.name or names[k]] = (float(mean.mean()), float(var.mean()))
    for c in consts:
        c.const = biases[c.name]
    ctx.state["bias_correction"] = report
    return report
