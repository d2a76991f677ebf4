"""``float32-compute``: a float16 (or bfloat16) model computes in float32 between its inputs and
outputs, which keep their types.

Quantization needs float32 around its Q/DQ (QuantizeLinear takes float16 only from opset 19,
with float16 scales, and onnxruntime's int8 kernels are fused from float32 Q/DQ), and a
pretrained float16 model is quantized from float32 in every tool (onnxruntime's quantizer asks
for a float32 model). So: float16/bfloat16 constants become float32, every float16/bfloat16
value inside is typed float32, Casts (and ConstantOfShape/EyeLike/Random* dtypes) to float16
or bfloat16 become float32 ones, each float16 graph input is cast to float32 where it enters and
each float16 graph output is cast back where it leaves. The model's interface is unchanged;
values inside differ from the float16 model by its float16 rounding (they are what the float16
model approximates). A float32 model is left alone. Runs first in the quantizing pipelines.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from qcompiler.ir import DType, Graph, Model, TensorType
from qcompiler.pass_base import Pass, PassContext

__all__ = ["Float32ComputePass"]

_HALF = (DType.FLOAT16, DType.BFLOAT16)
_HALF_CODES = (TensorProto.FLOAT16, TensorProto.BFLOAT16)
_DTYPE_ATTRS = {"Cast": "to", "EyeLike": "dtype", "RandomNormal": "dtype", "RandomUniform": "dtype",
                "RandomNormalLike": "dtype", "RandomUniformLike": "dtype", "Multinomial": "dtype"}  # fmt: skip


def _half(v) -> bool:
    t = v.type if v is not None else None
    return isinstance(t, TensorType) and t.elem in _HALF


def _retype(graph: Graph) -> bool:
    changed = False
    for c in list(graph.constants):
        if _half(c):
            c.const = np.asarray(c.const, np.float32)
            c.type = c.type.with_elem(DType.FLOAT32)
            changed = True
    for op in graph.all_ops():
        attr = _DTYPE_ATTRS.get(op.op_type) if op.domain in ("", "ai.onnx") else None
        if attr is not None and op.attr(attr, None) in _HALF_CODES:
            op.set_attr(attr, TensorProto.FLOAT)
            changed = True
        if op.op_type == "ConstantOfShape" and op.domain in ("", "ai.onnx"):
            value = op.attr("value", None)
            if value is not None and np.asarray(value).dtype == np.float16:
                op.set_attr("value", np.asarray(value, np.float32))
                changed = True
        for out in op.outputs:
            if _half(out):
                out.type = out.type.with_elem(DType.FLOAT32)
                changed = True
    return changed


class Float32ComputePass(Pass):
    name = "float32-compute"
    description = "A float16/bfloat16 model computes in float32 inside (Casts at its inputs and outputs)."

    def run(self, model: Model, ctx: PassContext) -> bool:
        g = model.graph
        half_in = [x for x in g.inputs if _half(x)]
        half_out = [(i, v, v.type.elem) for i, v in enumerate(g.outputs) if _half(v)]
        changed = _retype(g)
        if not (changed or half_in or half_out):
            return False
        for x in half_in:
            users = x.users()
            if not users:
                continue
            with g.inserting_before(g.first) as b:
                y = b.op("Cast", x, to=TensorProto.FLOAT, name=f"{x.name}_to_float32")
            y.type = x.type.with_elem(DType.FLOAT32)
            x.replace_all_uses_with(y, exclude=(y.producer(),))
        for i, v, elem in half_out:
            src = g.outputs[i]  # an input passed straight through is still the float16 input
            if src.producer() is None:
                continue
            with g.inserting_after(src.producer()) as b:
                y = b.op("Cast", src, to=int(elem), name=f"{v.name}_to_{'float16' if elem == DType.FLOAT16 else 'bfloat16'}")
            y.type = src.type.with_elem(elem)
            src.replace_all_uses_with(y, exclude=(y.producer(),))
        return True

