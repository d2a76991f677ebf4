"""Data-movement ops, for int8 and float tensors alike: views without a copy
(Reshape/Flatten/Squeeze/Unsqueeze/Identity/Dropout), and strided copies (Transpose, Slice,
Split, Concat, Pad, Expand, Tile, DepthToSpace, SpaceToDepth) or a gather (Gather, GatherElements
and GatherND with constant indices). In the int8 form a piece whose input has other quantization
parameters than the output is requantized while it is copied."""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Op

from .fixedpoint import quantize_multiplier
from .lower import Deq, Lowerer, QConst, unsupported
from .program import CTYPES, View
from .shapes import axes_of, bcast_strides, strides_of

__all__ = ["lower_movement", "ALIAS_OPS", "permute_copy", "expand_copy", "element_offsets", "nd_offsets"]

ALIAS_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
_GATHERS = ("Gather", "GatherElements", "GatherND")


def _simplify(dims, ss, ds):
    """Drop unit dims and merge dims contiguous in both source and destination."""
    d2, s2, t2 = [], [], []
    for d, s, t in zip(dims, ss, ds):
        if d == 1:
            continue
        if d2 and s2[-1] == s * d and t2[-1] == t * d:
            d2[-1] *= d
            s2[-1], t2[-1] = s, t
            continue
        d2.append(d)
        s2.append(s)
        t2.append(t)
    if not d2:
        return [1], [0], [0]
    return d2, s2, t2


def _slice_params(lw: Lowerer, op: Op, shape):
    rank = len(shape)
    if len(op.inputs) > 1:
        vals = [lw.const_of(op.input(i)) if len(op.inputs) > i and op.input(i) is not None else None
                for i in range(1, 5)]  # fmt: skip
        starts, ends, axes, steps = vals
        if starts is None or ends is None or (len(op.inputs) > 3 and op.input(3) is not None and axes is None):
            return None
        starts, ends = starts.reshape(-1).tolist(), ends.reshape(-1).tolist()
        axes = axes.reshape(-1).tolist() if axes is not None else list(range(len(starts)))
        steps = steps.reshape(-1).tolist() if steps is not None else [1] * len(starts)
    else:
        starts, ends = list(op.attr("starts")), list(op.attr("ends"))
        axes = list(op.attr("axes", range(len(starts))))
        steps = [1] * len(starts)
    begin = [0] * rank
    step = [1] * rank
    for s, _end, a, k in zip(starts, ends, axes, steps):  # ends: the output shape has them
        a = int(a) % rank
        n = shape[a]
        s = int(s)
        if s < 0:
            s += n
        k = int(k)
        s = min(max(s, 0), n) if k > 0 else min(max(s, -1), n - 1)
        begin[a], step[a] = s, k
    return begin, step


