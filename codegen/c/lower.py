"""Lowering a compiled IR module to a C :class:`~qcompiler.codegen.c.program.Program`.

The whole lowering, in order (:func:`lower`):

1. graph inputs become the caller's float pointers, graph outputs the caller's float outputs;
2. ops are visited in schedule order. ``DequantizeLinear`` of a constant is folded (its integers
   stay available to int8 rules); ``DequantizeLinear`` of an activation is a *virtual* float
   value, materialized only if a float kernel reads it. ``QuantizeLinear`` quantizes a float
   buffer (or requantizes, or is absorbed by the int8 op before it);
3. for any other op, an int8 rule (:mod:`.int8_rules`) is tried first: it applies when the
   op's activation inputs are dequantized int8 tensors and its one output goes to a
   ``QuantizeLinear`` only, as onnxruntime's QDQ fusion does. Otherwise the float rule
   (:mod:`.float_rules`) runs on float buffers, with quantize/dequantize at its borders;
4. whatever the graph returns is written (dequantized) to the caller's outputs.

Static shapes are required; an op without a rule is a one-line error naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qcompiler.errors import BackendError
from qcompiler.ir import DType, Model, Op, Value
from qcompiler.ir.types import QuantType, TensorType

from .program import CTYPES, Program, QParams, View, c_float

__all__ = ["lower", "Lowerer", "Deq", "QConst", "unsupported"]

# storage dtype -> (qmin, qmax) of the ONNX type, and the shift into the int8 domain
_INT8_DOMAIN = {
    DType.INT8: (-128, 127, 0),
    DType.UINT8: (0, 255, -128),
    DType.INT4: (-8, 7, 0),
    DType.UINT4: (0, 15, -128),
}


def unsupported(op: Op, why: str) -> BackendError:
    return BackendError(f"C backend: node '{op.name or op.op_type}' ({op.op_type}): {why}")


@dataclass
class Deq:
    """A float value that is the dequantization of an int8 view (not materialized yet)."""

    src: View


@dataclass
class QConst:
    """A quantized constant: integers (original storage values), scale/zp arrays, axis."""

    ints: np.ndarray
    scale: np.ndarray
    zp: np.ndarray
    axis: int | None
    storage: DType

    def real(self) -> np.ndarray:
        """Dequantized as onnxruntime computes it: float32 (q - zp) * scale."""
        q = self.ints.astype(np.int64)
        if self.axis is None:
            return ((q - int(self.zp.reshape(-1)[0])).astype(np.float32)
                    * np.float32(self.scale.reshape(-1)[0]))  # fmt: skip
        shp = [1] * q.ndim
        shp[self.axis] = -1
        z = self.zp.astype(np.int64).reshape(shp)
        return (q - z).astype(np.float32) * self.scale.astype(np.float32).reshape(shp)


def _shape(v: Value) -> tuple[int, ...]:
    t = v.type
    if not isinstance(t, TensorType) or t.shape is None or not t.shape.is_static:
        raise BackendError(f"C backend: value '{v.name}' has no static shape "
                           f"(give input shapes with --input-shape)")  # fmt: skip
    return tuple(int(d) for d in t.shape.static())


def _storage(op: Op) -> DType:
    """The integer type a QuantizeLinear produces."""
    t = op.output.type
    if isinstance(t, TensorType):
        e = t.elem
        if isinstance(e, QuantType):
            return e.storage
        if isinstance(e, DType):
            return e
    zp = op.input(2)
    if zp is not None and zp.const is not None:
        return DType.from_numpy(zp.const.dtype)
    return DType.UINT8


class Lowerer:
    """State of one lowering; the int8 and float rules call its helpers."""

    def __init__(self, model: Model, plugin_rules: dict | None = None):
        self.model = model
        self.plugin_rules = plugin_rules or {}
        self.g = model.graph
        self.p = Program()
        self.repr: dict[Value, object] = {}
        self.absorbed: set[Op] = set()
        #: QuantizeLinear -> the ReLU/Clip between it and the int8 op whose output it takes
        self._through: dict[Op, Op] = {}
        self.deq_cache: dict[int, View] = {}
        self.out_index: dict[Value, list[int]] = {}
        self.op_counts: dict[str, int] = {}
        self.int8_ops = 0
        self.float_ops = 0
        self.shapes: dict[Value, tuple[int, ...]] = {}

    # ---- values ----------------------------------------------------------------------------
    def shape(self, v: Value) -> tuple[int, ...]:
        known = self.shapes.get(v)
        if known is not None:
            return known
        try:
            return _shape(v)
        except BackendError:
            op = v.producer()
            if op is None:
                raise
        from .nodeinfer import infer_shapes

        ins = []
        for x in op.inputs:
            if x is None:
                ins.append(None)
                continue
            c = self.const_of(x)
            if c is not None and (c.dtype.kind in "iub" or c.size <= 64):
                ins.append(np.asarray(c))
                continue
            dt = x.type.dtype if isinstance(x.type, TensorType) and isinstance(x.type.elem, DType) else DType.FLOAT32
            ins.append((self.shape(x), int(dt)))
        for out, shp in zip(op.outputs, infer_shapes(op, ins, dict(self.model.opset_imports))):
            if shp is not None:
                self.shapes[out] = shp
        if v not in self.shapes:
            raise BackendError(f"C backend: value '{v.name}' has no static shape "
                               f"(give input shapes with --input-shape)")  # fmt: skip
        return self.shapes[v]

    def try_fold(self, op: Op) -> bool:
        """Compute ``op`` now when every input is known at compile time."""
        if op.op_type == "Shape" and op.domain in ("", "ai.onnx"):
            shp = np.asarray(self.shape(op.input(0)), dtype=np.int64)
            start, end = op.attr("start", 0), op.attr("end", None)
            self.repr[op.output] = shp[start:end] if end is not None else shp[start:]
            return True
        if op.op_type == "Size" and op.domain in ("", "ai.onnx"):
            self.repr[op.output] = np.asarray(int(np.prod(self.shape(op.input(0)), dtype=np.int64)), np.int64)
            return True
        consts = [self.const_of(x) if x is not None else None for x in op.inputs]
        if not op.inputs or any(c is None for c, x in zip(consts, op.inputs) if x is not None):
            return False
        from .nodeinfer import evaluate

        try:
            outs = evaluate(op, consts, dict(self.model.opset_imports))
        except Exception as e:  # noqa: BLE001
            raise unsupported(op, f"could not compute it from its constant inputs ({e})") from None
        for v, arr in zip(op.outputs, outs):
            self.repr[v] = arr
        return True

    def const_of(self, v: Value | None) -> np.ndarray | None:
        """The constant array of ``v`` (float32 for a dequantized constant), else None."""
        if v is None:
            return None
        if v.const is not None:
            return np.asarray(v.const)
        r = self.repr.get(v)
        if isinstance(r, QConst):
            return r.real()
        if isinstance(r, np.ndarray):
            return r
        return None

    def qconst(self, v: Value | None) -> QConst | None:
        r = self.repr.get(v) if v is not None else None
        return r if isinstance(r, QConst) else None

    def qin(self, v: Value | None) -> View | None:
        """The int8 view behind a dequantized per-tensor activation, else None."""
        r = self.repr.get(v) if v is not None else None
        return r.src if isinstance(r, Deq) else None

    def define(self, v: Value, r) -> None:
        self.repr[v] = r

    def out_view(self, v: Value, et: str, q: QParams | None = None, shape=None) -> View:
        """A fresh view for op result ``v`` (the caller's output buffer when ``v`` is a float
        graph output)."""
        shape = tuple(shape) if shape is not None else self.shape(v)
        idx = self.out_index.get(v)
        if idx and et == "f32":
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            b = self.p.new_buf("output", n * 4, index=idx[0], label=v.name)
            view = View(b, shape, "f32")
        else:
            view = self.p.new_view(shape, et, q, label=v.name)
        self.repr[v] = view
        return view

    def f32(self, v: Value) -> View:
        """``v`` as a float32 view (dequantizing or placing a constant as needed)."""
        r = self.repr.get(v)
        if r is None and v.const is not None:
            r = np.asarray(v.const)
        if isinstance(r, QConst):
            r = r.real()
        if isinstance(r, np.ndarray):
            if r.dtype.kind not in "fiub":
                raise BackendError(f"C backend: constant '{v.name}' of type {r.dtype} is not supported")
            name = self.p.const(r.astype(np.float32), "float", "f")
            b = self.p.new_buf("const", r.size * 4, label=name)
            view = View(b, tuple(r.shape), "f32")
            self.repr[v] = view
            return view
        if isinstance(r, Deq):
            key = id(r.src.buf), r.src.off, r.src.q
            cached = self.deq_cache.get(key)
            if cached is not None and cached.size == r.src.size:
                return cached.reshaped(self.shape(v))
            src = r.src
            out = self.p.new_view(self.shape(v), "f32", label=v.name + "_f32")
            self.p.add(f"qc_dequantize_s8_f32({self.p.ptr(src)}, {self.p.ptr(out)}, {src.size}, "
                       f"{c_float(src.q.scale)}, {src.q.zp});", [src], [out],
                       ["qc_dequantize_s8_f32"], what="dequantize")  # fmt: skip
            self.deq_cache[key] = out
            return out
        if isinstance(r, View):
            if r.et != "f32":
                raise BackendError(f"C backend: value '{v.name}' is {r.et}, a float kernel needs float")
            return r
        raise BackendError(f"C backend: value '{v.name}' is not available (unsupported producer)")

    # ---- the int8 output pattern ----------------------------------------------------------------
    def out_q(self, op: Op) -> tuple[Op, QParams] | None:
        """The QuantizeLinear that alone consumes ``op``'s single output, with its int8 params."""
        if len(op.outputs) != 1:
            return None
        v = op.output
        if v.is_graph_output or len(v.uses()) != 1:
            return None
        q = v.users()[0]
        relu = None
        if q.domain in ("", "ai.onnx") and q.op_type in ("Relu", "Clip") and q.input(0) is v:
            # A ReLU (or a Clip from 0) before the QuantizeLinear is the Q's own clamp when the
            # zero point is the type's minimum: the int8 kernel writes the Q's output directly.
            y = q.output
            if y.is_graph_output or len(y.uses()) != 1:
                return None
            relu, q = q, y.users()[0]
        if not q.is_a("QuantizeLinear") or q.input(0) is not (relu.output if relu is not None else v):
            return None
        params = self.q_params(q)
        if params is None:
            return None
        if relu is not None:
            if params.zp != params.qmin or not self._clamp_is_q(relu, params):
                return None
            self._through[q] = relu
        return (q, params)

    def _clamp_is_q(self, act: Op, params: QParams) -> bool:
        """Whether ReLU/Clip ``act`` followed by a Q with ``params`` equals the Q alone."""
        if act.op_type == "Relu":
            return True
        lo = self.const_of(act.input(1)) if len(act.inputs) > 1 and act.input(1) is not None else act.attr("min")
        hi = self.const_of(act.input(2)) if len(act.inputs) > 2 and act.input(2) is not None else act.attr("max")
        if lo is None or np.size(lo) != 1 or float(np.asarray(lo).reshape(-1)[0]) != 0.0:
            return False
        top = (params.qmax - params.zp) * params.scale  # the largest value the Q represents
        return hi is None or (np.size(hi) == 1 and float(np.asarray(hi).reshape(-1)[0]) >= top)

    def q_params(self, q: Op) -> QParams | None:
        """Per-tensor int8-domain parameters of a QuantizeLinear, or None."""
        return self._params(q, _storage(q))

    def _params(self, q: Op, storage: DType) -> QParams | None:
        if storage not in _INT8_DOMAIN:
            return None
        s = self.const_of(q.input(1))
        z = self.const_of(q.input(2)) if q.input(2) is not None else np.zeros((), np.int64)
        if s is None or z is None:
            return None
        if s.size != 1 or z.size != 1:  # per axis with one repeated value is per tensor
            if np.ptp(s.reshape(-1)) != 0 or np.ptp(z.reshape(-1)) != 0:
                return None
        lo, hi, shift = _INT8_DOMAIN[storage]
        return QParams(float(np.float32(s.reshape(-1)[0])), int(z.reshape(-1)[0]) + shift, lo + shift, hi + shift)

    def emit_q_output(self, qop: Op, params: QParams, shape=None) -> View:
        """Absorb ``qop`` (the Q after an int8 op): its output is the int8 view returned."""
        self.absorbed.add(qop)
        if qop in self._through:  # the ReLU the Q's clamp stands for
            self.absorbed.add(self._through[qop])
        return self.out_view(qop.output, "s8", params, shape)

    # ---- Q / DQ ----------------------------------------------------------------------------------
    def lower_dq(self, op: Op) -> None:
        x, out = op.input(0), op.output
        axis = op.attr("axis", None)
        if x.const is not None or isinstance(self.repr.get(x), QConst):
            qc = self.repr.get(x)
            if not isinstance(qc, QConst):
                ints = np.asarray(x.const)
                st = DType.from_numpy(ints.dtype)
                if isinstance(x.type, TensorType) and isinstance(x.type.elem, QuantType):
                    st = x.type.elem.storage
                qc = QConst(ints, None, None, None, st)  # type: ignore[arg-type]
            scale = self.const_of(op.input(1))
            zp = self.const_of(op.input(2)) if op.input(2) is not None else np.zeros_like(scale, dtype=np.int64)
            if scale is None or zp is None:
                raise unsupported(op, "scale and zero point must be constants")
            if op.attr("block_size", 0):  # blocked weights: float at compile time
                bs = int(op.attr("block_size"))
                ax = int(axis if axis is not None else 1) % qc.ints.ndim
                n = qc.ints.shape[ax]
                sc = np.repeat(scale, bs, axis=ax).take(np.arange(n), axis=ax)
                zz = np.repeat(zp, bs, axis=ax).take(np.arange(n), axis=ax).astype(np.int64)
                self.repr[out] = ((qc.ints.astype(np.int64) - zz).astype(np.float32)
                                  * sc.astype(np.float32))  # fmt: skip
                return
            ax = None
            if scale.size > 1:
                ax = int(axis if axis is not None else 1) % qc.ints.ndim
            self.repr[out] = QConst(qc.ints, scale.reshape(-1), zp.reshape(-1), ax, qc.storage)
            return
        r = self.repr.get(x)
        if isinstance(r, View) and r.et == "s8":
            st = _storage(x.producer()) if x.producer() is not None and x.producer().is_a("QuantizeLinear") else DType.INT8
            params = self._params(op, st)
            if params is None:
                raise unsupported(op, "per-axis dequantization of an activation is not supported")
            self.repr[out] = Deq(View(r.buf, r.shape, "s8", params, r.off))
            return
        if isinstance(r, View) and r.et == "f32":  # DQ after a fake-quant (non-8-bit) Q
            self.repr[out] = r
            return
        raise unsupported(op, "input is neither a constant nor a quantized tensor")

    def lower_q(self, op: Op) -> None:
        x, out = op.input(0), op.output
        st = _storage(op)
        shape = self.shape(out)
        if x.const is not None or isinstance(self.repr.get(x), (QConst, np.ndarray)):
            real = self.const_of(x).astype(np.float32)
            s = self.const_of(op.input(1)).astype(np.float32)
            z = self.const_of(op.input(2)) if op.input(2) is not None else np.zeros(1, np.int64)
            axis = op.attr("axis", 1)
            lo, hi = st.int_range() if hasattr(st, "int_range") else (-128, 127)
            if s.size > 1:
                shp = [1] * real.ndim
                shp[axis % real.ndim] = -1
                s, z = s.reshape(shp), z.reshape(shp)
            ints = np.clip(np.rint(real / s) + z.astype(np.float32), lo, hi).astype(np.int64)
            self.repr[out] = QConst(ints, None, None, None, st)  # type: ignore[arg-type]
            return
        r = self.repr.get(x)
        params = self._params(op, st)
        if params is None:
            # 16-bit (or per-axis) activations have no int8 kernel: quantize-dequantize in float
            s = self.const_of(op.input(1))
            z = self.const_of(op.input(2)) if op.input(2) is not None else np.zeros(1, np.int64)
            if s is None or s.size != 1:
                raise unsupported(op, "per-axis quantization of an activation is not supported")
            lo, hi = st.int_range()
            src = self.f32(x)
            view = self.out_view(out, "f32")
            self.p.add(f"qc_fakequant_f32({self.p.ptr(src)}, {self.p.ptr(view)}, {src.size}, "
                       f"{c_float(float(s.reshape(-1)[0]))}, {int(z.reshape(-1)[0])}, {lo}, {hi});",
                       [src], [view], ["qc_fakequant_f32"], op=op.name, what="fake-quantize "
                       f"({st.name.lower()})", inplace=(src, view))  # fmt: skip
            return
        if isinstance(r, Deq):
            src = r.src
            if src.q == params:
                self.repr[out] = View(src.buf, shape, "s8", params, src.off)
                return
            view = self.out_view(out, "s8", params)
            self.requant(src, view, op.name)
            return
        src = self.f32(x)
        view = self.out_view(out, "s8", params)
        self.p.add(f"qc_quantize_f32_s8({self.p.ptr(src)}, {self.p.ptr(view)}, {src.size}, "
                   f"{c_float(params.scale)}, {params.zp}, {params.qmin}, {params.qmax});",
                   [src], [view], ["qc_quantize_f32_s8"], op=op.name, what="quantize")  # fmt: skip

    def requant(self, src: View, dst: View, name: str = "") -> None:
        from .fixedpoint import quantize_multiplier

        m, s = quantize_multiplier(src.q.scale / dst.q.scale)
        self.p.add(f"qc_requant_s8({self.p.ptr(src)}, {self.p.ptr(dst)}, {dst.size}, {src.q.zp}, "
                   f"{dst.q.zp}, {m}, {s}, {dst.q.qmin}, {dst.q.qmax});", [src], [dst],
                   ["qc_requant_s8"], op=name, what="requantize", inplace=(src, dst))  # fmt: skip

    # ---- the walk ----------------------------------------------------------------------------
    def run(self) -> Program:
        from .float_rules import FLOAT_RULES
        from .int8_rules import INT8_RULES

        g = self.g
        for i, v in enumerate(g.inputs):
            if not isinstance(v.type, TensorType) or not isinstance(v.type.elem, DType) or v.type.dtype in (
                    DType.STRING, DType.COMPLEX64, DType.COMPLEX128):  # fmt: skip
                raise BackendError(f"C backend: graph input '{v.name}' must be a numeric tensor")
            # every input reaches model_run as float32 (integers and booleans by value)
            shape = _shape(v)
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            self.repr[v] = View(self.p.new_buf("input", n * 4, index=i, label=v.name), shape, "f32")
            self.p.inputs.append((v.name, shape))
        for i, v in enumerate(g.outputs):
            self.out_index.setdefault(v, []).append(i)
            self.p.outputs.append((v.name, _shape(v)))
        for op in g:  # before any work: control flow is the most likely reason to fail
            if op.regions():
                raise unsupported(op, "control flow (If/Loop/Scan) is not supported by the C backend")
        for op in g:
            if op.is_a("DequantizeLinear"):
                self.lower_dq(op)
                continue
            if op in self.absorbed:
                continue
            if op.is_a("QuantizeLinear"):
                self.lower_q(op)
                continue
            if op.op_type != "Constant" and self.try_fold(op):
                continue
            key = op.op_type if op.domain in ("", "ai.onnx") else f"{op.domain}.{op.op_type}"
            self.op_counts[key] = self.op_counts.get(key, 0) + 1
            plugin = self.plugin_rules.get(key)
            if plugin is not None and plugin(self, op):
                self.float_ops += 1
                continue
            rule = INT8_RULES.get(key)
            if rule is not None and rule(self, op):
                self.int8_ops += 1
                continue
            rule = FLOAT_RULES.get(key)
            if rule is None:
                raise unsupported(op, "no C kernel for this op")
            rule(self, op)
            self.float_ops += 1
        self._write_outputs()
        return self.p

    def _write_outputs(self) -> None:
        for i, v in enumerate(self.g.outputs):
            r = self.repr.get(v)
            if r is None and v.const is not None:
                r = np.asarray(v.const)
            shape = _shape(v)
            n = int(np.prod(shape, dtype=np.int64)) if shape else 1
            dst = View(self.p.new_buf("output", n * 4, index=i, label=v.name), shape, "f32")
            if isinstance(r, View) and r.buf.kind == "output" and r.buf.index == i:
                continue
            if isinstance(r, Deq) or (isinstance(r, View) and r.et == "s8"):
                src = r.src if isinstance(r, Deq) else r
                self.p.add(f"qc_dequantize_s8_f32({self.p.ptr(src)}, {self.p.ptr(dst)}, {n}, "
                           f"{c_float(src.q.scale)}, {src.q.zp});", [src], [dst],
                           ["qc_dequantize_s8_f32"], what=f"output {v.name}")  # fmt: skip
                continue
            src = self.f32(v)
            self.copy(src, dst, f"output {v.name}")

    def copy(self, src: View, dst: View, what: str = "copy") -> None:
        n = src.size
        dims = self.p.const([n], "int32_t", "i")
        one = self.p.const([1], "int32_t", "i")
        self.p.add(f"qc_strided_copy({self.p.ptr(src.buf, src.et)}, {src.off}, {one}, "
                   f"{self.p.ptr(dst.buf, dst.et)}, {dst.off}, {one}, 1, {dims}, {CTYPES[src.et][1]});",
                   [src], [dst], ["qc_strided_copy"], what=what)  # fmt: skip


def lower(model: Model, plugin_rules: dict | None = None) -> tuple[Program, Lowerer]:
    lw = Lowerer(model, plugin_rules)
    return lw.run(), lw

