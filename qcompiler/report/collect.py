"""What the HTML report shows, gathered from a finished compile as plain data (no HTML here).

The per-layer SQNR / cosine similarity, clip ratios and the debug tables come from the
quantization debug report (:func:`qcompiler.debug_report.write_debug_report`, MindSpore's
CSVs), written into a temporary folder and read back, so the report shows exactly the figures
``debug_info_save_path`` writes.  Histograms come from the calibration statistics
(``ctx.state["calibration"]``), clipping ranges from the quantization parameters in the IR, and
per-channel weight ranges from the float model the calibration ran
(``ctx.state["float_model"]``).
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from qcompiler.ir import Model, Op, Value

__all__ = ["TensorInfo", "WeightInfo", "Table", "ReportData", "collect_report_data", "HIST_BINS"]

#: Bins of the histograms drawn in the report (the calibration keeps 8192; they are merged).
HIST_BINS = 64
_CONV_TYPES = ("Conv", "qcompiler.ConvAct", "ConvTranspose")
_QDQ = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class TensorInfo:
    """A quantized activation: its error against the float model and its distribution."""

    node: str
    op_type: str
    tensor: str
    index: int  #: position in graph order
    sqnr: float | None = None  #: dB, float vs quantized (everything before it quantized too)
    cosine: float | None = None
    drop: float | None = None  #: dB lost at this layer: its worst input's SQNR minus its own
    clip: float | None = None  #: fraction of float values outside the quantization range
    lo: float | None = None  #: clipping range (what the integers can represent)
    hi: float | None = None
    bits: int | None = None
    vmin: float | None = None  #: calibration min / max
    vmax: float | None = None
    tail: float | None = None  #: max |x| / 99.99th percentile of |x| (long tail when large)
    hist: list[int] = field(default_factory=list)  #: HIST_BINS counts over [hist_lo, hist_hi]
    hist_lo: float = 0.0
    hist_hi: float = 0.0
    is_output: bool = False
    output_name: str | None = None  #: the graph output it becomes (``logits`` for ``logits_fq``)
    worst: bool = False


@dataclass
class WeightInfo:
    """A quantized weight: per-output-channel float ranges and how per-tensor scales would fare."""

    layer: str
    op_type: str
    tensor: str
    bits: int
    per_channel: bool
    axis: int
    mins: list[float]
    maxs: list[float]
    hist: list[int]
    hist_lo: float
    hist_hi: float
    clip_lo: float  #: the widest channel's clipping range
    clip_hi: float
    clip: float  #: fraction of weights outside their channel's range
    #: log2(tensor |max| / channel |max|): bits a channel loses with one scale for the tensor.
    bits_lost_max: float
    bits_lost_median: float
    is_conv: bool
    float_weights: bool  #: False when only the dequantized weights were available


@dataclass
class Table:
    """A debug table: its CSV's header and rows, as text, with the numeric columns marked."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass
class ReportData:
    title: str
    summary: list[tuple[str, str, str]]  #: (what, float model, quantized model)
    backend: list[tuple[str, str]]  #: the backend's summary (arena, flash... for C)
    layers: list[TensorInfo]
    outputs: list[TensorInfo]
    weights: list[WeightInfo]
    tables: list[Table]
    config_text: str
    pipeline: str
    warnings: list[str]
    quantized: bool
    method: str | None = None
    per_channel: bool | None = None
    sensitivity: Any = None  #: a qcompiler.analyze.Sensitivity, when one was run
    selection: Any = None  #: a qcompiler.analyze.Selection, when one was made
    advice: list[Any] = field(default_factory=list)


# -- helpers ---------------------------------------------------------------------------------
def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        return [], []
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return (rows[0], rows[1:]) if rows else ([], [])


def _num(text: str) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if not math.isnan(v) else None


def _rebin(hist: np.ndarray, edges: np.ndarray, lo: float, hi: float, bins: int) -> list[int]:
    """Counts of a fine histogram (``edges``) gathered into ``bins`` equal bins over [lo, hi]."""
    if hi <= lo or hist.sum() == 0:
        return [0] * bins
    centers = (edges[:-1] + edges[1:]) / 2
    keep = hist > 0
    out, _ = np.histogram(np.clip(centers[keep], lo, hi), bins=bins, range=(lo, hi), weights=hist[keep])
    return [int(round(c)) for c in out]


