"""Shape arithmetic of the C lowering: broadcast strides, conv/pool geometry (auto_pad, 1-D as
2-D), reduction layouts and Resize index/weight tables (computed in float32 as onnxruntime
does)."""

from __future__ import annotations

import numpy as np

from qcompiler.ir import Op

__all__ = ["strides_of", "bcast_strides", "conv_geometry", "pool_geometry", "reduce_layout",
           "resize_tables", "axes_of", "POOL_FIELDS", "conv3d_geometry", "conv_params", "conv3d_params",
           "CONV3D_FIELDS", "pool3d_geometry"]  # fmt: skip


def strides_of(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(list(shape)):
        st.append(acc)
        acc *= int(d)
    return st[::-1]


def bcast_strides(shape, out_shape) -> list[int]:
    """Element strides of a tensor of ``shape`` read at each index of ``out_shape``
    (numpy broadcasting: 0 where the tensor repeats)."""
    shape, out_shape = list(shape), list(out_shape) or [1]
    st = strides_of(shape)
    res = [0] * len(out_shape)
    for i in range(1, len(shape) + 1):
        if shape[-i] != 1:
            res[-i] = st[-i]
    return res


def _pads_same(auto_pad: str, in_sz, out_sz, k, s, d) -> tuple[int, int]:
    total = max(0, (out_sz - 1) * s + (k - 1) * d + 1 - in_sz)
    return (total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2, total // 2)


def _spatial(op: Op, n: int, key: str, default: int) -> list[int]:
    v = op.attr(key, None)
    return [int(t) for t in v] if v is not None else [default] * n


def _conv_attrs(op: Op, xshape, wshape, yshape, transpose: bool):
    """Kernel, strides, dilations, pads (begins then ends, auto_pad resolved) of a Conv or
    ConvTranspose over ``len(xshape) - 2`` spatial dims."""
    nsp = len(xshape) - 2
    ks = [int(t) for t in wshape[2:]]
    st = _spatial(op, nsp, "strides", 1)
    dl = _spatial(op, nsp, "dilations", 1)
    pads = op.attr("pads", None)
    pads = [int(t) for t in pads] if pads is not None else [0] * (2 * nsp)
    auto = op.attr("auto_pad", "NOTSET")
    insp, outsp = list(xshape[2:]), list(yshape[2:])
    if not transpose and auto in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(nsp):
            pads[i], pads[i + nsp] = _pads_same(auto, insp[i], outsp[i], ks[i], st[i], dl[i])
    if not transpose and auto == "VALID":
        pads = [0] * (2 * nsp)
    if transpose and (auto in ("SAME_UPPER", "SAME_LOWER") or op.attr("output_shape", None) is not None):
        outpad = _spatial(op, nsp, "output_padding", 0)
        for i in range(nsp):
            total = st[i] * (insp[i] - 1) + outpad[i] + (ks[i] - 1) * dl[i] + 1 - outsp[i]
            if auto == "SAME_UPPER":
                pads[i], pads[i + nsp] = total // 2, total - total // 2
            else:
                pads[i], pads[i + nsp] = total - total // 2, total // 2
    if transpose and auto == "VALID":
        pads = [0] * (2 * nsp)
    return ks, st, dl, pads, insp, outsp


def conv_geometry(op: Op, xshape, wshape, yshape, transpose: bool = False) -> dict | None:
    if len(xshape) not in (3, 4) or len(wshape) != len(xshape):
        return None
    nsp = len(xshape) - 2
    group = int(op.attr("group", 1))
    ks, st, dl, pads, insp, outsp = _conv_attrs(op, xshape, wshape, yshape, transpose)
    if nsp == 1:
        ks, st, dl = [1] + ks, [1] + st, [1] + dl
        pads = [0, pads[0], 0, pads[1]]
        insp, outsp = [1] + insp, [1] + outsp
    cin = int(xshape[1])
    cout = int(wshape[1]) * group if transpose else int(wshape[0])
    n = int(xshape[0])
    if transpose:
        macs = n * cin * insp[0] * insp[1] * (cout // group) * ks[0] * ks[1]
    else:
        macs = n * cout * outsp[0] * outsp[1] * (cin // group) * ks[0] * ks[1]
    kind = "ConvTranspose" if transpose else "Conv"
    return dict(n=n, cin=cin, h=insp[0], w=insp[1], cout=cout, oh=outsp[0], ow=outsp[1], kh=ks[0],
                kw=ks[1], sh=st[0], sw=st[1], dh=dl[0], dw=dl[1], pt=pads[0], pl=pads[1],
                group=group, macs=macs,
                kernel=f"{kind} {ks[0]}x{ks[1]}/{st[0]} {cin}->{cout}" + (f" g{group}" if group > 1 else ""))


#: qc_conv3d_params_t fields, in order
CONV3D_FIELDS = ("n", "d", "od", "kd", "sd", "dd", "pd")


def conv3d_geometry(op: Op, xshape, wshape, yshape) -> tuple[dict, dict] | None:
    """A Conv over 3 spatial dims as (depth, g2): qc_conv3d_*'s depth geometry (CONV3D_FIELDS)
    and the 2-D convolution of one output depth slice over cin*kd planes (conv_geometry's
    fields, n = 1), whose weights are the 3-D ones read as [cout][cin/g*kd][kh][kw]."""
    if len(xshape) != 5 or len(wshape) != 5:
        return None
    ks, st, dl, pads, insp, outsp = _conv_attrs(op, xshape, wshape, yshape, False)
    group = int(op.attr("group", 1))
    n, cin, cout = int(xshape[0]), int(xshape[1]), int(wshape[0])
    depth = dict(n=n, d=insp[0], od=outsp[0], kd=ks[0], sd=st[0], dd=dl[0], pd=pads[0])
    cin2 = cin * ks[0]
    g2 = dict(n=1, cin=cin2, h=insp[1], w=insp[2], cout=cout, oh=outsp[1], ow=outsp[2], kh=ks[1], kw=ks[2],
              sh=st[1], sw=st[2], dh=dl[1], dw=dl[2], pt=pads[1], pl=pads[2], group=group,
              macs=n * cout * outsp[0] * outsp[1] * outsp[2] * (cin // group) * ks[0] * ks[1] * ks[2],
              kernel=f"Conv {ks[0]}x{ks[1]}x{ks[2]}/{st[0]} {cin}->{cout}" + (f" g{group}" if group > 1 else ""))
    return depth, g2


def convtranspose3d_geometry(op: Op, xshape, wshape, yshape) -> tuple[dict, dict] | None:
    """A ConvTranspose over 3 spatial dims as (depth, g2): the depth geometry (CONV3D_FIELDS)
    and the 2-D transposed convolution of one input depth slice (conv_geometry's fields, n = 1)."""
    if len(xshape) != 5 or len(wshape) != 5:
        return None
    ks, st, dl, pads, insp, outsp = _conv_attrs(op, xshape, wshape, yshape, True)
    group = int(op.attr("group", 1))
    n, cin, cout = int(xshape[0]), int(xshape[1]), int(wshape[1]) * group
    depth = dict(n=n, d=insp[0], od=outsp[0], kd=ks[0], sd=st[0], dd=dl[0], pd=pads[0])
    g2 = dict(n=1, cin=cin, h=insp[1], w=insp[2], cout=cout, oh=outsp[1], ow=outsp[2], kh=ks[1], kw=ks[2],
              sh=st[1], sw=st[2], dh=dl[1], dw=dl[2], pt=pads[1], pl=pads[2], group=group,
              macs=n * cin * insp[0] * insp[1] * insp[2] * (cout // group) * ks[0] * ks[1] * ks[2],
              kernel=f"ConvTranspose {ks[0]}x{ks[1]}x{ks[2]}/{st[0]} {cin}->{cout}" + (f" g{group}" if group > 1 else ""))
    return depth, g2


def _pool_attrs(op: Op, xshape, yshape):
    """Kernel, strides, dilations, pads (begins then ends, auto_pad resolved) of a pooling op
    over ``len(xshape) - 2`` spatial dims; None without kernel_shape."""
    nsp = len(xshape) - 2
    ks = op.attr("kernel_shape", None)
    if ks is None:
        return None
    ks = [int(t) for t in ks]
    st = _spatial(op, nsp, "strides", 1)
    dl = _spatial(op, nsp, "dilations", 1)
    pads = op.attr("pads", None)
    pads = [int(t) for t in pads] if pads is not None else [0] * (2 * nsp)
    auto = op.attr("auto_pad", "NOTSET")
    insp, outsp = list(xshape[2:]), list(yshape[2:])
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(nsp):
            pads[i], pads[i + nsp] = _pads_same(auto, insp[i], outsp[i], ks[i], st[i], dl[i])
    return ks, st, dl, pads, insp, outsp


def pool_geometry(op: Op, xshape, yshape) -> dict | None:
    if len(xshape) not in (3, 4):
        return None
    nsp = len(xshape) - 2
    attrs = _pool_attrs(op, xshape, yshape)
    if attrs is None:
        return None
    ks, st, dl, pads, insp, outsp = attrs
    if nsp == 1:
        ks, st, dl, pads, insp, outsp = [1] + ks, [1] + st, [1] + dl, [0, pads[0], 0, pads[1]], [1] + insp, [1] + outsp
    return dict(n=int(xshape[0]), c=int(xshape[1]), h=insp[0], w=insp[1], oh=outsp[0], ow=outsp[1],
                kh=ks[0], kw=ks[1], sh=st[0], sw=st[1], dh=dl[0], dw=dl[1], pt=pads[0], pl=pads[1],
                count_include_pad=int(op.attr("count_include_pad", 0)), pb=pads[2], pr=pads[3])


def pool3d_geometry(op: Op, xshape, yshape) -> tuple[dict, dict] | None:
    """A MaxPool or AveragePool over NCDHW as two 2-D poolings (both are separable: a window is
    a box, and its valid count the product of the per-axis counts): first H and W on the
    input read as [N, C*D, H, W], then D on that result read as [N, C, D, OH*OW] (a kd x 1
    window), which is the output [N, C, OD, OH, OW]. Returns their qc_pool_params_t fields."""
    if len(xshape) != 5:
        return None
    attrs = _pool_attrs(op, xshape, yshape)
    if attrs is None:
        return None
    ks, st, dl, pads, insp, outsp = attrs
    n, c = int(xshape[0]), int(xshape[1])
    cip = int(op.attr("count_include_pad", 0))
    hw = dict(n=n, c=c * insp[0], h=insp[1], w=insp[2], oh=outsp[1], ow=outsp[2], kh=ks[1], kw=ks[2],
              sh=st[1], sw=st[2], dh=dl[1], dw=dl[2], pt=pads[1], pl=pads[2], count_include_pad=cip,
              pb=pads[4], pr=pads[5])
    d = dict(n=n, c=c, h=insp[0], w=outsp[1] * outsp[2], oh=outsp[0], ow=outsp[1] * outsp[2], kh=ks[0], kw=1,
             sh=st[0], sw=1, dh=dl[0], dw=1, pt=pads[0], pl=0, count_include_pad=cip, pb=pads[3], pr=0)
    return hw, d


#: qc_pool_params_t fields, in order
#: qc_conv_params_t's fields, in its order (x_zp, the activations' zero point, comes last)
CONV_FIELDS = ("n", "cin", "h", "w", "cout", "oh", "ow", "kh", "kw", "sh", "sw", "dh", "dw", "pt", "pl", "group")


def conv_params(g: dict, x_zp: int = 0) -> str:
    """The initializer of a qc_conv_params_t for the geometry ``g`` (conv_geometry's fields)."""
    return ", ".join(f".{k} = {g[k]}" for k in CONV_FIELDS) + f", .x_zp = {x_zp}"


def conv3d_params(depth: dict) -> str:
    """The initializer of a qc_conv3d_params_t for ``depth`` (CONV3D_FIELDS)."""
    return ", ".join(f".{k} = {depth[k]}" for k in CONV3D_FIELDS)


POOL_FIELDS = ("n", "c", "h", "w", "oh", "ow", "kh", "kw", "sh", "sw", "dh", "dw", "pt", "pl",
               "count_include_pad", "pb", "pr")


def axes_of(lw, op: Op, rank: int, input_index: int = 1) -> list[int] | None:
    """Axes from the ``axes`` attribute or the constant input (opset 13/18 forms)."""
    axes = op.attr("axes", None)
    if axes is None and len(op.inputs) > input_index and op.input(input_index) is not None:
        c = lw.const_of(op.input(input_index))
        if c is None:
            return None
        axes = c.reshape(-1).tolist()
    if axes is None:
        return []
    return sorted(int(a) % rank for a in axes)


def reduce_layout(lw, op: Op, shape) -> tuple[int, int, int] | None:
    """``[outer][r][inner]`` for a reduction over a contiguous run of axes."""
    rank = len(shape)
    axes = axes_of(lw, op, rank)
    if axes is None:
        return None
    if not axes:
        if op.attr("noop_with_empty_axes", 0):
            return None
        axes = list(range(rank))
    if axes != list(range(axes[0], axes[-1] + 1)):
        return None
    outer = int(np.prod(shape[: axes[0]], dtype=np.int64))
    r = int(np.prod(shape[axes[0] : axes[-1] + 1], dtype=np.int64))
    inner = int(np.prod(shape[axes[-1] + 1 :], dtype=np.int64))
    return outer, r, inner


def _scales_sizes(lw, op: Op, rank: int):
    scales = sizes = None
    if op.op_type == "Upsample" or (op.op_type == "Resize" and len(op.inputs) == 2):
        s = op.attr("scales", None)
        if s is None and len(op.inputs) > 1:
            c = lw.const_of(op.input(1))
            s = None if c is None else c.reshape(-1).tolist()
        scales = s
    else:
        if len(op.inputs) > 2 and op.input(2) is not None:
            c = lw.const_of(op.input(2))
            if c is None:
                return None, None, False
            scales = c.reshape(-1).tolist() if c.size else None
        if len(op.inputs) > 3 and op.input(3) is not None:
            c = lw.const_of(op.input(3))
            if c is None:
                return None, None, False
            sizes = c.reshape(-1).tolist() if c.size else None
    return scales, sizes, True


def resize_tables(lw, op: Op, xshape, yshape) -> dict | None:
    """Source indices (nearest), neighbours and weights (linear), or four taps and their weights
    per output (cubic: ``hci``/``hcw``, ``wci``/``wcw``) for the two last axes."""
    if len(xshape) != 4 or tuple(xshape[:2]) != tuple(yshape[:2]) or op.attr("axes", None) is not None:
        return None
    if op.attr("antialias", 0):
        return None
    legacy = op.op_type == "Upsample" or (lw.g.opset() or 13) < 11
    mode = op.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear", "cubic", "bicubic"):
        return None
    ctm = "asymmetric" if legacy else op.attr("coordinate_transformation_mode", "half_pixel")
    nmode = "floor" if legacy else op.attr("nearest_mode", "round_prefer_floor")
    scales, sizes, ok = _scales_sizes(lw, op, 4)
    if not ok:
        return None
    f32 = np.float32
    out = {"mode": "nearest" if mode == "nearest" else "cubic" if "cubic" in mode else "linear"}
    a = f32(op.attr("cubic_coeff_a", -0.75))
    exclude = int(op.attr("exclude_outside", 0))
    for ax, key in ((2, "h"), (3, "w")):
        n_in, n_out = int(xshape[ax]), int(yshape[ax])
        scale = f32(scales[ax]) if scales is not None else f32(n_out) / f32(n_in)
        o = np.arange(n_out, dtype=f32)
        if ctm == "half_pixel":
            x = (o + f32(0.5)) / scale - f32(0.5)
        elif ctm == "pytorch_half_pixel":
            x = (o + f32(0.5)) / scale - f32(0.5) if n_out > 1 else np.zeros(n_out, f32)
        elif ctm == "align_corners":
            x = o * (f32(n_in - 1) / f32(n_out - 1)) if n_out > 1 else np.zeros(n_out, f32)
        elif ctm == "asymmetric":
            x = o / scale
        elif ctm == "tf_half_pixel_for_nn":
            x = (o + f32(0.5)) / scale
        else:
            return None
        x = x.astype(f32)
        if out["mode"] == "nearest":
            if nmode == "round_prefer_floor":
                i = np.where(x == np.floor(x) + f32(0.5), np.floor(x), np.round(x))
            elif nmode == "round_prefer_ceil":
                i = np.floor(x + f32(0.5))
            elif nmode == "floor":
                i = np.floor(x)
            elif nmode == "ceil":
                i = np.ceil(x)
            else:
                return None
            out[key + "i"] = np.clip(i, 0, n_in - 1).astype(np.int32)
        elif out["mode"] == "cubic":  # onnxruntime's: 4 taps from floor(x) - 1, Keys' kernel with a
            i0 = np.floor(x)
            t = (x - i0).astype(f32)
            one, two = f32(1), f32(2)
            d = [t + one, t, one - t, two - t]  # distances of the four taps
            wts = [((a * d[0] - f32(5) * a) * d[0] + f32(8) * a) * d[0] - f32(4) * a,
                   ((a + two) * d[1] - (a + f32(3))) * d[1] * d[1] + one,
                   ((a + two) * d[2] - (a + f32(3))) * d[2] * d[2] + one,
                   ((a * d[3] - f32(5) * a) * d[3] + f32(8) * a) * d[3] - f32(4) * a]  # fmt: skip
            idx = np.stack([i0 - 1, i0, i0 + 1, i0 + 2], axis=1).astype(np.int64)
            wts = np.stack(wts, axis=1).astype(f32)
            if exclude:  # taps outside the input weigh 0, the rest renormalized
                wts = np.where((idx >= 0) & (idx < n_in), wts, f32(0))
                wts = (wts / wts.sum(axis=1, keepdims=True).astype(f32)).astype(f32)
            out[key + "ci"] = np.clip(idx, 0, n_in - 1).astype(np.int32).reshape(-1)
            out[key + "cw"] = wts.reshape(-1)
        else:
            x = np.clip(x, f32(0), f32(n_in - 1))
            i0 = np.floor(x).astype(np.int32)
            i1 = np.minimum(i0 + 1, n_in - 1).astype(np.int32)
            out[key + "0"], out[key + "1"], out[key + "f"] = i0, i1, (x - i0.astype(f32)).astype(f32)
    return out
