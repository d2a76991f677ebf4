"""equalize-cross-layer keeps the float function and evens out per-channel weight ranges."""

from __future__ import annotations

import numpy as np
from conftest import assert_close, run_ort
from corpus import good_models, model_path, random_inputs

import qcompiler
from qcompiler.passes.equalize_cross_layer import _ranges, equalization_pairs

FUSE = "fold-constants,fuse-conv-bn-act{activations=[Relu,Clip]}"


def test_float_outputs_unchanged_and_ranges_matched(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    src = model_path(entry)
    out = tmp_path / "eq.onnx"
    res = qcompiler.compile(str(src), str(out), pipeline=FUSE + ",equalize-cross-layer", verify_each=True)
    assert res.context.state["equalized_pairs"] == 2
    feeds = random_inputs(entry)
    assert_close(run_ort(out, feeds), run_ort(src, feeds))
    for op1, op2 in equalization_pairs(res.model):
        r1, r2 = _ranges(op1, op2)
        np.testing.assert_allclose(r1, r2, rtol=1e-3)


def uneven_pair(path) -> None:
    """Conv -> ReLU -> Conv whose first conv's output channels are scaled by 1/64 .. 8 and the
    second conv's input channels by the inverse: the float function of an even pair, the
    per-channel weight ranges that per-tensor quantization handles badly (a trained
    MobileNet's depthwise layers look like this)."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(5)
    w1 = rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((8, 16, 3, 3)).astype(np.float32) * 0.1
    s = np.geomspace(1 / 64, 8, 16).astype(np.float32)
    rng.shuffle(s)
    w1 *= s[:, None, None, None]
    w2 /= s[None, :, None, None]
    inits = [nh.from_array(w1, "w1"), nh.from_array(np.zeros(16, np.float32), "b1"),
             nh.from_array(w2, "w2"), nh.from_array(np.zeros(8, np.float32), "b2")]
    nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c1"], ["r1"]),
             h.make_node("Conv", ["r1", "w2", "b2"], ["y"], pads=[1, 1, 1, 1])]
    g = h.make_graph(nodes, "uneven", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 12, 12])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 8, 12, 12])], inits)  # fmt: skip
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(path))


def test_per_tensor_quantization_gains(tmp_path):
    from qcompiler.quant_api import quantize

    src = tmp_path / "uneven.onnx"
    uneven_pair(src)
    rng = np.random.default_rng(0)
    data = [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(32)]
    evalx = [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(8)]
    ref = np.concatenate([run_ort(src, {"x": x})[0].ravel() for x in evalx]).astype(np.float64)
    sqnr = []
    for eq in ("", "equalize-cross-layer,"):
        pipe = (f"upgrade-opset,{FUSE},{eq}honor-skip-nodes,insert-fake-quant,collect-calibration,"
                "fold-quant-params,eliminate-dead-code")
        out = tmp_path / f"q{len(eq)}.onnx"
        res = quantize(str(src), str(out), calib_data=data, per_channel=False, bias_correction="false", pipeline=pipe,
                       options={"cache_dir": str(tmp_path / "c")})
        got = np.concatenate([run_ort(out, {"x": x})[0].ravel() for x in evalx])
        sqnr.append(10 * np.log10(np.sum(ref**2) / np.sum((got - ref) ** 2)))
    assert res.context.state["equalized_pairs"] == 1
    assert sqnr[1] > sqnr[0] + 6.0, sqnr


def test_relu6_pairs_are_left_alone():
    entry = next(e for e in good_models() if e["name"] == "pt_mobilenetv2_tiny")
    res = qcompiler.compile(str(model_path(entry)), None, pipeline=FUSE + ",equalize-cross-layer")
    assert equalization_pairs(res.model) == [] and "equalized_pairs" not in res.context.state


def test_config_key_turns_it_on_in_the_default_pipeline(tmp_path):
    from qcompiler.quant_api import quantize

    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    data = [random_inputs(entry, seed=s)["input"] for s in range(4)]
    opts = {"cache_dir": str(tmp_path / "c")}
    on = quantize(str(model_path(entry)), None, calib_data=data, equalization=True, options=opts)
    off = quantize(str(model_path(entry)), None, calib_data=data, options=opts)
    assert on.context.state["equalized_pairs"] == 2 and "equalized_pairs" not in off.context.state


def test_mobilenetv2_digits_float_outputs_kept_through_equalization_and_absorption(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    src = root / "tests" / "models" / "onnx" / "digits_mbv2.onnx"
    calib = [{"input": c[None]} for c in np.load(root / "tests" / "data" / "digits_calib_x.npy")]
    test_x = np.load(root / "tests" / "data" / "digits_test_x.npy")[:64]
    out = tmp_path / "eq.onnx"
    res = qcompiler.compile(str(src), str(out), pipeline="fold-constants,record-bn-statistics,"
                            "fuse-conv-bn-act{activations=[Relu,Clip]},equalize-cross-layer,absorb-high-bias",
                            calib_data=calib, verify_each=True)  # fmt: skip
    assert res.context.state["equalized_pairs"] == 9  # expand->dw->project chains (the stem also feeds a residual Add)
    for x in test_x:
        assert_close(run_ort(out, {"input": x[None]}), run_ort(src, {"input": x[None]}))
