"""The ONNX frontend: reading, structure checks, shape binding, folding and the proto -> IR step."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
from conftest import assert_close, run_ort
from corpus import good_models, model_path, random_inputs
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from qcompiler.codegen.onnx_backend import ir_to_proto
from qcompiler.errors import ModelLoadError
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.ir import DType, verify

BY_NAME = {e["name"]: e for e in good_models()}


def vi(name, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=17, **kw):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)], **kw)


def test_unsorted_nodes_are_sorted_and_the_caller_proto_is_untouched():
    nodes = [h.make_node("Neg", ["a"], ["y"], name="last"), h.make_node("Relu", ["x"], ["a"], name="first")]
    proto = model(nodes, [vi("x", [2])], [vi("y", [2])])
    before = proto.SerializeToString()
    m = load_onnx(proto)
    verify(m)
    assert [op.name for op in m.graph] == ["first", "last"]
    assert proto.SerializeToString() == before
    x = np.array([-1.0, 2.0], np.float32)
    assert_close(run_ort(ir_to_proto(m), {"x": x}), [np.array([0.0, -2.0], np.float32)])


def test_constant_nodes_become_constants_of_the_right_type():
    nodes = [h.make_node("Constant", [], ["k"], value_ints=[2, 3]),
             h.make_node("Constant", [], ["f"], value_float=0.5),
             h.make_node("Mul", ["x", "f"], ["y"])]  # fmt: skip
    m = load_onnx(model(nodes, [vi("x", [2])], [vi("y", [2])]))
    consts = {c.name: c for c in m.graph.constants}
    assert consts["k"].dtype == DType.INT64 and consts["k"].const.tolist() == [2, 3]
    assert consts["f"].dtype == DType.FLOAT32 and float(consts["f"].const) == 0.5
    assert [op.op_type for op in m.graph] == ["Mul"]


def test_sources_path_bytes_and_proto_give_the_same_ir():
    from qcompiler.ir import print_model

    path = model_path(BY_NAME["op_conv"])
    texts = {print_model(load_onnx(src)) for src in (path, str(path), path.read_bytes(), onnx.load(str(path)))}
    assert len(texts) == 1


def test_external_data_loads_from_a_path_and_is_refused_from_bytes(tmp_path):
    entry = BY_NAME["external_data"]
    path = model_path(entry)
    m = load_onnx(path)
    w = next(c for c in m.graph.constants if c.name == "w")
    assert w.const.shape == (32, 64) and np.abs(w.const).sum() > 0
    with pytest.raises(ModelLoadError, match="external data; load it from its file path"):
        load_onnx(path.read_bytes())
    # The data file missing: the message names it.
    lonely = tmp_path / "external_data.onnx"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(ModelLoadError, match="'external_data.onnx.data'.*not found"):
        load_onnx(lonely)


def test_input_shape_binding_and_its_errors():
    entry = BY_NAME["dynamic_dims"]
    path = model_path(entry)
    free = load_onnx(path)
    assert free.graph.inputs[0].shape.dims == ("N", 3, "H", "W")
    bound = load_onnx(path, input_shapes={"x": [2, 3, 8, 8]})
    assert bound.graph.inputs[0].shape.dims == (2, 3, 8, 8)
    assert bound.graph.outputs[0].shape.dims == (2, 5)  # re-inferred from the bound input
    with pytest.raises(ModelLoadError, match=r"'nope', which is not a model input \(inputs: x\)"):
        load_onnx(path, input_shapes={"nope": [1]})
    with pytest.raises(ModelLoadError, match="has rank 3, but input 'x' has rank 4"):
        load_onnx(path, input_shapes={"x": [1, 3, 8]})
    with pytest.raises(ModelLoadError, match="dim 1 is fixed to 3 in the model, got 4"):
        load_onnx(path, input_shapes={"x": [1, 4, 8, 8]})


def test_shape_subgraph_is_folded_and_numerics_kept():
    entry = BY_NAME["shape_subgraph"]
    m = load_onnx(model_path(entry))
    types = [op.op_type for op in m.graph]
    assert "Shape" not in types and "ConstantOfShape" not in types and "Reshape" in types
    feeds = random_inputs(entry)
    assert_close(run_ort(ir_to_proto(m), feeds), run_ort(model_path(entry), feeds))


def test_subgraphs_read_outer_values_through_the_ir():
    m = load_onnx(model_path(BY_NAME["loop_model"]))
    loop = next(op for op in m.graph if op.op_type == "Loop")
    body = loop.regions()[0]
    outer_reads = {v.name for op in body for v in op.inputs if v is not None and v.graph() is m.graph}
    assert outer_reads == {"w", "x"}
    w = next(c for c in m.graph.constants if c.name == "w")
    assert any(user.graph is body for user in w.users())


def test_contrib_ops_keep_their_domain():
    m = load_onnx(model_path(BY_NAME["contrib_ops"]))
    assert m.opset_imports["com.microsoft"] == 1
    assert any(op.domain == "com.microsoft" for op in m.graph)


def test_qdq_model_types_are_quantized():
    m = load_onnx(model_path(BY_NAME["qdq_model"]))
    q = [op.output for op in m.graph if op.op_type == "QuantizeLinear"]
    assert q and all(v.quant is not None and v.quant.storage in (DType.INT8, DType.UINT8) for v in q)


def test_ir_version_3_initializers_listed_as_inputs_are_constants():
    entry = BY_NAME["opset7"]
    proto = onnx.load(str(model_path(entry)))
    m = load_onnx(proto)
    init_names = {t.name for t in proto.graph.initializer}
    assert init_names and init_names <= {c.name for c in m.graph.constants}
    assert not init_names & {v.name for v in m.graph.inputs}


# -- bad input: one-line errors naming the file and the node or value at fault ------------------
def _bad(tmp_path, proto, name="bad.onnx"):
    p = tmp_path / name
    p.write_bytes(proto.SerializeToString())
    return p


BAD = {
    "arity": (lambda: model([h.make_node("Relu", ["x", "x"], ["y"], name="r")], [vi("x", [1])], [vi("y", [1])]),
              r"invalid ONNX model: node 'r' \(Relu\): .*input size 2"),
    "unknown_op": (lambda: model([h.make_node("Frob", ["x"], ["y"])], [vi("x", [1])], [vi("y", [1])]),
                   r"\(Frob\): No Op registered for Frob"),
    "shapes": (lambda: model([h.make_node("Add", ["x", "w"], ["y"])], [vi("x", [1, 3])], [vi("y", [1, 3])],
                             [nh.from_array(np.ones(4, np.float32), "w")]),
               "shapes do not agree: .*Add.*Incompatible dimensions"),
    "opset_too_new": (lambda: model([h.make_node("Relu", ["x"], ["y"])], [vi("x", [1])], [vi("y", [1])], opset=99),
                      "imports ONNX opset 99, newer than the newest this installation knows"),
    "subgraph_ghost": (lambda: model([h.make_node(
        "If", ["c"], ["y"], name="branch",
        then_branch=h.make_graph([h.make_node("Neg", ["ghost"], ["t"])], "t", [], [vi("t", [1])]),
        else_branch=h.make_graph([h.make_node("Abs", ["x"], ["e"])], "e", [], [vi("e", [1])]))],
        [vi("x", [1]), vi("c", [], T.BOOL)], [vi("y", [1])]), r"node 'branch' \(If\) reads 'ghost'"),
    "output_not_produced": (lambda: model([h.make_node("Relu", ["x"], ["y"])], [vi("x", [1])], [vi("zz", [1])]),
                            "graph output 'zz' is not produced"),
    "no_default_domain": (lambda: h.make_model(h.make_graph([], "g", [vi("x", [1])], [vi("x", [1])]),
                                               opset_imports=[h.make_opsetid("com.example", 1)]),
                          "imports no ONNX opset"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_models_are_refused_at_load(case, tmp_path):
    build, pattern = BAD[case]
    path = _bad(tmp_path, build())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ModelLoadError, match=pattern) as info:
        load_onnx(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_shape_inference_gaps_are_not_errors():
    # onnx cannot infer HardSwish after GroupNormalization at opset 21 in strict mode; the model
    # is valid and must load (strict failures that are not contradictions fall back).
    m = load_onnx(model_path(BY_NAME["opset21"]))
    verify(m)
    assert [op.op_type for op in m.graph][-1] == "HardSwish"


def _bench_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("shape", ["chain", "branchy", "shuffled", "control-flow"])
def test_bench_graphs_round_trip(shape, tmp_path):
    """The synthetic graphs of bench/scale.py (small): sorted, scoped and saved correctly."""
    bench = _bench_module()
    proto = bench.SHAPES[shape](200)
    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    src.write_bytes(proto.SerializeToString())
    bench.run_once(src, dst)
    feeds = {"x": np.linspace(-1, 1, 16, dtype=np.float32).reshape(1, 16)}
    if shape == "control-flow":
        feeds["cond"] = np.array(True)
    onnx.checker.check_model(str(dst), full_check=True)
    assert_close(run_ort(dst, feeds), run_ort(src, feeds))
    got = onnx.load(str(dst))
    assert len(got.graph.node) == len(proto.graph.node)


def test_shape_folding_repeats_until_every_shape_is_known():
    """pads computed from Shape(x) make Pad's result known only after one fold; the Shape of
    that result folds in the next round (a Swin Transformer export has 7 such rounds)."""
    def c(v, n):
        return nh.from_array(np.array(v, np.int64), n)

    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "last"], ["w"], axis=0),
             h.make_node("Sub", ["seven", "w"], ["extra"]),  # pad the last axis up to 7
             h.make_node("Concat", ["zeros3", "zero1", "zeros3", "extra"], ["pads"], axis=0),
             h.make_node("Pad", ["x", "pads"], ["p"]),
             h.make_node("Shape", ["p"], ["ps"]), h.make_node("Gather", ["ps", "i3"], ["pw"], axis=0),
             h.make_node("Unsqueeze", ["pw", "ax0"], ["pw1"]),
             h.make_node("Concat", ["minus1", "pw1"], ["shape"], axis=0),
             h.make_node("Reshape", ["p", "shape"], ["y"])]  # fmt: skip
    inits = [c(3, "i3"), c([3], "last"), c(7, "seven"), c([0, 0, 0], "zeros3"), c([0], "zero1"), c([0], "ax0"), c([-1], "minus1")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 3, 5])],
                      [h.make_tensor_value_info("y", T.FLOAT, ["a", "b"])], inits)  # fmt: skip
    model = load_onnx(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    assert [op.op_type for op in model.graph] == ["Pad", "Reshape"]
    assert model.graph.outputs[0].shape.dims == (6, 7)


def test_shape_folding_survives_a_subgraph_onnxruntime_cannot_run():
    """One foldable subgraph fails in onnxruntime (Range with delta 0): the others still fold
    (the one-session fold falls back to graphsurgeon's node-peeling partitioning)."""
    def c(v, n):
        return nh.from_array(np.array(v, np.int64), n)

    nodes = [h.make_node("Shape", ["x"], ["s"]), h.make_node("Gather", ["s", "i2"], ["s2"], axis=0),
             h.make_node("Range", ["zero", "s2", "zero"], ["z"]),
             h.make_node("Gather", ["s", "i3"], ["s3"], axis=0),
             h.make_node("Concat", ["minus1", "s3"], ["shape"], axis=0),
             h.make_node("Reshape", ["x", "shape"], ["y"])]  # fmt: skip
    g = h.make_graph(nodes, "g", [vi("x", [1, 2, 3, 5])], [vi("y", ["a", "b"]), vi("z", ["n"], T.INT64)],
                     [c(2, "i2"), c([3], "i3"), c(0, "zero"), c([-1], "minus1")])  # fmt: skip
    m = load_onnx(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    assert [op.op_type for op in m.graph] == ["Range", "Reshape"]
    assert m.graph.outputs[0].shape.dims == (6, 5)


@pytest.mark.parametrize("eq, sa, sb", [
    ("B G H I D, B G H J D -> B G H I J", (1, 2, 3, 5, 4), (1, 2, 3, 6, 4)),  # MaxViT's q k^T
    ("bghij,bghjd->bghid", (1, 2, 3, 5, 6), (1, 2, 3, 6, 4)),  # ... and attention @ v
    ("ij,jk->ik", (3, 4), (4, 5)), ("ki,jk->ij", (4, 3), (5, 4)), ("bik,bkj->bji", (2, 3, 4), (2, 4, 5)),
    ("hbik,bhjk->bhij", (3, 2, 4, 5), (2, 3, 6, 5)),
])  # fmt: skip
def test_matrix_product_einsum_becomes_matmul(eq, sa, sb):
    rng = np.random.default_rng(0)
    out = np.einsum(eq.replace(" ", ""), np.zeros(sa), np.zeros(sb)).shape
    g = h.make_graph([h.make_node("Einsum", ["a", "b"], ["y"], equation=eq)], "g", [vi("a", list(sa)), vi("b", list(sb))],
                     [vi("y", list(out))])  # fmt: skip
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m = load_onnx(proto)
    types = [op.op_type for op in m.graph]
    assert "Einsum" not in types and types.count("MatMul") == 1
    feeds = {"a": rng.standard_normal(sa).astype(np.float32), "b": rng.standard_normal(sb).astype(np.float32)}
    assert_close(run_ort(ir_to_proto(m), feeds), run_ort(proto, feeds))
    assert m.graph.outputs[0].shape.dims == out


@pytest.mark.parametrize("eq", ["ii->i", "ij,jk,kl->il", "...ij,...jk->...ik", "ij,ij->ij", "bij,bjk->b", "i,j->ij",
                                "ij,jk", "ij,jk->ik->k"])
def test_other_einsums_stay(eq):
    from qcompiler.frontend.einsum import einsum_as_matmul

    assert einsum_as_matmul(eq) is None
