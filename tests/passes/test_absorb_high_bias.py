"""absorb-high-bias keeps the float function and shrinks the activation range it acts on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import assert_close, run_ort
from onnx import TensorProto, helper, numpy_helper

import qcompiler
from qcompiler.errors import QCompilerError
from qcompiler.passes.absorb_high_bias import absorption_pairs
from qcompiler.quant_api import quantize

ROOT = Path(__file__).resolve().parents[2]
FUSE = "fold-constants,record-bn-statistics,fuse-conv-bn-act{activations=[Relu,Clip]}"


def high_bias_model(pad: int = 0, bn: bool = False) -> onnx.ModelProto:
    """x[1,8,6,6] -> Conv1x1(+BN)+Relu with biases around 3 (never clipped for x in [0, 1]) -> Conv -> y."""
    rng = np.random.default_rng(0)
    k = 1 + 2 * pad
    inits = [numpy_helper.from_array((rng.standard_normal((16, 8, 1, 1)) * 0.1).astype(np.float32), "w1"),
             numpy_helper.from_array((3 + rng.random(16)).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.standard_normal((4, 16, k, k)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["z"], name="conv1")]
    src = "z"
    if bn:
        inits += [numpy_helper.from_array(v.astype(np.float32), n) for n, v in
                  (("g", np.full(16, 0.2)), ("beta", np.full(16, 3.0)), ("mu", np.full(16, 3.0)), ("var", np.ones(16)))]
        nodes.append(helper.make_node("BatchNormalization", ["z", "g", "beta", "mu", "var"], ["zb"], name="bn"))
        src = "zb"
    nodes += [helper.make_node("Relu", [src], ["r"], name="relu"),
              helper.make_node("Conv", ["r", "w2", "b2"], ["y"], name="conv2", pads=[pad] * 4)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def samples(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.random((1, 8, 6, 6)).astype(np.float32)} for _ in range(n)]


def test_float_outputs_unchanged_and_bias_moved(tmp_path):
    src = high_bias_model()
    out = tmp_path / "a.onnx"
    calib = samples(16)
    res = qcompiler.compile(src, str(out), pipeline=FUSE + ",absorb-high-bias", calib_data=calib, verify_each=True)
    absorbed = res.context.state["absorbed_bias"]
    assert list(absorbed) == ["conv1"] and absorbed["conv1"] > 2.0
    for feeds in calib + samples(8, seed=1):
        assert_close(run_ort(out, feeds), run_ort(src, feeds))
    # conv1's output lost its offset: what is left above 0 per channel is one standard deviation (the margin).
    proto = onnx.load(str(out))
    proto.graph.output.append(helper.make_tensor_value_info(res.model.graph.first.outputs[0].name, TensorProto.FLOAT, None))
    r = np.concatenate([run_ort(proto, f)[1] for f in calib])
    mins, stds = r.min(axis=(0, 2, 3)), r.std(axis=(0, 2, 3))
    np.testing.assert_allclose(mins, stds, rtol=1e-3)
    assert r.max() < 1.0


def test_per_tensor_int8_gains(tmp_path):
    src = high_bias_model()
    calib, evals = samples(16), samples(8, seed=2)
    ref = np.concatenate([run_ort(src, f)[0].ravel() for f in evals]).astype(np.float64)
    snr = []
    for on in (False, True):
        out = tmp_path / f"q{on}.onnx"
        quantize(src, str(out), calib_data=calib, per_channel=False, bias_correction="false", bias_absorption=on,
                 options={"cache_dir": str(tmp_path / "c")})
        got = np.concatenate([run_ort(out, f)[0].ravel() for f in evals])
        snr.append(10 * np.log10(np.sum(ref**2) / np.sum((got - ref) ** 2)))
    assert snr[1] > snr[0] + 6.0, snr


def test_padded_next_layer_is_left_alone():
    m = qcompiler.compile(high_bias_model(pad=1), None, pipeline=FUSE).model
    assert absorption_pairs(m) == []


def test_batchnorm_statistics_cap_what_is_absorbed():
    # BN says mean 3, std 0.2: at most 3 - 3 * 0.2 = 2.4 is absorbed, although the data allows more.
    res = qcompiler.compile(high_bias_model(bn=True), None, pipeline=FUSE + ",absorb-high-bias", calib_data=samples(8))
    assert abs(res.context.state["absorbed_bias"]["conv1"] - 2.4) < 1e-6


def test_needs_calibration_data():
    with pytest.raises(QCompilerError, match="absorb-high-bias needs calibration data"):
        qcompiler.compile(high_bias_model(), None, pipeline=FUSE + ",absorb-high-bias")


def test_config_key_turns_it_on_in_the_default_pipeline(tmp_path):
    opts = {"cache_dir": str(tmp_path / "c")}
    on = quantize(high_bias_model(), None, calib_data=samples(4), bias_absorption=True, options=opts)
    off = quantize(high_bias_model(), None, calib_data=samples(4), options=opts)
    assert "conv1" in on.context.state["absorbed_bias"] and "absorbed_bias" not in off.context.state
