"""float32-compute: a float16 model quantizes (in float32 inside) and keeps its float16 interface."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import qcompiler
from qcompiler.quant_api import quantize


def _fp16_model(path):
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("Cast", ["r"], ["r16"], to=T.FLOAT16),  # a cast to float16 inside (exporters write these)
             h.make_node("GlobalAveragePool", ["r16"], ["p"]), h.make_node("Flatten", ["p"], ["f"]),
             h.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc")]  # fmt: skip
    inits = [nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float16) * 0.5, "w"),
             nh.from_array(rng.standard_normal(8).astype(np.float16) * 0.1, "b"),
             nh.from_array(rng.standard_normal((5, 8)).astype(np.float16), "fw"),
             nh.from_array(np.zeros(5, np.float16), "fb")]  # fmt: skip
    g = h.make_graph(nodes, "half", [h.make_tensor_value_info("x", T.FLOAT16, [1, 3, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT16, [1, 5])], inits)  # fmt: skip
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(path))


def test_float16_model_quantizes_and_keeps_its_float16_interface(tmp_path):
    src, out = tmp_path / "half.onnx", tmp_path / "q.onnx"
    _fp16_model(src)
    rng = np.random.default_rng(1)
    calib = [rng.standard_normal((1, 3, 8, 8)).astype(np.float16) for _ in range(8)]
    quantize(str(src), str(out), calib_data=calib, options={"cache_dir": str(tmp_path / "c")})
    q = onnx.load(str(out))
    assert q.graph.input[0].type.tensor_type.elem_type == T.FLOAT16
    assert q.graph.output[0].type.tensor_type.elem_type == T.FLOAT16
    types = [n.op_type for n in q.graph.node]
    assert types.count("QuantizeLinear") >= 2 and "Cast" in types
    assert all(t.data_type != T.FLOAT16 for t in q.graph.initializer)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float16)
    want = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert got.dtype == np.float16
    assert np.abs(got.astype(np.float32) - want).max() < 0.05 * np.abs(want).max()


def test_float32_models_are_left_alone():
    from corpus import good_models, model_path

    entry = next(e for e in good_models() if e["name"] == "op_conv")
    a = qcompiler.compile(str(model_path(entry)), None, pipeline="float32-compute")
    b = qcompiler.compile(str(model_path(entry)), None, pipeline="")
    assert [op.op_type for op in a.model.graph] == [op.op_type for op in b.model.graph]
