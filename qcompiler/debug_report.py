"""The quantization debug report of ``debug_info_save_path`` (MindSpore Lite's fields).

Writes into the folder:

* ``debug_info.csv``: per quantized tensor, its distribution in the float model (``Origin``)
  and after quantization (``Dequant``): NodeName, NodeType, TensorName, InOutFlag,
  DataTypeFlag, TensorTypeFlag, Min, Q1, Median, Q3, MAX, Mean, Var, Sparsity, Clip,
  CosineSimilarity; over the first ``max_samples`` calibration samples.
* ``quant_param.csv``: NodeName, NodeType, TensorName, ElementsNum, Dims, Scale, ZeroPoint,
  Bits, CorrectionVar, CorrectionMean.
* ``layer_sqnr.csv``: each quantized layer's output SQNR (dB) and cosine similarity against
  the float model.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from qcompiler.errors import QCompilerError
from qcompiler.ir import Model
from qcompiler.pass_base import PassContext

__all__ = ["write_debug_report", "sqnr_db"]

DEBUG_FIELDS = ["NodeName", "NodeType", "TensorName", "InOutFlag", "DataTypeFlag", "TensorTypeFlag", "Min", "Q1",
                "Median", "Q3", "MAX", "Mean", "Var", "Sparsity", "Clip", "CosineSimilarity"]  # fmt: skip
PARAM_FIELDS = ["NodeName", "NodeType", "TensorName", "ElementsNum", "Dims", "Scale", "ZeroPoint", "Bits",
                "CorrectionVar", "CorrectionMean"]  # fmt: skip


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    noise = float(np.sum((np.asarray(test, np.float64) - ref) ** 2))
    signal = float(np.sum(np.asarray(ref, np.float64) ** 2))
    if noise == 0:
        return float("inf")
    return 10 * np.log10(signal / noise) if signal > 0 else float("-inf")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    d = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / d) if d > 0 else 1.0


def _dist(x: np.ndarray) -> list[float]:
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return [float(x.min()), float(q1), float(med), float(q3), float(x.max()), float(x.mean()), float(x.var()),
            float(np.mean(x == 0))]  # fmt: skip


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def write_debug_report(model: Model, ctx: PassContext, folder: str | os.PathLike, max_samples: int = 16) -> None:
    from qcompiler.calibration.collect import _session
    from qcompiler.codegen.onnx_backend import ir_to_proto

    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise QCompilerError(f"debug_info_save_path {folder}: cannot create folder: {e.strerror or e}") from None
    g = model.graph
    corrections = ctx.state.get("bias_correction", {})
    # Quantized activations: QuantizeLinear(x) -> DequantizeLinear; x's reader names the node.
    acts = []
    for op in g:
        if op.op_type == "QuantizeLinear":
            x = op.input(0)
            dq = next((u for u in op.output.users() if u.op_type == "DequantizeLinear"), None)
            if dq is None:
                continue
            p = x.producer()
            node, ntype, flag = (p.name or x.name, p.qualified_type, "Output") if p is not None else (x.name, "Input", "Input")
            acts.append((node, ntype, flag, x, dq.output, op.output.quant))
    params_rows = []
    for c in g.constants:
        q = c.quant
        if q is None:
            continue
        reader = next((u for u in c.users()), None)
        layer = reader.output.users()[0] if reader is not None and reader.output.users() else reader
        lname = layer.name if layer is not None else c.name
        corr = corrections.get(lname, ("", ""))
        params_rows.append([lname, layer.qualified_type if layer else "", c.name, int(np.asarray(c.const).size),
                            list(np.asarray(c.const).shape), ";".join(f"{s:.6g}" for s in q.scale),
                            ";".join(map(str, q.zero_point)), q.bits, corr[1], corr[0]])  # fmt: skip
    for node, ntype, _flag, x, _dq, q in acts:
        params_rows.append([node, ntype, x.name, "", "", f"{q.scale[0]:.6g}", q.zero_point[0], q.bits, "", ""])
    with open(out / "quant_param.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(PARAM_FIELDS)
        w.writerows([[_fmt(v) for v in r] for r in params_rows])

    float_proto = ctx.state.get("float_model")
    data = ctx.calib_data
    rows, sq_rows = [], []
    if float_proto is not None and data is not None and acts:
        float_names = {o for n in float_proto.graph.node for o in n.output} | {i.name for i in float_proto.graph.input}
        acts = [a for a in acts if a[3].name in float_names]
        fnames = [a[3].name for a in acts]
        qnames = [a[4].name for a in acts]
        fs, qs = _session(float_proto, fnames), _session(ir_to_proto(model), qnames)
        fo_names = [o.name for o in fs.get_outputs()]
        qo_names = [o.name for o in qs.get_outputs()]
        fbuf: list[list[np.ndarray]] = [[] for _ in acts]
        qbuf: list[list[np.ndarray]] = [[] for _ in acts]
        for i, sample in enumerate(data):
            if i >= max_samples:
                break
            fo, qo = fs.run(None, sample), qs.run(None, sample)
            for k in range(len(acts)):
                fbuf[k].append(fo[fo_names.index(fnames[k])].ravel())
                qbuf[k].append(qo[qo_names.index(qnames[k])].ravel())
        for k, (node, ntype, flag, x, _dq, q) in enumerate(acts):
            f, d = np.concatenate(fbuf[k]), np.concatenate(qbuf[k])
            lo, hi = q.qrange()
            rmin, rmax = (lo - q.zero_point[0]) * q.scale[0], (hi - q.zero_point[0]) * q.scale[0]
            clip = float(np.mean((f < rmin) | (f > rmax)))
            rows.append([node, ntype, x.name, flag, "Origin", "Activation", *_dist(f), 0.0, 1.0])
            rows.append([node, ntype, x.name, flag, "Dequant", "Activation", *_dist(d), clip, _cos(f, d)])
            sq_rows.append([node, ntype, x.name, sqnr_db(f, d), _cos(f, d)])
    with open(out / "debug_info.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DEBUG_FIELDS)
        w.writerows([[_fmt(v) for v in r] for r in rows])
    with open(out / "layer_sqnr.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["NodeName", "NodeType", "TensorName", "SQNR_dB", "CosineSimilarity"])
        w.writerows([[_fmt(v) for v in r] for r in sq_rows])
