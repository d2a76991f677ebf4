"""float32 rules: every op the C backend supports, on float buffers (skip nodes, ops left
float by the quantizer, whole float models). Dequantized inputs are materialized on demand by
:meth:`Lowerer.f32`; a following QuantizeLinear quantizes the result."""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Op
from qcompiler.ir.qc_ops import fused_base
from qcompiler.ir.types import TensorType

from .lower import Lowerer, unsupported
from .movement import element_offsets, expand_copy, lower_movement, nd_offsets, permute_copy
from .program import ACT_CODES, View, c_float
from .shapes import (
    POOL_FIELDS,
    axes_of,
    bcast_strides,
    conv3d_geometry,
    conv3d_params,
    conv_geometry,
    conv_params,
    convtranspose3d_geometry,
    pool3d_geometry,
    pool_geometry,
    reduce_layout,
    resize_tables,
    strides_of,
)

__all__ = ["FLOAT_RULES", "softmax_layout"]

_INF = "INFINITY"


def _act_args(op: Op) -> str:
    """``lo, hi, act, alpha, beta`` of a fused activation."""
    if fused_base(op) is None:
        return f"-{_INF}, {_INF}, 0, 0.0f, 0.0f"
    a = op.attr("activation")
    al, be = float(op.attr("act_alpha", 0.0)), float(op.attr("act_beta", 0.0))
    if a == "Relu":
        return f"0.0f, {_INF}, 0, 0.0f, 0.0f"
    if a == "Clip":
        return f"{c_float(al)}, {c_float(be)}, 0, 0.0f, 0.0f"
    if a == "HardSwish":
        al, be = 1.0 / 6.0, 0.5
    return f"-{_INF}, {_INF}, {ACT_CODES[a]}, {c_float(al)}, {c_float(be)}"


def conv(lw: Lowerer, op: Op) -> None:
    base = fused_base(op) or op.op_type
    x = lw.f32(op.input(0))
    w = lw.const_of(op.input(1))
    if w is None:
        raise unsupported(op, "weights must be constant")
    w3t = len(x.shape) == 5 and base == "ConvTranspose" and len(w.shape) == 5
    # a 3-D ConvTranspose reads the weights kernel depth first ([kd][cin][cout/g][kh][kw])
    wn = lw.p.const(np.moveaxis(np.asarray(w, np.float32), 2, 0) if w3t else np.asarray(w, np.float32), "float", "w")
    b = lw.const_of(op.input(2)) if len(op.inputs) > 2 and op.input(2) is not None else None
    bn = lw.p.const(np.asarray(b, np.float32).reshape(-1), "float", "b") if b is not None else "NULL"
    if len(x.shape) == 5 and base == "Conv":
        _conv3d(lw, op, x, wn, bn)
        return
    if w3t:
        _convtranspose3d(lw, op, x, w.shape, wn, bn)
        return
    g = conv_geometry(op, x.shape, w.shape, lw.shape(op.output), transpose=base == "ConvTranspose")
    if g is None:
        raise unsupported(op, f"only 1-D, 2-D and 3-D convolutions are supported (input {list(x.shape)})")
    cp = lw.p.struct("qc_conv_params_t", conv_params(g), "cp")
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    fn = "qc_convtranspose_f32" if base == "ConvTranspose" else "qc_conv_f32"
    lw.p.add(f"{fn}({P(x)}, {wn}, {bn}, {cp}, {_act_args(op)}, {P(y)});", [x], [y], [fn], op=op.name,
             what=g["kernel"] + " float", macs=g["macs"])


def _conv3d(lw: Lowerer, op: Op, x: View, wn: str, bn: str) -> None:
    """A float Conv over NCDHW as qc_conv3d_f32 (one qc_conv_f32 per output depth slice)."""
    depth, g2 = conv3d_geometry(op, x.shape, lw.shape(op.input(1)), lw.shape(op.output))
    cp = lw.p.struct("qc_conv_params_t", conv_params(g2), "cp")
    dp = lw.p.struct("qc_conv3d_params_t", conv3d_params(depth), "dp")
    scr = lw.p.scratch(4 * (g2["cin"] * g2["h"] * g2["w"] + g2["cout"] * g2["oh"] * g2["ow"]), "conv3d planes")
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_conv3d_f32({P(x)}, {wn}, {bn}, {dp}, {cp}, {_act_args(op)}, {P(y)}, {P(scr, 'f32')});",
             [x, scr], [y, scr], ["qc_conv3d_f32", "qc_conv_f32"], op=op.name, what=g2["kernel"] + " float",
             macs=g2["macs"])


def _convtranspose3d(lw: Lowerer, op: Op, x: View, wshape, wn: str, bn: str) -> None:
    """A float ConvTranspose over NCDHW as qc_convtranspose3d_f32 (qc_convtranspose_f32 per
    output slice and kernel depth)."""
    depth, g2 = convtranspose3d_geometry(op, x.shape, wshape, lw.shape(op.output))
    cp = lw.p.struct("qc_conv_params_t", conv_params(g2), "cp")
    dp = lw.p.struct("qc_conv3d_params_t", conv3d_params(depth), "dp")
    scr = lw.p.scratch(4 * (g2["cin"] * g2["h"] * g2["w"] + 2 * g2["cout"] * g2["oh"] * g2["ow"]),
                       "convtranspose3d planes")  # fmt: skip
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_convtranspose3d_f32({P(x)}, {wn}, {bn}, {dp}, {cp}, {_act_args(op)}, {P(y)}, {P(scr, 'f32')});",
             [x, scr], [y, scr], ["qc_convtranspose3d_f32"], op=op.name, what=g2["kernel"] + " float",
             macs=g2["macs"])  # fmt: skip


