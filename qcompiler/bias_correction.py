"""Bias correction: empirical (MindSpore's ``bias_correction``) and analytic (data-free).

*Empirical* (:func:`correct_bias`): for every quantized layer with an int32 bias, the
per-output-channel mean of ``y_quantized - y_float`` over the calibration data is measured at
the layer's output (before its activation is quantized) and subtracted from the bias.  Both
models run in onnxruntime with the layer outputs exposed; one pass over the data corrects all
layers.

*Analytic* (:func:`correct_bias_analytic`, Nagel et al. 2019, section 4.2): quantizing a
weight ``W`` to ``W + e`` shifts the layer's expected output by ``e @ E[x]``.  ``E[x]``, the
expected input per channel, comes from the BatchNormalization statistics of the layer before
(``record-bn-statistics``): its pre-activation output is taken as ``N(B, scale^2)`` per
channel, and the mean of ReLU / Clip of a normal variable has a closed form
(:func:`clipped_normal_mean`).  Expectations propagate through Add (sum), Concat (joined),
pooling, reshapes and quantize/dequantize pairs; a layer whose input expectation is unknown
(e.g. the first layer, reading the model input) is left as it is.  The float bias is
corrected before it is quantized.  No data is needed.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from qcompiler.ir import Model, Op, Value
from qcompiler.ir.qc_ops import fused_base
from qcompiler.pass_base import PassContext

__all__ = ["correct_bias", "correct_bias_analytic", "expected_channels", "clipped_normal_mean", "float_outputs_to_keep",
           "samples_for"]


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


def _mean_error(floats: list[np.ndarray], quant: list[np.ndarray],
                bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:  # fmt: skip
    """Per channel: the mean error over the samples, the variance of the samples' means, and
    the squared standard error of the mean (the larger of the between-sample estimate and the
    one from the values' spread, which one sample alone still gives); and the layer's split-half
    reliability (:func:`_reliability`)."""
    total = sq = esum = esq = ecount = None
    per_sample = []
    for f, q in zip(floats, quant):
        err = q.astype(np.float64) - f
        axis = 1 if err.ndim > 1 else 0
        red = tuple(a for a in range(err.ndim) if a != axis)
        # Behind a fused Relu/Clip the error is only seen where the activation is linear;
        # averaging there estimates the pre-activation error the bias can remove.
        mask = ((f > bounds[0]) & (f < bounds[1])).astype(np.float64)
        em = err * mask
        cnt = mask.sum(axis=red)
        s1, s2 = em.sum(axis=red), (em * err).sum(axis=red)
        m = s1 / np.maximum(cnt, 1.0)
        per_sample.append(m)
        total = m if total is None else total + m
        sq = m * m if sq is None else sq + m * m
        esum, esq, ecount = (s1, s2, cnt) if esum is None else (esum + s1, esq + s2, ecount + cnt)
    n = len(floats)
    mean = total / n
    var = np.maximum(sq / n - mean * mean, 0)
    pooled = esum / np.maximum(ecount, 1.0)
    se2 = np.maximum(esq / np.maximum(ecount, 1.0) - pooled * pooled, 0) / np.maximum(ecount, 1.0)
    if n > 1:
        se2 = np.maximum(se2, var / (n - 1))
    return mean, var, se2, _reliability(per_sample)


def _reliability(per_sample: list[np.ndarray]) -> float:
    """How far a layer's per-channel mean errors repeat from one half of the samples to the
    other: ``sum(a * b) / sum((a^2 + b^2) / 2)`` over channels, a and b the means of the even
    and the odd samples, clipped to [0, 1] (1 for fewer than 4 samples).  A systematic error
    (rounding that pushes every sample's channel the same way) repeats and gives about 1; an
    error that is sample noise does not and gives about 0, and correcting it would only fit
    the calibration samples (on random-weight MobileNetV3-Large the held-out SQNR fell from
    8.71 to 8.45 dB with the correction while the calibration samples' rose)."""
    if len(per_sample) < 4:
        return 1.0
    a = np.mean(per_sample[0::2], axis=0).reshape(-1)
    b = np.mean(per_sample[1::2], axis=0).reshape(-1)
    den = float(np.sum(a * a + b * b)) / 2
    return float(np.clip(np.sum(a * b) / den, 0.0, 1.0)) if den > 0 else 0.0


def _correction_model(proto: onnx.ModelProto, layers: list[tuple[str, list[int]]]) -> tuple[onnx.ModelProto, list[str]]:
    """The quantized model as the correction runs it, and the names of its delta inputs.

    ``layers`` are (bias tensor, delta shape) pairs: the node reading each bias gets an Add of
    a float input after it, so a layer's bias correction takes effect in the next run without
    rebuilding the session (the biases stay constant: onnxruntime's blocked convolutions need
    them so).  Every constant DequantizeLinear (the weights) is computed once into a float
    initializer, ``float(q - zero_point) * scale`` as onnxruntime computes it, instead of on
    every run.
    """
    from onnx import helper, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    inits = {t.name: t for t in m.graph.initializer}
    nodes, folded = [], {}
    for n in m.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if (n.op_type != "DequantizeLinear" or n.domain not in ("", "ai.onnx") or attrs.get("block_size")
                or any(i not in inits for i in n.input if i)):
            nodes.append(n)
            continue
        q = numpy_helper.to_array(inits[n.input[0]]).astype(np.int32)
        scale = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        zp = (numpy_helper.to_array(inits[n.input[2]]).astype(np.int32) if len(n.input) > 2 and n.input[2]
              else np.zeros((), np.int32))  # fmt: skip
        if scale.ndim == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[int(attrs.get("axis", 1)) % q.ndim] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        folded[n.output[0]] = numpy_helper.from_array((q - zp).astype(np.float32) * scale, n.output[0])
    by_bias = dict(layers)
    deltas, out_nodes = [], []
    for n in nodes:
        out_nodes.append(n)
        if len(n.input) > 2 and n.input[2] in by_bias and n.op_type in ("Conv", "ConvTranspose", "Gemm"):
            d = f"{n.input[2]}__qc_delta"
            core = f"{n.output[0]}__qc_core"
            out_nodes.append(helper.make_node("Add", [core, d], [n.output[0]]))
            n.output[0] = core
            m.graph.input.append(helper.make_tensor_value_info(d, onnx.TensorProto.FLOAT, by_bias[n.input[2]]))
            deltas.append((n.input[2], d))
    used = {i for n in out_nodes for i in n.input} | {o.name for o in m.graph.output}
    keep = [t for t in m.graph.initializer if t.name in used]
    del m.graph.node[:]
    m.graph.node.extend(out_nodes)
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep + [t for k, t in folded.items() if k in used])
    found = dict(deltas)
    return m, [found.get(b) for b, _ in layers]


#: Samples the empirical correction averages over, at most.
MAX_SAMPLES = 16
#: Each layer averages over enough samples to see about this many values per channel.
VALUES_PER_CHANNEL = 1024


def samples_for(op: Op, available: int, max_samples: int = MAX_SAMPLES,
                values_per_channel: int = VALUES_PER_CHANNEL) -> int:  # fmt: skip
    """How many samples the empirical correction of ``op`` uses: a few for convolutions (many
    positions), more for fully-connected layers."""
    n = min(available, max_samples)
    shape = op.outputs[0].shape
    numel = shape.numel() if shape is not None else None
    channels = shape.dims[1] if shape is not None and shape.rank and shape.rank > 1 else None
    if not numel or not isinstance(channels, int) or channels <= 0:
        return n
    per_sample = max(numel // channels, 1)
    return max(min(4, n), min(n, -(-values_per_channel // per_sample)))


def float_outputs_to_keep(model: Model, available: int, budget_bytes: int = 256 << 20) -> dict[str, int]:
    """Layer output -> samples for the empirical correction, for ``collect-calibration`` to keep
    from its float runs (so the correction does not run the float model again); empty when
    they would take more than ``budget_bytes``."""
    keep, total = {}, 0
    for op in model.graph:
        base = fused_base(op) or op.op_type
        if base not in ("Conv", "ConvTranspose", "Gemm") or op.input(2) is None:
            continue
        n = samples_for(op, available)
        shape = op.outputs[0].shape
        numel = shape.numel() if shape is not None else None
        if not numel:
            return {}
        keep[op.outputs[0].name] = n
        total += numel * n * 4
    return keep if total <= budget_bytes else {}


#: Layers per segment, about, when the correction cuts the model (see :class:`_Segments`).
SEGMENT_LAYERS = 6


class _Segments:
    """The correction model cut into consecutive parts of a few layers each.

    Correcting layer ``k`` needs the quantized model's output at ``k`` with every layer before
    it corrected; running the whole model for each layer costs layers x samples full runs.
    Cut after every few layers instead: a part starts from the tensors that cross its cut,
    computed once (with the parts before it corrected) and kept, so a layer's runs cover only
    its own part.  The values are the same; only the work shrinks.
    """

    def __init__(self, proto: onnx.ModelProto, names: list[str], deltas: list[str], data: list[dict]):
        from onnx import helper

        self.proto, self.names, self.data = proto, names, data
        nodes = list(proto.graph.node)
        pos = {o: i for i, n in enumerate(nodes) for o in n.output if o}
        add_of = {n.input[1]: n for n in nodes if n.op_type == "Add" and len(n.input) == 2}
        core = [pos[add_of[d].input[0]] for d in deltas]
        out = [pos[n] for n in names]
        per_part = max(1, SEGMENT_LAYERS)
        starts, acc = [0], 0
        for k in range(1, len(names)):
            acc += 1
            if acc >= per_part and max(out[:k]) < core[k]:
                starts.append(k)
                acc = 0
        self.layer_part = [sum(1 for st in starts if st <= k) - 1 for k in range(len(names))]
        bounds = [0] + [core[st] for st in starts[1:]] + [len(nodes)]
        inits = {t.name: t for t in proto.graph.initializer}
        graph_inputs = {i.name: i for i in proto.graph.input}
        later_use: dict[str, int] = {}
        for i, n in enumerate(nodes):
            for x in n.input:
                later_use[x] = max(later_use.get(x, -1), i)
        self.parts = []
        for j in range(len(bounds) - 1):
            lo, hi = bounds[j], bounds[j + 1]
            body = nodes[lo:hi]
            made = {o for n in body for o in n.output if o}
            reads = list(dict.fromkeys(x for n in body for x in n.input if x and x not in made))
            cut = [x for x in reads if x not in inits and x not in graph_inputs]
            feeds = [x for x in reads if x in graph_inputs and x in data[0]]  # the data; deltas come as extra
            carry = [o for o in made if later_use.get(o, -1) >= hi]
            outs = [n for k, n in enumerate(names) if self.layer_part[k] == j]
            m = onnx.ModelProto(ir_version=proto.ir_version)  # no copy of the whole model per part
            m.opset_import.extend(proto.opset_import)
            m.functions.extend(proto.functions)
            m.graph.node.extend(body)
            m.graph.initializer.extend(inits[x] for x in reads if x in inits)
            m.graph.input.extend(graph_inputs[x] for x in reads if x in graph_inputs)
            m.graph.output.extend(helper.make_empty_tensor_value_info(o) for o in dict.fromkeys(outs + carry))
            self.parts.append({"model": m, "cut": cut, "feeds": feeds, "carry": carry, "runner": None})
        self.values: dict[str, list[np.ndarray]] = {}  # cut tensors of the current part, per sample
        self.current = -1

    def _runner(self, j: int):
        from onnx import helper

        from qcompiler.calibration.collect import Runner

        part = self.parts[j]
        if part["runner"] is None:
            m = part["model"]
            for x in part["cut"]:
                v = self.values[x][0]
                shape = ["qc_batch", *v.shape[1:]] if v.ndim and v.shape[0] == 1 else list(v.shape)
                m.graph.input.append(helper.make_tensor_value_info(x, helper.np_dtype_to_tensor_dtype(v.dtype), shape))
            part["runner"] = Runner(m, [], [*part["cut"], *part["feeds"]], optimize=True)
        return part["runner"]

    def _feeds(self, j: int, n: int) -> list[dict]:
        part = self.parts[j]
        return [{**{x: self.values[x][i] for x in part["cut"]}, **{x: self.data[i][x] for x in part["feeds"]}}
                for i in range(n)]  # fmt: skip

    def run(self, k: int, n: int, extra: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Layer ``k``'s output on the first ``n`` samples, every layer before it corrected
        (``extra``: the deltas so far)."""
        j = self.layer_part[k]
        while self.current < j:
            self._advance(extra)
        runner = self._runner(j)
        part_inputs = {i.name for i in self.parts[j]["model"].graph.input}
        ex = {d: v for d, v in extra.items() if d in part_inputs}
        return [r[0] for r in runner.run(self._feeds(j, n), [self.names[k]], ex)]

    def _advance(self, extra: dict[str, np.ndarray]) -> None:
        """Compute the next part's cut tensors with the current part's corrections applied."""
        j = self.current
        n = len(self.data)
        if j >= 0:
            part = self.parts[j]
            runner = self._runner(j)
            part_inputs = {i.name for i in part["model"].graph.input}
            ex = {d: v for d, v in extra.items() if d in part_inputs}
            outs = runner.run(self._feeds(j, n), part["carry"], ex) if part["carry"] else []
            for c, x in enumerate(part["carry"]):
                self.values[x] = [o[c] for o in outs]
        self.current = j + 1
        if self.current < len(self.parts):  # keep only what the parts ahead read
            need = {x for p in self.parts[self.current:] for x in p["cut"]}
            self.values = {x: v for x, v in self.values.items() if x in need}


def correct_bias(model: Model, ctx: PassContext, max_samples: int = MAX_SAMPLES) -> dict[str, tuple[float, float]]:
    """Correct biases in place, layer by layer in graph order (each correction sees the
    corrected layers before it); returns layer name -> (mean correction, variance).

    The quantized model runs in one onnxruntime session (:func:`_correction_model`: weights
    dequantized once, a corrected bias applied through an added input, so it takes effect
    without rebuilding the session), with onnxruntime's graph optimizations.  The
    float layer outputs come from ``collect-calibration`` when it kept them
    (``ctx.state["float_layer_outputs"]``), else from a run of the float model.
    """
    from qcompiler.calibration.collect import Runner
    from qcompiler.codegen.onnx_backend import ir_to_proto

    float_proto = ctx.state.get("float_model")
    data = ctx.calib_data
    kept = ctx.state.pop("float_layer_outputs", None) or {}
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
    counts = [samples_for(op, len(samples), max_samples) for op in layers]
    # Each layer's samples are whole runs of the quantized model: bound them all together by
    # 16 per calibration sample (at most 1,600), scaling every layer's share down alike, so a
    # model of hundreds of layers does not run thousands of times.  (Fewer samples per layer
    # cost accuracy: MobileNetV2 at 32x32, 53 layers, 32 samples, 530 runs: 30.1 dB; 512
    # runs: 29.9 dB; 128 runs: 29.2 dB, as good as no correction.)
    available = len(data) if hasattr(data, "__len__") else len(samples)
    budget = 16 * min(max(available, 1), 100)
    if sum(counts) > budget:
        counts = [max(1, c * budget // sum(counts)) for c in counts]
    try:
        ctx.state["bias_correction_float_runs"] = 0
        if all(len(kept.get(n, ())) >= c for n, c in zip(names, counts)):
            float_runs = [kept[n] for n in names]  # per layer: its samples' outputs
        else:
            ctx.state["bias_correction_float_runs"] = len(samples)
            data_inputs = list(samples[0]) if samples else []
            frun = Runner(float_proto, names, data_inputs, optimize=True)
            runs = frun.run(samples, names)  # the float side runs once for all layers
            float_runs = [[r[i] for r in runs] for i in range(len(names))]
        shapes = []
        for op, const in zip(layers, consts):
            c = int(np.size(const.const))
            rank = op.outputs[0].shape.rank if op.outputs[0].shape is not None else None
            base = fused_base(op) or op.op_type
            shapes.append([c] if base == "Gemm" or not rank else [1, c] + [1] * (rank - 2))
        bias_names = [op.input(2).name for op in layers]
        qproto, delta_names = _correction_model(ir_to_proto(model), list(zip(bias_names, shapes)))
        segments = qrun = None
        if (len(layers) > 2 * SEGMENT_LAYERS and all(d is not None for d in delta_names)
                and not any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                            for nd in qproto.graph.node for a in nd.attribute)):  # fmt: skip
            try:
                segments = _Segments(qproto, names, delta_names, samples[: max(counts)])
            except Exception:  # noqa: BLE001 - a graph the cuts do not handle: run it whole
                segments = None
        if segments is None:
            qrun = Runner(qproto, names, list(samples[0]) if samples else [], optimize=True)
    except Exception as e:  # noqa: BLE001 - onnxruntime lacks a kernel (new opsets, types)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        ctx.warn(f"bias correction skipped: onnxruntime cannot run the quantized model ({first[:160]})")
        return {}
    biases = {c.name: np.asarray(c.const, np.int32) for c in consts}
    extra = {d: np.zeros(shp, np.float32) for d, shp in zip(delta_names, shapes) if d is not None}
    report = {}
    for k, op in enumerate(layers):
        n = counts[k]
        quant = None
        if segments is not None:
            try:
                quant = segments.run(k, n, extra)
            except Exception:  # noqa: BLE001 - onnxruntime refuses a part: run the model whole
                segments = None
        if quant is None:
            if qrun is None:
                qrun = Runner(qproto, names, list(samples[0]) if samples else [], optimize=True)
            quant = [r[0] for r in qrun.run(samples[:n], [names[k]], extra)]
        mean, var, se2, rel = _mean_error([r.astype(np.float64) for r in float_runs[k][:n]], quant, _linear_range(op))
        bq = biases[consts[k].name].astype(np.int64)
        if mean.shape != bq.shape:
            continue
        s = np.broadcast_to(scales[k], bq.shape)
        # The per-channel mean is estimated from a few samples: shrink it toward zero by its
        # squared standard error (James-Stein), so a channel whose error is noise is left as
        # it is instead of being moved by that noise.
        mean = mean * np.maximum(0.0, 1.0 - se2 / np.maximum(mean * mean, 1e-30))
        mean = mean * rel  # and the layer's correction by how far its errors repeat
        biases[consts[k].name] = np.clip(bq - np.round(mean / s), -(2**31), 2**31 - 1).astype(np.int32)
        if delta_names[k] is not None:  # the runs for the layers after this one see it
            s32 = np.broadcast_to(scales[k], bq.shape).astype(np.float32)
            d = biases[consts[k].name].astype(np.float32) * s32 - np.asarray(consts[k].const).astype(np.float32) * s32
            extra[delta_names[k]] = d.reshape(shapes[k])
        report[op.name or names[k]] = (float(mean.mean()), float(var.mean()))
    for c in consts:
        c.const = biases[c.name]
    ctx.state["bias_correction"] = report
    return report


# -- analytic (data-free) -----------------------------------------------------------------------
_erf = np.frompyfunc(math.erf, 1, 1)


def _cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(np.asarray(x, np.float64) / math.sqrt(2.0)).astype(np.float64))


def _pdf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def clipped_normal_mean(mu: np.ndarray, sigma: np.ndarray, lo: float = -np.inf, hi: float = np.inf) -> np.ndarray:
    """``E[clip(z, lo, hi)]`` for ``z ~ N(mu, sigma^2)`` elementwise (ReLU: ``lo=0``)."""
    mu, sigma = np.broadcast_arrays(np.asarray(mu, np.float64), np.asarray(sigma, np.float64))
    out = np.clip(mu, lo, hi).astype(np.float64)  # sigma == 0
    pos = sigma > 0
    m, s = mu[pos], sigma[pos]
    a = (lo - m) / s if np.isfinite(lo) else np.full_like(m, -np.inf)
    b = (hi - m) / s if np.isfinite(hi) else np.full_like(m, np.inf)
    ca, cb = _cdf(a), _cdf(b)
    pa = np.where(np.isfinite(a), _pdf(np.where(np.isfinite(a), a, 0.0)), 0.0)
    pb = np.where(np.isfinite(b), _pdf(np.where(np.isfinite(b), b, 0.0)), 0.0)
    val = m * (cb - ca) + s * (pa - pb)
    if np.isfinite(lo):
        val = val + lo * ca
    if np.isfinite(hi):
        val = val + hi * (1.0 - cb)
    out[pos] = val
    return out


_PASS_THROUGH = {"DequantizeLinear", "QuantizeLinear", "FakeQuant", "Identity", "Dropout", "Flatten",
                 "GlobalAveragePool", "AveragePool", "Squeeze", "Unsqueeze"}  # fmt: skip


def _activation_bounds(op: Op) -> tuple[float, float] | None:
    act = op.attr("activation") if fused_base(op) else None
    if act is None:
        return -np.inf, np.inf
    if act == "Relu":
        return 0.0, np.inf
    if act == "Clip":
        return float(op.attr("act_alpha", -np.inf)), float(op.attr("act_beta", np.inf))
    return None  # other activations: no closed form here


def expected_channels(v: Value | None, _depth: int = 0) -> np.ndarray | None:
    """Per-channel (axis 1) expected value of ``v`` from recorded BatchNormalization statistics,
    or ``None`` when it cannot be derived."""
    from qcompiler.passes.record_bn_stats import BN_STATS

    if v is None or _depth > 64:
        return None
    if v.is_constant:
        c = np.asarray(v.const, np.float64)
        return c.reshape(-1) if c.ndim <= 1 else None
    p = v.producer()
    if p is None:
        return None
    base = fused_base(p) or p.op_type
    if base in ("Conv", "Gemm", "MatMul", "ConvTranspose"):
        stats = p.meta.get(BN_STATS)
        bounds = _activation_bounds(p)
        if stats is None or bounds is None:
            return None
        return clipped_normal_mean(stats[0], stats[1], *bounds)
    if p.op_type in _PASS_THROUGH or (p.op_type == "Reshape" and v.shape is not None and v.shape.rank == 2):
        return expected_channels(p.input(0), _depth + 1)
    if p.op_type == "Relu":
        q = p.input(0).producer() if p.input(0) is not None else None
        if q is not None and (fused_base(q) or q.op_type) in ("Conv", "Gemm") and _activation_bounds(q) == (-np.inf, np.inf):
            stats = q.meta.get(BN_STATS)
            return None if stats is None else clipped_normal_mean(stats[0], stats[1], 0.0)
        return None
    if p.op_type in ("Add", "Sub"):
        a, b = (expected_channels(p.input(i), _depth + 1) for i in range(2))
        if a is None or b is None or (a.size != b.size and 1 not in (a.size, b.size)):
            return None
        return a + b if p.op_type == "Add" else a - b
    if p.op_type == "Concat" and p.attr("axis", 0) == 1:
        parts = [expected_channels(x, _depth + 1) for x in p.inputs]
        return None if any(x is None for x in parts) else np.concatenate(parts)
    return None


def _output_shift(op: Op, eps: np.ndarray, ex: np.ndarray) -> np.ndarray | None:
    """``e @ E[x]`` per output channel of a layer whose weight error is ``eps``, in bias units."""
    base = fused_base(op) or op.op_type
    if base == "Conv":
        o, ig = eps.shape[0], eps.shape[1]
        groups = int(op.attr("group", 1))
        if ex.size != ig * groups or o % groups:
            return None
        per_o = ex.reshape(groups, ig)[np.arange(o) // (o // groups)]
        return (eps.reshape(o, ig, -1).sum(axis=2) * per_o).sum(axis=1)
    if base == "Gemm":
        if op.attr("transA", 0) or eps.ndim != 2:
            return None
        m = eps if op.attr("transB", 0) else eps.T
        if m.shape[1] != ex.size:
            return None
        return float(op.attr("alpha", 1.0)) / float(op.attr("beta", 1.0)) * (m @ ex)
    return None


def correct_bias_analytic(model: Model, float_weights: dict[Value, np.ndarray]) -> dict[str, float]:
    """Subtract ``e @ E[x]`` from the float bias of every layer whose quantized weight is in
    ``float_weights`` (DequantizeLinear output -> the float weight it replaced) and whose
    input expectation is known.  Returns layer name -> mean absolute correction."""
    from qcompiler.quant_math import dequantize

    g = model.graph
    report: dict[str, float] = {}
    for op in list(g):
        base = fused_base(op) or op.op_type
        w, b = op.input(1), op.input(2)
        if base not in ("Conv", "Gemm") or w not in float_weights or b is None or not b.is_constant:
            continue
        dq = w.producer()
        qc = dq.input(0)
        if qc.quant is None or not qc.is_constant:
            continue
        ex = expected_channels(op.input(0))
        if ex is None:
            continue
        wf = np.asarray(float_weights[w], np.float64)
        eps = dequantize(np.asarray(qc.const), qc.quant).astype(np.float64) - wf
        shift = _output_shift(op, eps, ex)
        bias = np.asarray(b.const, np.float64)
        if shift is None or bias.ndim != 1 or shift.size != bias.size:
            continue
        op.replace_input(2, g.add_constant((bias - shift).astype(np.float32), b.name + "_bc"))
        report[op.name or op.outputs[0].name] = float(np.abs(shift).mean())
    return report