def _pieces(lw: Lowerer, op: Op, in_shapes, out_shapes):
    """Per output: (fill value or None, [(input index, src_off, src_strides, dims, dst_off,
    dst_strides)]). None if unsupported."""
    t = op.op_type
    xs = strides_of(in_shapes[0]) if in_shapes else []
    if t == "Transpose":
        perm = op.attr("perm", None)
        perm = list(perm) if perm is not None else list(range(len(in_shapes[0])))[::-1]
        y = out_shapes[0]
        return [(None, [(0, 0, [xs[p] for p in perm], list(y), 0, strides_of(y))])]
    if t == "Slice":
        sp = _slice_params(lw, op, in_shapes[0])
        if sp is None:
            return None
        begin, step = sp
        y = out_shapes[0]
        off = sum(b * s for b, s in zip(begin, xs))
        return [(None, [(0, off, [s * k for s, k in zip(xs, step)], list(y), 0, strides_of(y))])]
    if t == "Split":
        axis = int(op.attr("axis", 0)) % len(in_shapes[0])
        res, pos = [], 0
        for y in out_shapes:
            res.append((None, [(0, pos * xs[axis], xs, list(y), 0, strides_of(y))]))
            pos += y[axis]
        return res
    if t == "Concat":
        y = out_shapes[0]
        axis = int(op.attr("axis")) % len(y)
        ys = strides_of(y)
        pieces, pos = [], 0
        for i, s in enumerate(in_shapes):
            if int(np.prod(s, dtype=np.int64)) == 0:
                continue
            pieces.append((i, 0, strides_of(s), list(s), pos * ys[axis], ys))
            pos += s[axis]
        return [(None, pieces)]
    if t == "Pad":
        mode = op.attr("mode", "constant")
        if mode != "constant":
            return "gather-pad"
        x = in_shapes[0]
        rank = len(x)
        spec = _pad_spec(lw, op, rank)
        if spec is None:
            return None
        pads, value = spec
        y = out_shapes[0]
        ys = strides_of(y)
        soff = doff = 0
        dims = []
        for a in range(rank):
            b, e = int(pads[a]), int(pads[a + rank])
            if b >= 0:
                doff += b * ys[a]
            else:
                soff += -b * xs[a]
            dims.append(x[a] + min(b, 0) + min(e, 0))
        pieces = [(0, soff, xs, dims, doff, ys)] if min(dims) > 0 else []
        return [(value, pieces)]
    if t == "Expand":
        y = out_shapes[0]
        return [(None, [(0, 0, bcast_strides(in_shapes[0], y), list(y), 0, strides_of(y))])]
    if t == "Tile":
        reps = lw.const_of(op.input(1))
        if reps is None:
            return None
        x = in_shapes[0]
        y = out_shapes[0]
        dims, ss = [], []
        for r, d, s in zip(reps.reshape(-1).tolist(), x, xs):
            dims += [int(r), int(d)]
            ss += [0, s]
        ds = strides_of(dims)
        return [(None, [(0, 0, ss, dims, 0, ds)])]
    if t in ("DepthToSpace", "SpaceToDepth"):
        b = int(op.attr("blocksize"))
        n, c, h, w = in_shapes[0]
        if t == "DepthToSpace":
            if op.attr("mode", "DCR") == "DCR":
                shp, perm = [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2]
            else:
                shp, perm = [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]
        else:
            shp, perm = [n, c, h // b, b, w // b, b], [0, 3, 5, 1, 2, 4]
        st = strides_of(shp)
        dims = [shp[p] for p in perm]
        return [(None, [(0, 0, [st[p] for p in perm], dims, 0, strides_of(dims))])]
    return None


def _pad_spec(lw: Lowerer, op: Op, rank: int):
    """(pads as [begin..., end...] over all axes, constant value) of a Pad node."""
    if len(op.inputs) > 1 and op.input(1) is not None:
        pads = lw.const_of(op.input(1))
        if pads is None:
            return None
        pads = pads.reshape(-1).tolist()
        value = 0.0
        if len(op.inputs) > 2 and op.input(2) is not None:
            c = lw.const_of(op.input(2))
            if c is None:
                return None
            value = float(c.reshape(-1)[0]) if c.size else 0.0
        axes = axes_of(lw, op, rank, 3) if len(op.inputs) > 3 and op.input(3) is not None else None
    else:
        pads, value, axes = list(op.attr("pads")), float(op.attr("value", 0.0)), None
    if axes:
        full = [0] * (2 * rank)
        for j, a in enumerate(axes):
            full[a], full[a + rank] = pads[j], pads[j + len(axes)]
        pads = full
    return [int(t) for t in pads], value


def _gather_pad(lw: Lowerer, op: Op, x: View, y: View) -> None:
    """reflect / edge / wrap padding: one gather per padded axis."""
    rank = len(x.shape)
    spec = _pad_spec(lw, op, rank)
    if spec is None:
        raise unsupported(op, "pads must be constants")
    pads, _ = spec
    mode = op.attr("mode", "constant")
    axes = [a for a in range(rank) if pads[a] or pads[a + rank]]
    cur = x
    P = lw.p.ptr
    for j, a in enumerate(axes):
        idx = _pad_indices(cur.shape[a], pads[a], pads[a + rank], mode)
        shape = list(cur.shape)
        shape[a] = len(idx)
        dst = y if j == len(axes) - 1 else lw.p.new_view(shape, x.et, x.q, label=op.name + "_pad")
        outer = int(np.prod(cur.shape[:a], dtype=np.int64))
        inner = int(np.prod(cur.shape[a + 1 :], dtype=np.int64))
        name = lw.p.const(idx, "int32_t", "i")
        lw.p.add(f"qc_gather({P(cur)}, {P(dst)}, {outer}, {cur.shape[a]}, {inner}, {name}, {len(idx)}, "
                 f"{CTYPES[x.et][1]});", [cur], [dst], ["qc_gather"], op=op.name, what=f"Pad {mode}")  # fmt: skip
        cur = dst
    if not axes:
        lw.copy(x, y, "Pad")


def _alias(x: View, y: View, soff: int, doff: int, dims, ss, ds):
    """(x, y, doff) when the piece copies all of x into one contiguous block of y."""
    if soff != 0 or len(dims) != 1 or (dims[0] > 1 and (ss[0] != 1 or ds[0] != 1)) or dims[0] != x.size:
        return None
    return (x, y, doff)


def _as_view(lw: Lowerer, xs, fill, pieces, yshape, prm) -> View | None:
    """The output as a view of its input when it is one contiguous block of it (Slice/Split of
    leading channels, ...) with the same quantization."""
    if fill is not None or len(pieces) != 1:
        return None
    i, soff, ss, dims, doff, ds = pieces[0]
    x = xs[i]
    if doff != 0 or (prm is not None and x.q != prm):
        return None
    d2, s2, t2 = _simplify(dims, ss, ds)
    n = int(np.prod(yshape, dtype=np.int64)) if yshape else 1
    if len(d2) != 1 or (d2[0] > 1 and (s2[0] != 1 or t2[0] != 1)) or d2[0] != n:
        return None
    return View(x.buf, tuple(yshape), x.et, x.q, x.off + soff)


def _wrapped(op: Op, idx: np.ndarray, dims) -> np.ndarray:
    """``idx`` with negative entries counted from the end of ``dims`` (broadcast against it);
    an entry outside [-n, n) is a one-line error."""
    idx = np.asarray(idx, np.int64)
    dims = np.asarray(dims, np.int64)
    bad = (idx < -dims) | (idx >= dims)
    if np.any(bad):
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        n = int(np.broadcast_to(dims, idx.shape)[at])
        raise unsupported(op, f"index {int(idx[at])} at {list(at)} is outside [-{n}, {n})")
    return np.where(idx < 0, idx + dims, idx)


def element_offsets(op: Op, idx: np.ndarray, shape) -> np.ndarray:
    """GatherElements / ScatterElements: the flat offset in a tensor of ``shape`` of each
    element the constant indices name along the op's ``axis`` (flattened)."""
    axis = int(op.attr("axis", 0)) % len(shape)
    if len(np.shape(idx)) != len(shape) or any(i > d for a, (i, d) in enumerate(zip(np.shape(idx), shape)) if a != axis):
        raise unsupported(op, f"indices {list(np.shape(idx))} do not fit data {list(shape)} on axis {axis}")
    coords = list(np.indices(np.shape(idx), dtype=np.int64))
    coords[axis] = _wrapped(op, idx, shape[axis])
    return np.ravel_multi_index(coords, tuple(shape)).astype(np.int64).reshape(-1)


def nd_offsets(op: Op, idx: np.ndarray, shape, batch_dims: int = 0) -> tuple[np.ndarray, int]:
    """GatherND / ScatterND: (flat offset of each slice the index tuples name, slice size) in a
    tensor of ``shape``; with ``batch_dims`` b the tuples of batch i index within batch i."""
    idx = np.asarray(idx, np.int64)
    b, k = batch_dims, idx.shape[-1] if idx.ndim else 0
    if idx.ndim < 1 or not 1 <= k <= len(shape) - b or tuple(idx.shape[:b]) != tuple(shape[:b]):
        raise unsupported(op, f"indices {list(idx.shape)} do not fit data {list(shape)} with batch_dims={b}")
    st = np.asarray(strides_of(shape), np.int64)
    rows = _wrapped(op, idx, shape[b : b + k]).reshape(-1, k) @ st[b : b + k]
    if b:  # each batch's rows start at that batch's offset
        per = int(np.prod(idx.shape[b:-1], dtype=np.int64))
        batch = np.arange(int(np.prod(shape[:b], dtype=np.int64)), dtype=np.int64) * st[b - 1]
        rows = rows + np.repeat(batch, per)
    return rows.astype(np.int64), int(np.prod(shape[b + k :], dtype=np.int64))


def _gather_table(lw: Lowerer, op: Op, x: View, y: View) -> bool:
    """GatherElements / GatherND with constant indices: one qc_gather over x read as rows of
    the gathered slice's size, the table holding each slice's row."""
    idx = lw.const_of(op.input(1))
    if idx is None:
        return False
    if op.op_type == "GatherElements":
        offs, inner = element_offsets(op, idx, x.shape), 1
    else:
        offs, inner = nd_offsets(op, idx, x.shape, int(op.attr("batch_dims", 0)))
    if inner == 0 or offs.size == 0:
        raise unsupported(op, "zero-size tensors are not supported")
    name = lw.p.const(offs // inner, "int32_t", "i")
    P = lw.p.ptr
    lw.p.add(f"qc_gather({P(x)}, {P(y)}, 1, {x.size // inner}, {inner}, {name}, {offs.size}, "
             f"{CTYPES[x.et][1]});", [x], [y], ["qc_gather"], op=op.name, what=op.op_type)  # fmt: skip
    return True


def _gather(lw: Lowerer, op: Op, x: View, y: View) -> bool:
    if op.op_type in ("GatherElements", "GatherND"):
        return _gather_table(lw, op, x, y)
    idx = lw.const_of(op.input(1))
    if idx is None:  # runtime indices (token ids...): held as floats
        iv = lw.f32(op.input(1))
        axis = int(op.attr("axis", 0)) % len(x.shape)
        outer = int(np.prod(x.shape[:axis], dtype=np.int64))
        inner = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
        P = lw.p.ptr
        lw.p.add(f"qc_gather_idx({P(x)}, {P(y)}, {outer}, {x.shape[axis]}, {inner}, {P(iv)}, {iv.size}, "
                 f"{CTYPES[x.et][1]});", [x, iv], [y], ["qc_gather_idx"], op=op.name, what="Gather")  # fmt: skip
        return True
    axis = int(op.attr("axis", 0)) % len(x.shape)
    n_axis = x.shape[axis]
    idx = np.where(idx < 0, idx + n_axis, idx).astype(np.int64).reshape(-1)
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1 :], dtype=np.int64))
    name = lw.p.const(idx, "int32_t", "i")
    P = lw.p.ptr
    lw.p.add(f"qc_gather({P(x)}, {P(y)}, {outer}, {n_axis}, {inner}, {name}, {idx.size}, "
             f"{CTYPES[x.et][1]});", [x], [y], ["qc_gather"], op=op.name, what="Gather")  # fmt: skip
    return True


