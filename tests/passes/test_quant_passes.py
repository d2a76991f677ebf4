"""insert-fake-quant, fold-quant-params, upgrade-opset and weight-quant, each on its own."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from conftest import run_ort
from corpus import good_models, model_path, random_inputs
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from small_models import add_act_model

import qcompiler

CONV = model_path(next(e for e in good_models() if e["name"] == "op_conv"))


def test_insert_fake_quant_marks_inputs_weights_outputs():
    res = qcompiler.compile(str(CONV), None, pipeline="insert-fake-quant{per_channel=false,weight_bits=6,first_layer_weight_bits=0}")
    fqs = [op for op in res.model.graph if op.op_type == "FakeQuant"]
    roles = Counter(op.attr("role") for op in fqs)
    assert roles == {"activation": 2, "weight": 1}
    w = next(op for op in fqs if op.attr("role") == "weight")
    assert w.attr("bits") == 6 and w.attr("axis") == -1000
    assert res.model.graph.outputs[0].name == "y"  # the output keeps its public name


def test_fold_gives_exact_integer_weights_and_bias(tmp_path):
    out = tmp_path / "q.onnx"
    rng = np.random.default_rng(0)
    res = qcompiler.compile(str(CONV), None, pipeline="insert-fake-quant{activation_signed=true}")
    ranges = {"x": (-4.0, 4.0), "y": (-12.0, 12.0)}
    for op in res.model.graph:
        if op.op_type == "FakeQuant" and op.attr("role") == "activation":
            op.input(0).meta["range"] = ranges["x" if op.input(0).is_graph_input else "y"]
    from qcompiler.codegen.onnx_backend import save_onnx
    from qcompiler.pass_base import PassContext
    from qcompiler.passes.fold_quant_params import FoldQuantParamsPass

    FoldQuantParamsPass()(res.model, PassContext())
    save_onnx(res.model, out)
    model = onnx.load(str(out))
    inits = {t.name: nh.to_array(t) for t in model.graph.initializer}
    src = {t.name: nh.to_array(t) for t in onnx.load(str(CONV)).graph.initializer}
    wq, ws = inits["w_quantized"], inits["w_scale"]
    assert wq.dtype == np.int8 and ws.shape == (8,)
    # reduce_range weights by default, as onnxruntime writes them: max |w| -> 64, within [-64, 64]
    np.testing.assert_array_equal(ws, (np.abs(src["w"]).reshape(8, -1).max(1) / 64).astype(np.float32))
    assert wq.min() >= -64 and wq.max() <= 64 and np.abs(wq).max() == 64
    np.testing.assert_array_equal(wq, np.round(src["w"] / ws[:, None, None, None]).astype(np.int8))
    x_scale, y_scale = np.float32(8.0 / 255), np.float32(24.0 / 255)
    bq = inits["b_quantized"]
    assert bq.dtype == np.int32
    np.testing.assert_array_equal(bq, np.round(src["b"] / (x_scale * ws)).astype(np.int32))
    # Simulate the QDQ semantics in numpy + the float model: quantized x, w and b in, output
    # quantized; onnxruntime's fused integer kernel must agree within one quantization step.
    x = rng.uniform(-3, 3, (1, 4, 8, 8)).astype(np.float32)
    xz = int(np.round(-128 - (-4.0) / x_scale))
    xdq = (np.clip(np.round(x / x_scale) + xz, -128, 127) - xz) * x_scale
    sim_model = onnx.load(str(CONV))
    for t in sim_model.graph.initializer:
        if t.name == "w":
            t.CopyFrom(nh.from_array((wq * ws[:, None, None, None]).astype(np.float32), "w"))
        if t.name == "b":
            t.CopyFrom(nh.from_array((bq * x_scale * ws).astype(np.float32), "b"))
    yf = run_ort(sim_model, {"x": xdq.astype(np.float32)})[0]
    yz = int(np.round(-128 - (-12.0) / y_scale))
    sim = (np.clip(np.round(yf / y_scale) + yz, -128, 127) - yz) * y_scale
    got = run_ort(out, {"x": x})[0]
    assert np.abs(got - sim).max() <= y_scale * 1.001


def test_upgrade_opset_for_per_channel(tmp_path):
    r = np.random.default_rng(0)
    g = h.make_graph([h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 2, 5, 5])], [h.make_tensor_value_info("y", T.FLOAT, [1, 3, 3, 3])],
                     [nh.from_array(r.standard_normal((3, 2, 3, 3)).astype(np.float32), "w")])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 11)])
    m.ir_version = 6
    src = tmp_path / "m11.onnx"
    onnx.save(m, str(src))
    out = tmp_path / "q.onnx"
    from qcompiler.quant_api import quantize

    quantize(str(src), str(out), calib_data=[r.standard_normal((1, 2, 5, 5)).astype(np.float32) for _ in range(4)],
             options={"cache_dir": str(tmp_path / "c")})
    q = onnx.load(str(out))
    assert next(o.version for o in q.opset_import if o.domain == "") == 13
    onnx.checker.check_model(q, full_check=True)
    assert any(n.op_type == "DequantizeLinear" and any(a.name == "axis" for a in n.attribute) for n in q.graph.node)


def test_weight_quant_mixed_bits_and_thresholds(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    src = model_path(entry)
    res = qcompiler.compile(str(src), str(tmp_path / "m.onnx"),
                            pipeline="fold-constants,weight-quant{bits=0,min_quant_weight_channel=0,init_scale=0.02}")
    bits = res.context.state["mixed_bits"]
    assert len(bits) == 7 and all(2 <= b <= 8 for b in bits.values()) and 5 <= np.mean(list(bits.values())) <= 8
    feeds = random_inputs(entry)
    a, b = run_ort(tmp_path / "m.onnx", feeds)[0], run_ort(src, feeds)[0]
    assert float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b)) > 0.99
    res = qcompiler.compile(str(src), None, pipeline="weight-quant{bits=8,min_quant_weight_channel=16}")
    quantized = [op for op in res.model.graph if op.op_type == "DequantizeLinear"]
    assert len(quantized) == 3  # only the 32-channel layers: MindSpore quantizes "more than" 16


def test_weight_quant_auto_tune_meets_the_cosine_target(tmp_path):
    from pathlib import Path

    from qcompiler.quant_api import quantize

    root = Path(__file__).resolve().parents[2]
    model = root / "examples" / "digits" / "digits_cnn.onnx"
    calib = np.load(root / "tests" / "data" / "digits_calib_x.npy")[:16]
    out = tmp_path / "auto.onnx"
    r = quantize(str(model), str(out), calib_data=calib, quant_type="WEIGHT_QUANT", bit_num=0, auto_tune=True,
                 min_quant_weight_channel=0)
    scale = r.context.state["auto_tune_init_scale"]
    bits = r.context.state["mixed_bits"]
    assert 1e-4 < scale < 0.5 and min(bits.values()) < 8  # it found room to compress
    got = np.concatenate([run_ort(out, {"input": x[None]})[0].ravel() for x in calib])
    want = np.concatenate([run_ort(model, {"input": x[None]})[0].ravel() for x in calib])
    assert float(got @ want / np.linalg.norm(got) / np.linalg.norm(want)) >= 0.995


@pytest.mark.parametrize("act, deferred", [("Relu", True), ("Clip:0:6", True), ("Clip:-1:1", False)])
def test_relu_after_add_is_quantized_once_and_onnxruntime_fuses_the_add(tmp_path, act, deferred):
    """As onnxruntime's quantizer writes it: the ReLU's quantization stands for the Add's output
    (its zero point at the type's minimum is the ReLU), and onnxruntime runs QLinearAdd."""
    import onnxruntime as ort

    from qcompiler.quant_api import quantize

    src = tmp_path / "m.onnx"
    onnx.save(add_act_model(act), str(src))
    res = qcompiler.compile(str(src), None, pipeline="insert-fake-quant")
    marked = {op.input(0).name for op in res.model.graph if op.op_type == "FakeQuant" and op.attr("role") == "activation"}
    assert "r" in marked and ("s" in marked) is not deferred
    rng = np.random.default_rng(0)
    calib = [{"a": rng.standard_normal((1, 4, 6, 6)).astype(np.float32), "b": rng.standard_normal((1, 4, 6, 6)).astype(np.float32)}
             for _ in range(8)]  # fmt: skip
    out = tmp_path / "q.onnx"
    quantize(str(src), str(out), calib_data=calib, bias_correction="false", options={"cache_dir": str(tmp_path / "c")})
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node)
    assert ops["QLinearAdd"] == 1 and ops["QLinearConv"] == 1
    if deferred:
        assert ops["Relu"] + ops["Clip"] == 0
    # and the quantized model still computes the float one within a few output steps
    feeds = calib[0]
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = sess.run(None, feeds)[0]
    assert np.abs(got - ref).max() < 0.05 * np.abs(ref).max()