def matmul(lw: Lowerer, op: Op) -> None:
    base = fused_base(op) or op.op_type
    a, b = lw.f32(op.input(0)), lw.f32(op.input(1))
    P = lw.p.ptr
    c_arg, cm, cn, alpha, beta = "NULL", 0, 0, 1.0, 0.0
    if base == "Gemm":
        ta, tb = int(op.attr("transA", 0)), int(op.attr("transB", 0))
        alpha, beta = float(op.attr("alpha", 1.0)), float(op.attr("beta", 1.0))
        m, k = (a.shape[1], a.shape[0]) if ta else a.shape
        n = b.shape[0] if tb else b.shape[1]
        am, ak = (1, m) if ta else (k, 1)
        bk, bn = (1, k) if tb else (n, 1)
        batch, abs_, bbs = 1, 0, 0
        reads = [a, b]
        if len(op.inputs) > 2 and op.input(2) is not None:
            c = lw.f32(op.input(2))
            cm, cn = bcast_strides(c.shape, [m, n])
            c_arg = P(c)
            reads.append(c)
    else:
        ash = list(a.shape) if len(a.shape) > 1 else [1] + list(a.shape)
        bsh = list(b.shape) if len(b.shape) > 1 else list(b.shape) + [1]
        ta, tb = int(op.attr("transA", 0)), int(op.attr("transB", 0))
        if op.attr("transBatchA", 0) or op.attr("transBatchB", 0):
            raise unsupported(op, "transBatchA/transBatchB are not supported")
        alpha = float(op.attr("alpha", 1.0))
        m, k = (ash[-1], ash[-2]) if ta else (ash[-2], ash[-1])
        n = bsh[-2] if tb else bsh[-1]
        am, ak = (1, m) if ta else (k, 1)
        bk, bn = (1, k) if tb else (n, 1)
        ybatch = list(np.broadcast_shapes(tuple(ash[:-2]), tuple(bsh[:-2])))
        batch = int(np.prod(ybatch, dtype=np.int64)) if ybatch else 1

        def operand(v: View, shape, size) -> tuple[View, int]:
            """The operand and its batch stride: 0 when one matrix serves every batch, else
            ``size``, after copying it out to the whole batch when it broadcasts in part."""
            pb = list(shape[:-2])
            if int(np.prod(pb, dtype=np.int64)) == 1:
                return v, 0
            if [1] * (len(ybatch) - len(pb)) + pb != ybatch:  # [2, 1, 3, 5] x [4, 5, 2]
                full = lw.p.new_view(ybatch + list(shape[-2:]), "f32", label=op.name + "_batch")
                expand_copy(lw, View(v.buf, tuple(shape), v.et, v.q, v.off), full)
                v = full
            return v, size

        a, abs_ = operand(a, ash, m * k)
        b, bbs = operand(b, bsh, k * n)
        reads = [a, b]
    y = lw.out_view(op.output, "f32")
    lw.p.add(f"qc_matmul_f32({P(a)}, {P(b)}, {P(y)}, {batch}, {m}, {k}, {n}, {abs_}, {am}, {ak}, {bbs}, "
             f"{bk}, {bn}, {c_float(alpha)}, {c_arg}, {cm}, {cn}, {c_float(beta)}, {_act_args(op)});",
             reads, [y], ["qc_matmul_f32"], op=op.name, what=f"{base} float",
             macs=batch * m * n * k)  # fmt: skip


_BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Pow": 4, "Max": 5, "Min": 6, "PRelu": 7, "Sum": 0,
           "Mean": 0, "Equal": 8, "Less": 10, "LessOrEqual": 11, "Greater": 12, "GreaterOrEqual": 13,
           "And": 14, "Or": 15, "Xor": 16, "Mod": 17}  # fmt: skip


def _binary_step(lw: Lowerer, op: Op, code: int, a: View, b: View, y: View) -> None:
    dims = list(y.shape) or [1]
    d, s1, s2 = (lw.p.const(t, "int32_t", "i") for t in (dims, bcast_strides(a.shape, dims),
                                                          bcast_strides(b.shape, dims)))
    P = lw.p.ptr
    cands = [(v, y) for v in (a, b) if tuple(v.shape) == tuple(y.shape) and v.buf.kind == "arena"]
    lw.p.add(f"qc_binary_f32({code}, {P(a)}, {P(b)}, {P(y)}, {len(dims)}, {d}, {s1}, {s2});", [a, b], [y],
             ["qc_binary_f32"], op=op.name, what=op.op_type, inplace=cands or None)


def binary(lw: Lowerer, op: Op) -> None:
    ins = [v for v in op.inputs if v is not None]
    code = _BINARY[op.op_type]
    if op.op_type == "Mod" and op.attr("fmod", 0) == 0:
        raise unsupported(op, "integer Mod (fmod=0) is not supported; fmod=1 is")
    y = lw.out_view(op.output, "f32")
    if len(ins) == 1:
        lw.copy(lw.f32(ins[0]), y, op.op_type)
        return
    views = [lw.f32(v) for v in ins]
    _binary_step(lw, op, code, views[0], views[1], y)
    for v in views[2:]:  # variadic Sum / Mean / Max / Min
        _binary_step(lw, op, code, y, v, y)
    if op.op_type == "Mean":
        k = lw.p.const([1.0 / len(views)], "float", "f")
        _binary_step(lw, op, 2, y, View(lw.p.new_buf("const", 4, label=k), (), "f32"), y)


_UNARY = {"Relu": 0, "Sigmoid": 1, "Tanh": 2, "Exp": 3, "Log": 4, "Sqrt": 5, "Neg": 6, "Abs": 7, "Erf": 8,
          "LeakyRelu": 9, "HardSigmoid": 10, "HardSwish": 11, "Clip": 12, "Gelu": 13, "Mish": 15,
          "Silu": 16, "Reciprocal": 17, "Softplus": 18, "Floor": 19, "Ceil": 20, "Identity": 21,
          "Elu": 22, "Selu": 23, "Sin": 24, "Cos": 25, "Round": 26, "Sign": 27, "Not": 28, "Softsign": 30,
          "ThresholdedRelu": 31, "Celu": 32, "Tan": 33, "Asin": 34, "Acos": 35, "Atan": 36, "Sinh": 37,
          "Cosh": 38, "Asinh": 39, "Acosh": 40, "Atanh": 41, "Shrink": 42, "IsNaN": 43, "IsInf": 44}  # fmt: skip


