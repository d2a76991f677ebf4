"""prune-qdq: Q/DQ pairs between two ops onnxruntime runs in float go; pairs next to int8 ops stay."""

from __future__ import annotations

import numpy as np
import onnx
from conftest import run_ort
from onnx import TensorProto, helper, numpy_helper

import qcompiler
from qcompiler.quant_api import quantize


def model() -> onnx.ModelProto:
    """conv -> a decomposed LayerNorm over channels (as exporters write it) -> conv."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w2")
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    eps = numpy_helper.from_array(np.array(1e-5, np.float32), "eps")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("ReduceMean", ["c1", "axes"], ["m"], name="mean"),
             helper.make_node("Sub", ["c1", "m"], ["d"], name="center"),
             helper.make_node("Pow", ["d", "two"], ["p"], name="square"),
             helper.make_node("ReduceMean", ["p", "axes"], ["v"], name="var"),
             helper.make_node("Add", ["v", "eps"], ["ve"], name="add_eps"),
             helper.make_node("Sqrt", ["ve"], ["sd"], name="std"),
             helper.make_node("Div", ["d", "sd"], ["n"], name="normalize"),
             helper.make_node("Conv", ["n", "w2"], ["y"], name="conv2")]  # fmt: skip
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [w1, w2, two, eps, axes])  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def quantized_inputs(res, op_name: str) -> list[bool]:
    op = next(o for o in res.model.graph if o.name == op_name)
    return [v is not None and v.producer() is not None and v.producer().is_a("DequantizeLinear") for v in op.inputs]


def test_pairs_between_float_ops_go_and_int8_neighbours_keep_theirs(tmp_path):
    rng = np.random.default_rng(1)
    data = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)]
    out = tmp_path / "q.onnx"
    res = quantize(model(), str(out), calib_data=data, options={"cache_dir": str(tmp_path / "c")})
    assert res.context.state["qdq_pruned"] == 3
    # ReduceMean -> Sub, Sub -> Pow/Div and Pow -> ReduceMean all run in float in onnxruntime
    assert quantized_inputs(res, "center") == [True, False]  # c1 comes from the int8 conv
    assert quantized_inputs(res, "square")[0] is False
    assert quantized_inputs(res, "var")[0] is False
    assert quantized_inputs(res, "normalize")[0] is False
    assert quantized_inputs(res, "conv2")[0] is True  # an int8 consumer keeps its pair
    x = data[2]
    want = run_ort(model(), x)[0]
    got = run_ort(out, x)[0]
    sqnr = 10 * np.log10(np.sum(want**2) / np.sum((got - want) ** 2))
    assert sqnr > 25, sqnr


def test_kept_for_the_c_backend_and_with_runtime_none(tmp_path):
    rng = np.random.default_rng(1)
    data = [{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]
    opts = {"cache_dir": str(tmp_path / "c")}
    res = quantize(model(), None, calib_data=data, options=opts, backend="c")
    assert res.context.state.get("qdq_pruned", 0) == 0
    assert quantized_inputs(res, "square")[0] is True
    text = qcompiler.registry.load_registry().pipeline_text("full-quant").replace("prune-qdq", "prune-qdq{runtime=none}")
    res = quantize(model(), None, calib_data=data, options=opts, pipeline=text)
    assert quantized_inputs(res, "square")[0] is True
