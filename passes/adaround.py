"""``adaround``: learn whether each weight rounds up or down (Nagel et al. 2020, AdaRound).

Round-to-nearest minimizes each weight's own error, not the layer's output error; at 4 bits
the difference decides accuracy.  For every Conv / Gemm / MatMul weight marked by
``insert-fake-quant``, with the scale (and zero point) ``fold-quant-params`` would use, this
pass picks ``q = clip(floor(w / s) + zp + h, qmin, qmax)`` with ``h`` in {0, 1} per weight,
minimizing the layer's output error on the calibration data::

    || (W~ - W) x ||^2   averaged over calibration positions  =  sum_rows  dW H dW^T,
    H = E[x x^T]  (x: the layer's float input patches, im2col; one H per group)

``h`` is relaxed to ``clip(sigmoid(V) * 1.2 - 0.1, 0, 1)``, ``V`` starts where ``h`` equals the
fractional part of ``w / s``, and Adam minimizes the reconstruction error (relative to that of
round-to-nearest) plus ``lambda * mean(1 - |2h - 1|^beta)``, the regularizer off for the first
20% of the steps and ``beta`` annealed from 20 to 2 after, so that ``h`` ends at 0 or 1.
Layers are independent: each layer's ``H`` comes from one onnxruntime run of the float model
over the calibration samples (inputs of all layers exposed), so the cost is that run plus
``iterations`` small matrix products per layer.  The rounded integers go to
``ctx.state["adaround"]`` (weight name -> integers and QuantType), which
``fold-quant-params`` uses instead of rounding to nearest.  The float model is not changed.

Place it after ``collect-calibration`` and before ``fold-quant-params``; the config key
``adaround=true`` turns it on in the default pipeline (``adaround_iterations=N`` steps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qcompiler.ir import Model, Op, QuantType
from qcompiler.ir.qc_ops import PER_TENSOR, fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.passes.layer_data import calibration_set, run_exposing
from qcompiler.quant_math import quantize_tensor, weight_qrange

__all__ = ["AdaRoundPass", "adaround_layer", "conv_patches"]

_ZETA, _GAMMA = 1.1, -0.1


@dataclass
class AdaRoundOptions:
    when: Literal["always", "config"] = field(
        default="always", metadata={"help": "'config': only when the config sets adaround=true"})
    iterations: int = field(default=1000, metadata={"help": "Adam steps per layer (config: adaround_iterations)"})
    reg_weight: float = field(default=10.0, metadata={"help": "weight of the rounding regularizer (lambda; the reconstruction term is 1 at round-to-nearest)"})
    learning_rate: float = field(default=0.05, metadata={"help": "Adam step size on V"})
    max_samples: int = field(default=256, metadata={"help": "calibration samples used"})
    max_positions: int = field(default=32768, metadata={"help": "input patches per layer over all samples (random subsets)"})
    use_config: bool = field(default=True, metadata={"help": "take iterations from the config"})

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations={self.iterations} must be >= 1")
        if self.reg_weight < 0 or self.learning_rate <= 0:
            raise ValueError("reg_weight must be >= 0 and learning_rate > 0")


# -- layer geometry -----------------------------------------------------------------------------
def _conv_geometry(op: Op, w: np.ndarray) -> tuple | None:
    if op.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or w.ndim != 4:
        return None
    k = w.shape[2:]
    pads = list(op.attr("pads", ()) or (0, 0, 0, 0))
    strides = list(op.attr("strides", ()) or (1, 1))
    dil = list(op.attr("dilations", ()) or (1, 1))
    return int(op.attr("group", 1)), k, pads, strides, dil


def conv_patches(x: np.ndarray, groups: int, kernel, pads, strides, dilations) -> np.ndarray:
    """im2col of an NCHW input: ``[groups, positions, Cin/groups * kh * kw]`` (ONNX weight order)."""
    n, c, _, _ = x.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    kh, kw = kernel
    eh, ew = (kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (eh, ew), axis=(2, 3))
    win = win[:, :, :: strides[0], :: strides[1], :: dilations[0], :: dilations[1]]  # n c oh ow kh kw
    oh, ow = win.shape[2], win.shape[3]
    cg = c // groups
    win = win.reshape(n, groups, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
    return win.reshape(groups, n * oh * ow, cg * kh * kw)


def _layer_kind(op: Op) -> str | None:
    base = fused_base(op) or (op.op_type if op.domain in ("", "ai.onnx") else None)
    if base == "Conv":
        return "conv"
    if base == "Gemm" and not op.attr("transA", 0):
        return "gemm"
    if base == "MatMul":
        return "matmul"
    return None


def _as_rows(kind: str, op: Op, w: np.ndarray, groups: int) -> np.ndarray:
    """The weight as ``[groups, rows (outputs per group), K]`` with inputs in patch order."""
    if kind == "conv":
        return w.reshape(groups, w.shape[0] // groups, -1)
    if kind == "gemm" and op.attr("transB", 0):
        return w[None]
    return w.T[None]  # gemm without transB, matmul: [K, N]


def _from_rows(kind: str, op: Op, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "conv" or (kind == "gemm" and op.attr("transB", 0)):
        return rows.reshape(shape)
    return rows[0].T.reshape(shape)


# -- the optimization ---------------------------------------------------------------------------
def adaround_layer(w_rows: np.ndarray, scale_rows: np.ndarray, zp_rows: np.ndarray, h: np.ndarray, qmin: int,
                   qmax: int, *, iterations: int, reg_weight: float = 10.0, lr: float = 0.05) -> tuple[np.ndarray, dict]:
    """Learned rounding of ``w_rows [G, R, K]`` (scales and zero points ``[G, R]``) given
    ``h [G, K, K]`` = E[x x^T] per group; returns the integers ``[G, R, K]`` and a report
    (reconstruction error of round-to-nearest and of the result, relative to the output power)."""
    w = w_rows.astype(np.float64)
    s = scale_rows[..., None].astype(np.float64)
    z = zp_rows[..., None].astype(np.float64)
    h = h.astype(np.float64)
    base = np.floor(w / s) + z
    frac = w / s + z - base

    def quad(d: np.ndarray) -> float:
        return float(np.sum((d @ h) * d))

    def recon(q: np.ndarray) -> float:
        return quad((np.clip(q, qmin, qmax) - z) * s - w)

    power = max(quad(w), 1e-30)
    rtn = recon(np.round(w / s) + z)
    # V with h(V) = frac: sigmoid(V) = (frac - gamma) / (zeta - gamma)
    p = np.clip((frac - _GAMMA) / (_ZETA - _GAMMA), 1e-4, 1 - 1e-4)
    v = np.log(p / (1 - p))
    m1, m2 = np.zeros_like(v), np.zeros_like(v)
    b1, b2, eps = 0.9, 0.999, 1e-8
    warm = int(0.2 * iterations)
    norm = max(rtn, 1e-12 * power)
    n_w = w.size
    # The loop runs in float32 (BLAS matmuls per group); the errors above are float64.
    h32, s32, z32, w32, base32 = (a.astype(np.float32) for a in (h, s, z, w, base))
    v = v.astype(np.float32)
    m1, m2 = np.zeros_like(v), np.zeros_like(v)
    for t in range(1, iterations + 1):
        sig = 1.0 / (1.0 + np.exp(-v))
        hr = sig * (_ZETA - _GAMMA) + _GAMMA
        hs = np.clip(hr, 0.0, 1.0)
        q = base32 + hs
        inside = (q >= qmin) & (q <= qmax)
        d = (np.clip(q, qmin, qmax) - z32) * s32 - w32
        grad_wt = (2.0 / norm) * (d @ h32)  # d loss / d W~
        grad_h = grad_wt * s32 * inside
        if t > warm and reg_weight > 0:
            beta = 20.0 + (2.0 - 20.0) * (t - warm) / max(iterations - warm, 1)
            a = 2.0 * hs - 1.0
            grad_h = grad_h + reg_weight / n_w * (-beta * np.abs(a) ** (beta - 1) * np.sign(a) * 2.0)
        grad_v = grad_h * ((hr > 0) & (hr < 1)) * (_ZETA - _GAMMA) * sig * (1 - sig)
        m1 = b1 * m1 + (1 - b1) * grad_v
        m2 = b2 * m2 + (1 - b2) * grad_v * grad_v
        v = v - lr * (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps)
    q = np.clip(base + (v >= 0), qmin, qmax)  # base is float64
    # Never worse than round-to-nearest on the data it was fitted on.
    rtn_q = np.clip(np.round(w / s) + z, qmin, qmax)
    final = recon(q)
    if final > rtn:
        q, final = rtn_q, rtn
    return q, {"rtn": rtn / power, "adaround": final / power}


class AdaRoundPass(Pass):
    name = "adaround"
    description = "Learn each weight's rounding (up or down) on the calibration data to minimize layer output error (AdaRound)."
    Options = AdaRoundOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        opts = self.options
        if opts.when == "config" and not (ctx.config is not None and ctx.config.get("full_quant_param", "adaround")):
            return False
        iterations = opts.iterations
        if opts.use_config and ctx.config is not None and ("full_quant_param", "adaround_iterations") in ctx.config.given:
            iterations = int(ctx.config.get("full_quant_param", "adaround_iterations"))
        layers = []
        for fq in model.graph:
            if fq.op_type != "FakeQuant" or fq.attr("role") != "weight" or not fq.input(0).is_constant:
                continue
            users = fq.outputs[0].users()
            if len(users) != 1 or users[0].input(1) is not fq.outputs[0]:
                continue
            op = users[0]
            kind = _layer_kind(op)
            w = np.asarray(fq.input(0).const, np.float32)
            if kind is None or op.input(0) is None or (kind != "conv" and w.ndim != 2):
                continue
            geom = _conv_geometry(op, w) if kind == "conv" else (1,)
            if geom is None:
                continue
            layers.append((fq, op, kind, w, geom))
        if not layers:
            return False
        data = calibration_set(model, ctx, self.name)
        per_sample = max(1, -(-opts.max_positions // max(1, min(len(data), opts.max_samples))))
        rng = np.random.default_rng(0)
        def source(op: Op) -> str:  # FakeQuant is the identity and vanishes when lowered
            v = op.input(0)
            p = v.producer()
            return p.input(0).name if p is not None and p.op_type == "FakeQuant" else v.name

        names = [source(op) for _, op, _, _, _ in layers]
        hs: list[np.ndarray | None] = [None] * len(layers)
        counts = [0] * len(layers)
        t0 = time.perf_counter()
        for outs in run_exposing(model, list(dict.fromkeys(names)), data, limit=opts.max_samples):
            by_name = dict(zip(dict.fromkeys(names), outs))
            for k, (_fq, _op, kind, _w, geom) in enumerate(layers):
                x = by_name[names[k]].astype(np.float32)
                if kind == "conv":
                    pt = conv_patches(x, *geom)
                else:
                    pt = x.reshape(-1, x.shape[-1])[None]
                if pt.shape[1] > per_sample:
                    pt = pt[:, rng.choice(pt.shape[1], per_sample, replace=False)]
                xx = (pt.transpose(0, 2, 1) @ pt).astype(np.float64)
                hs[k] = xx if hs[k] is None else hs[k] + xx
                counts[k] += pt.shape[1]
        t_data = time.perf_counter() - t0
        results, report = ctx.state.setdefault("adaround", {}), {}
        for k, (fq, op, kind, w, geom) in enumerate(layers):
            if hs[k] is None:
                continue
            axis = fq.attr("axis", PER_TENSOR)
            axis = None if axis == PER_TENSOR else axis
            bits = fq.attr("bits", 8)
            signed, sym, narrow = bool(fq.attr("signed", 1)), bool(fq.attr("symmetric", 1)), bool(fq.attr("narrow_range", 0))
            reduce = bool(fq.attr("reduce_range", 0))
            q0, qt = quantize_tensor(w, bits, axis=axis, symmetric=sym, signed=signed, narrow=narrow, reduce_range=reduce)
            qmin, qmax = weight_qrange(bits, signed, qt.narrow_range, reduce and sym)
            groups = geom[0]
            rows = _as_rows(kind, op, w, groups)
            scale = np.broadcast_to(np.asarray(qt.scale, np.float64).reshape(-1) if axis is not None else qt.scale[0],
                                    (w.shape[axis % w.ndim] if axis is not None else 1,))
            zp = np.broadcast_to(np.asarray(qt.zero_point, np.float64).reshape(-1), scale.shape)
            # Per-row parameters: rows are output channels (axis 0 for Conv/Gemm transB, last for [K, N]).
            n_out = rows.shape[0] * rows.shape[1]
            srow = (np.broadcast_to(scale, (n_out,)) if scale.size in (1, n_out) else None)
            if srow is None:
                continue
            zrow = np.broadcast_to(zp, (n_out,))
            q, rep = adaround_layer(rows, srow.reshape(rows.shape[:2]), zrow.reshape(rows.shape[:2]),
                                    hs[k] / counts[k], qmin, qmax, iterations=iterations,
                                    reg_weight=opts.reg_weight, lr=opts.learning_rate)  # fmt: skip
            qw = _from_rows(kind, op, q, w.shape).astype(q0.dtype)
            results[fq.input(0).name] = (qw, QuantType(qt.storage, qt.scale, qt.zero_point, bits=qt.bits, axis=qt.axis,
                                                       narrow_range=qt.narrow_range))  # fmt: skip
            report[op.name or op.outputs[0].name] = rep
        ctx.state["adaround_report"] = report
        ctx.state["adaround_seconds"] = (t_data, time.perf_counter() - t0 - t_data)
        return False  # the model is unchanged; fold-quant-params reads the result
