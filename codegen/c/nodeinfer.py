"""Single-node evaluation for the C lowering: ops whose inputs are all known at compile time
(shape arithmetic a pass left behind, e.g. ``Shape`` of a tensor whose shape only became static
later) are computed with onnx's reference evaluator, and output shapes the IR left symbolic are
inferred from the node's now-static inputs with onnx's shape inference."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from qcompiler.codegen.onnx_backend import _node_proto
from qcompiler.ir import Op
from qcompiler.ir.qc_ops import fused_base

__all__ = ["evaluate", "infer_shapes", "SAME_SHAPE"]

#: ops whose (first) output has their first input's shape
SAME_SHAPE = frozenset({
    "GroupNormalization", "InstanceNormalization", "LayerNormalization", "BatchNormalization", "Relu",
    "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "Gelu", "Erf", "Mish", "Softplus", "Elu",
    "Selu", "Clip", "Softmax", "LogSoftmax", "Identity", "Dropout", "Neg", "Abs", "Exp", "Log", "Sqrt",
    "Reciprocal", "Cast", "QuantizeLinear", "DequantizeLinear",
})  # fmt: skip


def _model(op: Op, inputs: list, opset: dict[str, int]) -> onnx.ModelProto:
    node = _node_proto(op)
    base = fused_base(op)
    if base is not None:  # qcompiler's fused ops have their base op's shapes
        node.op_type, node.domain = base, ""
        keep = [a for a in node.attribute if a.name not in ("activation", "act_alpha", "act_beta")]
        node.ClearField("attribute")
        node.attribute.extend(keep)
    node.ClearField("input")
    node.ClearField("output")
    names = []
    graph_inputs, inits = [], []
    for i, x in enumerate(inputs):
        if x is None:
            names.append("")
            continue
        name = f"i{i}"
        names.append(name)
        if isinstance(x, np.ndarray):
            inits.append(numpy_helper.from_array(x, name))
        else:
            shape, elem = x
            graph_inputs.append(helper.make_tensor_value_info(name, elem, list(shape)))
    node.input.extend(names)
    outs = [f"o{i}" for i in range(len(op.outputs))]
    node.output.extend(outs)
    # identities make the node's results intermediate values, which shape inference annotates
    ids = [helper.make_node("Identity", [o], [f"r{i}"]) for i, o in enumerate(outs)]
    g = helper.make_graph([node, *ids], "n", graph_inputs,
                          [helper.make_empty_tensor_value_info(f"r{i}") for i in range(len(outs))],
                          initializer=inits)  # fmt: skip
    imports = [helper.make_opsetid(d, v) for d, v in opset.items()]
    return helper.make_model(g, opset_imports=imports, ir_version=10)


def evaluate(op: Op, consts: list[np.ndarray | None], opset: dict[str, int]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    m = _model(op, consts, opset)
    feeds = {}
    return [np.asarray(r) for r in ReferenceEvaluator(m).run(None, feeds)]



def infer_shapes(op: Op, inputs: list, opset: dict[str, int]) -> list[tuple[int, ...] | None]:
    """Output shapes of ``op`` given each input as an array (constant) or (shape, onnx elem)."""
    if op.op_type in SAME_SHAPE and inputs and isinstance(inputs[0], tuple):
        return [tuple(inputs[0][0])] + [None] * (len(op.outputs) - 1)
    m = _model(op, inputs, opset)
    try:
        inferred = onnx.shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - inference is best effort
        return [None] * len(op.outputs)
    res = []
    by_name = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for i in range(len(op.outputs)):
        v = by_name.get(f"o{i}")
        if v is None or not v.type.tensor_type.HasField("shape"):
            res.append(None)
            continue
        dims = v.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            res.append(tuple(int(d.dim_value) for d in dims))
        else:
            res.append(None)
    return res
