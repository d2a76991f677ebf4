"""choose-layer-bits: sensitive layers go to 8 bits (or float weights) within a size budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from qcompiler.errors import ConfigError
from qcompiler.quant_api import quantize

ROOT = Path(__file__).resolve().parents[2]
MBV2 = ROOT / "tests" / "models" / "onnx" / "digits_mbv2.onnx"
X = np.load(ROOT / "tests" / "data" / "digits_test_x.npy")
Y = np.load(ROOT / "tests" / "data" / "digits_test_y.npy")
CALIB = [c[None] for c in np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")]


def accuracy(path) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return float(np.mean([sess.run(None, {"input": X[i : i + 1]})[0].argmax() == Y[i] for i in range(len(X))]))


def run(tmp_path, name, **keys):
    out = tmp_path / f"{name}.onnx"
    res = quantize(str(MBV2), str(out), calib_data=CALIB, bias_correction="false",
                   options={"cache_dir": str(tmp_path / "c")}, **keys)
    return res, out


def test_w4a4_keeps_sensitive_layers_at_8_bits_within_budget(tmp_path):
    float_acc = accuracy(MBV2)
    _, plain = run(tmp_path, "plain", weight_bit_num=4, activation_bit_num=4)
    res, out = run(tmp_path, "search", weight_bit_num=4, activation_bit_num=4, layer_bits_search=True)
    chosen = res.context.state["layer_bits"]
    base, extra = res.context.state["layer_bits_bytes"]
    assert 0 < len(chosen) < 17 and extra <= 0.25 * base
    assert all(v == (7, 8) for v in chosen.values())  # reduce_range: 8-bit weights use 7
    drop_plain, drop = float_acc - accuracy(plain), float_acc - accuracy(out)
    assert drop_plain > 0.3 and drop <= drop_plain / 5, (drop_plain, drop)
    # The upgraded layers' weights really are 7-bit in the file, the rest 4-bit.
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    wide = [a for n, a in inits.items() if n.endswith("_quantized") and a.dtype == np.int8 and np.abs(a).max() > 8]
    assert len(wide) >= len(chosen)


def test_budget_one_adds_no_weight_bytes(tmp_path):
    res, _ = run(tmp_path, "b1", weight_bit_num=4, activation_bit_num=4, layer_bits_search=True, size_budget=1.0)
    # Only upgrades that cost no weight byte: the stem's weights are 8-bit already (its 4-bit
    # input activation goes to 8).
    assert res.context.state["layer_bits_bytes"][1] == 0
    assert list(res.context.state["layer_bits"]) == ["/stem/stem.0/Conv"]


def test_w8a8_per_tensor_keeps_weights_float(tmp_path):
    float_acc = accuracy(MBV2)
    _, plain = run(tmp_path, "p8", per_channel=False)
    res, out = run(tmp_path, "s8", per_channel=False, layer_bits_search=True)
    chosen = res.context.state["layer_bits"]
    assert chosen and set(chosen.values()) == {"float"}
    assert float_acc - accuracy(out) < (float_acc - accuracy(plain)) / 2
    g = onnx.load(str(out)).graph
    producers = {o: n.op_type for n in g.node for o in n.output}
    layers = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    float_weights = [n.name for n in layers if producers.get(n.input[1]) != "DequantizeLinear"]
    assert sorted(float_weights) == sorted(chosen)


def test_bad_budget_names_the_key():
    with pytest.raises(ConfigError, match=r"\[full_quant_param\] size_budget"):
        quantize(str(MBV2), None, calib_data=CALIB, size_budget=0.5)
