"""recognize-hardswish, installed as a separate package and driven through the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def two_hardswishes(opset: int) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    c = lambda n, v: nh.from_array(np.array(v, np.float32), n)  # noqa: E731
    clip = (lambda i, o: h.make_node("Clip", [i, "zero", "six"], [o])) if opset >= 11 else (
        lambda i, o: h.make_node("Clip", [i], [o], min=0.0, max=6.0))
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        h.make_node("Add", ["c", "three"], ["a"]), clip("a", "k"),
        h.make_node("Mul", ["c", "k"], ["m"]), h.make_node("Div", ["m", "six"], ["hs"]),
        h.make_node("Add", ["three", "hs"], ["a2"]), clip("a2", "k2"),
        h.make_node("Mul", ["k2", "sixth"], ["d2"]), h.make_node("Mul", ["hs", "d2"], ["y"]),
    ]
    inits = [nh.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32) * 3, "w"),
             c("three", 3.0), c("six", 6.0), c("sixth", 1 / 6)]
    if opset >= 11:
        inits.append(c("zero", 0.0))
    g = h.make_graph(nodes, "hs", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 4, 4])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])


def run(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def qc(*args):
    return subprocess.run([sys.executable, "-m", "qcompiler.cli", *map(str, args)], capture_output=True, text=True)


def test_listed_with_its_plugin():
    res = qc("passes")
    assert res.returncode == 0
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("recognize-hardswish"))
    assert "[qcompiler-hardswish:hardswish]" in line
    assert "min_opset_for_hardswish: int = 14" in res.stdout


@pytest.mark.parametrize("opset, expect", [(14, ["Conv", "HardSwish", "HardSwish"]),
                                           (13, ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"]),
                                           (9, ["Conv", "HardSigmoid", "Mul", "HardSigmoid", "Mul"])])
def test_rewrites_both_and_keeps_outputs(tmp_path, opset, expect):
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(two_hardswishes(opset), str(src))
    res = qc("compile", src, "-o", out, "--pipeline", "recognize-hardswish", "--verify-each")
    assert res.returncode == 0, res.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == expect
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32) * 3
    want, got = run(src, x), run(out, x)
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def test_bad_option_is_one_line(tmp_path):
    src = tmp_path / "in.onnx"
    onnx.save(two_hardswishes(14), str(src))
    res = qc("compile", src, "-o", tmp_path / "o.onnx", "--pipeline", "recognize-hardswish{foo=1}")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines() == [
        "qcompiler: error: pass 'recognize-hardswish' has no option 'foo' (options: min_opset_for_hardswish)"]


def test_not_hardswish_is_left_alone(tmp_path):
    m = two_hardswishes(14)
    for t in m.graph.initializer:
        if t.name == "six":
            t.CopyFrom(nh.from_array(np.array(5.0, np.float32), "six"))
    src, out = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(m, str(src))
    assert qc("compile", src, "-o", out, "--pipeline", "recognize-hardswish").returncode == 0
    # clip(x+3, 0, 5) is no hard-swish: the first one stays; the second divides a different clip by 6.
    assert "HardSwish" not in [n.op_type for n in onnx.load(str(out)).graph.node]
