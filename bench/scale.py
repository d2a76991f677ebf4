"""Load + verify + save time on synthetic graphs of 1,000 and 10,000 nodes (chain and branchy).

    python bench/scale.py [--repeat 3]

Prints median seconds per size and the 10k/1k ratio; linear scaling gives about 10 (target <= 12).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from qcompiler.codegen.onnx_backend import save_onnx
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.ir import verify


def chain(n: int) -> onnx.ModelProto:
    """n nodes: Add with a constant, then Relu, alternating."""
    nodes, prev = [], "x"
    c = nh.from_array(np.ones((1, 16), np.float32), "c")
    for i in range(n):
        out = f"v{i}"
        nodes.append(h.make_node("Add", [prev, "c"], [out]) if i % 2 == 0 else h.make_node("Relu", [prev], [out]))
        prev = out
    g = h.make_graph(nodes, "chain", [h.make_tensor_value_info("x", T.FLOAT, [1, 16])],
                     [h.make_tensor_value_info(prev, T.FLOAT, [1, 16])], [c])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def branchy(n: int) -> onnx.ModelProto:
    """Diamonds: a -> (Relu, Sigmoid) -> Add -> ..., 3 nodes per diamond, plus skip Adds."""
    nodes, prev, skip = [], "x", "x"
    i = 0
    while len(nodes) < n:
        a, b, s = f"a{i}", f"b{i}", f"s{i}"
        nodes += [h.make_node("Relu", [prev], [a]), h.make_node("Sigmoid", [prev], [b]), h.make_node("Add", [a, b], [s])]
        if i % 4 == 3:
            nodes.append(h.make_node("Add", [s, skip], [f"k{i}"]))
            s = skip = f"k{i}"
        prev = s
        i += 1
    g = h.make_graph(nodes, "branchy", [h.make_tensor_value_info("x", T.FLOAT, [1, 16])],
                     [h.make_tensor_value_info(prev, T.FLOAT, [1, 16])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def measure(model: onnx.ModelProto, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.onnx", Path(d) / "out.onnx"
        src.write_bytes(model.SerializeToString())
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            ir = load_onnx(src)
            verify(ir)
            save_onnx(ir, dst)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'graph':<8} {'1k nodes (s)':>13} {'10k nodes (s)':>14} {'ratio':>7}  target <= 12")
    worst = 0.0
    for name, build in (("chain", chain), ("branchy", branchy)):
        small, large = measure(build(1000), args.repeat), measure(build(10000), args.repeat)
        ratio = large / small
        worst = max(worst, ratio)
        print(f"{name:<8} {small:>13.3f} {large:>14.3f} {ratio:>7.2f}")
    print(f"worst ratio {worst:.2f}: {'linear' if worst <= 12 else 'NOT linear'}")


if __name__ == "__main__":
    main()
