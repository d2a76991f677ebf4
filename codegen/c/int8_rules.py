"""int8 rules: an op whose activation inputs are dequantized int8 tensors and whose one output
feeds a QuantizeLinear runs as an int8 kernel (the QuantizeLinear is absorbed).

Each rule returns ``False`` when its pattern does not apply (the float rule then runs).
Arithmetic: :mod:`.fixedpoint` and specs/c-api.md.
"""

from __future__ import annotations

import math

import numpy as np

from qcompiler.ir import DType, Op
from qcompiler.ir.qc_ops import fused_base

from .fixedpoint import add_params, lut_table, mul_params, quantize_multiplier
from .lower import Lowerer, QConst
from .program import ACT_CODES, QParams, View, c_float
from .shapes import (
    POOL_FIELDS,
    bcast_strides,
    conv3d_geometry,
    conv3d_params,
    conv_geometry,
    conv_params,
    pool3d_geometry,
    pool_geometry,
    reduce_layout,
    resize_tables,
)

__all__ = ["INT8_RULES"]



def _activation(op: Op) -> tuple[str | None, float, float]:
    if fused_base(op) is None:
        return None, 0.0, 0.0
    return op.attr("activation"), float(op.attr("act_alpha", 0.0)), float(op.attr("act_beta", 0.0))


def _signed_weight(w: QConst | None) -> bool:
    return (w is not None and w.storage in (DType.INT8, DType.INT4)
            and not np.any(np.asarray(w.zp) != 0))  # fmt: skip


def requant_struct(lw: Lowerer, acc_scale: np.ndarray, out: QParams, act: str | None,
                   alpha: float, beta: float) -> str:  # fmt: skip
    """A ``qc_requant_t`` for accumulators of real scale ``acc_scale`` (per channel or one)."""
    acc_scale = np.asarray(acc_scale, dtype=np.float64).reshape(-1)
    qmin, qmax = out.qmin, out.qmax
    code = 0
    if act == "Relu":
        qmin = max(qmin, out.quantize(0.0))
    elif act == "Clip":
        qmin, qmax = max(qmin, out.quantize(alpha)), min(qmax, out.quantize(beta))
    elif act is not None:
        code = ACT_CODES[act]
    if act == "HardSwish":
        alpha, beta = 1.0 / 6.0, 0.5
    if code == 0 and float(np.max(acc_scale)) / out.scale >= 1.0:
        code = 7  # QC_ACT_LINEAR: acc * r could leave int32 in fixed point; float cannot
    ms = [quantize_multiplier(float(s) / out.scale) for s in acc_scale]
    mult = lw.p.const([m for m, _ in ms], "int32_t", "m")
    shift = lw.p.const([s for _, s in ms], "int32_t", "s")
    fscale = lw.p.const(acc_scale.astype(np.float32), "float", "f") if code else "NULL"
    body = (f".mult = {mult}, .shift = {shift}, .per_channel = {int(acc_scale.size > 1)}, "
            f".out_zp = {out.zp}, .qmin = {qmin}, .qmax = {qmax}, .act = {code}, "
            f".fscale = {fscale}, .alpha = {c_float(alpha)}, .beta = {c_float(beta)}, "
            f".out_scale = {c_float(out.scale)}")  # fmt: skip
    return lw.p.struct("qc_requant_t", body, "rq")


def _bias_ints(lw: Lowerer, bias_v, acc_scale: np.ndarray, n: int, beta: float = 1.0,
               alpha: float = 1.0) -> np.ndarray:  # fmt: skip
    """int32 bias in accumulator units (the stored integers when the model's bias scale is the
    accumulator scale, as onnxruntime requires for its integer kernels)."""
    if bias_v is None:
        return np.zeros(n, np.int64)
    qc = lw.qconst(bias_v)
    if (qc is not None and qc.storage == DType.INT32 and alpha == 1.0 and beta == 1.0
            and not np.any(qc.zp != 0) and qc.ints.size == n
            and np.allclose(np.broadcast_to(qc.scale, (n,)), acc_scale, rtol=1e-6, atol=0)):
        return qc.ints.reshape(-1).astype(np.int64)
    real = lw.const_of(bias_v)
    if real is None:
        return None  # type: ignore[return-value]
    real = np.broadcast_to(np.asarray(real, np.float64).reshape(-1), (n,)) * beta
    return np.rint(real / (alpha * np.broadcast_to(acc_scale, (n,)))).astype(np.int64)