def test_squeeze_excitation_gate_runs_as_qlinearconv_without_hardsigmoid(tmp_path):
    """fold-hardsigmoid in the full pipeline: the gate's HardSigmoid goes into its Conv and the
    gate's quantization range is the Clip's, so onnxruntime runs QLinearConv -> QLinearMul with
    no float HardSigmoid between (DequantizeLinear -> HardSigmoid -> QuantizeLinear before)."""
    import onnxruntime as ort

    from qcompiler.quant_api import quantize

    rng = np.random.default_rng(3)
    nodes = [h.make_node("Conv", ["x", "w0", "b0"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             h.make_node("Relu", ["c"], ["r"]), h.make_node("GlobalAveragePool", ["r"], ["p"]),
             h.make_node("Conv", ["p", "w1", "b1"], ["s"], name="se_conv"),
             h.make_node("HardSigmoid", ["s"], ["g"], alpha=1 / 6, beta=0.5, name="gate"),
             h.make_node("Mul", ["r", "g"], ["y"], name="scale")]  # fmt: skip
    inits = [nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "w0"),
             nh.from_array(rng.standard_normal(8).astype(np.float32) * 0.1, "b0"),
             nh.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "w1"),
             nh.from_array(rng.standard_normal(8).astype(np.float32), "b1")]  # fmt: skip
    g = h.make_graph(nodes, "se", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 8, 8, 8])], inits)  # fmt: skip
    src, out = tmp_path / "se.onnx", tmp_path / "q.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(src))
    calib = [rng.standard_normal((1, 3, 8, 8)).astype(np.float32) for _ in range(16)]
    quantize(str(src), str(out), calib_data=calib, options={"cache_dir": str(tmp_path / "c")})
    assert "HardSigmoid" not in {n.op_type for n in onnx.load(str(out)).graph.node}
    so = ort.SessionOptions()
    so.optimized_model_filepath = str(tmp_path / "opt.onnx")
    sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "opt.onnx")).graph.node)
    assert ops["QLinearConv"] == 2 and ops["QLinearMul"] == 1, ops
    assert ops["HardSigmoid"] + ops["Clip"] + ops["Mul"] == 0, ops
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = sess.run(None, {"x": x})[0]
    assert np.abs(got - ref).max() < 0.03 * np.abs(ref).max()


