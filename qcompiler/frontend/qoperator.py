"""Operator-format quantized models (QLinearConv & co.) become QDQ graphs on import.

onnxruntime's quantizer can write a model in two formats: QDQ (QuantizeLinear/DequantizeLinear
around float ops, what qcompiler writes) and "QOperator", where each quantized op is one node
with its scales and zero points as inputs: QLinearConv and QLinearMatMul (ONNX), and from the
``com.microsoft`` domain QGemm, QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat and QLinearSoftmax. The ONNX model
zoo's int8 models are in that format. Each such node is rewritten as DequantizeLinear of its
inputs, the float op, and QuantizeLinear of its output with the node's own parameters: the same
real-valued computation (onnxruntime fuses it back into its integer kernel), in the form the IR
and both backends take (the C backend runs it with its int8 kernels).

A bias of QLinearConv/QGemm is int32 with scale ``x_scale * w_scale`` and zero point 0; it
becomes a DequantizeLinear with that product as its (constant) scale. QGemm computes
``alpha * (A'B' + C)``, so it becomes ``Gemm(alpha=alpha, beta=alpha)``; without ``y_scale`` its
output is float. A node this rewrite cannot express (a scale that is not a constant, a
per-row scale of a matrix product's first operand, channels_last pooling) is left as it was.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["lower_qoperator", "lower_dynamic_quant"]

_MS = "com.microsoft"
_ONNX = ("", "ai.onnx")
# domain-less name -> (float op, [(input index of x, of its scale, of its zero point)], output
# scale and zero point input indices (None: float output), attributes kept)
_ELEMENTWISE = {
    "QLinearAdd": ("Add", [(0, 1, 2), (3, 4, 5)], (6, 7), ()),
    "QLinearMul": ("Mul", [(0, 1, 2), (3, 4, 5)], (6, 7), ()),
    "QLinearSigmoid": ("Sigmoid", [(0, 1, 2)], (3, 4), ()),
    "QLinearLeakyRelu": ("LeakyRelu", [(0, 1, 2)], (3, 4), ("alpha",)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", [(0, 1, 2)], (3, 4), ()),
    "QLinearAveragePool": ("AveragePool", [(0, 1, 2)], (3, 4),
                           ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")),
    "QLinearSoftmax": ("Softmax", [(0, 1, 2)], (3, 4), ("axis",)),
}  # fmt: skip


# Ops a QOperator model runs directly on quantized tensors (exact on the stored integers): each
# becomes DequantizeLinear -> op -> QuantizeLinear with its input's parameters.
_DIRECT = {"MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize",
           "Gather", "Slice", "Split", "Pad", "Identity", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
           "Upsample", "ReduceMax", "ReduceMin"}  # fmt: skip


class _Rewriter:
    def __init__(self, model: onnx.ModelProto):
        self.inits = {t.name: t for t in model.graph.initializer}
        self.opset = next((o.version for o in model.opset_import if o.domain in _ONNX), 0)
        # quantized tensor -> (scale, zero point) names: QuantizeLinear outputs, rewritten nodes'
        # outputs and what the direct ops pass them to
        self.qparams: dict[str, tuple[str, str]] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.new_inits: list[onnx.TensorProto] = []
        self.count = 0
        self.changed = False
        self.per_axis = False  # a DequantizeLinear with an axis (opset 13)

    def const(self, name: str) -> np.ndarray | None:
        t = self.inits.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__qop{self.count}"

    def dq(self, x: str, scale: str, zp: str, base: str, axis: int | None = None) -> str:
        out = self.fresh(base)
        ins = [x, scale] + ([zp] if zp else [])
        kw = {"axis": axis} if axis is not None else {}
        self.per_axis |= axis is not None
        self.nodes.append(helper.make_node("DequantizeLinear", ins, [out], name=f"{out}/dq", **kw))
        return out

    def q(self, xf: str, scale: str, zp: str, out: str, base: str) -> None:
        ins = [xf, scale] + ([zp] if zp else [])
        self.nodes.append(helper.make_node("QuantizeLinear", ins, [out], name=f"{base}/q"))
        self.qparams[out] = (scale, zp)

    def bias(self, b: str, xs: str, ws: str, base: str) -> str | None:
        """DequantizeLinear of an int32 bias with scale x_scale * w_scale (a new constant)."""
        sx, sw = self.const(xs), self.const(ws)
        if sx is None or sw is None or sx.size != 1:
            return None
        scale = (np.float32(sx.reshape(-1)[0]) * sw.astype(np.float32).reshape(-1)).astype(np.float32)
        name = self.fresh(f"{base}_bias_scale")
        self.new_inits.append(numpy_helper.from_array(scale if scale.size > 1 else scale.reshape(()), name))
        return self.dq(b, name, "", base, axis=0 if scale.size > 1 else None)

    def add_bias(self, ins: list[str], b: str, xs: str, ws: str, base: str) -> bool:
        """Append the dequantized bias ``b`` (if any) to ``ins``; False if it cannot be."""
        if not b:
            return True
        bf = self.bias(b, xs, ws, base)
        if bf is not None:
            ins.append(bf)
        return bf is not None

    def scalar_scale(self, *names: str) -> bool:
        return all(self.const(n) is not None and self.const(n).size == 1 for n in names)

    # ---- rules: each returns False (node kept) or appends the rewritten nodes ----------------
    def rewrite(self, node: onnx.NodeProto) -> bool:
        op = node.op_type
        if node.domain in _ONNX and op == "QuantizeLinear" and len(node.input) >= 2:
            self.qparams[node.output[0]] = (node.input[1], node.input[2] if len(node.input) > 2 else "")
            return False
        if node.domain in _ONNX and op in _DIRECT and node.input and node.input[0] in self.qparams:
            return self.direct(node)
        if node.domain in _ONNX and op == "QLinearConv":
            return self.conv(node)
        if node.domain in _ONNX and op == "QLinearMatMul":
            return self.matmul(node)
        if node.domain == _MS and op == "QGemm":
            return self.gemm(node)
        if node.domain == _MS and op == "QLinearConcat":
            return self.concat(node)
        if node.domain == _MS and op in _ELEMENTWISE:
            return self.elementwise(node)
        return False

    def direct(self, node) -> bool:
        """An op on a quantized tensor: DequantizeLinear, the op, QuantizeLinear of each output
        with the input's parameters (the op was exact on the integers, so the values agree)."""
        scale, zp = self.qparams[node.input[0]]
        base = node.name or node.output[0]
        outs = [self.fresh(base) for _ in node.output]
        new = helper.make_node(node.op_type, [self.dq(node.input[0], scale, zp, base), *node.input[1:]], outs, name=base)
        new.attribute.extend(node.attribute)
        self.nodes.append(new)
        for yf, y in zip(outs, node.output):
            if y:
                self.q(yf, scale, zp, y, base)
        return True

    def conv(self, node) -> bool:
        i = list(node.input) + [""] * (9 - len(node.input))
        x, xs, xz, w, ws, wz, ys, yz, b = i[:9]
        sw = self.const(ws)
        if not self.scalar_scale(xs, ys) or sw is None or self.const(w) is None:
            return False
        base = node.name or node.output[0]
        xf = self.dq(x, xs, xz, base)
        wf = self.dq(w, ws, wz, base, axis=0 if sw.size > 1 else None)
        ins = [xf, wf]
        if not self.add_bias(ins, b, xs, ws, base):
            return False
        yf = self.fresh(base)
        self.nodes.append(helper.make_node("Conv", ins, [yf], name=base))
        self.nodes[-1].attribute.extend(node.attribute)
        self.q(yf, ys, yz, node.output[0], base)
        return True

    def _b_axis(self, b: str, bs: str) -> int | None | bool:
        """DequantizeLinear axis of a matrix product's second operand (False: not expressible)."""
        s, w = self.const(bs), self.const(b)
        if s is None:
            return False
        if s.size == 1:
            return None
        if w is None or w.ndim != 2:
            return False
        return 1

    def matmul(self, node) -> bool:
        a, as_, az, b, bs, bz, ys, yz = (list(node.input) + [""] * 8)[:8]
        axis = self._b_axis(b, bs)
        if not self.scalar_scale(as_, ys) or axis is False:
            return False
        base = node.name or node.output[0]
        af, bf = self.dq(a, as_, az, base), self.dq(b, bs, bz, base, axis=axis)
        yf = self.fresh(base)
        self.nodes.append(helper.make_node("MatMul", [af, bf], [yf], name=base))
        self.q(yf, ys, yz, node.output[0], base)
        return True

    def gemm(self, node) -> bool:
        i = list(node.input) + [""] * (9 - len(node.input))
        a, as_, az, b, bs, bz, c, ys, yz = i[:9]
        attrs = {a_.name: helper.get_attribute_value(a_) for a_ in node.attribute}
        trans_b = int(attrs.get("transB", 0))
        s = self.const(bs)
        if not self.scalar_scale(as_) or s is None or (ys and not self.scalar_scale(ys)):
            return False
        axis = None if s.size == 1 else (0 if trans_b else 1)
        if axis is not None and (self.const(b) is None or self.const(b).ndim != 2):
            return False
        base = node.name or node.output[0]
        af, bf = self.dq(a, as_, az, base), self.dq(b, bs, bz, base, axis=axis)
        ins = [af, bf]
        if not self.add_bias(ins, c, as_, bs, base):
            return False
        alpha = float(attrs.get("alpha", 1.0))
        yf = self.fresh(base) if ys else node.output[0]
        self.nodes.append(helper.make_node("Gemm", ins, [yf], name=base, alpha=alpha, beta=alpha,
                                           transA=int(attrs.get("transA", 0)), transB=trans_b))  # fmt: skip
        if ys:
            self.q(yf, ys, yz, node.output[0], base)
        return True

    def concat(self, node) -> bool:
        ys, yz, *rest = list(node.input)
        if len(rest) % 3 or not self.scalar_scale(ys, *rest[1::3]):
            return False
        base = node.name or node.output[0]
        ins = [self.dq(rest[k], rest[k + 1], rest[k + 2], base) for k in range(0, len(rest), 3)]
        yf = self.fresh(base)
        axis = next(helper.get_attribute_value(a) for a in node.attribute if a.name == "axis")
        self.nodes.append(helper.make_node("Concat", ins, [yf], name=base, axis=axis))
        self.q(yf, ys, yz, node.output[0], base)
        return True

    def elementwise(self, node) -> bool:
        fop, ins_idx, (si, zi), keep = _ELEMENTWISE[node.op_type]
        i = list(node.input) + [""] * 9
        attrs = {a.name: a for a in node.attribute}
        if int(helper.get_attribute_value(attrs["channels_last"])) if "channels_last" in attrs else 0:
            return False
        if not self.scalar_scale(i[si], *(i[s] for _, s, _ in ins_idx)):
            return False
        if node.op_type == "QLinearSoftmax" and (self.opset < 13 or "opset" not in attrs
                                                 or int(helper.get_attribute_value(attrs["opset"])) < 13):
            return False  # opset-11 Softmax semantics (coerce to 2-D) are not what Softmax-13 does
        base = node.name or node.output[0]
        ins = [self.dq(i[x], i[s], i[z], base) for x, s, z in ins_idx]
        yf = self.fresh(base)
        self.nodes.append(helper.make_node(fop, ins, [yf], name=base))
        self.nodes[-1].attribute.extend(attrs[k] for k in keep if k in attrs)
        self.q(yf, i[si], i[zi], node.output[0], base)
        return True