def _conv_acc(lw: Lowerer, op: Op, x: View, w: QConst, cout: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A convolution's accumulator scale per output channel (s_x * s_w[c]) and its int32 bias
    (None: not a constant)."""
    sw = np.broadcast_to(np.asarray(w.scale, np.float64).reshape(-1), (cout,))
    acc_scale = np.float64(np.float32(x.q.scale)) * sw
    return acc_scale, _bias_ints(lw, op.input(2) if len(op.inputs) > 2 else None, acc_scale, cout)


def _acc_fits(bias: np.ndarray, wmat: np.ndarray, x_zp: int) -> bool:
    """Whether every int32 accumulator of a layer with int64 ``bias`` [n], int8 weights ``wmat``
    [n, k] and input zero point ``x_zp`` stays in range, in both forms the kernels use:
    bias + sum (x - zp) w, and (bias - zp * sum w) + sum x w. A QDQ model's bias may sit near
    the int32 limit (a tiny input scale); such a layer runs in float, as onnxruntime's
    reference semantics do, instead of wrapping."""
    bias = np.asarray(bias, np.int64)
    wabs = np.abs(wmat).sum(axis=1)
    folded = np.abs(bias - x_zp * wmat.sum(axis=1))
    worst = np.maximum(np.abs(bias) + 255 * wabs, folded + 128 * wabs)
    return not worst.size or int(worst.max()) <= 2**31 - 1


def _i32(a) -> np.ndarray:
    a = np.asarray(a, np.int64)
    if a.size and (a.max() > 2**31 - 1 or a.min() < -(2**31)):
        raise ValueError("int32 overflow")
    return a.astype(np.int32)


# ---- convolutions -------------------------------------------------------------------------------

def conv(lw: Lowerer, op: Op) -> bool:
    base = fused_base(op) or op.op_type
    x, w, oq = lw.qin(op.input(0)), lw.qconst(op.input(1)), lw.out_q(op)
    if x is None or oq is None or not _signed_weight(w):
        return False
    if len(x.shape) == 5 and base == "Conv":
        return _conv3d(lw, op, x, w, oq)
    if len(x.shape) not in (3, 4):
        return False
    if w.axis not in (None, 1 if base == "ConvTranspose" else 0):
        return False
    if base == "ConvTranspose" and w.axis is not None and int(op.attr("group", 1)) != 1:
        return False
    act, alpha, beta = _activation(op)
    qop, out_q = oq
    g = conv_geometry(op, x.shape, w.ints.shape, lw.shape(op.output), transpose=base == "ConvTranspose")
    if g is None:
        return False
    cout = g["cout"]
    acc_scale, bias = _conv_acc(lw, op, x, w, cout)
    if bias is None:
        return False
    wi = w.ints.astype(np.int64)
    if base == "ConvTranspose":  # [cin, cout / group, kh, kw]; every input channel counted (a bound)
        rows = np.tile(np.moveaxis(wi, 1, 0).reshape(wi.shape[1], -1), (g["group"], 1))
    else:
        rows = wi.reshape(cout, -1)
    if not _acc_fits(bias, rows, x.q.zp):
        return False
    ker = g["kernel"]
    macs = g["macs"]
    y = lw.emit_q_output(qop, out_q)
    rq = requant_struct(lw, acc_scale if w.axis is not None else acc_scale[:1], out_q, act, alpha, beta)
    cp = lw.p.struct("qc_conv_params_t", conv_params(g, x.q.zp), "cp")
    wname = lw.p.const(wi.reshape(-1), "int8_t", "w")
    P = lw.p.ptr
    if base == "ConvTranspose":
        bname = lw.p.const(_i32(bias), "int32_t", "b")
        acc = lw.p.scratch(cout * g["oh"] * g["ow"] * 4, "convtranspose acc")
        lw.p.add(f"qc_convtranspose_s8({P(x)}, {wname}, {bname}, {cp}, {rq}, {P(y)}, {P(acc, 'i32')});",
                 [x, acc], [y, acc], ["qc_convtranspose_s8"], op=op.name, what=ker, macs=macs)
        return True
    if g["group"] > 1 and g["group"] == g["cin"] and cout % g["cin"] == 0:
        bname = lw.p.const(_i32(bias), "int32_t", "b")
        lw.p.add(f"qc_dwconv_s8({P(x)}, {wname}, {bname}, {cp}, {rq}, {P(y)});", [x], [y],
                 ["qc_dwconv_s8"], op=op.name, what=ker + " depthwise", macs=macs)
        return True
    wsum = wi.reshape(cout, -1).sum(axis=1)
    bname = lw.p.const(_i32(bias - x.q.zp * wsum), "int32_t", "b")
    col = lw.p.scratch(conv_scratch_bytes(g), "im2col")
    lw.p.add(f"qc_conv_s8({P(x)}, {wname}, {bname}, {cp}, {rq}, {P(y)}, {P(col)});", [x, col],
             [y, col], ["qc_conv_s8", "qc_gemm_s8"], op=op.name, what=ker, macs=macs)
    return True


def _conv3d(lw: Lowerer, op: Op, x, w: QConst, oq) -> bool:
    """A Conv over NCDHW as qc_conv3d_s8: one qc_conv_s8 per output depth slice over the
    cin*kd planes it reads (shapes.conv3d_geometry)."""
    if w.axis not in (None, 0):
        return False
    geo = conv3d_geometry(op, x.shape, w.ints.shape, lw.shape(op.output))
    if geo is None:
        return False
    depth, g2 = geo
    act, alpha, beta = _activation(op)
    qop, out_q = oq
    cout = g2["cout"]
    acc_scale, bias = _conv_acc(lw, op, x, w, cout)
    if bias is None:
        return False
    wi = w.ints.astype(np.int64)
    rows = wi.reshape(cout, -1)
    if not _acc_fits(bias, rows, x.q.zp):
        return False
    y = lw.emit_q_output(qop, out_q)
    rq = requant_struct(lw, acc_scale if w.axis is not None else acc_scale[:1], out_q, act, alpha, beta)
    cp = lw.p.struct("qc_conv_params_t", conv_params(g2, x.q.zp), "cp")
    dp = lw.p.struct("qc_conv3d_params_t", conv3d_params(depth), "dp")
    wname = lw.p.const(wi.reshape(-1), "int8_t", "w")
    bname = lw.p.const(_i32(bias - x.q.zp * rows.sum(axis=1)), "int32_t", "b")

    def up16(v: int) -> int:
        return (v + 15) // 16 * 16

    nbytes = up16(g2["cin"] * g2["h"] * g2["w"]) + up16(cout * g2["oh"] * g2["ow"]) + conv_scratch_bytes(g2)
    scr = lw.p.scratch(nbytes, "conv3d planes")
    P = lw.p.ptr
    lw.p.add(f"qc_conv3d_s8({P(x)}, {wname}, {bname}, {dp}, {cp}, {rq}, {P(y)}, {P(scr)});", [x, scr],
             [y, scr], ["qc_conv3d_s8", "qc_conv_s8", "qc_gemm_s8"], op=op.name, what=g2["kernel"],
             macs=g2["macs"])
    return True


#: Output pixels per im2col chunk of qc_conv_s8 (mirrors QC_CONV_CHUNK in qc_conv_s8.c).
CONV_CHUNK = 64


def conv_scratch_bytes(g: dict) -> int:
    """Bytes of qc_conv_s8's im2col scratch (mirrors qc_conv_s8_scratch)."""
    k = g["cin"] // g["group"] * g["kh"] * g["kw"]
    return max(1, min(g["oh"] * g["ow"], CONV_CHUNK) * k)


# ---- fully connected / matmul ------------------------------------------------------------------

def gemm(lw: Lowerer, op: Op) -> bool:
    base = fused_base(op) or op.op_type
    a, b, oq = lw.qin(op.input(0)), lw.qconst(op.input(1)), lw.out_q(op)
    if a is None or oq is None:
        return False
    if b is None:
        return base == "MatMul" and matmul_act_act(lw, op)
    if not _signed_weight(b) or b.ints.ndim != 2:
        return False
    alpha, beta = 1.0, 1.0
    if base == "Gemm":
        if op.attr("transA", 0):
            return False
        trans_b = bool(op.attr("transB", 0))
        alpha, beta = float(op.attr("alpha", 1.0)), float(op.attr("beta", 1.0))
        if alpha <= 0:
            return False
    else:
        trans_b = False
    wmat = b.ints.astype(np.int64) if trans_b else b.ints.astype(np.int64).T
    n, k = wmat.shape
    if b.axis is not None and b.axis != (0 if trans_b else 1):
        return False
    if a.shape[-1] != k:
        return False
    m = int(np.prod(a.shape[:-1], dtype=np.int64))
    act, aa, ab = _activation(op)
    qop, out_q = oq
    sw = np.broadcast_to(np.asarray(b.scale, np.float64).reshape(-1), (n,))
    acc_scale = alpha * np.float64(np.float32(a.q.scale)) * sw
    cv = op.input(2) if base == "Gemm" and len(op.inputs) > 2 else None
    if cv is not None:
        c = lw.const_of(cv)
        if c is None or c.size not in (1, n):
            return False
    bias = _bias_ints(lw, cv, acc_scale / alpha, n, beta=beta, alpha=alpha) if cv is not None else np.zeros(n, np.int64)
    if bias is None or not _acc_fits(bias, wmat, a.q.zp):
        return False
    y = lw.emit_q_output(qop, out_q)
    rq = requant_struct(lw, acc_scale if b.axis is not None else acc_scale[:1], out_q, act, aa, ab)
    wname = lw.p.const(wmat.reshape(-1), "int8_t", "w")
    bname = lw.p.const(_i32(bias - a.q.zp * wmat.sum(axis=1)), "int32_t", "b")
    P = lw.p.ptr
    lw.p.add(f"qc_gemm_s8({P(a)}, {wname}, {bname}, {m}, {n}, {k}, {rq}, {P(y)}, {n}, 1);", [a],
             [y], ["qc_gemm_s8"], op=op.name, what=f"{base} {m}x{n}x{k}", macs=m * n * k)
    return True


def matmul_act_act(lw: Lowerer, op: Op) -> bool:
    a, b, oq = lw.qin(op.input(0)), lw.qin(op.input(1)), lw.out_q(op)
    if a is None or b is None or oq is None or len(a.shape) < 2 or len(b.shape) < 2:
        return False
    if fused_base(op) and op.attr("activation") not in (None, "Relu", "Clip"):
        return False
    m, k = a.shape[-2:]
    k2, n = b.shape[-2:]
    if k != k2:
        return False
    ab, bb = a.shape[:-2], b.shape[:-2]
    yb = lw.shape(op.output)[:-2]
    batch = int(np.prod(yb, dtype=np.int64))
    def bstride(shape, size):  # noqa: E306
        if int(np.prod(shape, dtype=np.int64)) == 1:
            return 0
        if tuple(shape) == tuple(yb) or (len(shape) < len(yb) and tuple(shape) == tuple(yb[-len(shape):])
                                          and int(np.prod(yb[:-len(shape)], dtype=np.int64)) == 1):
            return size
        return None
    sa, sb = bstride(ab, m * k), bstride(bb, k * n)
    if sa is None or sb is None:
        return False
    act, aa, bt = _activation(op)
    qop, out_q = oq
    y = lw.emit_q_output(qop, out_q)
    rq = requant_struct(lw, np.array([np.float64(np.float32(a.q.scale)) * np.float32(b.q.scale)]), out_q,
                        act, aa, bt)  # fmt: skip
    P = lw.p.ptr
    lw.p.add(f"qc_matmul_s8({P(a)}, {P(b)}, {batch}, {m}, {k}, {n}, {sa}, {sb}, {a.q.zp}, {b.q.zp}, "
             f"{rq}, {P(y)});", [a, b], [y], ["qc_matmul_s8"], op=op.name,
             what=f"MatMul {batch}x{m}x{n}x{k}", macs=batch * m * n * k)  # fmt: skip
    return True


# ---- elementwise -------------------------------------------------------------------------------

def _operand(lw: Lowerer, v) -> View | None:
    """A quantized activation, or a per-tensor quantized constant placed in flash."""
    x = lw.qin(v)
    if x is not None:
        return x
    qc = lw.qconst(v)
    if qc is None or qc.axis is not None or qc.storage not in (DType.INT8, DType.UINT8):
        return None
    shift = -128 if qc.storage == DType.UINT8 else 0
    ints = qc.ints.astype(np.int64) + shift
    name = lw.p.const(ints.reshape(-1), "int8_t", "k")
    buf = lw.p.new_buf("const", ints.size, label=name)
    return View(buf, tuple(qc.ints.shape), "s8",
                QParams(float(np.float32(qc.scale[0])), int(qc.zp[0]) + shift))


def _scalar_const(lw: Lowerer, v) -> float | None:
    c = lw.const_of(v)
    if c is None or c.size != 1 or lw.qin(v) is not None:
        return None
    return float(np.asarray(c, np.float32).reshape(-1)[0])


_BIN_FN = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide, "Pow": np.power,
           "Max": np.maximum, "Min": np.minimum}  # fmt: skip


