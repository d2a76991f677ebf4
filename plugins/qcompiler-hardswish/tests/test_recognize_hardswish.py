"""recognize-hardswish, installed as a separate package (``pip install -e plugins/qcompiler-hardswish``).

The CLI tests run the installed ``qcompiler`` script in a subprocess, so they see the plugin
exactly as a user does: through the ``qcompiler`` entry-point group.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import qcompiler
from qcompiler.errors import PipelineError

X_SHAPE = [1, 3, 4, 4]


def _qcompiler_script() -> list[str]:
    script = Path(sysconfig.get_path("scripts")) / "qcompiler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "qcompiler.cli"]


def qc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*_qcompiler_script(), *map(str, args)], capture_output=True, text=True)


def c(name: str, v) -> onnx.TensorProto:
    return nh.from_array(np.array(v, np.float32), name)


def clip(i: str, o: str, opset: int) -> onnx.NodeProto:
    if opset >= 11:
        return h.make_node("Clip", [i, "zero", "six"], [o])
    return h.make_node("Clip", [i], [o], min=0.0, max=6.0)


def _reads(nodes):
    """Every name the nodes read, control-flow bodies included."""
    for n in nodes:
        yield from n.input
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _reads(a.g.node)


def model(nodes, opset: int, extra_inits=(), out_shape=(1, 4, 4, 4)) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32) * 3, "w"),
             c("three", 3.0), c("six", 6.0), c("sixth", np.float32(1 / 6)), c("zero", 0.0), *extra_inits]
    read = set(_reads(nodes))
    g = h.make_graph(nodes, "hs", [h.make_tensor_value_info("x", T.FLOAT, X_SHAPE)],
                     [h.make_tensor_value_info("y", T.FLOAT, list(out_shape))],
                     [t for t in inits if t.name in read])  # fmt: skip
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 7
    onnx.checker.check_model(m, full_check=True)
    return m


def two_hardswishes(opset: int) -> onnx.ModelProto:
    """Conv, then torch's ``x*clip(x+3,0,6)/6``, then keras' ``x*(clip(3+x,0,6)*(1/6))``."""
    return model([
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        h.make_node("Add", ["c", "three"], ["a"]), clip("a", "k", opset),
        h.make_node("Mul", ["c", "k"], ["m"]), h.make_node("Div", ["m", "six"], ["hs"], name="hs1"),
        h.make_node("Add", ["three", "hs"], ["a2"]), clip("a2", "k2", opset),
        h.make_node("Mul", ["k2", "sixth"], ["d2"]), h.make_node("Mul", ["hs", "d2"], ["y"], name="hs2"),
    ], opset)  # fmt: skip


def run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def assert_same_outputs(src, out):
    x = np.random.default_rng(1).standard_normal(X_SHAPE).astype(np.float32) * 3
    want, got = run(src, x), run(out, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def compile_in_process(proto, tmp_path, pipeline="recognize-hardswish") -> onnx.ModelProto:
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(proto, str(src))
    qcompiler.compile(str(src), str(out), pipeline=pipeline, verify_each=True)
    result = onnx.load(str(out))
    onnx.checker.check_model(result, full_check=True)
    assert_same_outputs(src, out)
    return result


# -- through the CLI ------------------------------------------------------------------------------
def test_listed_with_its_plugin():
    res = qc("passes")
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("recognize-hardswish"))
    assert "[qcompiler-hardswish:hardswish]" in line
    assert "min_opset_for_hardswish: int = 14" in res.stdout


@pytest.mark.parametrize("opset, expect", [(17, ["Conv", "HardSwish", "HardSwish"]),
                                           (14, ["Conv", "HardSwish", "HardSwish"]),
                                           (13, ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"]),
                                           (11, ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"]),
                                           (9, ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"])])
def test_rewrites_both_and_keeps_outputs(tmp_path, opset, expect):
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(two_hardswishes(opset), str(src))
    res = qc("compile", src, "-o", out, "--pipeline", "recognize-hardswish", "--verify-each")
    assert res.returncode == 0, res.stderr
    result = onnx.load(str(out))
    onnx.checker.check_model(result, full_check=True)
    assert [n.op_type for n in result.graph.node] == expect
    names = [n.name for n in result.graph.node if n.name]
    assert names == ["hs1", "hs2"]  # each replacement is named like the op that produced the result
    assert_same_outputs(src, out)


def test_bad_option_is_one_line(tmp_path):
    src = tmp_path / "in.onnx"
    onnx.save(two_hardswishes(14), str(src))
    res = qc("compile", src, "-o", tmp_path / "o.onnx", "--pipeline", "recognize-hardswish{foo=1}")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "qcompiler: error: pass 'recognize-hardswish' has no option 'foo' (options: min_opset_for_hardswish)"]
    assert not (tmp_path / "o.onnx").exists()


def test_min_opset_below_14_is_one_line(tmp_path):
    src = tmp_path / "in.onnx"
    onnx.save(two_hardswishes(14), str(src))
    res = qc("compile", src, "-o", tmp_path / "o.onnx", "--pipeline", "recognize-hardswish{min_opset_for_hardswish=13}")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "qcompiler: error: pass 'recognize-hardswish': min_opset_for_hardswish=13 is below 14, the first ONNX "
        "opset with HardSwish (allowed: >= 14)"]


# -- in process (the registry loads the installed plugin) -----------------------------------------
def test_min_opset_option_keeps_the_two_op_form(tmp_path):
    result = compile_in_process(two_hardswishes(17), tmp_path, "recognize-hardswish{min_opset_for_hardswish=18}")
    assert [n.op_type for n in result.graph.node] == ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"]
    with pytest.raises(PipelineError):
        qcompiler.compile(str(tmp_path / "in.onnx"), None, pipeline="recognize-hardswish{min_opset_for_hardswish=9}")


@pytest.mark.parametrize("opset", [9, 13, 17])
@pytest.mark.parametrize("form", ["relu_min", "max_min", "min_max", "div_then_mul"])
def test_variants_anywhere_in_the_graph(tmp_path, opset, form):
    """Not only after a conv: here the hard-swish reads ``Sigmoid(x) * 4 - 2``."""
    head = [h.make_node("Sigmoid", ["x"], ["s"]), h.make_node("Mul", ["s", "four"], ["s4"]),
            h.make_node("Sub", ["s4", "two"], ["v"]), h.make_node("Add", ["v", "three"], ["a"])]  # fmt: skip
    clip_ops = {
        "relu_min": [h.make_node("Relu", ["a"], ["r"]), h.make_node("Min", ["r", "six"], ["k"])],
        "max_min": [h.make_node("Max", ["a", "zero"], ["r"]), h.make_node("Min", ["six", "r"], ["k"])],
        "min_max": [h.make_node("Min", ["a", "six"], ["r"]), h.make_node("Max", ["r", "zero"], ["k"])],
        "div_then_mul": [clip("a", "k", opset)],
    }[form]
    if form == "div_then_mul":
        tail = [h.make_node("Div", ["k", "six"], ["d"]), h.make_node("Mul", ["v", "d"], ["y"])]
    else:
        tail = [h.make_node("Mul", ["k", "v"], ["m"]), h.make_node("Mul", ["sixth", "m"], ["y"])]
    proto = model(head + clip_ops + tail, opset, [c("four", 4.0), c("two", 2.0)], out_shape=X_SHAPE)
    result = compile_in_process(proto, tmp_path)
    want = ["HardSwish"] if opset >= 14 else ["HardSigmoid", "Mul"]
    assert [n.op_type for n in result.graph.node] == ["Sigmoid", "Mul", "Sub", *want]


@pytest.mark.parametrize("opset", [13, 17])
def test_x_times_hardsigmoid(tmp_path, opset):
    nodes = [h.make_node("HardSigmoid", ["x"], ["g"], alpha=1 / 6, beta=0.5),
             h.make_node("Mul", ["x", "g"], ["y"])]  # fmt: skip
    result = compile_in_process(model(nodes, opset, out_shape=X_SHAPE), tmp_path)
    want = ["HardSwish"] if opset >= 14 else ["HardSigmoid", "Mul"]
    assert [n.op_type for n in result.graph.node] == want


def test_inside_control_flow(tmp_path):
    body = [h.make_node("Add", ["x", "three"], ["a"]), clip("a", "k", 17),
            h.make_node("Mul", ["x", "k"], ["m"]), h.make_node("Div", ["m", "six"], ["t"])]  # fmt: skip
    then_g = h.make_graph(body, "then", [], [h.make_tensor_value_info("t", T.FLOAT, X_SHAPE)])
    else_g = h.make_graph([h.make_node("Neg", ["x"], ["e"])], "else", [],
                          [h.make_tensor_value_info("e", T.FLOAT, X_SHAPE)])  # fmt: skip
    nodes = [h.make_node("ReduceSum", ["x"], ["sm"], keepdims=0), h.make_node("Greater", ["sm", "zero"], ["cond"]),
             h.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]  # fmt: skip
    result = compile_in_process(model(nodes, 17, out_shape=X_SHAPE), tmp_path)
    if_node = result.graph.node[-1]
    then_branch = next(a.g for a in if_node.attribute if a.name == "then_branch")
    assert [n.op_type for n in then_branch.node] == ["HardSwish"]


def test_not_hardswish_is_left_alone(tmp_path):
    m = two_hardswishes(14)
    for t in m.graph.initializer:
        if t.name == "six":
            t.CopyFrom(nh.from_array(np.array(5.0, np.float32), "six"))
    result = compile_in_process(m, tmp_path)
    # clip(x+3, 0, 5) is no hard-swish: the first stays; the second divides a different clip by 6.
    assert "HardSwish" not in [n.op_type for n in result.graph.node]
    # x * HardSigmoid(x) with HardSigmoid's default alpha 0.2 is not hard-swish either
    nodes = [h.make_node("HardSigmoid", ["x"], ["g"]), h.make_node("Mul", ["x", "g"], ["y"])]
    result = compile_in_process(model(nodes, 17, out_shape=X_SHAPE), tmp_path)
    assert [n.op_type for n in result.graph.node] == ["HardSigmoid", "Mul"]