def lower_movement(lw: Lowerer, op: Op, int8: bool) -> bool:
    t = op.op_type
    data_inputs = list(op.inputs) if t == "Concat" else [op.input(0)]
    if t == "Dropout" and len(op.outputs) > 1 and op.outputs[1].has_uses():
        raise unsupported(op, "the Dropout mask output is not supported")
    outs = [op.outputs[0]] if t in ALIAS_OPS else list(op.outputs)
    P = lw.p.ptr
    if int8:
        xs = [lw.qin(v) for v in data_inputs]
        oqs = []
        for o in outs:
            if o.is_graph_output or len(o.uses()) != 1:
                return False
            q = o.users()[0]
            if not q.is_a("QuantizeLinear"):
                return False
            prm = lw.q_params(q)
            if prm is None:
                return False
            oqs.append((q, prm))
        if any(x is None for x in xs):
            return False
        if t in ALIAS_OPS:
            x, (qop, prm) = xs[0], oqs[0]
            lw.absorbed.add(qop)
            yshape = lw.shape(qop.output)
            if x.q == prm:
                lw.define(qop.output, View(x.buf, yshape, "s8", prm, x.off))
            else:
                y = lw.out_view(qop.output, "s8", prm)
                lw.requant(x, y, op.name)
            return True
        if t in _GATHERS:
            (qop, prm) = oqs[0]
            y = lw.emit_q_output(qop, prm)
            if not _gather(lw, op, xs[0], y):
                raise unsupported(op, f"{t} needs constant indices")
            if xs[0].q != prm:
                lw.requant(View(y.buf, y.shape, "s8", xs[0].q, y.off), y, op.name)
            return True
        plan = _pieces(lw, op, [x.shape for x in xs], [lw.shape(o) for o in outs])
        if plan is None:
            return False
        if plan == "gather-pad":
            (qop, prm) = oqs[0]
            y = lw.emit_q_output(qop, prm)
            _gather_pad(lw, op, xs[0], View(y.buf, y.shape, "s8", xs[0].q, y.off))
            if xs[0].q != prm:
                lw.requant(View(y.buf, y.shape, "s8", xs[0].q, y.off), y, op.name)
            return True
        for (qop, prm), (fill, pieces) in zip(oqs, plan):
            view = _as_view(lw, xs, fill, pieces, lw.shape(qop.output), prm)
            if view is not None:  # a contiguous slice: no copy
                lw.absorbed.add(qop)
                lw.define(qop.output, view)
                continue
            y = lw.emit_q_output(qop, prm)
            if fill is not None and _uncovered(pieces, y.size):
                v = lw.p.const([prm.quantize(fill)], "int8_t", "k")
                lw.p.add(f"qc_fill({P(y)}, {y.size}, {v}, 1);", [], [y], ["qc_fill"], op=op.name,
                         what="Pad fill")
            for piece in pieces:
                _copy_piece(lw, op, xs[piece[0]], y, piece, prm)
        return True

    # ---- float (and any virtual value) --------------------------------------------------------
    if t in ALIAS_OPS:
        x, o = op.input(0), outs[0]
        r = lw.repr.get(x)
        yshape = lw.shape(o)
        if r is None and x.const is not None:
            r = np.asarray(x.const)
        if isinstance(r, QConst):
            r = r.real()
        if isinstance(r, np.ndarray):
            lw.define(o, r.reshape(yshape))
        elif isinstance(r, Deq):
            lw.define(o, Deq(r.src.reshaped(yshape)))
        elif isinstance(r, View):
            lw.define(o, r.reshaped(yshape))
        else:
            raise unsupported(op, "input is not available")
        return True
    consts = [lw.const_of(v) for v in data_inputs]
    if all(c is not None for c in consts) and t not in _GATHERS:
        return False  # constant folding is the frontend's job; report it as unsupported
    xs = [lw.f32(v) for v in data_inputs]
    if t in _GATHERS:
        y = lw.out_view(outs[0], "f32")
        if not _gather(lw, op, xs[0], y):
            raise unsupported(op, f"{t} needs constant indices")
        return True
    plan = _pieces(lw, op, [x.shape for x in xs], [lw.shape(o) for o in outs])
    if plan is None:
        raise unsupported(op, "this form of the op is not supported by the C backend")
    if plan == "gather-pad":
        _gather_pad(lw, op, xs[0], lw.out_view(outs[0], "f32"))
        return True
    for o, (fill, pieces) in zip(outs, plan):
        view = _as_view(lw, xs, fill, pieces, lw.shape(o), None)
        if view is not None:
            lw.define(o, view)
            continue
        y = lw.out_view(o, "f32")
        if fill is not None and _uncovered(pieces, y.size):
            v = lw.p.const([fill], "float", "f")
            lw.p.add(f"qc_fill({P(y)}, {y.size}, {v}, 4);", [], [y], ["qc_fill"], op=op.name, what="Pad fill")
        for piece in pieces:
            _copy_piece(lw, op, xs[piece[0]], y, piece, None)
    return True