def binary(lw: Lowerer, op: Op) -> bool:
    if len(op.inputs) != 2:
        return False
    oq = lw.out_q(op)
    if oq is None:
        return False
    # one quantized activation and a scalar constant: a table
    for i in (0, 1):
        x, c = lw.qin(op.input(i)), _scalar_const(lw, op.input(1 - i))
        if x is not None and c is not None and op.op_type in _BIN_FN:
            fn = _BIN_FN[op.op_type]
            cf = np.float32(c)
            f = (lambda t, fn=fn, cf=cf: fn(t, cf)) if i == 0 else (lambda t, fn=fn, cf=cf: fn(cf, t))
            return _lut(lw, op, x, oq, f, f"{op.op_type} by constant {c:g}")
    if op.op_type not in ("Add", "Sub", "Mul"):
        return False
    a, b = _operand(lw, op.input(0)), _operand(lw, op.input(1))
    if a is None or b is None:
        return False
    qop, out_q = oq
    yshape = lw.shape(op.output)
    nd = max(len(yshape), 1)
    dims = list(yshape) if yshape else [1]
    sa, sb = bcast_strides(a.shape, dims), bcast_strides(b.shape, dims)
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    d, s1, s2 = (lw.p.const(t, "int32_t", "i") for t in (dims, sa, sb))
    if op.op_type == "Mul":
        prm = mul_params(a.q.scale, a.q.zp, b.q.scale, b.q.zp, out_q.scale, out_q.zp, out_q.qmin, out_q.qmax)
        body = ", ".join(f".{k} = {v}" for k, v in prm.items())
        pp = lw.p.struct("qc_mul_params_t", body, "mp")
        fn = "qc_mul_s8"
    else:
        prm = add_params(a.q.scale, a.q.zp, b.q.scale, b.q.zp, out_q.scale, out_q.zp, out_q.qmin,
                         out_q.qmax, subtract=op.op_type == "Sub")  # fmt: skip
        body = ", ".join(f".{k} = {v}" for k, v in prm.items())
        pp = lw.p.struct("qc_add_params_t", body, "ap")
        fn = "qc_add_s8"
    # the output may overwrite either input of its shape (elementwise: each element is read
    # before it is written)
    cands = [(v, y) for v in (a, b) if tuple(v.shape) == tuple(yshape) and v.buf.kind == "arena"]
    lw.p.add(f"{fn}({P(a)}, {P(b)}, {P(y)}, {pp}, {nd}, {d}, {s1}, {s2});", [a, b], [y], [fn],
             op=op.name, what=op.op_type, inplace=cands or None)
    return True


