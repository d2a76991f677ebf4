"""Small ONNX models for the report and analysis tests, built in memory (deterministic).

* :func:`hard_layer_model`: a conv chain where one layer, ``conv3``, is deliberately hard to
  quantize: its weights read two identical input channels with +50 and -50, which cancel in
  float but take the whole 8-bit range, so every other weight of the layer (about 0.3) gets one
  or two levels, per-tensor or per-channel alike.  Its activations are normal: keeping only
  ``conv3`` float removes the error.
* :func:`deep_model`: ``blocks`` residual blocks of Conv+Relu and Add on an 8x4x4 tensor
  (two quantized layers per block), for the size and load-time checks of a large report.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _conv(name: str, x: str, w: np.ndarray, b: np.ndarray, out: str, nodes: list, inits: list, pad: int = 1) -> None:
    inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}.weight"))
    inits.append(numpy_helper.from_array(b.astype(np.float32), f"{name}.bias"))
    k = w.shape[-1]
    nodes.append(helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [out], name=name,
                                  kernel_shape=[k, k], pads=[pad] * 4 if k > 1 else [0] * 4))  # fmt: skip


def _model(nodes, inits, x_shape, y_shape, name) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def hard_layer_model(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    c = 8

    def w(o, i, k=3):
        return rng.normal(0, 1.0 / np.sqrt(i * k * k), (o, i, k, k))

    _conv("conv1", "x", w(c, 3), rng.normal(0, 0.1, c), "c1", nodes, inits)
    nodes.append(helper.make_node("Relu", ["c1"], ["r1"], name="relu1"))
    w2 = w(c, c)
    w2[1] = w2[0]  # output channels 0 and 1 are identical
    b2 = rng.normal(0, 0.1, c)
    b2[1] = b2[0]
    _conv("conv2", "r1", w2, b2, "c2", nodes, inits)
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"], name="relu2"))
    w3 = w(c, c)
    w3[:, 0] = 50.0  # +50 x0 - 50 x1 = 0 in float: an outlier that cancels
    w3[:, 1] = -50.0
    _conv("conv3", "r2", w3, rng.normal(0, 0.1, c), "c3", nodes, inits)
    nodes.append(helper.make_node("Relu", ["c3"], ["r3"], name="relu3"))
    _conv("conv4", "r3", w(c, c), rng.normal(0, 0.1, c), "c4", nodes, inits)
    nodes.append(helper.make_node("Relu", ["c4"], ["r4"], name="relu4"))
    nodes.append(helper.make_node("GlobalAveragePool", ["r4"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.5, (10, c)).astype(np.float32), "fc.weight"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.1, 10).astype(np.float32), "fc.bias"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1))
    return _model(nodes, inits, [1, 3, 12, 12], [1, 10], "hard_layer")


def hard_layer_calib(n: int = 32, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 1, 3, 12, 12)).astype(np.float32)


def deep_model(blocks: int = 260, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes: list = []
    inits: list = []
    c = 8
    _conv("stem", "x", rng.normal(0, 0.3, (c, 3, 3, 3)), np.zeros(c), "h0", nodes, inits)
    prev = "h0"
    for i in range(blocks):
        _conv(f"b{i}.conv", prev, rng.normal(0, 0.25 / np.sqrt(c), (c, c, 1, 1)), rng.normal(0, 0.05, c),
              f"b{i}.c", nodes, inits, pad=0)  # fmt: skip
        nodes.append(helper.make_node("Relu", [f"b{i}.c"], [f"b{i}.r"], name=f"b{i}.relu"))
        nodes.append(helper.make_node("Add", [prev, f"b{i}.r"], [f"b{i}.out"], name=f"b{i}.add"))
        # Keep the scale bounded: halve the residual sum.
        inits.append(numpy_helper.from_array(np.array(0.5, np.float32), f"b{i}.half"))
        nodes.append(helper.make_node("Mul", [f"b{i}.out", f"b{i}.half"], [f"b{i}.y"], name=f"b{i}.mul"))
        prev = f"b{i}.y"
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    inits.append(numpy_helper.from_array(rng.normal(0, 0.5, (10, c)).astype(np.float32), "fc.weight"))
    inits.append(numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias"))
    nodes.append(helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1))
    return _model(nodes, inits, [1, 3, 4, 4], [1, 10], "deep")


def deep_calib(n: int = 8, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (n, 1, 3, 4, 4)).astype(np.float32)