def _display_range(*values: float | None) -> tuple[float, float]:
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _activation_quants(model: Model) -> dict[str, tuple[Op, Any]]:
    """Tensor name -> (its QuantizeLinear, quant type) for the model's quantized activations."""
    out = {}
    for op in model.graph:
        if op.op_type == "QuantizeLinear" and op.output.quant is not None:
            x = op.input(0)
            if x is not None and not x.is_constant and x.name not in out:
                out[x.name] = (op, op.output.quant)
    return out


def _source_activation(v: Value | None) -> str | None:
    """The float tensor behind a DequantizeLinear(QuantizeLinear(x)) chain, if ``v`` is one."""
    if v is None:
        return None
    dq = v.producer()
    if dq is None or dq.op_type != "DequantizeLinear":
        return None
    q = dq.input(0).producer() if dq.input(0) is not None else None
    if q is None or q.op_type != "QuantizeLinear" or q.input(0) is None:
        return None
    return q.input(0).name


def _float_initializers(proto: onnx.ModelProto | None) -> tuple[dict[str, onnx.NodeProto], dict[str, Any]]:
    if proto is None:
        return {}, {}
    nodes = {n.name: n for n in proto.graph.node if n.name}
    inits = {t.name: t for t in proto.graph.initializer}
    return nodes, inits


# -- the pieces ------------------------------------------------------------------------------
def _histogram_stats(ctx, names: list[str], max_samples: int = 256) -> dict[str, Any]:
    """Calibration statistics with histograms for ``names``: the compile's own when it kept
    histograms (KL, PERCENTILE, MSE), else gathered again over the calibration set the same
    way (min/max methods skip the histograms)."""
    calib = ctx.state.get("calibration") if ctx is not None else None
    have = dict(getattr(calib, "tensors", {}) or {})
    missing = [n for n in names if n not in have or not have[n].with_hist]
    proto, data = ctx.state.get("float_model") if ctx is not None else None, getattr(ctx, "calib_data", None)
    if missing and proto is not None and data is not None:
        from itertools import islice

        from qcompiler.calibration.collect import collect_statistics

        known = {o for n in proto.graph.node for o in n.output} | {i.name for i in proto.graph.input}
        missing = [n for n in missing if n in known]
        if missing:
            num_bins = next((st.num_bins for st in have.values()), 8192)
            stats = collect_statistics(proto, missing, list(islice(iter(data), max_samples)), num_bins=num_bins)
            have.update(stats.tensors)
    return have