def _lut(lw: Lowerer, op: Op, x: View, oq, fn, what: str) -> bool:
    qop, out_q = oq
    table = lut_table(fn, x.q.scale, x.q.zp, out_q.scale, out_q.zp, out_q.qmin, out_q.qmax)
    name = lw.p.const(table, "int8_t", "t")
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    lw.p.add(f"qc_lut_s8({P(x)}, {P(y)}, {x.size}, {name});", [x], [y], ["qc_lut_s8"], op=op.name,
             what=what + " (table)", inplace=(x, y))
    return True


def _erf(t):
    return np.vectorize(math.erf, otypes=[np.float64])(t.astype(np.float64)).astype(np.float32)


def _unary_fn(lw: Lowerer, op: Op):
    t = op.op_type
    f32 = np.float32
    if t == "Relu":
        return lambda x: np.maximum(x, f32(0))
    if t == "Clip":
        lo = op.attr("min", None)
        hi = op.attr("max", None)
        if len(op.inputs) > 1 and op.input(1) is not None:
            lo = _scalar_const(lw, op.input(1))
            if lo is None:
                return None
        if len(op.inputs) > 2 and op.input(2) is not None:
            hi = _scalar_const(lw, op.input(2))
            if hi is None:
                return None
        lo = -np.inf if lo is None else lo
        hi = np.inf if hi is None else hi
        return lambda x: np.clip(x, f32(lo), f32(hi))
    if t == "LeakyRelu":
        a = f32(op.attr("alpha", 0.01))
        return lambda x: np.where(x >= 0, x, x * a)
    if t == "HardSigmoid":
        a, b = f32(op.attr("alpha", 0.2)), f32(op.attr("beta", 0.5))
        return lambda x: np.clip(x * a + b, f32(0), f32(1))
    if t == "HardSwish":
        return lambda x: x * np.clip(x / f32(6) + f32(0.5), f32(0), f32(1))
    if t == "Sigmoid":
        return lambda x: f32(1) / (f32(1) + np.exp(-x))
    if t == "Tanh":
        return np.tanh
    if t == "Erf":
        return _erf
    if t == "Gelu":  # also com.microsoft.Gelu (exact form)
        if op.attr("approximate", "none") == "tanh":
            return lambda x: f32(0.5) * x * (f32(1) + np.tanh(f32(0.7978845608) * (x + f32(0.044715) * x**3)))
        return lambda x: f32(0.5) * x * (f32(1) + _erf(x / f32(math.sqrt(2))))
    if t == "Exp":
        return np.exp
    if t == "Log":
        return np.log
    if t == "Sqrt":
        return np.sqrt
    if t == "Neg":
        return np.negative
    if t == "Abs":
        return np.abs
    if t == "Reciprocal":
        return lambda x: f32(1) / x
    if t == "Softplus":
        return lambda x: np.logaddexp(f32(0), x).astype(f32)
    if t == "Mish":
        return lambda x: x * np.tanh(np.logaddexp(f32(0), x).astype(f32))
    if t == "Elu":
        a = f32(op.attr("alpha", 1.0))
        return lambda x: np.where(x > 0, x, a * (np.exp(x) - f32(1)))
    if t == "Selu":
        a, g = f32(op.attr("alpha", 1.67326319217681884765625)), f32(op.attr("gamma", 1.05070102214813232421875))
        return lambda x: g * np.where(x > 0, x, a * (np.exp(x) - f32(1)))
    if t == "Softsign":
        return lambda x: x / (f32(1) + np.abs(x))
    if t in ("Sin", "Cos", "Floor", "Ceil", "Sign"):
        return {"Sin": np.sin, "Cos": np.cos, "Floor": np.floor, "Ceil": np.ceil, "Sign": np.sign}[t]
    if t == "Round":
        return np.rint
    if t == "qcompiler.Silu":
        return lambda x: x / (f32(1) + np.exp(-x))
    return None


