"""Experimental ONNX ops of the early opsets that onnxruntime still runs become standard ops on
import, so every pass and backend reads them: ``ImageScaler(x)`` (``scale * x + bias[c]``; the
ONNX model zoo's Tiny YOLOv2 starts with it) is ``Mul`` by the scale, then ``Add``
of the biases as a ``[1, C, 1, 1]`` constant; ``Scale(x)`` is ``Mul``."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["lower_legacy_ops"]


def lower_legacy_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with the main graph's ImageScaler and Scale nodes rewritten (a new proto), or
    ``model`` itself when it has none."""
    if not any(n.op_type in ("ImageScaler", "Scale") and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    ir3 = model.ir_version < 4  # initializers are listed among the graph inputs too
    for node in model.graph.node:
        if node.op_type not in ("ImageScaler", "Scale") or node.domain not in ("", "ai.onnx"):
            out.graph.node.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        base = node.name or node.output[0]
        consts = [(f"{base}__scale", np.array(attrs.get("scale", 1.0), np.float32))]
        if node.op_type == "ImageScaler":
            bias = np.asarray(attrs.get("bias", []), np.float32)
            consts.append((f"{base}__bias", bias.reshape(1, -1, 1, 1)))
        for name, arr in consts:
            out.graph.initializer.append(numpy_helper.from_array(arr, name))
            if ir3:
                out.graph.input.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, arr.shape))
        if node.op_type == "Scale" or consts[1][1].size == 0:
            out.graph.node.append(helper.make_node("Mul", [node.input[0], consts[0][0]], [node.output[0]], name=base))
            continue
        mid = f"{node.output[0]}__scaled"
        out.graph.node.append(helper.make_node("Mul", [node.input[0], consts[0][0]], [mid], name=f"{base}/scale"))
        out.graph.node.append(helper.make_node("Add", [mid, consts[1][0]], [node.output[0]], name=base))
    return out