def _rewrite(model: onnx.ModelProto) -> _Rewriter:
    rw = _Rewriter(model)
    for node in model.graph.node:
        before, inits, axis = len(rw.nodes), len(rw.new_inits), rw.per_axis
        if rw.rewrite(node):
            rw.changed = True
        else:
            del rw.nodes[before:], rw.new_inits[inits:]
            rw.per_axis = axis
            rw.nodes.append(node)
    return rw


def lower_qoperator(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with the main graph's operator-format quantized nodes rewritten as QDQ (a new
    proto), or ``model`` itself when there is none to rewrite. Per-channel weights need
    opset 13's DequantizeLinear: an older model is first raised to opset 13 by onnx's version
    converter (as the quantizing pipelines' upgrade-opset does), or left as it was if that fails."""
    if not any(n.op_type.startswith("QLinear") or n.op_type == "QGemm" for n in model.graph.node):
        return model
    rw = _rewrite(model)
    if not rw.changed:
        return model
    opset = next((o.version for o in model.opset_import if o.domain in _ONNX), 0)
    if rw.per_axis and opset < 13:
        from onnx import version_converter

        try:
            model = version_converter.convert_version(model, 13)
        except Exception:  # noqa: BLE001 - the converter raises many kinds; the model stays as it was
            return model
        rw = _rewrite(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(rw.nodes)
    out.graph.initializer.extend(rw.new_inits)
    if not any(n.domain == _MS for n in out.graph.node):
        keep = [o for o in out.opset_import if o.domain != _MS]
        del out.opset_import[:]
        out.opset_import.extend(keep)
    return out


def _dequantized(q: np.ndarray, zp: np.ndarray, scale: np.ndarray, per_shape: tuple) -> np.ndarray:
    """``(q - zp) * scale`` in float32; zp and scale are one value or per channel, laid out as
    ``per_shape`` to broadcast against ``q``."""

    def per(a):
        a = np.asarray(a, np.float32)
        return a.reshape(()) if a.size == 1 else a.reshape(per_shape)

    return (q.astype(np.float32) - per(zp)) * per(scale)


def _is_dynamic_lstm(node: onnx.NodeProto) -> bool:
    return node.op_type == "DynamicQuantizeLSTM" and node.domain == _MS


def _dequantized_lstm(node: onnx.NodeProto, const) -> tuple[onnx.NodeProto, list] | None:
    """onnxruntime's DynamicQuantizeLSTM (inputs X, W, R, B, sequence_lens, initial_h, initial_c,
    P, W_scale, W_zero_point, R_scale, R_zero_point; W [dirs, input, 4H] and R [dirs, H, 4H]
    int8/uint8, scales per direction or per direction and gate column) as ONNX LSTM with
    ``(q - zp) * scale`` transposed to LSTM's [dirs, 4H, input] / [dirs, 4H, H]; None when the
    weights or their parameters are not constants."""
    ins = list(node.input) + [""] * (12 - len(node.input))
    mats = []
    for q_name, s_name, z_name in ((ins[1], ins[8], ins[9]), (ins[2], ins[10], ins[11])):
        q, sc = const(q_name), const(s_name)
        zp = const(z_name) if z_name else np.zeros((), np.int8)
        if q is None or sc is None or zp is None or q.ndim != 3:
            return None
        dirs, cols = q.shape[0], q.shape[2]
        if sc.size not in (1, dirs, dirs * cols) or zp.size not in (1, dirs, dirs * cols):
            return None
        # per tensor, per direction or per gate column of [dirs, rows, cols]
        mats.append(np.ascontiguousarray(_dequantized(q, zp, sc, (dirs, 1, -1)).transpose(0, 2, 1)))
    names = [f"{ins[1]}__dequantized", f"{ins[2]}__dequantized"]
    new_inits = [numpy_helper.from_array(m, nm) for m, nm in zip(mats, names)]
    lstm_ins = [ins[0], names[0], names[1]] + ins[3:8]
    while lstm_ins and not lstm_ins[-1]:
        lstm_ins.pop()
    out = helper.make_node("LSTM", lstm_ins, list(node.output), name=node.name)
    out.attribute.extend(node.attribute)  # hidden_size, direction, activations, clip, ...
    return out, new_inits


def lower_dynamic_quant(model: onnx.ModelProto) -> onnx.ModelProto:
    """A dynamically quantized model (onnxruntime's quantize_dynamic: DynamicQuantizeLinear ->
    MatMulInteger or ConvInteger with constant int8 weights -> Cast -> Mul by x_scale * w_scale)
    back to float MatMul or Conv with the dequantized weights, ``(w - w_zp) * w_scale`` per
    tensor, per column (MatMul) or per output channel (Conv): the computation those nodes
    approximate, which the quantizer can then quantize statically and every backend runs (no
    backend computes activation scales at run time). onnxruntime's DynamicQuantizeLSTM becomes
    LSTM with its weights dequantized the same way. A chain that differs from that form is
    kept. Returns ``model`` itself when nothing is rewritten."""
    g = model.graph
    integer_ops = {"MatMulInteger": "MatMul", "ConvInteger": "Conv"}
    if not any(n.op_type in integer_ops or _is_dynamic_lstm(n) for n in g.node):
        return model
    inits = {t.name: t for t in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}

    def const(name):
        t = inits.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    def only_user(name, op_type):
        us = users.get(name, [])
        return us[0] if len(us) == 1 and us[0].op_type == op_type and name not in outputs else None

    drop, replace, new_inits = set(), {}, []
    for n in g.node:  # com.microsoft.DynamicQuantizeLSTM: LSTM with the dequantized weights
        lstm = _dequantized_lstm(n, const) if _is_dynamic_lstm(n) else None
        if lstm is not None:
            replace[id(n)], inits_n = lstm
            new_inits += inits_n
    for mi in g.node:
        if mi.op_type not in integer_ops or mi.domain not in _ONNX or len(mi.input) < 3:
            continue
        conv = mi.op_type == "ConvInteger"
        dq = producer.get(mi.input[0])
        w = const(mi.input[1])
        wz = const(mi.input[3]) if len(mi.input) > 3 and mi.input[3] else np.zeros((), np.int8)
        if dq is None or dq.op_type != "DynamicQuantizeLinear" or w is None or wz is None:
            continue
        if (w.ndim < 3) if conv else (w.ndim != 2):
            continue
        # per-channel weights: along the output channels (Conv's axis 0, MatMul's columns)
        nch, per_ch = (w.shape[0], (-1,) + (1,) * (w.ndim - 1)) if conv else (w.shape[1], (-1,))
        if mi.input[2] != dq.output[2]:
            continue
        cast = only_user(mi.output[0], "Cast")
        mul = only_user(cast.output[0], "Mul") if cast is not None else None
        if mul is None:
            continue
        other = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
        sm = producer.get(other)
        if sm is None or sm.op_type != "Mul" or dq.output[1] not in sm.input:
            continue
        ws = const(sm.input[1] if sm.input[0] == dq.output[1] else sm.input[0])
        if ws is None or ws.size not in (1, nch) or wz.size not in (1, nch):
            continue
        name = f"{mi.input[1]}__dequantized"
        new_inits.append(numpy_helper.from_array(_dequantized(w, wz, ws, per_ch), name))
        fnode = helper.make_node(integer_ops[mi.op_type], [dq.input[0], name], [mul.output[0]],
                                 name=mi.name or mul.name)
        fnode.attribute.extend(mi.attribute)  # ConvInteger's pads, strides, dilations, group, ...
        replace[id(mul)] = fnode
        drop.update({id(mi), id(cast)})
    if not replace:
        return model
    kept = []
    for n in g.node:
        if id(n) in drop:
            continue
        kept.append(replace.get(id(n), n))
    # DynamicQuantizeLinear and scale Muls that no node reads any more go too
    while True:
        read = {i for n in kept for i in n.input} | outputs
        dead = [n for n in kept if n.op_type in ("DynamicQuantizeLinear", "Mul") and not any(o in read for o in n.output)]
        if not dead:
            break
        kept = [n for n in kept if n not in dead]
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(kept)
    out.graph.initializer.extend(new_inits)
    used = {i for n in out.graph.node for i in n.input}
    keep_inits = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(keep_inits)
    return out