def unary(lw: Lowerer, op: Op) -> bool:
    x, oq = lw.qin(op.input(0)), lw.out_q(op)
    if x is None or oq is None:
        return False
    fn = _unary_fn(lw, op)
    if fn is None:
        return False
    return _lut(lw, op, x, oq, fn, op.op_type)


# ---- pooling, reductions, softmax ------------------------------------------------------------------

def pool(lw: Lowerer, op: Op) -> bool:
    x, oq = lw.qin(op.input(0)), lw.out_q(op)
    if x is None or oq is None or len(op.outputs) != 1 or len(x.shape) not in (3, 4, 5):
        return False
    qop, out_q = oq
    P = lw.p.ptr
    if len(x.shape) == 5 and op.op_type == "MaxPool":
        return _maxpool3d(lw, op, x, qop, out_q)
    if len(x.shape) == 5 and op.op_type != "GlobalAveragePool":
        return False  # 3-D AveragePool: the float rule (one rounding, as onnxruntime)
    if op.op_type == "GlobalAveragePool":
        nc = x.shape[0] * x.shape[1]
        r = int(np.prod(x.shape[2:], dtype=np.int64))
        y = lw.emit_q_output(qop, out_q)
        lw.p.add(f"qc_mean_s8({P(x)}, {P(y)}, {nc}, {r}, 1, {x.q.zp}, {out_q.zp}, "
                 f"{c_float(x.q.scale / out_q.scale)});", [x], [y], ["qc_mean_s8"], op=op.name,
                 what="GlobalAveragePool")  # fmt: skip
        return True
    if op.op_type == "GlobalMaxPool":
        return False
    g = pool_geometry(op, x.shape, lw.shape(op.output))
    if g is None:
        return False
    body = ", ".join(f".{k} = {g[k]}" for k in POOL_FIELDS)
    pp = lw.p.struct("qc_pool_params_t", body, "pp")
    y = lw.emit_q_output(qop, out_q)
    if op.op_type == "MaxPool":
        m, s = (0, 1) if x.q == out_q else quantize_multiplier(x.q.scale / out_q.scale)
        lw.p.add(f"qc_maxpool_s8({P(x)}, {P(y)}, {pp}, {x.q.zp}, {out_q.zp}, {m}, {s});", [x], [y],
                 ["qc_maxpool_s8"], op=op.name, what="MaxPool")
    else:
        lw.p.add(f"qc_avgpool_s8({P(x)}, {P(y)}, {pp}, {x.q.zp}, {out_q.zp}, "
                 f"{c_float(x.q.scale / out_q.scale)});", [x], [y], ["qc_avgpool_s8"], op=op.name,
                 what="AveragePool")  # fmt: skip
    return True


