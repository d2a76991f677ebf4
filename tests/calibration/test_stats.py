"""Calibration statistics: exact merges, the range methods, bounded memory on big graphs."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from qcompiler.calibration.collect import collect_statistics, float_tensors
from qcompiler.calibration.observers import BUILTIN_OBSERVERS, get_observer
from qcompiler.calibration.stats import CalibrationStats, TensorStats
from qcompiler.errors import ConfigError, DataError


def test_merge_equals_one_pass_and_save_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal(500) * (i + 1) for i in range(6)]
    one = TensorStats()
    for p in parts:
        one.update(p)
    a, b = TensorStats(), TensorStats()
    for p in parts[:2]:
        a.update(p)
    for p in parts[2:]:
        b.update(p)
    a.merge(b)
    assert np.array_equal(a.hist, one.hist) and a.count == one.count and a.max == one.max
    assert a.sumsq == pytest.approx(one.sumsq)
    s = CalibrationStats({"t": one}, 6)
    s.save(tmp_path / "1")
    s.save(tmp_path / "2")
    assert (tmp_path / "1").read_bytes() == (tmp_path / "2").read_bytes()
    back = CalibrationStats.load(tmp_path / "1")
    assert np.array_equal(back["t"].hist, one.hist) and back.num_samples == 6


def test_methods_on_known_distributions():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(200000), [40.0]])
    st = TensorStats()
    st.update(x)
    assert get_observer("MAX_MIN").compute_range(st) == (pytest.approx(x.min()), 40.0)
    lo, hi = get_observer("PERCENTILE", percentile=99.0).compute_range(st)
    assert hi == pytest.approx(np.percentile(x, 99.0), abs=2 * 80 / 2048)
    for method in ("KL", "MSE", "REMOVAL_OUTLIER", "PERCENTILE"):
        lo, hi = get_observer(method).compute_range(st, 8)
        assert hi < 40.0 and lo <= 0 <= hi, method  # the single outlier is clipped
    relu = TensorStats()
    relu.update(np.maximum(x, 0))
    assert get_observer("KL").compute_range(relu)[0] == 0.0
    with pytest.raises(ConfigError, match="unknown calibration method 'FOO'"):
        get_observer("FOO")


def test_zero_range_and_nan():
    st = TensorStats()
    st.update(np.zeros(10))
    for m in BUILTIN_OBSERVERS:
        lo, hi = get_observer(m).compute_range(st)
        assert lo <= 0 < hi, m
    with pytest.raises(DataError):
        st.update(np.array([1.0, np.nan]))


def chain(n):
    nodes, prev = [], "x"
    for i in range(n):
        nodes.append(h.make_node("Relu" if i % 2 else "Neg", [prev], [f"t{i}"]))
        prev = f"t{i}"
    g = h.make_graph(nodes, "chain", [h.make_tensor_value_info("x", T.FLOAT, [1, 64])],
                     [h.make_tensor_value_info(prev, T.FLOAT, [1, 64])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_collect_1200_tensors_bounded_memory():
    model = chain(1200)
    names = float_tensors(model)
    assert len(names) == 1201
    rng = np.random.default_rng(0)
    samples = [{"x": rng.standard_normal((1, 64)).astype(np.float32)} for _ in range(20)]
    tracemalloc.start()
    stats = collect_statistics(model, names, samples)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60e6  # statistics, not activations of all samples (1201 x 2048 bins x 8 B ~ 20 MB)
    first = np.concatenate([s["x"] for s in samples])
    assert stats["x"].max == pytest.approx(float(first.max()))
    assert stats["t0"].min == pytest.approx(float(-first.max()))  # Neg
    assert stats["t1"].min == 0.0  # Relu
    bad = [{"x": np.full((1, 64), np.nan, np.float32)}]
    with pytest.raises(DataError, match="calib_7.bin"):
        collect_statistics(model, names, bad, labels=["calib_7.bin"])
