"""Runner: several calibration samples per onnxruntime call, only where that changes nothing."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from qcompiler.calibration.collect import Runner, _session, collect_statistics


def _model(nodes, out_shape, inits=()):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, out_shape)], list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


CONV = _model([h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["y"])],
              [1, 2, 4, 4], [onnx.numpy_helper.from_array(np.linspace(-1, 1, 54, dtype=np.float32).reshape(2, 3, 3, 3), "w")])
# Mixes the samples of a batch while keeping its shape: softmax over the batch axis.
MIXING = _model([h.make_node("Softmax", ["x"], ["y"], axis=0)], [1, 3, 4, 4])
# Folds the batch into the features: a batch of 6 gives one row, not six.
FOLDING = _model([h.make_node("Reshape", ["x", "s"], ["y"])], [1, 48],
                 [onnx.numpy_helper.from_array(np.array([1, -1], np.int64), "s")])


def _samples(n=6):
    rng = np.random.default_rng(0)
    return [{"x": rng.standard_normal((1, 3, 4, 4)).astype(np.float32)} for _ in range(n)]


@pytest.mark.parametrize("model, batched", [(CONV, True), (MIXING, False), (FOLDING, False)],
                         ids=["conv", "softmax-over-batch", "reshape-folding-batch"])
def test_outputs_are_the_per_sample_runs_whatever_the_model(model, batched):
    samples = _samples()
    names = ["y"] if model is not CONV else ["c", "y"]
    alone = _session(model, names)
    want = [alone.run(names, s) for s in samples]
    runner = Runner(model, names, ["x"])
    got = runner.run(samples, names)
    assert runner.batched is batched  # checked on the first batch, not assumed
    for w, g in zip(want, got):
        for a, b in zip(w, g):
            assert a.shape == b.shape and np.array_equal(a, b)
    # A later call goes the same way.
    again = runner.run(samples[:3], names)
    assert all(np.array_equal(a, b) for w, g in zip(want, again) for a, b in zip(w, g))


@pytest.mark.parametrize("histograms", [True, False])
def test_batched_statistics_equal_one_sample_per_run(histograms):
    samples = _samples(13)  # not a multiple of the batch
    one = collect_statistics(CONV, ["c", "y"], samples, batch=1, histograms=histograms)
    many = collect_statistics(CONV, ["c", "y"], samples, batch=8, histograms=histograms)
    for n in ("c", "y"):
        a, b = one[n], many[n]
        assert (a.min, a.max, a.count, a.samples, a.ema_min, a.ema_max) == (b.min, b.max, b.count, b.samples, b.ema_min, b.ema_max)
        assert np.array_equal(a.hist, b.hist)