def _maxpool3d(lw: Lowerer, op: Op, x: View, qop: Op, out_q: QParams) -> bool:
    """A 3-D MaxPool as two qc_maxpool_s8 calls (shapes.pool3d_geometry): H and W into an int8
    temporary with the input's parameters (max is exact), then D, requantizing if the output's
    parameters differ."""
    geo = pool3d_geometry(op, x.shape, lw.shape(op.output))
    if geo is None:
        return False
    hw, d = geo
    t = lw.p.new_view((hw["n"], hw["c"], hw["oh"], hw["ow"]), "s8", x.q, label="maxpool3d hw")
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    pp = [lw.p.struct("qc_pool_params_t", ", ".join(f".{k} = {g[k]}" for k in POOL_FIELDS), "pp") for g in (hw, d)]
    lw.p.add(f"qc_maxpool_s8({P(x)}, {P(t)}, {pp[0]}, {x.q.zp}, {x.q.zp}, 0, 1);", [x], [t], ["qc_maxpool_s8"],
             op=op.name, what="MaxPool 3-D (H, W)")
    m, s = (0, 1) if x.q == out_q else quantize_multiplier(x.q.scale / out_q.scale)
    lw.p.add(f"qc_maxpool_s8({P(t)}, {P(y)}, {pp[1]}, {x.q.zp}, {out_q.zp}, {m}, {s});", [t], [y],
             ["qc_maxpool_s8"], op=op.name, what="MaxPool 3-D (D)")
    return True


