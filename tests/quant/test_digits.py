"""End-to-end post-training quantization of the digits CNN, checked in onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import qcompiler
from qcompiler.quant_api import PostTrainingQuantization, quantize, quantize_static

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "digits" / "digits_cnn.onnx"
X = np.load(ROOT / "tests" / "data" / "digits_test_x.npy")
Y = np.load(ROOT / "tests" / "data" / "digits_test_y.npy")
CALIB = np.load(ROOT / "tests" / "data" / "digits_calib_x.npy")
FLOAT_ACC = json.loads((ROOT / "tests" / "data" / "digits_meta.json").read_text())["float_accuracy"]


def accuracy(path) -> float:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    preds = [sess.run(None, {"input": X[i : i + 1]})[0].argmax() for i in range(len(X))]
    return float(np.mean(np.array(preds) == Y))


@pytest.fixture
def cache(tmp_path):
    return {"cache_dir": str(tmp_path / "cache")}


def test_float_accuracy_is_what_was_recorded():
    assert abs(accuracy(MODEL) - FLOAT_ACC) < 1e-9 and FLOAT_ACC >= 0.95


@pytest.mark.parametrize("method, max_drop", [("MAX_MIN", 0.005), ("KL", 0.005)])
def test_full_int8(tmp_path, cache, method, max_drop):
    out = tmp_path / "q.onnx"
    quantize(str(MODEL), str(out), calib_data=CALIB, activation_quant_method=method, options=cache)
    onnx.checker.check_model(str(out), full_check=True)
    assert FLOAT_ACC - accuracy(out) <= max_drop


def test_weight_only_8bit(tmp_path):
    out = tmp_path / "w8.onnx"
    quantize(str(MODEL), str(out), quant_type="WEIGHT_QUANT", bit_num=8)  # MindSpore's default thresholds
    assert FLOAT_ACC - accuracy(out) <= 0.002
    model = onnx.load(str(out))
    assert any(t.data_type == onnx.TensorProto.INT8 for t in model.graph.initializer)


def test_w4a8_per_channel(tmp_path, cache):
    out = tmp_path / "w4a8.onnx"
    quantize(str(MODEL), str(out), calib_data=CALIB, weight_bit_num=4, activation_bit_num=8, options=cache)
    assert FLOAT_ACC - accuracy(out) <= 0.02
    w = [onnx.numpy_helper.to_array(t) for t in onnx.load(str(out)).graph.initializer if t.name.endswith("_quantized")
         and t.data_type == onnx.TensorProto.INT8]
    assert sum(1 for a in w if a.min() >= -8 and a.max() <= 7 and a.size > 200) >= 2  # 4-bit layers


def test_cli_config_form_and_onnxruntime_fuses(tmp_path):
    out = tmp_path / "q.onnx"
    res = subprocess.run([sys.executable, "-m", "qcompiler.cli", "compile", str(MODEL), "--config",
                          str(ROOT / "examples" / "digits" / "full_quant.ini"), "-o", str(out)],
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                              "QCOMPILER_CACHE_DIR": str(tmp_path / "c")})
    assert res.returncode == 0, res.stderr
    assert FLOAT_ACC - accuracy(out) <= 0.005
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node)
    assert ops["QLinearConv"] == 6 and ops["Conv"] == 0  # every conv runs on integer kernels


def test_deterministic_and_cache_reused(tmp_path, cache):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    r1 = quantize(str(MODEL), str(a), calib_data=CALIB, options=cache)
    r2 = quantize(str(MODEL), str(b), calib_data=CALIB, options=cache)
    assert a.read_bytes() == b.read_bytes()
    assert r1.context.state["calibration_cached"] is False and r2.context.state["calibration_cached"] is True
    # The bias correction took the float layer outputs from the calibration runs the first
    # time, and ran the float model itself the second: the same bytes either way.
    assert r1.context.state["bias_correction_float_runs"] == 0
    assert r2.context.state["bias_correction_float_runs"] > 0
    # MAX_MIN statistics carry no histograms: KL calibrates again, and its statistics then
    # serve every method and setting.
    r3 = quantize(str(MODEL), str(tmp_path / "kl.onnx"), calib_data=CALIB, activation_quant_method="KL", options=cache)
    assert r3.context.state["calibration_cached"] is False
    for kw in ({"activation_quant_method": "PERCENTILE"}, {"activation_symmetric": True, "weight_bit_num": 4},
               {"skip_quant_node": ["/conv3/*"], "activation_quant_method": "MSE"}):
        r = quantize(str(MODEL), None, calib_data=CALIB, options=cache, **kw)
        assert r.context.state["calibration_cached"] is True, kw


def test_ort_style_and_paddle_style_apis(tmp_path, cache):
    class Reader:
        def __init__(self):
            self.it = iter(CALIB[:50])

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"input": x[None]}

    out = tmp_path / "ort.onnx"
    quantize_static(str(MODEL), str(out), Reader(), per_channel=True, calibrate_method="MinMax", options=cache)
    assert FLOAT_ACC - accuracy(out) <= 0.01
    ptq = PostTrainingQuantization(str(MODEL), sample_generator=lambda: ((x[None],) for x in CALIB[:50]),
                                   algo="direct", is_full_quantize=True)
    ptq.quantize()
    ptq.save_quantized_model(tmp_path / "paddle.onnx")
    assert FLOAT_ACC - accuracy(tmp_path / "paddle.onnx") <= 0.01


def test_debug_report(tmp_path, cache):
    dbg = tmp_path / "debug"
    quantize(str(MODEL), None, calib_data=CALIB[:20], debug_info_save_path=str(dbg), options=cache)
    head = (dbg / "debug_info.csv").read_text().splitlines()
    assert head[0] == ("NodeName,NodeType,TensorName,InOutFlag,DataTypeFlag,TensorTypeFlag,Min,Q1,Median,Q3,MAX,"
                       "Mean,Var,Sparsity,Clip,CosineSimilarity")
    assert sum(",Dequant," in row for row in head) >= 8
    cos = [float(r.rsplit(",", 1)[1]) for r in head[1:] if ",Dequant," in r]
    assert min(cos) > 0.95
    params = (dbg / "quant_param.csv").read_text().splitlines()
    assert params[0] == "NodeName,NodeType,TensorName,ElementsNum,Dims,Scale,ZeroPoint,Bits,CorrectionVar,CorrectionMean"
    sq = (dbg / "layer_sqnr.csv").read_text().splitlines()
    assert len(sq) > 8 and all(float(r.split(",")[3]) > 15 for r in sq[1:])


def test_skip_node_stays_float(tmp_path, cache):
    r = quantize(str(MODEL), str(tmp_path / "s.onnx"), calib_data=CALIB, skip_quant_node=["/conv3/*"], options=cache)
    conv3 = next(op for op in r.model.graph if op.name == "/conv3/Conv")
    assert conv3.meta["skip_quant"].startswith("skip_quant_node")
    w = conv3.input(1)
    assert w.is_constant and w.dtype.name == "FLOAT32"  # float weights, not dequantized ones
    x = conv3.input(0)
    assert x.producer().op_type == "DequantizeLinear"  # the border: DQ before the float op
    assert r.warnings == []
    r = quantize(str(MODEL), None, calib_data=CALIB, skip_quant_node=["no_such_node"], options=cache)
    assert r.warnings == ["skip_quant_node 'no_such_node' matches no node in the model"]


def test_qdq_model_keeps_its_scales(tmp_path):
    src = ROOT / "tests" / "models" / "onnx" / "qdq_model.onnx"
    out = tmp_path / "out.onnx"
    qcompiler.compile(str(src), str(out), pipeline="")
    a, b = onnx.load(str(src)), onnx.load(str(out))
    sa = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in a.graph.initializer}
    sb = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in b.graph.initializer}
    assert sa == sb
    # The full-quantization pipeline leaves an already quantized model's Q/DQ as they are.
    r = quantize(str(src), str(tmp_path / "again.onnx"))
    assert r.context.state["fake_quant_count"] == 0
    sc = {t.name: onnx.numpy_helper.to_array(t).tolist() for t in onnx.load(str(tmp_path / "again.onnx")).graph.initializer}
    assert {k: v for k, v in sa.items() if k in ("xs", "ys", "ws", "wq")} == {k: sc[k] for k in ("xs", "ys", "ws", "wq")}


def test_w4_packed_as_int4_from_opset_21(tmp_path, cache):
    pipe = ("upgrade-opset{opset=21},fold-constants,fuse-conv-bn-act{activations=[Relu,Clip]},honor-skip-nodes,"
            "insert-fake-quant,collect-calibration,fold-quant-params,eliminate-dead-code")
    out13, out21 = tmp_path / "w4_13.onnx", tmp_path / "w4_21.onnx"
    quantize(str(MODEL), str(out13), calib_data=CALIB, weight_bit_num=4, options=cache)
    quantize(str(MODEL), str(out21), calib_data=CALIB, weight_bit_num=4, pipeline=pipe, options=cache)
    model = onnx.load(str(out21))
    onnx.checker.check_model(model, full_check=True)
    types = Counter(t.data_type for t in model.graph.initializer if t.name.endswith("_quantized"))
    assert types[onnx.TensorProto.INT4] >= 5
    assert out21.stat().st_size < out13.stat().st_size - 3000  # two weights per byte
    assert FLOAT_ACC - accuracy(out21) <= 0.02


def test_skipped_layer_stays_float_in_onnxruntime(tmp_path, cache):
    """A layer kept float between quantized tensors is not re-quantized by onnxruntime's
    WeightBiasQuantization (1.20 on): its output equals the same model run without that
    optimization, and its weights stay float in the optimized graph."""
    import onnxruntime as ort

    out = tmp_path / "skip.onnx"
    quantize(str(MODEL), str(out), calib_data=CALIB, skip_quant_node=["/conv3/Conv"], options=cache)
    x = np.stack(CALIB[:16])
    results = {}
    for name, disabled in (("default", []), ("without", ["WeightBiasQuantization"])):
        so = ort.SessionOptions()
        so.optimized_model_filepath = str(tmp_path / f"{name}.onnx")
        s = ort.InferenceSession(str(out), so, disabled_optimizers=disabled)
        results[name] = np.concatenate([s.run(None, {"input": xi[None]})[0] for xi in x])
    np.testing.assert_allclose(results["default"], results["without"], rtol=1e-5, atol=1e-5)
    opt = onnx.load(str(tmp_path / "default.onnx"))
    convs = [n for n in opt.graph.node if n.op_type in ("Conv", "FusedConv")]
    assert len(convs) == 1  # conv3, in float; the other convolutions run as QLinearConv
