"""onnxruntime's contrib ops, as its transformer optimizer writes them, become standard ONNX ops on
import, so the quantizer and every backend read them as the ops they know.

onnxruntime's documentation has users run ``onnxruntime.transformers.optimizer.optimize_model``
before quantizing a transformer; the result holds fused ``com.microsoft`` ops. Each is rewritten
into the standard ops computing the same thing (onnxruntime's CPU kernels are the reference):

* ``SkipLayerNormalization`` (``input + skip + bias``, then layer normalization; the sum is also
  the optional ``input_skip_bias_sum`` output), ``SkipSimplifiedLayerNormalization`` and
  ``SimplifiedLayerNormalization`` (RMS normalization: ``x / sqrt(mean(x^2) + eps) * scale``,
  registered by onnxruntime in the default domain, where onnx's checker does not know it), and
  onnxruntime's ``LayerNormalization`` of the default domain below opset 17. Layer normalization
  is ONNX's ``LayerNormalization`` from opset 17, else ReduceMean/Sub/Mul/Add/Sqrt/Div.
* ``FastGelu`` (tanh approximation, optional bias): ``Gelu(approximate="tanh")`` from opset 20,
  else its formula; ``BiasGelu``: ``Add`` and the exact GELU (``Gelu`` from opset 20, else the
  ``Div``/``Erf``/``Add``/``Mul``/``Mul`` form exporters write, which the quantizer fuses into
  one GELU); ``QuickGelu``: ``x * Sigmoid(alpha * x)``; ``BiasAdd``: ``input + bias + skip``.
* ``Attention`` without past state or rotary embedding: MatMul/Add per Q, K and V (the packed
  constant weights split by ``qkv_hidden_sizes``), Reshape/Transpose to heads, ``Q K^T * scale``
  (+ ``attention_bias``) (+ the mask as ``Where(mask > 0, 0, mask_filter_value)``), Softmax,
  MatMul by V, Transpose/Reshape back. Masks: a raw 2-D ``(B, T)`` or 3-D ``(B, S, T)`` 0/1 mask,
  1-D ``(B)`` end positions (right padding) or ``(2B)`` end then start positions, the dummy
  ``(B or 1, 1)``; ``unidirectional`` hides later positions with ``-inf`` (onnxruntime sets them
  to the lowest float, which gives the same probabilities: the diagonal is never hidden).
  Sequence positions are ``Range`` over the input's ``Shape`` (folded on import when shapes are
  known), so Attention and EmbedLayerNormalization are rewritten from opset 11 on.
* ``EmbedLayerNormalization``: Gather of the word, position and segment embeddings, their sum
  (the optional ``embedding_sum``), layer normalization, and ``mask_index`` as the int32
  ReduceSum of the mask over the sequence (zeros without a mask).

onnxruntime's ``com.microsoft.Gelu`` is kept: the C backend runs it as it is. A node in a form
this rewrite does not express (past/present state, rotary embedding, weights computed at run
time, a mask of unknown or other shape) is kept, and the C backend names it in its one-line
"no C kernel" error.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qcompiler.frontend.big_weights import infer_shapes_light

__all__ = ["lower_contrib_ops"]

_MS = "com.microsoft"
_ONNX = ("", "ai.onnx")


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _declared_shapes(graph: onnx.GraphProto) -> dict[str, list]:
    """Value name -> dims (int, symbol or None each) of the tensors ``graph`` declares."""
    shapes = {}
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    for t in graph.initializer:
        shapes[t.name] = list(t.dims)
    return shapes


def _io(names, n: int) -> list[str]:
    """``names`` padded with "" (absent optional inputs or outputs) to ``n`` entries."""
    return (list(names) + [""] * n)[:n]


class _Rewriter:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {t.name: t for t in model.graph.initializer}
        self.opset = next((o.version for o in model.opset_import if o.domain in _ONNX), 0)
        self.nodes: list[onnx.NodeProto] = []
        self.new_inits: list[onnx.TensorProto] = []
        self.count = 0
        self._shapes: dict[str, list] | None = None
        self._inferred = False
        self.lengths: set[str] = set()  # 1-D (B) mask_index values made from EmbedLayerNormalization

    # ---- building blocks ------------------------------------------------------------------
    def const(self, name: str) -> np.ndarray | None:
        t = self.inits.get(name)
        return numpy_helper.to_array(t) if t is not None else None

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__ms{self.count}"

    def add_const(self, arr: np.ndarray, base: str) -> str:
        name = self.fresh(base)
        self.new_inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def scalar(self, v: float, base: str) -> str:
        return self.add_const(np.array(v, np.float32), base)

    def ints(self, vals, base: str) -> str:
        return self.add_const(np.array(vals, np.int64), base)

    def op(self, op_type: str, ins: list[str], base: str, out: str = "", **attrs) -> str:
        """Append one node; returns its output (``out``, or a fresh name)."""
        y = out or self.fresh(base)
        self.count += 1
        self.nodes.append(helper.make_node(op_type, ins, [y], name=f"{base}/{op_type}{self.count}", **attrs))
        return y

    def axes_op(self, op_type: str, x: str, axes: list[int], base: str, since: int, out: str = "", **attrs) -> str:
        """Unsqueeze/ReduceMean/ReduceSum: ``axes`` an input from opset ``since``, else an attribute."""
        if self.opset >= since:
            return self.op(op_type, [x, self.ints(axes, base)], base, out, **attrs)
        return self.op(op_type, [x], base, out, axes=axes, **attrs)

    def unsqueeze(self, x: str, axes: list[int], base: str) -> str:
        return self.axes_op("Unsqueeze", x, axes, base, 13)

    def reduce_mean(self, x: str, axes: list[int], base: str, out: str = "") -> str:
        return self.axes_op("ReduceMean", x, axes, base, 18, out, keepdims=1)

    def shape(self, name: str) -> list | None:
        """Dims of a value of the original model (int, symbol or None each), from the graph's
        declared types, else from onnx shape inference (which skips the contrib ops, and runs
        once, only when asked for a value not declared); None when unknown."""
        if self._shapes is None:
            self._shapes = _declared_shapes(self.model.graph)
        if name not in self._shapes and not self._inferred:
            self._inferred = True
            try:
                self._shapes.update(_declared_shapes(infer_shapes_light(self.model, strict_mode=False).graph))
            except Exception:  # noqa: BLE001 - only an aid: without it, only declared shapes are known
                pass
        return self._shapes.get(name)

    # ---- normalization ---------------------------------------------------------------------
    def norm(self, x: str, gamma: str, beta: str, eps: float, axis: int, outs: list[str], base: str,
             simplified: bool = False) -> bool:  # fmt: skip
        """Layer (or RMS) normalization of ``x`` over the axes from ``axis`` on into ``outs``
        (output, mean, inverse standard deviation; "" when not wanted)."""
        y, mean_out, inv_out = outs
        if not simplified and self.opset >= 17:
            ins = [x, gamma] + ([beta] if beta else [])
            node = helper.make_node("LayerNormalization", ins, list(outs), name=base, axis=axis, epsilon=eps)
            while node.output and not node.output[-1]:
                node.output.pop()
            self.nodes.append(node)
            return True
        if axis < 0:
            axes = list(range(axis, 0))
        else:
            dims = self.shape(x)
            if dims is None:
                return False
            axes = list(range(axis, len(dims)))
        if simplified:
            d = x
            var = self.reduce_mean(self.op("Mul", [x, x], base), axes, base)
        else:
            mean = self.reduce_mean(x, axes, base, out=mean_out)
            d = self.op("Sub", [x, mean], base)
            var = self.reduce_mean(self.op("Mul", [d, d], base), axes, base)
        std = self.op("Sqrt", [self.op("Add", [var, self.scalar(eps, base)], base)], base)
        if inv_out:
            self.op("Reciprocal", [std], base, out=inv_out)
        scaled = self.op("Mul", [self.op("Div", [d, std], base), gamma], base, out="" if beta else y)
        if beta:
            self.nodes.append(helper.make_node("Add", [scaled, beta], [y], name=base))
        else:
            self.nodes[-1].name = base
        return True

    def skip_layernorm(self, node: onnx.NodeProto) -> bool:
        simplified = node.op_type == "SkipSimplifiedLayerNormalization"
        if simplified:
            x, skip, gamma, bias = _io(node.input, 4)
            beta = ""
        else:
            x, skip, gamma, beta, bias = _io(node.input, 5)
        y, mean, inv, total = _io(node.output, 4)
        base = node.name or y
        s = self.op("Add", [x, skip], base, out="" if bias else total)
        if bias:
            s = self.op("Add", [s, bias], base, out=total)
        eps = float(_attrs(node).get("epsilon", 1e-12))
        return self.norm(s, gamma, beta, eps, -1, [y, "" if simplified else mean, inv], base, simplified)

    def layernorm(self, node: onnx.NodeProto) -> bool:
        """onnxruntime's LayerNormalization below opset 17, or SimplifiedLayerNormalization."""
        x, gamma, beta = _io(node.input, 3)
        a = _attrs(node)
        if node.op_type == "SimplifiedLayerNormalization":
            y, inv = _io(node.output, 2)
            outs, simplified = [y, "", inv], True
        else:
            outs, simplified = _io(node.output, 3), False
        base = node.name or outs[0]
        return self.norm(x, gamma, beta, float(a.get("epsilon", 1e-5)), int(a.get("axis", -1)), outs, base, simplified)

    # ---- activations -----------------------------------------------------------------------
    def gelu(self, x: str, y: str, base: str, approximate: bool) -> None:
        """GELU of ``x`` into ``y``: ONNX ``Gelu`` from opset 20, else its formula."""
        if self.opset >= 20:
            kw = {"approximate": "tanh"} if approximate else {}
            self.nodes.append(helper.make_node("Gelu", [x], [y], name=base, **kw))
            return
        if approximate:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            cube = self.op("Mul", [self.op("Mul", [x, x], base), x], base)
            inner = self.op("Add", [x, self.op("Mul", [cube, self.scalar(0.044715, base)], base)], base)
            t = self.op("Tanh", [self.op("Mul", [inner, self.scalar(math.sqrt(2.0 / math.pi), base)], base)], base)
            one_t = self.op("Add", [t, self.scalar(1.0, base)], base)
            half = self.op("Mul", [x, self.scalar(0.5, base)], base)
            self.nodes.append(helper.make_node("Mul", [half, one_t], [y], name=base))
            return
        # the exact form exporters write (qcompiler.ir.qc_ops writes it back the same way)
        e = self.op("Erf", [self.op("Div", [x, self.scalar(math.sqrt(2.0), base)], base)], base)
        m = self.op("Mul", [x, self.op("Add", [e, self.scalar(1.0, base)], base)], base)
        self.nodes.append(helper.make_node("Mul", [m, self.scalar(0.5, base)], [y], name=base))

    def fast_gelu(self, node: onnx.NodeProto) -> bool:
        x, bias = _io(node.input, 2)
        base = node.name or node.output[0]
        if bias:
            x = self.op("Add", [x, bias], base)
        self.gelu(x, node.output[0], base, approximate=True)
        return True

    def bias_gelu(self, node: onnx.NodeProto) -> bool:
        base = node.name or node.output[0]
        self.gelu(self.op("Add", list(node.input[:2]), base), node.output[0], base, approximate=False)
        return True

    def quick_gelu(self, node: onnx.NodeProto) -> bool:
        base = node.name or node.output[0]
        alpha = float(_attrs(node).get("alpha", 1.702))
        x = node.input[0]
        sig = self.op("Sigmoid", [self.op("Mul", [x, self.scalar(alpha, base)], base)], base)
        self.nodes.append(helper.make_node("Mul", [x, sig], [node.output[0]], name=base))
        return True

    def bias_add(self, node: onnx.NodeProto) -> bool:
        x, bias, skip = _io(node.input, 3)
        base = node.name or node.output[0]
        self.nodes.append(helper.make_node("Add", [self.op("Add", [x, bias], base), skip], [node.output[0]], name=base))
        return True

    # ---- attention ---------------------------------------------------------------------------
    def positions(self, x: str, base: str) -> str:
        """int64 ``[0, 1, ..., x.shape[1])`` (shape ops, folded on import when shapes are known)."""
        n = self.op("Gather", [self.op("Shape", [x], base), self.add_const(np.array(1, np.int64), base)], base)
        return self.op("Range", [self.add_const(np.array(0, np.int64), base), n,
                                 self.add_const(np.array(1, np.int64), base)], base)  # fmt: skip

    def keep_mask(self, mask: str, x: str, base: str) -> str | None | bool:
        """A bool mask broadcasting to the scores ``(B, N, S, T)``: True where attending; None
        without one (or a dummy one), False when the mask's form is not known."""
        if not mask:
            return None
        dims, batch = self.shape(mask), (self.shape(x) or [None])[0]
        if mask in self.lengths or dims == [batch] and batch is not None:  # valid lengths (B)
            return self.unsqueeze(self.before_end(mask, x, base), [1, 2], base)
        if dims is not None and len(dims) == 1 and isinstance(batch, int) and dims == [2 * batch]:
            ends, starts = self.fresh(base), self.fresh(base)  # end and start positions (2B)
            split = {"num_outputs": 2} if self.opset >= 18 else {}
            self.nodes.append(helper.make_node("Split", [mask], [ends, starts], name=f"{base}/Split", axis=0, **split))
            keep = self.op("And", [self.before_end(ends, x, base),
                                   self.op("Not", [self.before_end(starts, x, base)], base)], base)  # fmt: skip
            return self.unsqueeze(keep, [1, 2], base)
        if dims is None or len(dims) not in (2, 3):
            return False
        if len(dims) == 2 and dims[1] == 1:
            return None  # dummy mask: attends everywhere
        keep = self.op("Greater", [mask, self.add_const(np.array(0, np.int32), base)], base)  # int32, 0 = hidden
        return self.unsqueeze(keep, [1, 2] if len(dims) == 2 else [1], base)

    def before_end(self, ends: str, x: str, base: str) -> str:
        """bool ``(B, T)``: position t < ends[b] (``ends`` int32 ``(B)``, T the sequence of ``x``)."""
        pos = self.unsqueeze(self.positions(x, base), [0], base)
        ends = self.unsqueeze(self.op("Cast", [ends], base, to=onnx.TensorProto.INT64), [1], base)
        return self.op("Less", [pos, ends], base)

    def attention(self, node: onnx.NodeProto) -> bool:
        x, w, b, mask, past, attn_bias, past_len = _io(node.input, 7)
        a = _attrs(node)
        if past or past_len or any(node.output[1:]) or a.get("do_rotary", 0) or self.opset < 11:
            return False
        weights, bias = self.const(w), self.const(b) if b else None
        if weights is None or weights.ndim != 2 or (b and (bias is None or bias.ndim != 1)):
            return False
        heads = int(a["num_heads"])
        sizes = [int(v) for v in a.get("qkv_hidden_sizes", [])] or [weights.shape[1] // 3] * 3
        if (len(sizes) != 3 or sum(sizes) != weights.shape[1] or sizes[0] != sizes[1]
                or any(s % heads for s in sizes)):  # fmt: skip
            return False
        base = node.name or node.output[0]
        keep = self.keep_mask(mask, x, base)
        if keep is False:
            return False
        qkv, start = [], 0
        for size, perm in zip(sizes, ([0, 2, 1, 3], [0, 2, 3, 1], [0, 2, 1, 3])):
            t = self.op("MatMul", [x, self.add_const(weights[:, start:start + size], f"{base}_w")], base)
            if bias is not None:
                t = self.op("Add", [t, self.add_const(bias[start:start + size], f"{base}_b")], base)
            t = self.op("Reshape", [t, self.ints([0, 0, heads, size // heads], base)], base)
            qkv.append(self.op("Transpose", [t], base, perm=perm))
            start += size
        q, kt, v = qkv
        scale = float(a.get("scale", 0.0)) or 1.0 / math.sqrt(sizes[0] // heads)
        s = self.op("Mul", [self.op("MatMul", [q, kt], base), self.scalar(scale, base)], base)
        if attn_bias:
            s = self.op("Add", [s, attn_bias], base)
        if keep is not None:
            filt = self.scalar(float(a.get("mask_filter_value", -10000.0)), base)
            s = self.op("Add", [s, self.op("Where", [keep, self.scalar(0.0, base), filt], base)], base)
        if a.get("unidirectional", 0):
            pos = self.positions(x, base)
            later = self.op("Greater", [self.unsqueeze(pos, [0], base), self.unsqueeze(pos, [1], base)], base)
            s = self.op("Where", [later, self.scalar(-np.inf, base), s], base)
        p = self.op("Softmax", [s], base, axis=-1)
        o = self.op("Transpose", [self.op("MatMul", [p, v], base)], base, perm=[0, 2, 1, 3])
        merged = self.ints([0, 0, sizes[2]], base)
        self.nodes.append(helper.make_node("Reshape", [o, merged], [node.output[0]], name=base))
        return True

    # ---- embeddings --------------------------------------------------------------------------
    def embed_layernorm(self, node: onnx.NodeProto) -> bool:
        ids, seg, word, pos_emb, seg_emb, gamma, beta, mask, pos_ids = _io(node.input, 9)
        y, mask_index, emb_sum = _io(node.output, 3)
        if self.opset < 11:
            return False
        base = node.name or y
        e = self.op("Gather", [word, ids], base)
        if pos_ids:
            p = self.op("Gather", [pos_emb, pos_ids], base)
        else:
            p = self.op("Gather", [pos_emb, self.positions(ids, base)], base)  # (S, H), broadcast over B
        total = self.op("Add", [e, p], base, out="" if seg else emb_sum)
        if seg:
            total = self.op("Add", [total, self.op("Gather", [seg_emb, seg], base)], base, out=emb_sum)
        if mask_index:
            if mask:
                self.axes_op("ReduceSum", mask, [1], base, 13, out=mask_index, keepdims=0)
            else:  # onnxruntime writes zeros
                zeros = self.op("Mul", [self.op("Cast", [ids], base, to=onnx.TensorProto.INT32),
                                        self.add_const(np.array(0, np.int32), base)], base)  # fmt: skip
                self.axes_op("ReduceSum", zeros, [1], base, 13, out=mask_index, keepdims=0)
            self.lengths.add(mask_index)
        return self.norm(total, gamma, beta, float(_attrs(node).get("epsilon", 1e-12)), -1, [y, "", ""], base)


#: (domain, op type) -> the rule rewriting such a node (False: the node is kept).
_RULES: dict[tuple[str, str], Callable[[_Rewriter, onnx.NodeProto], bool]] = {
    (_MS, "SkipLayerNormalization"): _Rewriter.skip_layernorm,
    (_MS, "SkipSimplifiedLayerNormalization"): _Rewriter.skip_layernorm,
    ("", "SimplifiedLayerNormalization"): _Rewriter.layernorm,
    (_MS, "SimplifiedLayerNormalization"): _Rewriter.layernorm,
    (_MS, "FastGelu"): _Rewriter.fast_gelu,
    (_MS, "BiasGelu"): _Rewriter.bias_gelu,
    (_MS, "QuickGelu"): _Rewriter.quick_gelu,
    (_MS, "BiasAdd"): _Rewriter.bias_add,
    (_MS, "Attention"): _Rewriter.attention,
    (_MS, "EmbedLayerNormalization"): _Rewriter.embed_layernorm,
}


def _rule(node: onnx.NodeProto, opset: int):
    domain = "" if node.domain == "ai.onnx" else node.domain
    if domain == "" and node.op_type == "LayerNormalization" and opset < 17:
        return _Rewriter.layernorm  # onnxruntime's own, before ONNX had one
    return _RULES.get((domain, node.op_type))


def lower_contrib_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with the main graph's onnxruntime contrib ops rewritten as standard ONNX ops (a
    new proto), or ``model`` itself when there is none this rewrite expresses."""
    opset = next((o.version for o in model.opset_import if o.domain in _ONNX), 0)
    if not any(_rule(n, opset) for n in model.graph.node):
        return model
    rw = _Rewriter(model)
    changed = False
    for node in model.graph.node:
        rule = _rule(node, opset)
        before, inits, lengths = len(rw.nodes), len(rw.new_inits), set(rw.lengths)
        if rule is not None and rule(rw, node):
            changed = True
            continue
        del rw.nodes[before:], rw.new_inits[inits:]
        rw.lengths = lengths
        rw.nodes.append(node)
    if not changed:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(rw.nodes)
    out.graph.initializer.extend(rw.new_inits)
    if model.ir_version < 4:  # initializers are listed among the graph inputs too
        out.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in rw.new_inits)
    if not any(n.domain == _MS for n in out.graph.node):
        keep = [o for o in out.opset_import if o.domain != _MS]
        del out.opset_import[:]
        out.opset_import.extend(keep)
    return out
