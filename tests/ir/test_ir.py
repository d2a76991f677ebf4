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