def _layers(model: Model, ctx, debug: dict[str, tuple[list[str], list[list[str]]]]) -> list[TensorInfo]:
    quants = _activation_quants(model)
    stats = _histogram_stats(ctx, list(quants))
    head, rows = debug["layer_sqnr.csv"]
    sq = {r[head.index("TensorName")]: r for r in rows} if head else {}
    dhead, drows = debug["debug_info.csv"]
    clip = {}
    if dhead:
        for r in drows:
            if r[dhead.index("DataTypeFlag")] == "Dequant":
                clip[r[dhead.index("TensorName")]] = _num(r[dhead.index("Clip")])
    outputs = {v.name for v in model.graph.outputs}
    # A graph output's float tensor is renamed (logits -> logits_fq) and read by Q -> DQ(logits).
    out_sources = {_source_activation(v): v.name for v in model.graph.outputs}
    order = {}
    for i, op in enumerate(model.graph):
        for o in op.outputs:
            order.setdefault(o.name, i)
    infos = []
    for name, (qop, q) in quants.items():
        x = qop.input(0)
        p = x.producer()
        node, ntype = (p.name or x.name, p.qualified_type) if p is not None else (x.name, "Input")
        info = TensorInfo(node, ntype, name, order.get(name, -1), bits=q.bits)
        if name in sq:
            r = sq[name]
            info.sqnr, info.cosine = _num(r[head.index("SQNR_dB")]), _num(r[head.index("CosineSimilarity")])
            if info.sqnr is not None and math.isinf(info.sqnr):
                info.sqnr = 99.0 if info.sqnr > 0 else -99.0
        lo, hi = q.qrange()
        info.lo, info.hi = (lo - q.zero_point[0]) * q.scale[0], (hi - q.zero_point[0]) * q.scale[0]
        info.clip = clip.get(name)
        st = stats.get(name)
        if st is not None and st.count:
            info.vmin, info.vmax = float(st.min), float(st.max)
            info.hist_lo, info.hist_hi = _display_range(st.min, st.max, info.lo, info.hi)
            if st.with_hist and st.hist.sum():
                info.hist = _rebin(st.hist, st.bin_edges(), info.hist_lo, info.hist_hi, HIST_BINS)
                amax = max(abs(st.min), abs(st.max))
                # |x|'s 99.99th percentile from the two-sided histogram.
                hi_q, lo_q = st.quantile(0.99995), st.quantile(0.00005)
                p9999 = max(abs(hi_q), abs(lo_q))
                info.tail = amax / p9999 if p9999 > 0 else None
                if info.clip is None:
                    edges = st.bin_edges()
                    centers = (edges[:-1] + edges[1:]) / 2
                    outside = st.hist[(centers < info.lo) | (centers > info.hi)].sum()
                    info.clip = float(outside / st.hist.sum())
        info.is_output = name in outputs or name in out_sources
        info.output_name = out_sources.get(name, name) if info.is_output else None
        infos.append(info)
    infos.sort(key=lambda t: (t.index, t.tensor))
    by_name = {t.tensor: t for t in infos}
    producers = {o.name: op for op in model.graph for o in op.outputs}
    for t in infos:
        p = producers.get(t.tensor)
        if p is None or t.sqnr is None:
            continue
        ins = [by_name[s].sqnr for s in (_source_activation(v) for v in p.inputs) if s in by_name]
        ins = [s for s in ins if s is not None]
        if ins:
            t.drop = min(ins) - t.sqnr
    scored = sorted((t for t in infos if t.sqnr is not None and not t.is_output and t.op_type != "Input"),
                    key=lambda t: (t.sqnr, t.index))  # fmt: skip
    k = min(5, max(1, math.ceil(len(scored) * 0.1))) if scored else 0
    for t in scored[:k]:
        t.worst = True
    return infos


def _weights(model: Model, ctx) -> list[WeightInfo]:
    fnodes, finits = _float_initializers(ctx.state.get("float_model") if ctx is not None else None)
    out = []
    seen = set()
    for op in model.graph:
        if op.op_type in _QDQ:
            continue
        for slot, v in enumerate(op.inputs):
            dq = v.producer() if v is not None else None
            if dq is None or dq.op_type != "DequantizeLinear" or dq.input(0) is None:
                continue
            c = dq.input(0)
            q = c.quant
            if not c.is_constant or q is None or q.storage.bits > 16 or slot == 2:
                continue  # 32-bit biases are not weights
            if c.name in seen:
                continue
            seen.add(c.name)
            info = _weight_info(op, slot, c, q, fnodes, finits)
            if info is not None:
                out.append(info)
    return out