def unary(lw: Lowerer, op: Op) -> None:
    t = op.op_type
    code = _UNARY[t]
    alpha, beta = 0.0, 0.0
    if t == "LeakyRelu":
        alpha = float(op.attr("alpha", 0.01))
    elif t == "HardSigmoid":
        alpha, beta = float(op.attr("alpha", 0.2)), float(op.attr("beta", 0.5))
    elif t in ("Elu", "ThresholdedRelu", "Celu"):
        alpha = float(op.attr("alpha", 1.0))
    elif t == "Selu":
        alpha = float(op.attr("alpha", 1.67326319217681884765625))
        beta = float(op.attr("gamma", 1.05070102214813232421875))
    elif t == "Shrink":
        alpha, beta = float(op.attr("lambd", 0.5)), float(op.attr("bias", 0.0))
    elif t == "IsInf":  # the output is boolean: 1.0f / 0.0f, as Equal's
        alpha, beta = float(op.attr("detect_positive", 1)), float(op.attr("detect_negative", 1))
    elif t == "Gelu" and op.attr("approximate", "none") == "tanh":
        code = 14
    elif t == "Clip":
        lo, hi = op.attr("min", -np.inf), op.attr("max", np.inf)
        for i in (1, 2):
            if len(op.inputs) > i and op.input(i) is not None:
                c = lw.const_of(op.input(i))
                if c is None:
                    raise unsupported(op, "Clip bounds must be constants")
                if i == 1:
                    lo = float(c.reshape(-1)[0])
                else:
                    hi = float(c.reshape(-1)[0])
        alpha, beta = float(lo), float(hi)
    x = lw.f32(op.input(0))
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_unary_f32({code}, {P(x)}, {P(y)}, {x.size}, {c_float(alpha)}, {c_float(beta)});", [x], [y],
             ["qc_unary_f32"], op=op.name, what=t, inplace=(x, y))


def pool(lw: Lowerer, op: Op) -> None:
    if len(op.outputs) > 1 and op.outputs[1].has_uses():
        raise unsupported(op, "MaxPool indices are not supported")
    x = lw.f32(op.input(0))
    y = lw.out_view(op.outputs[0], "f32")
    P = lw.p.ptr
    if op.op_type in ("GlobalAveragePool", "GlobalMaxPool"):
        nc, r = x.shape[0] * x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64))
        code = 0 if op.op_type == "GlobalAveragePool" else 2
        lw.p.add(f"qc_reduce_f32({code}, {P(x)}, {P(y)}, {nc}, {r}, 1);", [x], [y], ["qc_reduce_f32"],
                 op=op.name, what=op.op_type)
        return
    fn = "qc_maxpool_f32" if op.op_type == "MaxPool" else "qc_avgpool_f32"
    geo = pool3d_geometry(op, x.shape, lw.shape(op.outputs[0]))
    if geo is not None:  # H and W into a temporary, then D (both pools are separable)
        hw, d = geo
        t = lw.p.new_view((hw["n"], hw["c"], hw["oh"], hw["ow"]), "f32", label=f"{op.op_type} 3-D hw")
        for src, dst, g, what in ((x, t, hw, "H, W"), (t, y, d, "D")):
            pp = lw.p.struct("qc_pool_params_t", ", ".join(f".{k} = {g[k]}" for k in POOL_FIELDS), "pp")
            lw.p.add(f"{fn}({P(src)}, {P(dst)}, {pp});", [src], [dst], [fn], op=op.name,
                     what=f"{op.op_type} 3-D ({what})")
        return
    g = pool_geometry(op, x.shape, lw.shape(op.outputs[0]))
    if g is None:
        raise unsupported(op, "only 1-D, 2-D and 3-D pooling is supported")
    body = ", ".join(f".{k} = {g[k]}" for k in POOL_FIELDS)
    pp = lw.p.struct("qc_pool_params_t", body, "pp")
    lw.p.add(f"{fn}({P(x)}, {P(y)}, {pp});", [x], [y], [fn], op=op.name, what=op.op_type)


def softmax_layout(lw: Lowerer, op: Op, shape) -> tuple[int, int] | None:
    rank = len(shape)
    opset = lw.g.opset() or 13
    if opset < 13:
        axis = int(op.attr("axis", 1)) % rank
        return int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))
    axis = int(op.attr("axis", -1)) % rank
    if axis != rank - 1:
        return None
    return int(np.prod(shape[:-1], dtype=np.int64)), int(shape[-1])