def _dead_gate_model(tmp_path):
    """conv -> ReLU that is 0 on every input (bias -100) -> 1x1 conv with bias 0.5: the second
    conv's input range is empty, so s_in * s_w is tiny and its bias would not fit int32."""
    rng = np.random.default_rng(5)
    nodes = [h.make_node("Conv", ["x", "w0", "b0"], ["c"], name="conv"), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("Conv", ["r", "w1", "b1"], ["y"], name="gate")]  # fmt: skip
    inits = [nh.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32) * 0.1, "w0"),
             nh.from_array(np.full(4, -100.0, np.float32), "b0"),
             nh.from_array(rng.standard_normal((6, 4, 1, 1)).astype(np.float32), "w1"),
             nh.from_array(np.linspace(-0.5, 0.5, 6).astype(np.float32), "b1")]  # fmt: skip
    g = h.make_graph(nodes, "dead", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 6, 4, 4])], inits)  # fmt: skip
    src = tmp_path / "dead.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(src))
    return src, [rng.standard_normal((1, 3, 4, 4)).astype(np.float32) for _ in range(4)]


def test_a_bias_too_large_for_its_scale_raises_the_weight_scale(tmp_path):
    """onnxruntime's quantizer raises such a channel's weight scale until the bias fits; so do we
    (to 2^30, room for the accumulation): the output is the bias, not a clipped one."""
    from qcompiler.passes.fold_quant_params import BIAS_LIMIT
    from qcompiler.quant_api import quantize

    src, calib = _dead_gate_model(tmp_path)
    out = tmp_path / "q.onnx"
    quantize(str(src), str(out), calib_data=calib, options={"cache_dir": str(tmp_path / "c")})
    inits = {t.name: nh.to_array(t) for t in onnx.load(str(out)).graph.initializer}
    bias = next(v for k, v in inits.items() if k.startswith("b1") and v.dtype == np.int32)
    assert np.abs(bias.astype(np.int64)).max() <= BIAS_LIMIT * 1.0001
    y = run_ort(out, {"x": calib[0]})[0]
    want = np.broadcast_to(np.linspace(-0.5, 0.5, 6, dtype=np.float32).reshape(1, 6, 1, 1), y.shape)
    step = 1.0 / 255
    assert np.abs(y - want).max() <= step, np.abs(y - want).max()
