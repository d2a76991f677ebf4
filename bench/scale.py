"""Load + verify + save time on synthetic graphs of 1,000 and 10,000 nodes.

    python bench/scale.py [--repeat 3] [--profile SHAPE]

Shapes: ``chain`` (Add/Relu), ``branchy`` (Relu/Sigmoid diamonds with residual Adds),
``shuffled`` (branchy with its nodes stored out of order, so the frontend sorts them) and
``control-flow`` (one ``If`` per two nodes, whose branches read outer values).

Prints the median seconds per size and the 10k/1k ratio; linear scaling gives about 10 (target
<= 12).  ``qcompiler`` is the time spent outside onnx's own shape inference and checker, which
are listed apart (``onnx lib``): onnx's C++ inference and checker copy the outer scope into
every subgraph, so they are quadratic on the control-flow graph whatever qcompiler does.
``--profile SHAPE`` prints a cProfile of the 10k-node graph of that shape.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
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


def shuffled(n: int) -> onnx.ModelProto:
    """``branchy`` with its nodes in a random (seeded) order: the frontend has to sort them."""
    m = branchy(n)
    nodes = list(m.graph.node)
    random.Random(0).shuffle(nodes)
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    return m


def control_flow(n: int) -> onnx.ModelProto:
    """Relu -> If pairs; each If's branches read values of the enclosing graph."""
    nodes, prev, i = [], "x", 0
    while len(nodes) < n:
        a = f"a{i}"
        then = h.make_graph([h.make_node("Neg", [a], [f"t{i}"])], f"then{i}", [],
                            [h.make_tensor_value_info(f"t{i}", T.FLOAT, [1, 16])])
        other = h.make_graph([h.make_node("Abs", [prev], [f"e{i}"])], f"else{i}", [],
                             [h.make_tensor_value_info(f"e{i}", T.FLOAT, [1, 16])])
        nodes += [h.make_node("Relu", [prev], [a]),
                  h.make_node("If", ["cond"], [f"s{i}"], then_branch=then, else_branch=other)]
        prev = f"s{i}"
        i += 1
    g = h.make_graph(nodes, "control_flow", [h.make_tensor_value_info("x", T.FLOAT, [1, 16]),
                                             h.make_tensor_value_info("cond", T.BOOL, [])],
                     [h.make_tensor_value_info(prev, T.FLOAT, [1, 16])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


SHAPES = {"chain": chain, "branchy": branchy, "shuffled": shuffled, "control-flow": control_flow}


class _OnnxClock:
    """Times onnx's shape inference and checker, the library code qcompiler calls."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> _OnnxClock:
        for mod, name in ((onnx.shape_inference, "infer_shapes"), (onnx.checker, "check_model")):
            fn = getattr(mod, name)
            self._saved.append((mod, name, fn))
            setattr(mod, name, self._timed(fn))
        return self

    def _timed(self, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return wrapper

    def __exit__(self, *exc: object) -> None:
        for mod, name, fn in self._saved:
            setattr(mod, name, fn)


def run_once(src: Path, dst: Path) -> None:
    ir = load_onnx(src)
    verify(ir)
    save_onnx(ir, dst)


def measure(model: onnx.ModelProto, repeat: int) -> tuple[float, float]:
    """Median (total seconds, seconds inside onnx's inference and checker) of ``repeat`` runs."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.onnx", Path(d) / "out.onnx"
        src.write_bytes(model.SerializeToString())
        totals, libs = [], []
        for _ in range(repeat):
            with _OnnxClock() as clock:
                t0 = time.perf_counter()
                run_once(src, dst)
                totals.append(time.perf_counter() - t0)
            libs.append(clock.seconds)
    return statistics.median(totals), statistics.median(libs)


def profile(shape: str, n: int = 10000) -> None:
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.onnx", Path(d) / "out.onnx"
        src.write_bytes(SHAPES[shape](n).SerializeToString())
        prof = cProfile.Profile()
        prof.runcall(run_once, src, dst)
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", choices=sorted(SHAPES))
    args = ap.parse_args()
    if args.profile:
        profile(args.profile)
        return
    print(f"{'graph':<13} {'1k total':>9} {'10k total':>10} {'ratio':>6} | {'1k qc':>7} {'10k qc':>7} "
          f"{'ratio':>6} | {'10k onnx lib':>12}")  # fmt: skip
    worst_total, worst_qc = 0.0, 0.0
    for name, build in SHAPES.items():
        # The 1k runs are short, so timer and scheduler noise weigh more: take 3x as many.
        (small, small_lib) = measure(build(1000), 3 * args.repeat)
        (large, large_lib) = measure(build(10000), args.repeat)
        ratio, qc_ratio = large / small, (large - large_lib) / (small - small_lib)
        if name != "control-flow":
            worst_total = max(worst_total, ratio)
        worst_qc = max(worst_qc, qc_ratio)
        print(f"{name:<13} {small:>9.3f} {large:>10.3f} {ratio:>6.2f} | {small - small_lib:>7.3f} "
              f"{large - large_lib:>7.3f} {qc_ratio:>6.2f} | {large_lib:>12.3f}")  # fmt: skip
    print(f"worst total ratio (chain, branchy, shuffled) {worst_total:.2f}; worst qcompiler-only ratio "
          f"{worst_qc:.2f}: {'linear' if max(worst_total, worst_qc) <= 12 else 'NOT linear'} (target <= 12)")


if __name__ == "__main__":
    main()