def _weight_info(op: Op, slot: int, c: Value, q, fnodes, finits) -> WeightInfo | None:
    qarr = np.asarray(c.const)
    if qarr.ndim == 0 or qarr.size == 0:
        return None
    axis = q.axis if q.axis is not None else (1 if op.op_type == "ConvTranspose" else 0)
    axis %= qarr.ndim
    shape = [1] * qarr.ndim
    shape[axis] = -1
    scale = q.scale_array().astype(np.float64)
    zp = np.asarray(q.zero_point, dtype=np.float64)
    if q.axis is not None:
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    deq = (qarr.astype(np.float64) - zp) * scale
    w = None
    node = fnodes.get(op.name)
    if node is not None and slot < len(node.input) and node.input[slot] in finits:
        cand = numpy_helper.to_array(finits[node.input[slot]]).astype(np.float64)
        if cand.shape == qarr.shape:
            w = cand
    float_weights = w is not None
    if w is None:
        w = deq
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    mins, maxs = moved.min(axis=1), moved.max(axis=1)
    lo_q, hi_q = q.qrange()
    if q.axis is not None:
        s, z = scale.reshape(-1), zp.reshape(-1)
    else:
        s, z = np.full(moved.shape[0], scale.item()), np.full(moved.shape[0], zp.item())
    clo, chi = (lo_q - z) * s, (hi_q - z) * s
    # Within half a step of the range a value only rounds to the end of it: not clipped.
    half = s[:, None] / 2
    outside = (moved < clo[:, None] - half) | (moved > chi[:, None] + half)
    absmax = np.maximum(np.abs(mins), np.abs(maxs))
    top = float(absmax.max())
    lost = np.log2(top / np.maximum(absmax, top * 2.0**-16)) if top > 0 else np.zeros_like(absmax)
    hlo, hhi = _display_range(float(w.min()), float(w.max()), float(clo.min()), float(chi.max()))
    hist, _ = np.histogram(w.ravel(), bins=64, range=(hlo, hhi))
    return WeightInfo(
        layer=op.name or op.outputs[0].name, op_type=op.qualified_type, tensor=c.name, bits=q.bits,
        per_channel=q.axis is not None, axis=axis, mins=[float(v) for v in mins], maxs=[float(v) for v in maxs],
        hist=[int(v) for v in hist], hist_lo=hlo, hist_hi=hhi, clip_lo=float(clo.min()), clip_hi=float(chi.max()),
        clip=float(outside.mean()), bits_lost_max=float(lost.max()), bits_lost_median=float(np.median(lost)),
        is_conv=op.qualified_type in _CONV_TYPES, float_weights=float_weights,
    )  # fmt: skip


_TABLE_TITLES = {
    "layer_sqnr.csv": "Per-layer SQNR (layer_sqnr.csv)",
    "debug_info.csv": "Tensor distributions, float vs dequantized (debug_info.csv)",
    "quant_param.csv": "Quantization parameters (quant_param.csv)",
}


def _short(cell: str, limit: int = 6) -> str:
    """A per-channel list of many values, shortened for the page (the CSV has them all)."""
    parts = cell.split(";")
    if len(parts) <= limit:
        return cell
    return ";".join(parts[:limit]) + f";… ({len(parts)} values)"


def _tables(debug: dict[str, tuple[list[str], list[list[str]]]]) -> list[Table]:
    out = []
    for name in ("layer_sqnr.csv", "quant_param.csv", "debug_info.csv"):
        head, rows = debug[name]
        if not head:
            continue
        rows = [[_short(c) for c in r] for r in rows]
        numeric = [bool(rows) and all(_num(r[i]) is not None or r[i] == "" for r in rows) and any(r[i] for r in rows)
                   for i in range(len(head))]  # fmt: skip
        out.append(Table(name.removesuffix(".csv"), _TABLE_TITLES[name], head, rows, numeric))
    return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _initializer_bytes(proto: onnx.ModelProto) -> int:
    total = 0
    for t in proto.graph.initializer:
        a = numpy_helper.to_array(t)
        total += int(a.nbytes)
    return total


