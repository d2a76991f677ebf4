"""Small hand-built ONNX graphs shared by several test modules."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def add_act_model(act: str) -> onnx.ModelProto:
    """a + b -> act -> 1x1 conv: the residual pattern of ResNets."""
    nodes = [h.make_node("Add", ["a", "b"], ["s"])]
    inits = [nh.from_array(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4, 1, 1), "w")]
    if act == "Relu":
        nodes.append(h.make_node("Relu", ["s"], ["r"]))
    else:
        lo, hi = act.split(":")[1:]
        inits += [nh.from_array(np.array(float(lo), np.float32), "lo"), nh.from_array(np.array(float(hi), np.float32), "hi")]
        nodes.append(h.make_node("Clip", ["s", "lo", "hi"], ["r"]))
    nodes.append(h.make_node("Conv", ["r", "w"], ["y"]))
    vi = [h.make_tensor_value_info(n, T.FLOAT, [1, 4, 6, 6]) for n in ("a", "b")]
    g = h.make_graph(nodes, "g", vi, [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 6, 6])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