def softmax(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    layout = softmax_layout(lw, op, x.shape)
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    if layout is None:  # an inner axis: move it last, normalize, move it back
        axis = int(op.attr("axis", -1)) % len(x.shape)
        perm = [d for d in range(len(x.shape)) if d != axis] + [axis]
        tmp = lw.p.new_view([x.shape[d] for d in perm], "f32", label=op.name + "_t")
        permute_copy(lw, x, perm, tmp, op.name)
        lw.p.add(f"qc_softmax_f32({P(tmp)}, {P(tmp)}, {tmp.size // x.shape[axis]}, {x.shape[axis]}, "
                 f"{int(op.op_type == 'LogSoftmax')});", [tmp], [tmp], ["qc_softmax_f32"], op=op.name,
                 what=op.op_type)  # fmt: skip
        permute_copy(lw, tmp, [perm.index(d) for d in range(len(perm))], y, op.name)
        return
    lw.p.add(f"qc_softmax_f32({P(x)}, {P(y)}, {layout[0]}, {layout[1]}, {int(op.op_type == 'LogSoftmax')});",
             [x], [y], ["qc_softmax_f32"], op=op.name, what=op.op_type)


_REDUCE = {"ReduceMean": 0, "ReduceSum": 1, "ReduceMax": 2, "ReduceMin": 3, "ReduceProd": 4,
           "ReduceSumSquare": 5, "ReduceL2": 6, "ReduceL1": 9, "ReduceLogSumExp": 10}  # fmt: skip


def argext(lw: Lowerer, op: Op) -> None:
    """ArgMax / ArgMin: the index (the first, or the last with select_last_index) as a float
    (the runner's outputs are float32)."""
    x = lw.f32(op.input(0))
    axis = int(op.attr("axis", 0)) % len(x.shape)
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    # QC_R_ARGMAX / _ARGMIN (7, 8); with select_last_index their _LAST forms (11, 12)
    code = (7 if op.op_type == "ArgMax" else 8) + (4 if op.attr("select_last_index", 0) else 0)
    lw.p.add(f"qc_reduce_f32({code}, {P(x)}, {P(y)}, {outer}, {x.shape[axis]}, {inner});", [x], [y],
             ["qc_reduce_f32"], op=op.name, what=op.op_type)


def _axis_layout(shape, axis: int) -> tuple[int, int, int, int]:
    """(axis, outer, r, inner) of a tensor viewed as [outer][r][inner] around ``axis``."""
    shape = list(shape) or [1]
    axis %= len(shape)
    return (axis, int(np.prod(shape[:axis], dtype=np.int64)), int(shape[axis]),
            int(np.prod(shape[axis + 1:], dtype=np.int64)))  # fmt: skip


def hardmax(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    shape = list(x.shape) or [1]
    if (lw.g.opset() or 13) < 13:  # the input coerced to 2-D at axis (default 1)
        axis = int(op.attr("axis", 1)) % len(shape)
        outer, r, inner = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64)), 1
    else:
        _, outer, r, inner = _axis_layout(shape, int(op.attr("axis", -1)))
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_hardmax_f32({P(x)}, {P(y)}, {outer}, {r}, {inner});", [x], [y], ["qc_hardmax_f32"], op=op.name,
             what="Hardmax", inplace=(x, y))


def _const_int(lw: Lowerer, op: Op, i: int, what: str) -> int | None:
    """The integer held by constant input ``i`` (None when it is absent); a runtime value is a
    one-line error."""
    v = op.input(i) if len(op.inputs) > i else None
    if v is None:
        return None
    c = lw.const_of(v)
    if c is None:
        raise unsupported(op, f"{what} must be a constant")
    return int(np.asarray(c).reshape(-1)[0])


def cumsum(lw: Lowerer, op: Op) -> None:
    axis = _const_int(lw, op, 1, "the axis")
    if axis is None:
        raise unsupported(op, "the axis input is missing")
    x = lw.f32(op.input(0))
    _, outer, r, inner = _axis_layout(x.shape, axis)
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_cumsum_f32({P(x)}, {P(y)}, {outer}, {r}, {inner}, {int(op.attr('exclusive', 0))}, "
             f"{int(op.attr('reverse', 0))});", [x], [y], ["qc_cumsum_f32"], op=op.name, what="CumSum",
             inplace=(x, y))  # fmt: skip


def topk(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))  # sorted=0 allows any order: the sorted one serves too
    k = _const_int(lw, op, 1, "K")
    if k is None:  # before opset 10: an attribute
        k = int(op.attr("k"))
    _, outer, r, inner = _axis_layout(x.shape, int(op.attr("axis", -1)))
    if not 0 < k <= r:
        raise unsupported(op, f"K={k} is outside [1, {r}]")
    vals = lw.out_view(op.outputs[0], "f32") if op.outputs[0].has_uses() else None
    if vals is None:  # the values are the kernel's working rows: a buffer even when unused
        vals = lw.p.new_view((outer, k, inner), "f32", label=op.name + "_values")
    idx = lw.out_view(op.outputs[1], "f32") if len(op.outputs) > 1 and op.outputs[1].has_uses() else None
    P = lw.p.ptr
    lw.p.add(f"qc_topk_f32({P(x)}, {P(vals)}, {P(idx) if idx is not None else 'NULL'}, {outer}, {r}, {inner}, "
             f"{k}, {int(op.attr('largest', 1))});", [x], [vals] + ([idx] if idx is not None else []),
             ["qc_topk_f32"], op=op.name, what="TopK")  # fmt: skip


