"""``prune-qdq``: drop QuantizeLinear/DequantizeLinear pairs that only cost time in onnxruntime.

onnxruntime runs an op on its integer kernels when the op's inputs come from DequantizeLinear
and its output goes to QuantizeLinear (QLinearConv, QLinearMatMul, QLinearAdd...). An op it has
no integer kernel for (Div, Pow, Sqrt, ReduceMean, Erf, HardSigmoid, Sub...) runs in float
between a DequantizeLinear and a QuantizeLinear. Where a tensor goes from such a float op only
to other float ops, its Q/DQ pair buys nothing: it costs two passes over the tensor and adds
rounding noise. This pass removes exactly those pairs: the producer and every consumer of the
tensor run in float either way. Pairs next to an op onnxruntime runs in int8, or next to a data
movement op it moves through (Reshape, Transpose...), stay.

``runtime=auto`` (the default) prunes for the ONNX backend and leaves the model alone for the C
backend, whose kernels run every quantized op in int8 (tables for elementwise functions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from qcompiler.ir import Model, Op, Value
from qcompiler.pass_base import Pass, PassContext

__all__ = ["PruneQdqPass", "ORT_INT8_OPS"]

#: ops onnxruntime's QDQ transformers turn into integer kernels, or move quantized data through
ORT_INT8_OPS = frozenset({
    "Conv", "ConvTranspose", "MatMul", "Gemm", "Add", "Mul", "Concat", "AveragePool", "GlobalAveragePool",
    "MaxPool", "Sigmoid", "LeakyRelu", "Softmax", "Resize", "Relu", "Clip", "ArgMax", "Where",
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Split", "Slice", "Gather", "Pad", "Expand",
    "Tile", "DepthToSpace", "SpaceToDepth", "Identity", "Dropout", "MaxRoiPool", "InstanceNormalization",
    "ConvAct", "GemmAct", "MatMulAct", "ConvTransposeAct",
})  # fmt: skip


@dataclass
class PruneQdqOptions:
    runtime: Literal["auto", "onnxruntime", "none"] = field(
        default="auto", metadata={"help": "'auto': onnxruntime unless the backend is c; 'none': keep every pair"})


def _int8(op: Op | None) -> bool:
    return op is not None and op.op_type in ORT_INT8_OPS


def _prunable(q: Op) -> list[Op] | None:
    """The DequantizeLinear ops of a prunable pair, or None."""
    x, qv = q.input(0), q.output
    if x is None or x.is_constant or qv.is_graph_output or _int8(x.producer()):
        return None
    dqs = qv.users()
    if not dqs or any(not d.is_a("DequantizeLinear") or d.input(0) is not qv for d in dqs):
        return None
    for d in dqs:
        if any(_int8(c) for c in d.output.users()):
            return None
    return dqs


class PruneQdqPass(Pass):
    name = "prune-qdq"
    description = "Drop Q/DQ pairs between ops onnxruntime runs in float (they only cost time and precision)."
    Options = PruneQdqOptions

    def run(self, model: Model, ctx: PassContext) -> bool:
        mode = self.options.runtime
        if mode == "none" or (mode == "auto" and (ctx.options or {}).get("backend") == "c"):
            return False
        g = model.graph
        pruned = 0
        for q in list(g):
            if not q.is_a("QuantizeLinear"):
                continue
            dqs = _prunable(q)
            if dqs is None:
                continue
            x: Value = q.input(0)
            for d in dqs:
                d.output.replace_all_uses_with(x)
            g.remove([*dqs, q])
            pruned += 1
        ctx.state["qdq_pruned"] = pruned
        return pruned > 0