def _uncovered(pieces, size: int) -> bool:
    """Whether the copied pieces leave part of an output of ``size`` values to the fill.  A
    Pad of zero pads copies all of it, and the copy may run in place, in the input's memory,
    which a fill before it would overwrite (a Swin Transformer's patch merging has such a Pad:
    its output was all fill)."""
    return sum(int(np.prod(p[3], dtype=np.int64)) for p in pieces) < size


def _copy_piece(lw: Lowerer, op: Op | None, x: View, y: View, piece, prm) -> None:
    """One strided piece of x into y; int8 with other output parameters (``prm``) requantizes."""
    _, soff, ss, dims, doff, ds = piece
    dims, ss, ds = _simplify(dims, ss, ds)
    name = op.name if op is not None else ""
    if len(dims) > 6:
        raise unsupported(op, "more than 6 strided dimensions")
    cd, cs, ct = (lw.p.const(a, "int32_t", "i") for a in (dims, ss, ds))
    P = lw.p.ptr
    what = op.op_type if op is not None else "transpose"
    if prm is not None and x.q != prm:
        m, s = quantize_multiplier(x.q.scale / prm.scale)
        src = View(x.buf, x.shape, "s8", x.q, x.off + soff)
        lw.p.add(f"qc_strided_requant_s8({P(src)}, {cs}, {P(y.buf, 's8')}, {y.off + doff}, {ct}, {len(dims)}, "
                 f"{cd}, {x.q.zp}, {prm.zp}, {m}, {s});", [x], [y], ["qc_strided_requant_s8"], op=name,
                 what=what + " requantized")  # fmt: skip
        return
    lw.p.add(f"qc_strided_copy({P(x.buf, x.et)}, {x.off + soff}, {cs}, {P(y.buf, y.et)}, {y.off + doff}, {ct}, "
             f"{len(dims)}, {cd}, {CTYPES[x.et][1]});", [x], [y], ["qc_strided_copy"], op=name, what=what,
             alias=_alias(x, y, soff, doff, dims, ss, ds) if op is not None else None)  # fmt: skip


def permute_copy(lw: Lowerer, x: View, perm: list[int], y: View, name: str = "") -> None:
    """y = transpose(x, perm) (same element type, no requantization)."""
    xs = strides_of(x.shape)
    _copy_piece(lw, None, x, y, (0, 0, [xs[p] for p in perm], [x.shape[p] for p in perm], 0, strides_of(y.shape)),
                None)


def expand_copy(lw: Lowerer, x: View, y: View) -> None:
    """y = x broadcast to y's shape (same element type, no requantization)."""
    _copy_piece(lw, None, x, y, (0, 0, bcast_strides(x.shape, y.shape), list(y.shape), 0, strides_of(y.shape)), None)


def _pad_indices(n: int, b: int, e: int, mode: str) -> np.ndarray:
    """Source index of each output position of one axis padded by (b, e) in ``mode``."""
    i = np.arange(-b, n + e)
    if mode == "edge":
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return np.mod(i, n)
    period = 2 * (n - 1) if n > 1 else 1  # reflect: mirror without repeating the edge
    i = np.mod(i, period) if n > 1 else np.zeros_like(i)
    return np.where(i >= n, period - i, i)
