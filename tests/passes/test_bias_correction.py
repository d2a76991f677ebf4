"""record-bn-statistics and analytic (data-free) bias correction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_close, run_ort

import qcompiler
from qcompiler.bias_correction import clipped_normal_mean, expected_channels
from qcompiler.ir.qc_ops import fused_base
from qcompiler.quant_api import quantize

ROOT = Path(__file__).resolve().parents[2]
MBV2 = ROOT / "tests" / "models" / "onnx" / "digits_mbv2.onnx"
CALIB = [c[None] for c in np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")]
FUSE = "fold-constants,record-bn-statistics,fuse-conv-bn-act{activations=[Relu,Clip]}"


@pytest.mark.parametrize("mu, sigma, lo, hi", [(0.3, 1.0, 0.0, np.inf), (-1.0, 0.5, 0.0, np.inf),
                                               (2.0, 3.0, 0.0, 6.0), (1.0, 0.0, 0.0, 6.0), (0.5, 2.0, -np.inf, np.inf)])
def test_clipped_normal_mean_matches_sampling(mu, sigma, lo, hi):
    z = np.random.default_rng(0).normal(mu, sigma, 400_000)
    want = np.clip(z, lo, hi).mean()
    got = clipped_normal_mean(np.array([mu]), np.array([sigma]), lo, hi)[0]
    assert abs(got - want) <= 0.01 * max(1.0, abs(want)), (got, want)


def test_record_bn_statistics_keeps_outputs_and_follows_equalization(tmp_path):
    out = tmp_path / "f.onnx"
    res = qcompiler.compile(str(MBV2), str(out), pipeline=FUSE, verify_each=True)
    assert res.context.state["bn_stats_recorded"] == 16  # every convolution of the model
    x = {"input": CALIB[0]}
    assert_close(run_ort(out, x), run_ort(MBV2, x))
    before = {op.name: (op.meta["bn_stats"], np.asarray(op.input(2).const, np.float64)) for op in res.model.graph
              if "bn_stats" in op.meta}  # fmt: skip
    eq = qcompiler.compile(str(MBV2), None, pipeline=FUSE + ",equalize-cross-layer").model
    changed = 0
    for op in eq.graph:
        if op.name not in before:
            continue
        (m0, s0), b0 = before[op.name]
        m1, s1 = op.meta["bn_stats"]
        ratio = np.asarray(op.input(2).const, np.float64) / b0  # the bias scales with the channel
        np.testing.assert_allclose(m1 / m0, ratio, rtol=1e-4)
        np.testing.assert_allclose(s1 / s0, ratio, rtol=1e-4)
        changed += not np.allclose(ratio, 1.0)
    assert changed >= 8


def test_expected_input_of_a_layer_matches_the_data():
    model = qcompiler.compile(str(MBV2), None, pipeline=FUSE).model
    # The second block's depthwise conv reads ReLU(expand conv): compare with the calibration data.
    dw = [op for op in model.graph if fused_base(op) == "Conv" and op.attr("group", 1) > 1][1]
    ex = expected_channels(dw.input(0))
    assert ex is not None and ex.shape == (64,)
    name = dw.input(0).name
    import onnx

    from qcompiler.codegen.onnx_backend import ir_to_proto

    proto = ir_to_proto(model)
    proto.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    data = np.concatenate([run_ort(proto, {"input": c})[1] for c in CALIB[:50]])
    measured = data.mean(axis=(0, 2, 3))
    # BN's statistics are those of the training data: agree to within a fraction of the spread.
    assert np.corrcoef(ex, measured)[0, 1] > 0.9
    assert np.median(np.abs(ex - measured) / (np.abs(measured) + data.std(axis=(0, 2, 3)))) < 0.35


def test_analytic_correction_improves_per_tensor_int8(tmp_path):
    ref = np.concatenate([run_ort(MBV2, {"input": c})[0] for c in CALIB[:40]]).astype(np.float64)
    snr = {}
    for bc in ("false", "analytic"):
        out = tmp_path / f"{bc}.onnx"
        res = quantize(str(MBV2), str(out), calib_data=CALIB, per_channel=False, bias_correction=bc,
                       options={"cache_dir": str(tmp_path / "c")})
        got = np.concatenate([run_ort(out, {"input": c})[0] for c in CALIB[:40]])
        snr[bc] = 10 * np.log10(np.sum(ref**2) / np.sum((got - ref) ** 2))
        if bc == "analytic":
            report = res.context.state["bias_correction"]
            assert len(report) == 16 and not res.warnings  # all but the stem (it reads the input), and the classifier
    assert snr["analytic"] > snr["false"] + 0.5, snr  # 5.36 -> 6.03 dB when written


def test_analytic_without_batchnorm_warns(tmp_path):
    src = ROOT / "tests" / "models" / "onnx" / "op_conv.onnx"
    res = quantize(str(src), None, calib_data=[np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)],
                   bias_correction="analytic", options={"cache_dir": str(tmp_path / "c")})
    assert any("analytic corrected no layer" in w for w in res.warnings)


def test_correction_model_runs_the_quantized_model_and_applies_deltas(tmp_path):
    """The model the empirical correction runs (weights dequantized once, an added input per
    layer) computes what the quantized model computes, and a delta moves its layer's output
    by exactly that much before the activation."""
    import onnx
    import onnxruntime as ort

    from qcompiler.bias_correction import _bias_layers, _correction_model
    from qcompiler.codegen.onnx_backend import ir_to_proto

    res = quantize(str(MBV2), None, calib_data=CALIB, bias_correction="false", options={"cache_dir": str(tmp_path)})
    proto = ir_to_proto(res.model)
    layers = _bias_layers(res.model)
    shapes = [[int(np.size(op.input(2).producer().input(0).const))] if (fused_base(op) or op.op_type) == "Gemm"
              else [1, int(np.size(op.input(2).producer().input(0).const)), 1, 1] for op in layers]
    model, deltas = _correction_model(proto, [(op.input(2).name, s) for op, s in zip(layers, shapes)])
    assert all(d is not None for d in deltas) and len(deltas) == len(layers) >= 5
    assert not any(n.op_type == "DequantizeLinear" and n.input[0] in {t.name for t in model.graph.initializer}
                   and any(t.name == n.input[0] and t.data_type == onnx.TensorProto.INT8 for t in model.graph.initializer)
                   for n in model.graph.node)  # no weight is dequantized per run  # fmt: skip
    x = {"input": CALIB[0]}
    zeros = {d: np.zeros(s, np.float32) for d, s in zip(deltas, shapes)}
    want = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)[0]
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {**x, **zeros})[0]
    step = float(res.model.graph.outputs[0].producer().input(0).producer().input(1).const)
    assert np.abs(got - want).max() <= step + 1e-6  # the same model, up to float rounding
    # The last layer (the classifier) has no activation: its delta shifts the logits.
    last = deltas[-1]
    shift = np.linspace(-2.0, 2.0, shapes[-1][0]).astype(np.float32)
    moved = sess.run(None, {**x, **zeros, last: shift})[0]
    assert np.abs((moved - got) - shift).max() <= 2 * step + 1e-6 and np.abs(shift).max() > 10 * step


def test_segmented_correction_gives_the_whole_model_corrections(tmp_path, monkeypatch):
    """Cutting the model into parts of a few layers (each layer's runs cover only its part,
    starting from the kept cut tensors) changes the work, not the corrections."""
    import qcompiler.bias_correction as bc

    def corrected(layers_per_part):
        monkeypatch.setattr(bc, "SEGMENT_LAYERS", layers_per_part)
        res = quantize(str(MBV2), None, calib_data=CALIB, options={"cache_dir": str(tmp_path / "c")})
        return {op.name: np.asarray(op.input(2).producer().input(0).const) for op in bc._bias_layers(res.model)}, res

    whole, _ = corrected(10**6)
    parts, res = corrected(2)
    assert len(whole) > 6 and whole.keys() == parts.keys()
    moved = sum(int(np.abs(whole[k].astype(np.int64) - parts[k]).max()) for k in whole)
    assert moved <= 2, moved  # float rounding of a fused kernel at a cut may move a bias by one
    assert res.context.state["bias_correction"]


def test_a_part_onnxruntime_refuses_falls_back_to_the_whole_model(tmp_path, monkeypatch):
    import qcompiler.bias_correction as bc

    monkeypatch.setattr(bc, "SEGMENT_LAYERS", 2)
    whole = quantize(str(MBV2), None, calib_data=CALIB, options={"cache_dir": str(tmp_path / "c")})

    def refuse(self, k, n, extra):
        raise RuntimeError("no kernel")

    monkeypatch.setattr(bc._Segments, "run", refuse)
    res = quantize(str(MBV2), None, calib_data=CALIB, options={"cache_dir": str(tmp_path / "c")})
    got = {op.name: np.asarray(op.input(2).producer().input(0).const) for op in bc._bias_layers(res.model)}
    want = {op.name: np.asarray(op.input(2).producer().input(0).const) for op in bc._bias_layers(whole.model)}
    assert res.context.state["bias_correction"] and got.keys() == want.keys()
    assert sum(int(np.abs(got[k].astype(np.int64) - want[k]).max()) for k in got) <= 2


def test_reliability_keeps_systematic_errors_and_drops_sample_noise():
    from qcompiler.bias_correction import _reliability

    rng = np.random.default_rng(0)
    bias = rng.standard_normal(32)  # the same per-channel error in every sample
    systematic = [bias + 0.1 * rng.standard_normal(32) for _ in range(16)]
    noise = [rng.standard_normal(32) for _ in range(16)]
    assert _reliability(systematic) > 0.95
    assert _reliability(noise) < 0.2
    assert _reliability(noise[:3]) == 1.0  # too few samples to split: the correction stays whole
    assert _reliability([np.zeros(4)] * 8) == 0.0
