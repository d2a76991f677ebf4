"""``fold-constants``: evaluate ops whose inputs are all constants and replace them by constants.

QuantizeLinear/DequantizeLinear are never folded (they are the quantization structure), nor are
ops with nested graphs, random ops, or ops of other domains.  Results larger than ``max_bytes``
stay computed at run time (``Expand``/``Tile`` of a constant would only bloat the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from qcompiler.ir import Graph, Model, Op
from qcompiler.pass_base import Pass, PassContext

__all__ = ["FoldConstantsPass"]

_NEVER_FOLD = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "RandomNormal",
    "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli",
    "If", "Loop", "Scan", "SequenceConstruct", "Optional",
})  # fmt: skip


@dataclass
class FoldConstantsOptions:
    max_bytes: int = field(default=1 << 24, metadata={"help": "largest result folded, in bytes"})


def _numpy_eval(op: Op) -> list[np.ndarray] | None:
    """The few ops exporters wrap around constants, computed directly (the reference
    evaluator costs tens of milliseconds per op to set up)."""
    x = op.input(0).const if op.input(0) is not None else None
    t = op.op_type
    if t == "Identity":
        return [np.asarray(x)]
    if t == "Cast" and "to" in op.attrs:
        from qcompiler.ir import DType

        to = DType(op.attr("to"))
        if to.is_float or to.is_integer or to == DType.BOOL:
            return [np.asarray(x).astype(to.numpy())]
    if t == "Transpose":
        perm = op.attr("perm")
        return [np.ascontiguousarray(np.transpose(x, perm))]
    return None


def evaluate_op(op: Op, opset: int) -> list[np.ndarray]:
    """Run one ONNX op on its constant inputs with the onnx reference implementation."""
    fast = _numpy_eval(op)
    if fast is not None:
        return fast
    names = [f"i{k}" if v is not None else "" for k, v in enumerate(op.inputs)]
    outs = [f"o{k}" for k in range(len(op.outputs))]
    from qcompiler.codegen.onnx_backend import _attr_proto

    node = onnx.helper.make_node(op.op_type, names, outs)
    node.attribute.extend(_attr_proto(k, a) for k, a in op.attrs.items())
    graph_inputs = [
        onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(v.const.dtype), v.const.shape)  # noqa: E501
        for n, v in zip(names, op.inputs, strict=False)
        if v is not None
    ]
    graph = onnx.helper.make_graph([node], "fold", graph_inputs,
                                   [onnx.helper.make_value_info(o, onnx.TypeProto()) for o in outs])  # fmt: skip
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    feeds = {n: v.const for n, v in zip(names, op.inputs, strict=False) if v is not None}
    return [np.asarray(r) for r in ReferenceEvaluator(model).run(None, feeds)]


def _foldable(op: Op) -> bool:
    return (
        op.domain in ("", "ai.onnx")
        and op.op_type not in _NEVER_FOLD
        and not op.regions()
        and any(v is not None for v in op.inputs)
        and all(v is None or v.is_constant for v in op.inputs)
    )


class FoldConstantsPass(Pass):
    name = "fold-constants"
    description = "Evaluate ops whose inputs are all constants (Q/DQ excluded) into constants."
    Options = FoldConstantsOptions

    def _fold_graph(self, g: Graph, opset: int) -> bool:
        changed = False
        for op in g:
            for sub in op.regions():
                changed |= self._fold_graph(sub, opset)
            if not _foldable(op):
                continue
            try:
                results = evaluate_op(op, opset)
            except Exception:  # noqa: BLE001 - an op the reference cannot run stays as it is
                continue
            if any(r.nbytes > self.options.max_bytes for r in results):
                continue
            for out, arr in zip(op.outputs, results, strict=False):
                c = g.add_constant(arr, out.name + "_folded")
                out.replace_all_uses_with(c)
            g.remove(op, safe=False)
            changed = True
        return changed

    def run(self, model: Model, ctx: PassContext) -> bool:
        return self._fold_graph(model.graph, model.opset_imports.get("", 17))
