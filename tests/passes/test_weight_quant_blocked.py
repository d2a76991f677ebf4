"""Block-wise 4-bit MatMul/Gemm weights (weight_block_size): DequantizeLinear-21 with
block_size, run by onnxruntime as MatMulNBits."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import run_ort
from corpus import good_models, model_path

from qcompiler.errors import ConfigError
from qcompiler.quant_api import quantize
from qcompiler.quant_math import dequantize_blocked, quantize_blocked


def test_quantize_blocked_round_trip():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((100, 24)).astype(np.float32)  # K = 100: a last, shorter block
    w[:32] *= 10  # one block much wider than the others
    q, scale, qt = quantize_blocked(w, 4, axis=0, block_size=32)
    assert scale.shape == (4, 24) and qt.block_size == 32 and q.min() >= -7 and q.max() <= 7
    back = dequantize_blocked(q, scale, 0, 32)
    err = np.abs(back - w)
    # Every block's error is at most half its own step (the MSE search may clip a little more).
    for b in range(4):
        rows = slice(32 * b, min(32 * b + 32, 100))
        assert np.median(err[rows]) <= 0.5 * scale[b].max() + 1e-6
    assert np.abs(back[32:] - w[32:]).mean() < 0.2 * np.abs(w[32:]).mean()  # not ruined by the wide block


def sqnr(ref, got):
    return 10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((got - ref) ** 2))


def test_transformer_block_4bit_blocks(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "pt_transformer_block")
    src = model_path(entry)
    x = {"input": np.random.default_rng(0).standard_normal((1, 16, 32)).astype(np.float32)}
    ref = run_ort(src, x)[0]
    snr = {}
    for bs in (0, 16):
        out = tmp_path / f"b{bs}.onnx"
        res = quantize(str(src), str(out), quant_type="WEIGHT_QUANT", bit_num=4, weight_block_size=bs,
                       min_quant_weight_channel=0)
        proto = onnx.load(str(out))
        onnx.checker.check_model(proto, full_check=True)
        dqs = [n for n in proto.graph.node if n.op_type == "DequantizeLinear"]
        if bs:
            assert res.context.state["blocked_weights"] == 4 and proto.opset_import[0].version >= 21
            assert all(a.i == 16 for n in dqs for a in n.attribute if a.name == "block_size") and len(dqs) == 4
            assert sum(t.data_type == onnx.TensorProto.INT4 for t in proto.graph.initializer) == 4
            so = ort.SessionOptions()
            so.optimized_model_filepath = str(tmp_path / "opt.onnx")
            so.add_session_config_entry("session.qdq_matmulnbits_accuracy_level", "0")
            got = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"]).run(None, x)[0]
            ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node)
            assert ops["MatMulNBits"] == 4, ops
        else:
            got = run_ort(out, x)[0]
        snr[bs] = sqnr(ref, got)
    # The block's output is mostly its residual path: both stay close to the float model.
    assert snr[16] >= snr[0] and snr[16] > 25, snr


def test_blocks_beat_channels_when_input_rows_differ(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((256, 64)).astype(np.float32)
    w *= np.exp(rng.normal(0, 1.0, (256, 1))).astype(np.float32)  # input features of unequal weight
    from onnx import TensorProto, helper, numpy_helper

    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 256])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 64])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    x = {"x": rng.standard_normal((8, 256)).astype(np.float32)}
    ref = x["x"] @ w
    snr = {}
    for bs in (0, 32, 128):
        out = tmp_path / f"m{bs}.onnx"
        quantize(model, str(out), quant_type="WEIGHT_QUANT", bit_num=4, weight_block_size=bs)
        snr[bs] = sqnr(ref, run_ort(out, x)[0])
    assert snr[32] > snr[128] > snr[0] and snr[32] > snr[0] + 3.0, snr


def test_bad_block_size_names_the_key():
    with pytest.raises(ConfigError, match=r"\[common_quant_param\] weight_block_size=48: must be 0 or a power of two"):
        quantize("unused.onnx", None, quant_type="WEIGHT_QUANT", weight_block_size=48)
