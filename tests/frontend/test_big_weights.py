"""Big initializers kept out of shape inference and out of onnxruntime's serialized model."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from qcompiler.frontend.big_weights import big_initializers, infer_shapes_light, ort_session
from qcompiler.frontend.onnx_frontend import infer_shapes


def model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32)).astype(np.float32)  # 8 KiB: big
    unused = rng.standard_normal((40, 40)).astype(np.float32)  # big, read by no node
    then_w = rng.standard_normal((16, 64)).astype(np.float32)  # big, read inside a subgraph
    then = h.make_graph([h.make_node("Reshape", ["y", "shape"], ["r"]),
                         h.make_node("MatMul", ["r", "then_w"], ["out_then"])], "then", [],
                        [h.make_tensor_value_info("out_then", T.FLOAT, None)])  # fmt: skip
    other = h.make_graph([h.make_node("Identity", ["y"], ["out_else"])], "else", [],
                         [h.make_tensor_value_info("out_else", T.FLOAT, None)])  # fmt: skip
    nodes = [h.make_node("MatMul", ["x", "w"], ["y"]),
             h.make_node("ReduceSum", ["y"], ["s"], keepdims=0),
             h.make_node("Greater", ["s", "zero"], ["c"]),
             h.make_node("If", ["c"], ["z"], then_branch=then, else_branch=other)]  # fmt: skip
    inits = [nh.from_array(w, "w"), nh.from_array(unused, "unused"), nh.from_array(then_w, "then_w"),
             nh.from_array(np.array([8, 16], np.int64), "shape"), nh.from_array(np.array(-1e9, np.float32), "zero")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [4, 64])],
                     [h.make_tensor_value_info("z", T.FLOAT, None)], inits)  # fmt: skip
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_inference_on_the_skeleton_gives_the_whole_models_types():
    m = model()
    assert {t.name for t in big_initializers(m)} == {"w", "unused", "then_w"}
    full = onnx.shape_inference.infer_shapes(m, data_prop=True)
    light = infer_shapes_light(m, data_prop=True)
    types = {vi.name: vi.type for vi in full.graph.value_info}
    assert types and {vi.name: vi.type for vi in light.graph.value_info} == types
    # the frontend's result is the whole model again: inputs and initializers as they were
    got = infer_shapes(m, "m.onnx")
    assert [i.name for i in got.graph.input] == ["x"]
    assert [t.SerializeToString() for t in got.graph.initializer] == [t.SerializeToString() for t in m.graph.initializer]
    assert {vi.name: vi.type for vi in got.graph.value_info} == types


def test_session_gets_big_initializers_as_arrays():
    m = model()
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = ref.run(None, {"x": x})
    for level in (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
        sess = ort_session(m, ["y"], graph_optimization_level=level)
        z, y = sess.run(["z", "y"], {"x": x})
        np.testing.assert_array_equal(z, want[0])
        assert y.shape == (4, 32)
    assert m.graph.initializer[0].raw_data  # the caller's model keeps its data
