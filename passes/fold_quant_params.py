"""``fold-quant-params``: FakeQuant becomes QuantizeLinear/DequantizeLinear with real parameters.

* Activations: the range comes from the calibration statistics (``ctx.state["calibration"]``)
  through the FakeQuant's method, or from ``value.meta["range"]`` when a test or a plugin sets
  it; outputs of functions with known bounds (``value.meta["range_bound"]``: Sigmoid, Softmax
  [0, 1], Tanh [-1, 1]) take the range calibration saw, within the bounds, whatever the method; shared FakeQuants copy the parameters of their op's input.
* Weights: folded into integer constants with a QuantType (per channel along the layer's
  output-channel axis, or per tensor), read through DequantizeLinear; the float weights go.
  Weights of 4 bits or fewer are stored as int4/uint4 (two per byte) when the model's opset
  is 21 or later (``upgrade-opset{opset=21}``), else in int8.
* Bias of Conv/ConvTranspose/Gemm (and their fused forms): int32 with scale ``s_in * s_w[c]``.
  Where that scale is so small that the bias would pass ``BIAS_LIMIT`` (2^30: the int32
  accumulator keeps room for the products), the weight scale of that channel (of the tensor,
  per tensor) is raised until it fits and those weights are requantized, as onnxruntime's
  quantizer does at 2^31 (a channel whose input is nearly constant, e.g. a squeeze-excitation
  gate after a dead ReLU, keeps its bias instead of a clipped one).
* ``bias_correction``: ``empirical`` subtracts each layer's per-channel mean output error on
  the calibration data (quantized model vs float model) from its bias (MindSpore's
  bias_correction); ``analytic`` subtracts the expected error ``e @ E[x]`` of its quantized
  weight, with ``E[x]`` from BatchNormalization statistics (data-free, needs
  ``record-bn-statistics`` before ``fuse-conv-bn-act``).  See ``qcompiler/bias_correction.py``.
* Weights another pass already rounded (``adaround``) are taken from
  ``ctx.state["adaround"]`` (weight name -> integers and QuantType) instead of rounded here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from qcompiler.calibration.observers import get_observer
from qcompiler.errors import QCompilerError
from qcompiler.ir import DType, Graph, Model, Op, QuantType, Shape, TensorType, Value
from qcompiler.ir.qc_ops import PER_TENSOR, fused_base
from qcompiler.pass_base import Pass, PassContext
from qcompiler.quant_math import quantize_bias, quantize_tensor, scale_zero_point, storage_type

__all__ = ["FoldQuantParamsPass"]

_BIAS_LAYERS = ("Conv", "ConvTranspose", "Gemm")
BIAS_LIMIT = 2**30


@dataclass
class FoldOptions:
    bias_correction: Literal["false", "empirical", "analytic"] = field(
        default="false", metadata={"help": "correct each layer's mean output error: from calibration data or BN statistics"})
    use_config: bool = field(default=True, metadata={"help": "take bias_correction from the config"})


def _qdq(g: Graph, before: Op, x: Value, qt: QuantType, name: str) -> Value:
    """Insert Q and DQ reading ``x`` (a float tensor) before ``before``; returns the DQ result."""
    scale = g.add_constant(np.asarray(qt.scale[0], np.float32), f"{name}_scale")
    zp = g.add_constant(np.asarray(qt.zero_point[0], qt.storage.numpy()), f"{name}_zero_point", elem=qt.storage)
    b = g.builder(before=before)
    q = b.op("QuantizeLinear", x, scale, zp, name=f"{name}_quantize")
    dq = b.op("DequantizeLinear", q, scale, zp, name=f"{name}_dequantize")
    shape = x.shape if x.shape is not None else Shape(None)
    q.type = TensorType(qt, shape)
    dq.type = TensorType(DType.FLOAT32, shape)
    return dq


def _input_quant(op: Op, slot: int = 0) -> QuantType | None:
    """The per-tensor QuantType an op input comes from (through DequantizeLinear)."""
    v = op.input(slot)
    p = v.producer() if v is not None else None
    if p is None or p.op_type != "DequantizeLinear":
        return None
    q = p.input(0).quant
    return q if q is not None and q.axis is None else None


class FoldQuantParamsPass(Pass):
    name = "fold-quant-params"
    description = "Turn FakeQuant into QuantizeLinear/DequantizeLinear: scales from statistics, integer weights, int32 bias."
    Options = FoldOptions

    def _activation(self, g: Graph, fq: Op, ctx: PassContext) -> None:
        x = fq.input(0)
        bits, signed, sym = fq.attr("bits", 8), bool(fq.attr("signed", 1)), bool(fq.attr("symmetric", 0))
        qt = None
        if fq.attr("share", 0):
            p = x.producer()
            qt = _input_quant(p) if p is not None else None
        if qt is None:
            rng = x.meta.get("range")
            if rng is None:
                stats = ctx.state.get("calibration")
                if stats is None or x.name not in stats:
                    raise QCompilerError(f"fold-quant-params: no calibration statistics for tensor {x.name!r}; "
                                         "run collect-calibration first")  # fmt: skip
                bound = x.meta.get("range_bound")
                if bound is not None:
                    # A function with known bounds (Sigmoid, Softmax, Tanh): the range its
                    # outputs took, never wider than the bounds and never clipped by a method.
                    st = stats[x.name]
                    rng = (max(float(bound[0]), st.min), min(float(bound[1]), st.max)) if st.count else bound
                else:
                    method = fq.attr("method", "MAX_MIN")
                    opts = {}
                    if ctx.config is not None:
                        opts["percentile"] = ctx.config.get("full_quant_param", "percentile")
                    rng = get_observer(method, ctx.registry, **opts).compute_range(stats[x.name], bits, sym)
            scale, zp = scale_zero_point(rng[0], rng[1], bits, signed, sym, bool(fq.attr("narrow_range", 0)))
            qt = QuantType(storage_type(bits, signed), scale, zp, bits=bits if bits < 8 else 0)
        dq = _qdq(g, fq, x, qt, x.name)
        fq.output.replace_all_uses_with(dq)
        g.remove(fq)

    def _weight(self, g: Graph, fq: Op, opset: int, ctx: PassContext) -> Value:
        w = fq.input(0)
        axis = fq.attr("axis", PER_TENSOR)
        axis = None if axis == PER_TENSOR else axis
        rounded = ctx.state.get("adaround", {}).get(w.name)
        if rounded is not None and rounded[0].shape == tuple(np.shape(w.const)):
            q, qt = rounded
        else:
            q, qt = quantize_tensor(np.asarray(w.const, np.float32), fq.attr("bits", 8), axis=axis,
                                    symmetric=bool(fq.attr("symmetric", 1)), signed=bool(fq.attr("signed", 1)),
                                    narrow=bool(fq.attr("narrow_range", 0)),
                                    reduce_range=bool(fq.attr("reduce_range", 0)))  # fmt: skip
        if qt.bits <= 4 and opset >= 21:
            # ONNX has 4-bit types from opset 21: two weights per byte in the file.
            storage = DType.INT4 if qt.signed else DType.UINT4
            qt = QuantType(storage, qt.scale, qt.zero_point, bits=qt.bits, axis=qt.axis, narrow_range=qt.narrow_range)
        qc = g.add_constant(q, f"{w.name}_quantized", elem=qt)
        shp = (-1,) if axis is not None else ()
        scale = g.add_constant(np.asarray(qt.scale, np.float32).reshape(shp), f"{w.name}_scale")
        zp_arr = np.asarray(qt.zero_point, np.int8 if qt.storage in (DType.INT4, DType.UINT4) else qt.storage.numpy())
        zp = g.add_constant(zp_arr.reshape(shp), f"{w.name}_zero_point", elem=qt.storage)
        with g.inserting_before(fq) as b:
            attrs = {"axis": axis} if axis is not None else {}
            dq = b.create("DequantizeLinear", [qc, scale, zp], attrs, name=f"{w.name}_dequantize").output
        dq.type = TensorType(DType.FLOAT32, w.shape)
        fq.output.replace_all_uses_with(dq)
        g.remove(fq)
        return dq

    @staticmethod
    def _fit_bias(wdq: Op, w: np.ndarray | None, b: np.ndarray, sx: float, ws: np.ndarray) -> np.ndarray:
        """Raise weight scales so ``|b| / (sx * ws) <= BIAS_LIMIT``; requantizes the weights of the
        raised channels (symmetric weights only). Returns the (possibly new) weight scales."""
        wq = wdq.input(0).quant
        if w is None or any(z != 0 for z in wq.zero_point) or sx <= 0:
            return ws
        per_channel = wq.axis is not None
        bmax = np.abs(b.astype(np.float64)) if per_channel else np.array([np.abs(b.astype(np.float64)).max(initial=0.0)])
        need = 1.0001 * bmax / (BIAS_LIMIT * np.float64(sx))
        raise_ = need > ws.astype(np.float64)
        if not raise_.any():
            return ws
        new = np.where(raise_, np.nextafter(need.astype(np.float32), np.float32(np.inf)), ws).astype(np.float32)
        q = np.array(wdq.input(0).const)
        info = np.iinfo(q.dtype)
        if per_channel:
            axis = wq.axis % w.ndim
            qm, wm = np.moveaxis(q, axis, 0), np.moveaxis(np.asarray(w, np.float32), axis, 0)
            for c in np.flatnonzero(raise_):
                qm[c] = np.clip(np.round(wm[c] / new[c]), info.min, info.max)
        else:
            q = np.clip(np.round(np.asarray(w, np.float32) / new[0]), info.min, info.max).astype(q.dtype)
        qv, sv = wdq.input(0), wdq.input(1)
        qv.const = q
        qt = QuantType(wq.storage, tuple(new.tolist()), wq.zero_point, bits=wq.bits, axis=wq.axis,
                       narrow_range=wq.narrow_range)  # fmt: skip
        qv.type = TensorType(qt, qv.type.shape)
        sv.const = new.reshape(np.shape(sv.const))
        return new

    def _bias(self, g: Graph, op: Op, float_weights: dict | None = None) -> None:
        base = fused_base(op) or op.op_type
        if base not in _BIAS_LAYERS or op.input(2) is None or not op.input(2).is_constant:
            return
        sx = _input_quant(op, 0)
        wdq = op.input(1).producer()
        if sx is None or wdq is None or wdq.op_type != "DequantizeLinear":
            return
        wq = wdq.input(0).quant
        b = np.asarray(op.input(2).const, np.float32)
        n_out = len(wq.scale) if wq.axis is not None else None
        if b.ndim != 1 or (n_out is not None and b.size != n_out):
            return
        ws = np.asarray(wq.scale, np.float32)
        ws = self._fit_bias(wdq, (float_weights or {}).get(op.input(1)), b, float(sx.scale[0]), ws)
        qb, scales = quantize_bias(b, sx.scale[0], ws if n_out is not None else np.full(b.size, ws[0]))
        name = op.input(2).name
        per_channel = n_out is not None and len(set(scales.tolist())) > 1
        qt = QuantType(DType.INT32, tuple(scales.tolist()) if per_channel else (float(scales[0]),),
                       (0,) * (b.size if per_channel else 1), axis=0 if per_channel else None)  # fmt: skip
        qc = g.add_constant(qb, f"{name}_quantized", elem=qt)
        sc = g.add_constant(scales if per_channel else scales[:1].reshape(()), f"{name}_scale")
        zp = g.add_constant(np.zeros(b.size if per_channel else (), np.int32), f"{name}_zero_point")
        with g.inserting_before(op) as bld:
            attrs = {"axis": 0} if per_channel else {}
            dq = bld.create("DequantizeLinear", [qc, sc, zp], attrs, name=f"{name}_dequantize").output
        dq.type = TensorType(DType.FLOAT32, Shape.of(b.shape))
        op.replace_input(2, dq)

    def run(self, model: Model, ctx: PassContext) -> bool:
        g = model.graph
        fqs = [op for op in g if op.domain == "qcompiler" and op.op_type == "FakeQuant"]
        if not fqs:
            return False
        float_weights = {}
        for fq in fqs:
            if fq.attr("role") == "weight":
                w = np.asarray(fq.input(0).const)
                float_weights[self._weight(g, fq, model.opset_imports.get("", 1), ctx)] = w
            else:
                self._activation(g, fq, ctx)
        correction = self.options.bias_correction
        if self.options.use_config and ctx.config is not None:
            correction = ctx.config.bias_correction  # MindSpore's default is on (empirical)
        if correction == "analytic":
            from qcompiler.bias_correction import correct_bias_analytic

            report = correct_bias_analytic(model, float_weights)
            ctx.state["bias_correction"] = report
            if not report:
                ctx.warn("bias_correction=analytic corrected no layer: it needs BatchNormalization statistics "
                         "(record-bn-statistics before fuse-conv-bn-act) for the layers' inputs")  # fmt: skip
        for op in list(g):
            self._bias(g, op, float_weights)
        if any(q.quant is not None and q.quant.axis is not None for q in g.constants) and model.opset_imports.get("", 1) < 13:
            raise QCompilerError("fold-quant-params: per-channel weights need opset 13; run upgrade-opset{opset=13} "
                                 "before quantizing")  # fmt: skip
        if correction == "empirical":
            from qcompiler.bias_correction import correct_bias

            correct_bias(model, ctx)
        for c in list(g.constants):
            if not c.has_uses():
                g.remove_constant(c)
        return True