def reduce_mean(lw: Lowerer, op: Op) -> bool:
    x, oq = lw.qin(op.input(0)), lw.out_q(op)
    if x is None or oq is None:
        return False
    layout = reduce_layout(lw, op, x.shape)
    if layout is None:
        return False
    outer, r, inner = layout
    qop, out_q = oq
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    lw.p.add(f"qc_mean_s8({P(x)}, {P(y)}, {outer}, {r}, {inner}, {x.q.zp}, {out_q.zp}, "
             f"{c_float(x.q.scale / out_q.scale)});", [x], [y], ["qc_mean_s8"], op=op.name,
             what="ReduceMean")  # fmt: skip
    return True


def softmax(lw: Lowerer, op: Op) -> bool:
    x, oq = lw.qin(op.input(0)), lw.out_q(op)
    if x is None or oq is None:
        return False
    from .float_rules import softmax_layout

    layout = softmax_layout(lw, op, x.shape)
    qop, out_q = oq
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    if layout is None:  # an inner axis: move it last (int8 copies are exact), normalize, move back
        from .movement import permute_copy

        axis = int(op.attr("axis", -1)) % len(x.shape)
        perm = [d for d in range(len(x.shape)) if d != axis] + [axis]
        t1 = lw.p.new_view([x.shape[d] for d in perm], "s8", x.q, label=op.name + "_t")
        t2 = lw.p.new_view(t1.shape, "s8", out_q, label=op.name + "_u")
        permute_copy(lw, x, perm, t1, op.name)
        lw.p.add(f"qc_softmax_s8({P(t1)}, {P(t2)}, {t1.size // x.shape[axis]}, {x.shape[axis]}, "
                 f"{c_float(x.q.scale)}, {x.q.zp}, {c_float(out_q.scale)}, {out_q.zp});", [t1], [t2],
                 ["qc_softmax_s8"], op=op.name, what="Softmax")  # fmt: skip
        permute_copy(lw, t2, [perm.index(d) for d in range(len(perm))], y, op.name)
        return True
    rows, n = layout
    lw.p.add(f"qc_softmax_s8({P(x)}, {P(y)}, {rows}, {n}, {c_float(x.q.scale)}, {x.q.zp}, "
             f"{c_float(out_q.scale)}, {out_q.zp});", [x], [y], ["qc_softmax_s8"], op=op.name,
             what="Softmax")  # fmt: skip
    return True