def _text_attr(op: Op, name: str, default: str) -> str:
    v = op.attr(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


_SCATTER = {"none": 0, "add": 1, "mul": 2, "max": 3, "min": 4}  # QC_SC_*


def scatter(lw: Lowerer, op: Op) -> None:
    """ScatterND / ScatterElements with constant indices (data and updates may be runtime
    tensors): qc_scatter_f32 copies data and stores or combines each update row at the offset
    the indices give."""
    idx = lw.const_of(op.input(1))
    if idx is None:
        raise unsupported(op, f"{op.op_type} needs constant indices")
    red = _text_attr(op, "reduction", "none")
    if red not in _SCATTER:
        raise unsupported(op, f"reduction '{red}' is not supported")
    data, upd = lw.f32(op.input(0)), lw.f32(op.input(2))
    if op.op_type == "ScatterElements":
        offs, inner = element_offsets(op, idx, data.shape), 1
    else:
        offs, inner = nd_offsets(op, idx, data.shape)
    if offs.size * inner != upd.size:
        raise unsupported(op, f"updates {list(upd.shape)} do not match indices {list(np.shape(idx))}")
    y = lw.out_view(op.output, "f32")
    name = lw.p.const(offs, "int32_t", "i")
    P = lw.p.ptr
    lw.p.add(f"qc_scatter_f32({P(data)}, {P(upd)}, {P(y)}, {y.size}, {name}, {offs.size}, {inner}, {_SCATTER[red]});",
             [data, upd], [y], ["qc_scatter_f32"], op=op.name, what=f"{op.op_type} {red}", inplace=(data, y))


def trilu(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    if len(x.shape) < 2:
        raise unsupported(op, f"the input must have at least 2 dimensions (got {list(x.shape)})")
    k = _const_int(lw, op, 1, "k") or 0
    rows, cols = x.shape[-2:]
    k = max(-(rows + cols), min(rows + cols, k))  # beyond the matrix: all kept or all zero
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_trilu_f32({P(x)}, {P(y)}, {x.size // max(rows * cols, 1)}, {rows}, {cols}, {k}, "
             f"{int(op.attr('upper', 1))});", [x], [y], ["qc_trilu_f32"], op=op.name, what="Trilu",
             inplace=(x, y))  # fmt: skip


_GS_MODES = {"bilinear": 0, "linear": 0, "nearest": 1, "bicubic": 2, "cubic": 2}  # opset 16 and 20 names
_GS_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


def gridsample(lw: Lowerer, op: Op) -> None:
    x, grid = lw.f32(op.input(0)), lw.f32(op.input(1))
    if len(x.shape) != 4:
        raise unsupported(op, f"only 4-D inputs are supported (got {list(x.shape)})")
    mode, padding = _text_attr(op, "mode", "linear"), _text_attr(op, "padding_mode", "zeros")
    if mode not in _GS_MODES or padding not in _GS_PADDING:
        raise unsupported(op, f"mode '{mode}' with padding_mode '{padding}' is not supported")
    n, c, h, w = x.shape
    if len(grid.shape) != 4 or grid.shape[0] != n or grid.shape[3] != 2:
        raise unsupported(op, f"grid {list(grid.shape)} does not fit input {list(x.shape)}")
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_gridsample_f32({P(x)}, {P(grid)}, {P(y)}, {n}, {c}, {h}, {w}, {grid.shape[1]}, {grid.shape[2]}, "
             f"{_GS_MODES[mode]}, {_GS_PADDING[padding]}, {int(op.attr('align_corners', 0))});", [x, grid], [y],
             ["qc_gridsample_f32"], op=op.name, what=f"GridSample {mode} {padding}")  # fmt: skip


def _einsum_terms(op: Op, ranks: list[int]) -> tuple[list[str], str]:
    """The operands' letters and the output's, with any ellipsis spelled out as upper-case
    letters not in the equation (right-aligned, the longest operand's), and an implicit output
    written out (the letters seen once, in alphabetical order, after the ellipsis')."""
    eq = str(op.attr("equation", "")).replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks) or eq.count("->") > 1:
        raise unsupported(op, f"equation '{eq}' does not match its {len(ranks)} operands")
    spare = [ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch not in eq]
    ell = max((r - (len(t) - 3) for t, r in zip(terms, ranks) if "..." in t), default=0)
    if len(spare) < ell:
        raise unsupported(op, f"equation '{eq}' has too many letters")
    dots = "".join(spare[:ell])
    terms = [t.replace("...", dots[ell - (r - (len(t) - 3)):]) if "..." in t else t for t, r in zip(terms, ranks)]
    if arrow:
        out = out.replace("...", dots)
    else:
        once = sorted(ch for ch in set("".join(terms)) if "".join(terms).count(ch) == 1 and ch not in dots)
        out = dots + "".join(once)
    if any(not t.isalpha() or len(t) != r for t, r in zip(terms, ranks)) or not (out.isalpha() or out == ""):
        raise unsupported(op, f"equation '{eq}' is not supported")
    return terms, out


def einsum(lw: Lowerer, op: Op) -> None:
    """Einsum that the frontend did not turn into MatMul: one float kernel over the letters."""
    xs = [lw.f32(v) for v in op.inputs]
    if not 1 <= len(xs) <= 3:
        raise unsupported(op, "Einsum of more than three operands is not supported")
    terms, out = _einsum_terms(op, [len(x.shape) for x in xs])
    letters = list(out) + sorted({ch for t in terms for ch in t} - set(out))
    if len(letters) > 52:
        raise unsupported(op, "Einsum over more than 52 letters is not supported")
    dims = {}
    for t, x in zip(terms, xs):
        for ch, d in zip(t, x.shape):
            if d != 1:
                if dims.setdefault(ch, d) != d:
                    raise unsupported(op, f"letter '{ch}' has sizes {dims[ch]} and {d}")
    if any(ch not in "".join(terms) for ch in out):
        raise unsupported(op, f"output letters '{out}' not in the operands")
    sizes = [dims.get(ch, 1) for ch in letters]
    strides = []
    for t, x in zip(terms, xs):
        st, row = strides_of(x.shape), [0] * len(letters)
        for ch, d, s in zip(t, x.shape, st):
            if d != 1:  # size 1: broadcast (stride 0)
                row[letters.index(ch)] += s
        strides += row
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    args = [P(x) for x in xs] + ["NULL"] * (3 - len(xs))
    lw.p.add(f"qc_einsum_f32({', '.join(args)}, {P(y)}, {len(letters)}, {len(out)}, "
             f"{lw.p.const(sizes, 'int32_t', 'ed')}, {lw.p.const(strides, 'int32_t', 'es')});", xs, [y],
             ["qc_einsum_f32"], op=op.name, what=f"Einsum {op.attr('equation', '')}")  # fmt: skip


def where(lw: Lowerer, op: Op) -> None:
    c, a, b = (lw.f32(op.input(i)) for i in range(3))
    y = lw.out_view(op.output, "f32")
    dims = list(y.shape) or [1]
    d, s0, s1, s2 = (lw.p.const(t, "int32_t", "i") for t in (dims, bcast_strides(c.shape, dims),
                                                              bcast_strides(a.shape, dims), bcast_strides(b.shape, dims)))
    P = lw.p.ptr
    lw.p.add(f"qc_where_f32({P(c)}, {P(a)}, {P(b)}, {P(y)}, {len(dims)}, {d}, {s0}, {s1}, {s2});", [c, a, b], [y],
             ["qc_where_f32"], op=op.name, what="Where")


def reduce(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    layout = reduce_layout(lw, op, x.shape)
    if layout is None:
        # constant axes apart (ReduceMean over [1, 3]): the kept axes first, in order, then
        # the reduced ones, copied once; the reduction is then over the trailing run
        axes = axes_of(lw, op, len(x.shape))
        if not axes:  # runtime axes, or none with noop_with_empty_axes
            raise unsupported(op, "only reductions over constant axes are supported")
        keep = [a for a in range(len(x.shape)) if a not in axes]
        perm = keep + axes
        xt = lw.p.new_view([x.shape[a] for a in perm], "f32", label=op.name + "_axes_last")
        permute_copy(lw, x, perm, xt, op.name)
        x = xt
        kept, summed = x.shape[: len(keep)], x.shape[len(keep) :]
        layout = (int(np.prod(kept, dtype=np.int64)), int(np.prod(summed, dtype=np.int64)), 1)
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_reduce_f32({_REDUCE[op.op_type]}, {P(x)}, {P(y)}, {layout[0]}, {layout[1]}, {layout[2]});",
             [x], [y], ["qc_reduce_f32"], op=op.name, what=op.op_type)


def _affine(lw: Lowerer, op: Op, x: View, y: View, scale, bias, axis: int = 1) -> None:
    """y = x * scale[c] + bias[c] along ``axis`` (in place on y after the first step)."""
    P = lw.p.ptr
    shp = [1] * len(x.shape)
    shp[axis] = x.shape[axis]
    dims = list(x.shape)
    d = lw.p.const(dims, "int32_t", "i")
    sx = lw.p.const(bcast_strides(x.shape, dims), "int32_t", "i")
    sc = lw.p.const(bcast_strides(shp, dims), "int32_t", "i")
    cur = x
    for code, vec in ((2, scale), (0, bias)):
        if vec is None:
            continue
        name = lw.p.const(np.broadcast_to(np.asarray(vec, np.float32).reshape(-1), (x.shape[axis],)), "float", "f")
        cb = lw.p.new_buf("const", x.shape[axis] * 4, label=name)
        lw.p.add(f"qc_binary_f32({code}, {P(cur)}, {P(cb, 'f32')}, {P(y)}, {len(dims)}, {d}, {sx}, {sc});",
                 [cur, cb], [y], ["qc_binary_f32"], op=op.name, what=op.op_type + " affine",
                 inplace=(cur, y) if cur is x and x.buf.kind == "arena" else None)
        cur = y
    if cur is x:
        lw.copy(x, y, op.op_type)


def batchnorm(lw: Lowerer, op: Op) -> None:
    if len(op.outputs) > 1 and any(o.has_uses() for o in op.outputs[1:]):
        raise unsupported(op, "training-mode BatchNormalization is not supported")
    x = lw.f32(op.input(0))
    gamma, beta, mean, var = (lw.const_of(op.input(i)) for i in range(1, 5))
    if any(t is None for t in (gamma, beta, mean, var)):
        raise unsupported(op, "BatchNormalization parameters must be constants")
    eps = np.float32(op.attr("epsilon", 1e-5))
    s = (gamma.astype(np.float32) / np.sqrt(var.astype(np.float32) + eps)).astype(np.float32)
    t = (beta.astype(np.float32) - mean.astype(np.float32) * s).astype(np.float32)
    y = lw.out_view(op.outputs[0], "f32")
    _affine(lw, op, x, y, s, t)


def layernorm(lw: Lowerer, op: Op) -> None:
    if len(op.outputs) > 1 and any(o.has_uses() for o in op.outputs[1:]):
        raise unsupported(op, "LayerNormalization's Mean/InvStdDev outputs are not supported")
    # int8 in and out (a quantized transformer's LayerNorm between Q/DQ): one kernel that
    # dequantizes where it reads and quantizes where it writes, no float tensors in the arena
    xq, oq = lw.qin(op.input(0)), lw.out_q(op)
    x = xq if xq is not None and oq is not None else lw.f32(op.input(0))
    rank = len(x.shape)
    axis = int(op.attr("axis", -1)) % rank
    rows, n = int(np.prod(x.shape[:axis], dtype=np.int64)), int(np.prod(x.shape[axis:], dtype=np.int64))
    names = []
    for i in (1, 2):
        if len(op.inputs) > i and op.input(i) is not None:
            c = lw.const_of(op.input(i))
            if c is None:
                raise unsupported(op, "scale and bias must be constants")
            names.append(lw.p.const(np.broadcast_to(c.astype(np.float32), x.shape[axis:]).reshape(-1), "float", "f"))
        else:
            names.append("NULL")
    P = lw.p.ptr
    eps = c_float(float(op.attr("epsilon", 1e-5)))
    if x.et == "s8":
        qop, q = oq
        y = lw.emit_q_output(qop, q)
        lw.p.add(f"qc_layernorm_s8({P(x)}, {names[0]}, {names[1]}, {P(y)}, {rows}, {n}, {eps}, "
                 f"{c_float(x.q.scale)}, {x.q.zp}, {c_float(q.scale)}, {q.zp}, {q.qmin}, {q.qmax});", [x], [y],
                 ["qc_layernorm_s8"], op=op.name, what="LayerNormalization int8")  # fmt: skip
        return
    y = lw.out_view(op.outputs[0], "f32")
    lw.p.add(f"qc_layernorm_f32({P(x)}, {names[0]}, {names[1]}, {P(y)}, {rows}, {n}, "
             f"{eps});", [x], [y], ["qc_layernorm_f32"], op=op.name,
             what="LayerNormalization")  # fmt: skip


def groupnorm(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    n, c = x.shape[:2]
    groups = c if op.op_type == "InstanceNormalization" else int(op.attr("num_groups"))
    hw = int(np.prod(x.shape[2:], dtype=np.int64))
    scale, bias = lw.const_of(op.input(1)), lw.const_of(op.input(2))
    if scale is None or bias is None:
        raise unsupported(op, "scale and bias must be constants")
    if scale.size == groups and groups != c:  # opset-18 GroupNormalization: per group
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_layernorm_f32({P(x)}, NULL, NULL, {P(y)}, {n * groups}, {c // groups * hw}, "
             f"{c_float(float(op.attr('epsilon', 1e-5)))});", [x], [y], ["qc_layernorm_f32"], op=op.name,
             what=op.op_type)  # fmt: skip
    _affine(lw, op, y, y, scale, bias)


_RNN_MODES = {"LSTM": 0, "GRU": 1, "RNN": 2}
_RNN_DEFAULT_ACTS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}


def rnn(lw: Lowerer, op: Op) -> None:
    """LSTM, GRU and RNN as qc_rnn_f32 (constant weights; default activations)."""
    t = op.op_type
    ndir = 2 if op.attr("direction", "forward") == "bidirectional" else 1
    acts = op.attr("activations", None)
    if acts is not None:
        acts = [a.decode() if isinstance(a, bytes) else str(a) for a in acts]
        if [a.lower() for a in acts] != [a.lower() for a in _RNN_DEFAULT_ACTS[t] * ndir]:
            raise unsupported(op, f"only the default activations are supported (got {acts})")
    x = lw.f32(op.input(0))
    if len(x.shape) != 3:
        raise unsupported(op, f"input must be 3-D (got {list(x.shape)})")
    layout = int(op.attr("layout", 0))
    if layout:
        raise unsupported(op, "layout=1 (batch first) is not supported (onnxruntime refuses it too)")
    seq, batch, isz = (x.shape[1], x.shape[0], x.shape[2]) if layout else tuple(x.shape)
    hidden = int(op.attr("hidden_size"))
    g = {"LSTM": 4, "GRU": 3, "RNN": 1}[t]

    def inp(i):
        return op.input(i) if len(op.inputs) > i and op.input(i) is not None else None

    consts = {}
    for i, name in ((1, "W"), (2, "R"), (3, "B")):
        v = inp(i)
        c = lw.const_of(v) if v is not None else None
        if v is not None and c is None:
            raise unsupported(op, f"{name} must be a constant")
        consts[name] = c
    w, r, b = consts["W"], consts["R"], consts["B"]
    if w.shape != (ndir, g * hidden, isz) or r.shape != (ndir, g * hidden, hidden):
        raise unsupported(op, f"W {list(w.shape)} / R {list(r.shape)} do not match hidden_size {hidden}")
    P = lw.p.ptr
    wn, rn = (lw.p.const(a.astype(np.float32).reshape(-1), "float", "w") for a in (w, r))
    bn = lw.p.const(b.astype(np.float32).reshape(-1), "float", "b") if b is not None else "NULL"
    lens = inp(4)
    if lens is not None:
        lc = lw.const_of(lens)
        if lc is None:
            raise unsupported(op, "sequence_lens must be a constant")
        if np.any(lc < 0) or np.any(lc > seq):
            raise unsupported(op, f"sequence_lens {lc.tolist()} outside [0, {seq}]")
        lens_arg = lw.p.const(lc.astype(np.int32).reshape(-1), "int32_t", "i")
    else:
        lens_arg = "NULL"
    reads = [x]
    states = []
    for i in ((5, 6) if t == "LSTM" else (5,)):
        v = inp(i)
        if v is None:
            states.append("NULL")
            continue
        sv = lw.f32(v)
        reads.append(sv)
        states.append(P(sv))
    if t != "LSTM":
        states.append("NULL")
    peep = inp(7) if t == "LSTM" else None
    pc = lw.const_of(peep) if peep is not None else None
    if peep is not None and pc is None:
        raise unsupported(op, "P (peepholes) must be a constant")
    pn = lw.p.const(pc.astype(np.float32).reshape(-1), "float", "p") if pc is not None else "NULL"
    clip = float(op.attr("clip", 0.0) or 0.0)
    body = (f".mode = {_RNN_MODES[t]}, .seq = {seq}, .batch = {batch}, .input = {isz}, .hidden = {hidden}, "
            f".num_dir = {ndir}, .direction = {dict(forward=0, reverse=1, bidirectional=2)[op.attr('direction', 'forward')]}, "
            f".layout = {layout}, .linear_before_reset = {int(op.attr('linear_before_reset', 0))}, "
            f".input_forget = {int(op.attr('input_forget', 0))}, .clip = {c_float(clip)}")  # fmt: skip
    rp = lw.p.struct("qc_rnn_params_t", body, "rnn")
    outs = []
    for k in range(3 if t == "LSTM" else 2):
        v = op.outputs[k] if len(op.outputs) > k else None
        if v is None or not v.has_uses():
            outs.append(None)
            continue
        outs.append(lw.out_view(v, "f32"))
    if t != "LSTM":
        outs.append(None)
    nscr = 2 * batch * g * hidden + 2 * batch * hidden + hidden
    scr = lw.p.scratch(4 * nscr, "rnn state")
    args = ", ".join(P(o) if o is not None else "NULL" for o in outs)
    lw.p.add(f"qc_rnn_f32({P(x)}, {wn}, {rn}, {bn}, {pn}, {lens_arg}, {states[0]}, {states[1]}, {rp}, {args}, "
             f"{P(scr, 'f32')});", reads + [scr], [o for o in outs if o is not None] + [scr], ["qc_rnn_f32"],
             op=op.name, what=t, macs=seq * batch * ndir * g * hidden * (isz + hidden))  # fmt: skip


def lpnorm(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    p = int(op.attr("p", 2))
    if p not in (1, 2):
        raise unsupported(op, f"p must be 1 or 2 (got {p})")
    shape = list(x.shape) or [1]
    axis = int(op.attr("axis", -1)) % len(shape)
    outer, inner = int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + 1:], dtype=np.int64))
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    lw.p.add(f"qc_lpnorm_f32({P(x)}, {P(y)}, {outer}, {shape[axis]}, {inner}, {p});", [x], [y], ["qc_lpnorm_f32"],
             op=op.name, what="LpNormalization")


def lrn(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    if len(x.shape) < 3:
        raise unsupported(op, f"LRN needs an [N, C, ...] input (got {list(x.shape)})")
    y = lw.out_view(op.output, "f32")
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    args = ", ".join(c_float(float(op.attr(k, d))) for k, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    P = lw.p.ptr
    lw.p.add(f"qc_lrn_f32({P(x)}, {P(y)}, {x.shape[0]}, {x.shape[1]}, {inner}, {int(op.attr('size'))}, {args});",
             [x], [y], ["qc_lrn_f32"], op=op.name, what="LRN")


def resize(lw: Lowerer, op: Op) -> None:
    x = lw.f32(op.input(0))
    yshape = lw.shape(op.output)
    t = resize_tables(lw, op, x.shape, yshape)
    if t is None:
        raise unsupported(op, "only nearest/linear/cubic resizing of the two last axes is supported")
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    nc, h, w, oh, ow = x.shape[0] * x.shape[1], x.shape[2], x.shape[3], yshape[2], yshape[3]
    if t["mode"] == "cubic":
        names = [lw.p.const(t[k], "float" if k.endswith("w") else "int32_t", "r") for k in ("hci", "hcw", "wci", "wcw")]
        lw.p.add(f"qc_resize_cubic_f32({P(x)}, {P(y)}, {nc}, {h}, {w}, {oh}, {ow}, {', '.join(names)});", [x], [y],
                 ["qc_resize_cubic_f32"], op=op.name, what="Resize cubic")
        return
    if t["mode"] == "nearest":
        hi, wi = lw.p.const(t["hi"], "int32_t", "i"), lw.p.const(t["wi"], "int32_t", "i")
        lw.p.add(f"qc_resize_nearest_f32({P(x)}, {P(y)}, {nc}, {h}, {w}, {oh}, {ow}, {hi}, {wi});", [x], [y],
                 ["qc_resize_nearest_f32"], op=op.name, what="Resize nearest")
        return
    names = [lw.p.const(t[k], "float" if k in ("hf", "wf") else "int32_t", "r")
             for k in ("h0", "h1", "hf", "w0", "w1", "wf")]  # fmt: skip
    lw.p.add(f"qc_resize_linear_f32({P(x)}, {P(y)}, {nc}, {h}, {w}, {oh}, {ow}, {', '.join(names)});", [x], [y],
             ["qc_resize_linear_f32"], op=op.name, what="Resize linear")


def movement(lw: Lowerer, op: Op) -> None:
    if not lower_movement(lw, op, int8=False):
        raise unsupported(op, "all inputs are constants (run the fold-constants pass)")


_FLOATS = (1, 10, 11, 16)  # float, float16, double, bfloat16: all held as float32
_INTS = (2, 3, 4, 5, 6, 7, 12, 13)


def cast(lw: Lowerer, op: Op) -> None:
    """Every tensor of the C program is float32 or int8: a cast to a float type is a view, to an
    integer type truncates toward zero (unless the input already holds integers), to bool
    compares with zero."""
    to = int(op.attr("to"))
    x = lw.f32(op.input(0))
    src = op.input(0).type.dtype if isinstance(op.input(0).type, TensorType) else None
    src_float = src is None or src.is_float
    if to in _FLOATS or (to in _INTS and not src_float):
        lw.define(op.output, x.reshaped(lw.shape(op.output)))
        return
    y = lw.out_view(op.output, "f32")
    P = lw.p.ptr
    if to in _INTS:
        lw.p.add(f"qc_unary_f32(29, {P(x)}, {P(y)}, {x.size}, 0.0f, 0.0f);", [x], [y], ["qc_unary_f32"],
                 op=op.name, what="Cast (truncate)", inplace=(x, y))
        return
    if to == 9:
        zero = lw.p.const([0.0], "float", "f")
        _binary_step(lw, op, 9, x, View(lw.p.new_buf("const", 4, label=zero), (), "f32"), y)
        return
    raise unsupported(op, f"Cast to type {to} is not supported")


def constant(lw: Lowerer, op: Op) -> None:
    v = op.attr("value", None)
    if v is None:
        raise unsupported(op, "only tensor constants are supported")
    lw.define(op.output, np.asarray(v))


FLOAT_RULES = {
    "Conv": conv, "qcompiler.ConvAct": conv, "ConvTranspose": conv, "qcompiler.ConvTransposeAct": conv,
    "Gemm": matmul, "qcompiler.GemmAct": matmul, "MatMul": matmul, "qcompiler.MatMulAct": matmul,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": pool, "GlobalMaxPool": pool,
    "Softmax": softmax, "LogSoftmax": softmax, "BatchNormalization": batchnorm,
    "LayerNormalization": layernorm, "InstanceNormalization": groupnorm, "GroupNormalization": groupnorm,
    "Resize": resize, "Upsample": resize, "Cast": cast, "Constant": constant,
    "com.microsoft.FusedMatMul": matmul, "com.microsoft.Gelu": unary, "qcompiler.Gelu": unary,
    "ArgMax": argext, "ArgMin": argext, "Where": where, "LRN": lrn,
    "LSTM": rnn, "GRU": rnn, "RNN": rnn, "LpNormalization": lpnorm, "CumSum": cumsum, "TopK": topk,
    "Einsum": einsum,
    "ScatterND": scatter, "ScatterElements": scatter, "Trilu": trilu,
    "GridSample": gridsample, "Hardmax": hardmax,
}  # fmt: skip
for _t in _BINARY:
    FLOAT_RULES[_t] = binary
for _t in _UNARY:
    FLOAT_RULES.setdefault(_t, unary)
FLOAT_RULES["Identity"] = movement
for _t in _REDUCE:
    FLOAT_RULES[_t] = reduce
for _t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Transpose", "Slice", "Split",
           "Concat", "Pad", "Gather", "GatherElements", "GatherND", "Expand", "Tile", "DepthToSpace",
           "SpaceToDepth"):
    FLOAT_RULES[_t] = movement
