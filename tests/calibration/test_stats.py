"""Calibration statistics: exact merges, the range methods, bounded memory on big graphs."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from qcompiler.calibration.collect import collect_statistics, float_tensors
from qcompiler.calibration.observers import BUILTIN_OBSERVERS, KL_BINS, _kl_threshold, _one_sided, get_observer
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


def direct_kl_threshold(counts, edges, levels):
    """TensorRT's search written out candidate by candidate (the same candidates)."""
    last = int(np.nonzero(counts)[0][-1]) + 1
    step = max(1, (last - levels) // 128)
    best, best_i = np.inf, None
    for i in range(levels, last + 1, step):
        p = counts[:i].astype(np.float64).copy()
        p[i - 1] += counts[i:last].sum()
        q = np.zeros(i)
        for j in range(levels):
            a, b = -(-j * i // levels), -(-(j + 1) * i // levels)
            part = counts[a:b]
            if (part > 0).any():
                q[a:b] = np.where(part > 0, part.sum() / (part > 0).sum(), 0.0)
        p, q = p / p.sum(), q / q.sum()
        m = p > 0
        kl = float(np.sum(p[m] * np.log(p[m] / np.maximum(q[m], 1e-12))))
        if kl < best - 1e-12:
            best, best_i = kl, i
    return float(edges[best_i - 1])


@pytest.mark.parametrize("levels", [128, 256])
def test_kl_search_equals_the_candidate_by_candidate_definition(levels):
    rng = np.random.default_rng(levels)
    for k, x in enumerate([rng.exponential(1.0, 100000), np.abs(rng.standard_t(3, 50000)),
                           np.abs(rng.standard_normal(3000)), rng.exponential(1.0, 400)]):
        counts, edges = np.histogram(x, bins=700 + 300 * k, range=(0, x.max()))
        counts = counts.astype(np.float64)
        if k == 1:
            counts[rng.integers(0, counts.size, counts.size // 3)] = 0  # empty bins, also the last
        assert _kl_threshold(counts, edges[1:], levels) == direct_kl_threshold(counts, edges[1:], levels), k


def test_kl_histogram_is_tensorrts_2048_bins_over_the_largest_magnitude():
    rng = np.random.default_rng(2)
    x = np.concatenate([np.clip(rng.standard_normal(20000) * 1.5, -5, 4), [-5.3]])  # max |x| 5.3, R = 8
    st = TensorStats()
    st.update(x)
    counts, edges, one_signed = _one_sided(st)
    assert counts.size == KL_BINS and edges[-1] == pytest.approx(5.3) and not one_signed
    assert counts.sum() == pytest.approx(x.size)
    # within 1/2048 of the range the cut keeps every bin's mass: the magnitudes' histogram
    direct, _ = np.histogram(np.abs(x), bins=KL_BINS, range=(0, 5.3))
    assert np.abs(np.cumsum(counts) - np.cumsum(direct)).max() <= 0.02 * x.size
    coarse = TensorStats(num_bins=512)  # 256 bins a side, 170 of them up to 5.3: used as they are
    coarse.update(x)
    counts, edges, _ = _one_sided(coarse)
    assert counts.size == 256 and edges[-1] == 8.0


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
    assert peak < 100e6  # statistics, not activations of all samples (1201 x 8192 bins x 8 B ~ 79 MB)
    first = np.concatenate([s["x"] for s in samples])
    assert stats["x"].max == pytest.approx(float(first.max()))
    assert stats["t0"].min == pytest.approx(float(-first.max()))  # Neg
    assert stats["t1"].min == 0.0  # Relu
    bad = [{"x": np.full((1, 64), np.nan, np.float32)}]
    with pytest.raises(DataError, match="calib_7.bin"):
        collect_statistics(model, names, bad, labels=["calib_7.bin"])