def resize(lw: Lowerer, op: Op) -> bool:
    x, oq = lw.qin(op.input(0)), lw.out_q(op)
    if x is None or oq is None or len(x.shape) != 4:
        return False
    yshape = lw.shape(op.output)
    t = resize_tables(lw, op, x.shape, yshape)
    if t is None or t["mode"] == "cubic":  # cubic: the float rule, between the Q/DQ
        return False
    qop, out_q = oq
    y = lw.emit_q_output(qop, out_q)
    P = lw.p.ptr
    nc, h, w, oh, ow = x.shape[0] * x.shape[1], x.shape[2], x.shape[3], yshape[2], yshape[3]
    if t["mode"] == "nearest":
        hi, wi = lw.p.const(t["hi"], "int32_t", "i"), lw.p.const(t["wi"], "int32_t", "i")
        m, s = (0, 1) if x.q == out_q else quantize_multiplier(x.q.scale / out_q.scale)
        lw.p.add(f"qc_resize_nearest_s8({P(x)}, {P(y)}, {nc}, {h}, {w}, {oh}, {ow}, {hi}, {wi}, "
                 f"{x.q.zp}, {out_q.zp}, {m}, {s});", [x], [y], ["qc_resize_nearest_s8"], op=op.name,
                 what="Resize nearest")  # fmt: skip
        return True
    names = [lw.p.const(t[k], "float" if k in ("hf", "wf") else "int32_t", "r")
             for k in ("h0", "h1", "hf", "w0", "w1", "wf")]  # fmt: skip
    lw.p.add(f"qc_resize_linear_s8({P(x)}, {P(y)}, {nc}, {h}, {w}, {oh}, {ow}, {', '.join(names)}, "
             f"{c_float(x.q.scale)}, {x.q.zp}, {c_float(out_q.scale)}, {out_q.zp});", [x], [y],
             ["qc_resize_linear_s8"], op=op.name, what="Resize linear")  # fmt: skip
    return True


def movement(lw: Lowerer, op: Op) -> bool:
    from .movement import lower_movement

    return lower_movement(lw, op, int8=True)


INT8_RULES = {
    "Conv": conv, "qcompiler.ConvAct": conv, "ConvTranspose": conv, "qcompiler.ConvTransposeAct": conv,
    "Gemm": gemm, "qcompiler.GemmAct": gemm, "MatMul": gemm, "qcompiler.MatMulAct": gemm,
    "Add": binary, "Sub": binary, "Mul": binary, "Div": binary, "Pow": binary, "Max": binary,
    "Min": binary,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": pool, "ReduceMean": reduce_mean,
    "Softmax": softmax, "Resize": resize, "Upsample": resize,
}  # fmt: skip
INT8_RULES["com.microsoft.Gelu"] = lambda lw, op: unary(lw, op)
INT8_RULES["qcompiler.Gelu"] = lambda lw, op: unary(lw, op)
for _t in ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "Erf", "Gelu", "Exp",
           "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Softplus", "Mish", "Elu", "Selu", "Softsign", "Sin",
           "Cos", "Floor", "Ceil", "Sign", "Round"):
    INT8_RULES[_t] = unary
for _t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Transpose", "Slice",
           "Split", "Concat", "Pad", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "DepthToSpace",
           "SpaceToDepth"):
    INT8_RULES[_t] = movement
