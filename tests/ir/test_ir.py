"""The IR: types, use-def chains, mutation API, verifier and printer."""

from __future__ import annotations

import numpy as np
import pytest

from qcompiler.errors import VerificationError
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.ir import (
    DType,
    Graph,
    Model,
    Op,
    QuantType,
    Shape,
    TensorType,
    Value,
    collect_problems,
    print_model,
    verify,
)

F32 = DType.FLOAT32


def small_model():
    g = Graph("main")
    m = Model(g, {"": 17})
    x = g.add_input("x", TensorType(F32, Shape.of([1, 4])))
    w = g.add_constant(np.ones((4, 4), np.float32), "w")
    with g.builder() as b:
        y = b.op("MatMul", x, w)
        z = b.op("Relu", y)
    g.add_output(z)
    return m, x, w, y, z


def test_quant_type_validation_and_ranges():
    q = QuantType(DType.INT8, 0.5, 3)
    assert q.qrange() == (-128, 127) and not q.per_axis
    assert QuantType(DType.INT8, 0.5, 0, bits=4).qrange() == (-8, 7)
    assert QuantType(DType.INT8, 0.5, 0, narrow_range=True).qrange() == (-127, 127)
    assert QuantType(DType.UINT8, 0.5, 0, bits=6).qrange() == (0, 63)
    pc = QuantType(DType.INT8, [0.1, 0.2], [0, 0], axis=0)
    assert pc.per_axis and pc.scale == (0.1, 0.2)
    with pytest.raises(ValueError, match="positive"):
        QuantType(DType.INT8, 0.0, 0)
    with pytest.raises(ValueError, match="zero point"):
        QuantType(DType.INT8, 0.1, 200)
    with pytest.raises(ValueError, match="exactly one scale"):
        QuantType(DType.INT8, [0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="integer"):
        QuantType(DType.FLOAT32, 0.1, 0)
    assert QuantType(DType.INT8, 0.5, 3) == QuantType(DType.INT8, [0.5], [3])
    t = TensorType(q, Shape.of([1, "N"]))
    assert t.dtype == DType.INT8 and t.is_quantized and str(t).startswith("!q<i8")


def test_shape_symbolic_and_static():
    s = Shape.of([1, "N", None])
    assert s.rank == 3 and not s.is_static and s.numel() is None and str(s) == "[1,N,?]"
    assert Shape.of([2, 3]).numel() == 6 and Shape.unknown().rank is None


def test_use_def_and_replace_all_uses_keeps_output_name():
    m, x, w, y, z = small_model()
    assert y.users() == [z.producer()] and y.uses() == [(z.producer(), 0)]
    relu = z.producer()
    with m.graph.inserting_after(relu) as b:
        s = b.op("Sigmoid", z)
    z.replace_all_uses_with(s, exclude=[s.producer()])
    verify(m)
    assert m.graph.outputs[0] is s and s.name == "relu" and z.name != "relu"
    assert not z.is_graph_output and s.is_graph_output


def test_remove_is_all_or_nothing():
    m, x, w, y, z = small_model()
    mm = y.producer()
    with pytest.raises(ValueError, match="used by"):
        m.graph.remove(mm)
    assert len(m.graph) == 2
    verify(m)
    with pytest.raises(ValueError, match="graph output"):
        m.graph.remove([mm, z.producer()])
    assert len(m.graph) == 2 and mm.graph is m.graph


def test_insert_before_and_order():
    m, x, w, y, z = small_model()
    relu = z.producer()
    with m.graph.inserting_before(relu) as b:
        n = b.op("Neg", y)
        a = b.op("Abs", n)
    relu.replace_input(0, a)
    verify(m)
    assert [op.op_type for op in m.graph] == ["MatMul", "Neg", "Abs", "Relu"]
    assert [op.op_type for op in reversed(m.graph)] == ["Relu", "Abs", "Neg", "MatMul"]


def test_verifier_catches_problems():
    m, x, w, y, z = small_model()
    orphan = Value("orphan", TensorType(F32, Shape.of([1])))
    m.graph.append(Op("Neg", [orphan]))
    assert any("before it is defined" in p for p in collect_problems(m))
    with pytest.raises(VerificationError, match="invalid IR"):
        verify(m)

    m, x, w, y, z = small_model()
    relu = z.producer()
    relu._inputs = (x,)  # bypassing the API leaves a stale use list
    problems = collect_problems(m)
    assert any("does not list this use" in p for p in problems)
    assert any("stale use" in p for p in problems)

    m, x, w, y, z = small_model()
    m.graph.append(Op("Custom", [z], domain="com.example"))
    assert any("com.example" in p for p in collect_problems(m))

    m, x, w, y, z = small_model()
    y.name = "x"
    assert any("defined twice" in p for p in collect_problems(m))

    m, x, w, y, z = small_model()
    mm = y.producer()
    m.graph.remove(mm, safe=False)
    assert any("producer was removed" in p for p in collect_problems(m))


def test_clone_model_with_subgraphs_reading_outer_values():
    from corpus import good_models, model_path

    entry = next(e for e in good_models() if e["name"] == "if_model")
    m = load_onnx(model_path(entry))
    c = m.clone()
    verify(c)
    assert print_model(c) == print_model(m)
    if_op = next(op for op in c.graph if op.op_type == "If")
    then = if_op.attrs["then_branch"].value
    mul = next(iter(then))
    outer = mul.inputs[0]
    assert outer.graph() is c.graph  # the clone's branch reads the clone's value
    assert all(op.graph is not None for op in c.graph.all_ops())


def test_printer_is_deterministic():
    from corpus import good_models, model_path

    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    a = print_model(load_onnx(model_path(entry)))
    b = print_model(load_onnx(model_path(entry)))
    assert a == b and "Conv(" in a and "BatchNormalization(" in a


def test_qdq_import_gives_quant_types():
    from corpus import good_models, model_path

    entry = next(e for e in good_models() if e["name"] == "qdq_model")
    m = load_onnx(model_path(entry))
    wq = next(c for c in m.graph.constants if c.name == "wq")
    assert wq.quant is not None and wq.quant.axis == 0 and len(wq.quant.scale) == 8
    xq = next(op for op in m.graph if op.op_type == "QuantizeLinear").output
    assert xq.quant == QuantType(DType.INT8, float(np.float32(0.02)), 0)


# -- more types -----------------------------------------------------------------------------------
def test_quant_type_more_validation():
    with pytest.raises(ValueError, match="same length"):
        QuantType(DType.INT8, [0.1, 0.2], [0], axis=0)
    with pytest.raises(ValueError, match="does not fit"):
        QuantType(DType.INT8, 0.1, 0, bits=9)
    with pytest.raises(ValueError, match="positive"):
        QuantType(DType.INT8, [0.1, float("inf")], [0, 0], axis=1)
    with pytest.raises(ValueError, match=r"zero point -128 outside \[-127, 127\]"):
        QuantType(DType.INT8, 0.1, -128, narrow_range=True)
    assert QuantType(DType.INT8, 0.1, 0, bits=4, narrow_range=True).qrange() == (-7, 7)
    assert QuantType(DType.UINT8, 0.1, 128, narrow_range=True).qrange() == (1, 255)
    assert QuantType(DType.INT4, 0.1, 0).qrange() == (-8, 7) and QuantType(DType.UINT4, 0.1, 0).bits == 4
    pc = QuantType(DType.INT8, np.array([0.5, 0.25], np.float32), np.array([0, 1]), axis=1, narrow_range=True)
    assert pc.qrange() == (-127, 127) and pc.zero_point == (0, 1) and pc.scale == (0.5, 0.25)
    assert pc.scale_array().dtype == np.float32 and pc.zero_point_array().dtype == np.int8
    assert str(pc) == "!q<i8:axis=1,n=2>" and str(QuantType(DType.INT8, 0.1, 0, bits=6)) == "!q<i8/6b:0.1,0>"
    # immutable and hashable: usable as dict keys, equal when they mean the same thing
    assert len({QuantType(DType.INT8, 0.5, 3), QuantType(DType.INT8, (0.5,), (3,))}) == 1
    with pytest.raises(AttributeError):
        pc.axis = 0  # type: ignore[misc]


def test_shape_static_and_parse():
    with pytest.raises(ValueError, match="not static"):
        Shape.of([1, "N"]).static()
    assert Shape.of([2, 3]).static() == (2, 3) and str(Shape.unknown()) == "[*]"
    assert TensorType(F32, Shape.of([1, "N"])).with_shape([2, 3]).shape.numel() == 6
    assert DType.parse("i8") is DType.INT8 and DType.parse("float32") is DType.FLOAT32
    with pytest.raises(ValueError, match="unknown element type"):
        DType.parse("int7")


# -- more mutation ------------------------------------------------------------------------------
def test_replace_all_uses_with_a_constant_keeps_outputs_and_names():
    m, x, w, y, z = small_model()
    c = m.graph.add_constant(np.zeros((1, 4), np.float32), "zeros")
    z.replace_all_uses_with(c)
    assert m.graph.outputs == [c] and c.is_graph_output and not z.is_graph_output
    assert c.name == "zeros"  # a constant is never renamed
    m.graph.remove(z.producer())
    verify(m)


def test_replace_all_uses_reaches_subgraph_readers():
    from corpus import good_models, model_path

    m = load_onnx(model_path(next(e for e in good_models() if e["name"] == "loop_model")))
    w = next(c for c in m.graph.constants if c.name == "w")
    body_users = [op for op, _ in w.uses()]
    assert body_users and all(op.graph is not m.graph for op in body_users)
    w2 = m.graph.add_constant(np.full((1, 8), 2.0, np.float32), "w2")
    w.replace_all_uses_with(w2)
    assert not w.has_uses() and [op for op, _ in w2.uses()] == body_users
    m.graph.remove_constant(w)
    verify(m)


def test_insert_after_keeps_build_order():
    m, x, w, y, z = small_model()
    mm = y.producer()
    with m.graph.inserting_after(mm) as b:
        a = b.op("Abs", y)
        n = b.op("Neg", a)
    z.producer().replace_input(0, n)
    verify(m)
    assert [op.op_type for op in m.graph] == ["MatMul", "Abs", "Neg", "Relu"]
    assert m.graph.first is mm and m.graph.last is z.producer() and len(m.graph) == 4


def test_failed_remove_changes_nothing():
    m, x, w, y, z = small_model()
    mm, relu = y.producer(), z.producer()
    before = print_model(m)
    with pytest.raises(ValueError, match="graph output"):
        m.graph.remove([relu, mm])  # relu's result is the graph output
    assert y.uses() == [(relu, 0)] and x.uses() == [(mm, 0)] and w.uses() == [(mm, 1)]
    assert print_model(m) == before and collect_problems(m) == []
    other = Graph("other")
    with pytest.raises(ValueError, match="is not in graph 'other'"):
        other.remove(mm)
    # Removing a producer together with its only reader is fine.
    with m.graph.inserting_after(relu) as b:
        s = b.op("Sigmoid", z)
        t = b.op("Tanh", s)
    m.graph.remove([s.producer(), t.producer()])
    verify(m)
    assert not z.uses() and [op.op_type for op in m.graph] == ["MatMul", "Relu"]


def test_clone_loop_model_is_independent():
    from corpus import good_models, model_path

    m = load_onnx(model_path(next(e for e in good_models() if e["name"] == "loop_model")))
    text = print_model(m)
    c = m.clone()
    verify(c)
    assert print_model(c) == text
    loop = next(op for op in c.graph if op.op_type == "Loop")
    body = loop.regions()[0]
    assert body.parent is loop and loop.graph is c.graph
    outer = {v for op in body for v in op.inputs if v is not None and v.graph() is not body}
    assert outer and all(v.graph() is c.graph for v in outer)  # the clone's, not the original's
    # Mutating the clone leaves the original alone.
    mul = next(op for op in body if op.op_type == "Mul")
    with body.inserting_before(mul) as b:
        neg = b.op("Neg", mul.inputs[1])
    mul.replace_input(1, neg)
    verify(c)
    assert print_model(m) == text and print_model(c) != text


# -- more verifier ------------------------------------------------------------------------------
def test_verifier_use_before_def_by_order():
    m, x, w, y, z = small_model()
    mm = y.producer()
    m.graph.insert_before(mm, Op("Neg", [y], name="early"))
    problems = collect_problems(m)
    assert any("op 'early' (Neg) input 0 reads %matmul before it is defined" in p for p in problems), problems


def test_verifier_dangling_use_by_removed_op():
    m, x, w, y, z = small_model()
    relu = z.producer()
    with m.graph.inserting_after(relu) as b:
        s = b.op("Sigmoid", z, name="sig")
    m.graph.remove(s.producer())
    z._add_use(s.producer(), 0)  # what an op unlinked without detach() leaves behind
    problems = collect_problems(m)
    assert any("still used by removed op 'sig'" in p for p in problems), problems


def test_verifier_duplicate_names_across_subgraphs():
    from corpus import good_models, model_path

    m = load_onnx(model_path(next(e for e in good_models() if e["name"] == "if_model")))
    if_op = next(op for op in m.graph if op.op_type == "If")
    inner = next(iter(if_op.regions()[0])).outputs[0]
    inner.name = m.graph.inputs[0].name
    assert any(f"name {inner.name!r} is defined twice" in p for p in collect_problems(m))


def test_verifier_reports_first_problem_in_one_line():
    m, x, w, y, z = small_model()
    y.name = "x"
    m.graph.append(Op("Custom", [z], domain="com.example"))
    with pytest.raises(VerificationError) as info:
        verify(m)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("invalid IR: name 'x' is defined twice") and "more)" in msg


def test_printer_exact_text_and_stability():
    g = Graph("main")
    m = Model(g, {"": 17})
    x = g.add_input("x", TensorType(F32, Shape.of([1, 4])))
    w = g.add_constant(np.ones((4, 4), np.float32), "w")
    with g.builder() as b:
        y = b.op("MatMul", x, w, name="mm", output_types=[TensorType(F32, Shape.of([1, 4]))])
        z = b.op("LeakyRelu", y, alpha=0.1)
    g.add_output(z)
    expected = (
        "model opsets(ai.onnx=17)\n"
        "graph main(%x: f32[1,4]) {\n"
        "  const %w: f32[4,4]\n"
        "  %mm = MatMul(%x, %w) : f32[1,4]  # mm\n"
        "  %leakyrelu = LeakyRelu(%mm) {alpha=0.1} : ?\n"
        "  return %leakyrelu\n"
        "}\n"
    )
    assert print_model(m) == expected
    assert print_model(m.clone()) == expected


def test_clone_keeps_meta_everywhere():
    m, x, w, y, z = small_model()
    x.meta["range"] = (0.0, 1.0)
    w.meta["note"] = "weight"
    y.meta["calib"] = 3
    y.producer().meta["skip_quant"] = "user"
    m.graph.meta["tag"] = "g"
    m.meta["source"] = "s"
    c = m.clone()
    cx, cw = c.graph.inputs[0], next(iter(c.graph.constants))
    cy = c.graph.first.output
    assert (cx.meta, cw.meta, cy.meta, c.graph.first.meta, c.graph.meta, c.meta) == (
        {"range": (0.0, 1.0)}, {"note": "weight"}, {"calib": 3}, {"skip_quant": "user"}, {"tag": "g"},
        {"source": "s"})
    cx.meta["range"] = (5.0, 6.0)
    assert x.meta["range"] == (0.0, 1.0)  # copies, not shared dicts
