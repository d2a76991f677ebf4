"""adaround: learned rounding beats round-to-nearest on the layer outputs and end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import run_ort
from onnx import TensorProto, helper, numpy_helper

from qcompiler.passes.adaround import adaround_layer, conv_patches
from qcompiler.quant_api import quantize

ROOT = Path(__file__).resolve().parents[2]
MBV2 = ROOT / "tests" / "models" / "onnx" / "digits_mbv2.onnx"
CALIB = [c[None] for c in np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")]


@pytest.mark.parametrize("groups, stride, pad, dil", [(1, 1, 1, 1), (4, 2, 1, 1), (8, 1, 2, 2), (2, 2, 0, 1)])
def test_patches_times_weights_is_the_convolution(groups, stride, pad, dil):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 7, 6)).astype(np.float32)
    w = rng.standard_normal((8, 8 // groups, 3, 3)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=groups, strides=[stride] * 2, pads=[pad] * 4,
                            dilations=[dil] * 2)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(w, "w")])
    want = run_ort(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), {"x": x})[0]
    pt = conv_patches(x, groups, (3, 3), [pad] * 4, [stride] * 2, [dil] * 2)  # [G, N*OH*OW, K]
    rows = w.reshape(groups, 8 // groups, -1)
    got = np.einsum("gpk,grk->gpr", pt, rows)  # [G, positions, rows]
    n, _, oh, ow = want.shape
    got = got.reshape(groups, n, oh, ow, -1).transpose(1, 0, 4, 2, 3).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_layer_rounding_reduces_output_error():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 24)) @ rng.standard_normal((24, 24))  # correlated inputs
    h = (x.T @ x / len(x))[None]
    w = rng.standard_normal((1, 16, 24))
    s = np.abs(w).max(axis=2) / 7
    z = np.zeros_like(s)
    q, rep = adaround_layer(w, s, z, h, -7, 7, iterations=300)
    assert rep["adaround"] < 0.6 * rep["rtn"], rep
    fl = np.floor(w / s[..., None])
    assert np.all((q == fl) | (q == fl + 1)) and q.min() >= -7 and q.max() <= 7
    err = ((q - w / s[..., None]) * s[..., None])[0] @ x.T
    rtn = ((np.round(w / s[..., None]) - w / s[..., None]) * s[..., None])[0] @ x.T
    assert np.sum(err**2) < np.sum(rtn**2)


def test_w4a8_per_channel_sqnr_gain(tmp_path):
    ref = np.concatenate([run_ort(MBV2, {"input": c})[0] for c in CALIB[50:90]]).astype(np.float64)
    snr = {}
    for on in (False, True):
        out = tmp_path / f"q{on}.onnx"
        res = quantize(str(MBV2), str(out), calib_data=CALIB[:50], weight_bit_num=4, bias_correction="false",
                       adaround=on, adaround_iterations=150, options={"cache_dir": str(tmp_path / "c")})
        got = np.concatenate([run_ort(out, {"input": c})[0] for c in CALIB[50:90]])
        snr[on] = 10 * np.log10(np.sum(ref**2) / np.sum((got - ref) ** 2))
        if on:
            report = res.context.state["adaround_report"]
            assert len(report) == 17  # every convolution and the classifier
            assert sum(r["adaround"] for r in report.values()) < 0.8 * sum(r["rtn"] for r in report.values())
        else:
            assert "adaround" not in res.context.state
    assert snr[True] > snr[False] + 1.5, snr


def test_gemm_without_transb_and_iterations_option(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w", "b"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(16, np.float32), "b")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    mix = rng.standard_normal((32, 32)).astype(np.float32)
    data = [{"x": (rng.standard_normal((1, 32)).astype(np.float32) @ mix)} for _ in range(64)]
    errs = {}
    for pipe in ("", "adaround{iterations=200},"):
        out = tmp_path / f"g{len(pipe)}.onnx"
        res = quantize(model, str(out), calib_data=data, weight_bit_num=4, bias_correction="false",
                 pipeline=f"honor-skip-nodes,insert-fake-quant,collect-calibration,{pipe}fold-quant-params",
                 options={"cache_dir": str(tmp_path / "c")})
        errs[pipe] = sum(float(np.sum((run_ort(out, d)[0] - d["x"] @ w) ** 2)) for d in data)
    rep = res.context.state["adaround_report"]
    assert rep[next(iter(rep))]["adaround"] < 0.7 * rep[next(iter(rep))]["rtn"], rep
    # End to end the error also holds the 8-bit input and output quantization.
    assert errs["adaround{iterations=200},"] < 0.9 * errs[""], errs