def _summary(source: Any, model: Model, result, qproto: onnx.ModelProto) -> list[tuple[str, str, str]]:
    from qcompiler.driver import load_model
    from qcompiler.inspect_model import layer_table

    rows: list[tuple[str, str, str]] = []
    float_model = None
    if source is not None:
        try:
            float_model = load_model(source)
        except Exception:  # noqa: BLE001 - the summary then shows the quantized side only
            float_model = None
    qrows = layer_table(model)
    qlayers = [r for r in qrows if r.op_type not in _QDQ]
    nqdq = len(qrows) - len(qlayers)
    quantized_ops = {op.name or op.outputs[0].name for op in model.graph
                     if op.op_type not in _QDQ and any(_source_activation(v) or _is_dq(v) for v in op.inputs)}  # noqa: E501
    qmacs = sum(r.macs for r in qlayers if r.name in quantized_ops)
    total_qmacs = sum(r.macs for r in qlayers)
    if float_model is not None:
        frows = layer_table(float_model)
        fparams = sum(int(c.const.size) for c in float_model.graph.constants)
        rows.append(("ops", f"{len(frows):,}", f"{len(qlayers):,} + {nqdq:,} quantize/dequantize"))
        rows.append(("parameters", f"{fparams:,}", f"{sum(int(np.asarray(c.const).size) for c in model.graph.constants):,}"))  # noqa: E501
        fmacs = sum(r.macs for r in frows)
        share = f" ({100.0 * qmacs / total_qmacs:.1f}% in quantized layers)" if total_qmacs else ""
        rows.append(("MACs", f"{fmacs:,}", f"{total_qmacs:,}{share}"))
        fbytes = sum(int(np.asarray(c.const).nbytes) for c in float_model.graph.constants)
    else:
        rows.append(("ops", "", f"{len(qlayers):,} + {nqdq:,} quantize/dequantize"))
        rows.append(("MACs", "", f"{total_qmacs:,}"))
        fbytes = None
    rows.append(("weight bytes", _size(fbytes) if fbytes is not None else "", _size(_initializer_bytes(qproto))))
    fsize = os.path.getsize(source) if isinstance(source, (str, os.PathLike)) and os.path.isfile(source) else None
    qsize = result.summary.get("bytes") if result is not None and isinstance(result.summary.get("bytes"), int) else None
    if qsize is None:
        qsize = qproto.ByteSize()
    ratio = f" ({fsize / qsize:.1f}x smaller)" if fsize and qsize else ""
    rows.append(("model size", _size(fsize) if fsize else "", _size(qsize) + ratio))
    return rows


def _is_dq(v: Value | None) -> bool:
    p = v.producer() if v is not None else None
    return p is not None and p.op_type == "DequantizeLinear"


def _backend(result) -> list[tuple[str, str]]:
    if result is None:
        return []
    out = []
    for k, v in result.summary.items():
        if isinstance(v, int) and any(w in k for w in ("bytes", "arena", "flash", "ram", "rom", "size")):
            out.append((k, f"{_size(v)} ({v:,} bytes)"))
        else:
            out.append((k, str(v)))
    return out


def debug_tables(model: Model, ctx) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The quantization debug report's CSVs (header, rows), computed in a temporary folder."""
    from qcompiler.debug_report import write_debug_report

    names = ("debug_info.csv", "quant_param.csv", "layer_sqnr.csv")
    if ctx is None:
        return {n: ([], []) for n in names}
    with tempfile.TemporaryDirectory(prefix="qcompiler-report-") as tmp:
        write_debug_report(model, ctx, tmp)
        return {n: _read_csv(Path(tmp) / n) for n in names}


def collect_report_data(result, *, source: Any = None, title: str | None = None,
                        sensitivity: Any = None, selection: Any = None) -> ReportData:  # fmt: skip
    """Everything the report shows about ``result`` (a :class:`qcompiler.driver.CompileResult`).

    ``source`` is the float model the compile read (path or ``ModelProto``), for the float
    side of the summary; it defaults to the compile's ``source`` option.
    """
    from qcompiler.codegen.onnx_backend import ir_to_proto
    from qcompiler.report.advice import make_advice

    model, ctx = result.model, result.context
    if source is None and ctx is not None:
        source = ctx.options.get("source")
    qproto = ir_to_proto(model)
    quantized = any(op.op_type in _QDQ for op in model.graph)
    debug = debug_tables(model, ctx) if quantized else {n: ([], []) for n in
                                                       ("debug_info.csv", "quant_param.csv", "layer_sqnr.csv")}  # fmt: skip
    layers = _layers(model, ctx, debug) if quantized else []
    cfg = ctx.config if ctx is not None else None
    data = ReportData(
        title=title or (os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else "model"),
        summary=_summary(source, model, result, qproto), backend=_backend(result),
        layers=[t for t in layers if not t.is_output], outputs=[t for t in layers if t.is_output],
        weights=_weights(model, ctx) if quantized else [], tables=_tables(debug),
        config_text=cfg.to_ini() if cfg is not None else "", pipeline=str(result.pipeline),
        warnings=list(result.warnings), quantized=quantized,
        method=cfg.get("full_quant_param", "activation_quant_method") if cfg is not None else None,
        per_channel=bool(cfg.get("full_quant_param", "per_channel")) if cfg is not None else None,
        sensitivity=sensitivity, selection=selection,
    )  # fmt: skip
    data.advice = make_advice(data)
    return data
