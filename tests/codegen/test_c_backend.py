"""The C backend on the whole corpus: every quantized test model (one hand-built graph per op,
every opset, the PyTorch-defined architectures, the trained digits CNN) is generated, built with
-Werror, run on two inputs and compared with onnxruntime running the same QDQ model (within one
output quantization step); the same program built for qemu-aarch64 and the emulated Cortex-M4
gives the same bytes. Float models compile to C too and match onnxruntime within rounding."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
from corpus import good_models, model_path, random_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cbuild  # noqa: E402

import qcompiler  # noqa: E402
from qcompiler.codegen.c.backend import CBackend  # noqa: E402
from qcompiler.codegen.onnx_backend import save_onnx  # noqa: E402
from qcompiler.quant_api import quantize  # noqa: E402

MODELS = [e for e in good_models() if "control_flow" not in e.get("tags", []) and e["name"] != "opset28"]
IDS = [e["name"] for e in MODELS]
CTX = SimpleNamespace(options={"c_measure_flash": False})
pytestmark = pytest.mark.skipif(not cbuild.have("host"), reason="no C compiler")


@pytest.fixture(scope="module")
def objcache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("objects")


@pytest.fixture(scope="module")
def calib_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("calib"))


def quantized(entry: dict, tmp: Path, cache: str, target: str = "generic", **options):
    """(C folder, QDQ model path, compile result) of ``entry`` quantized to int8."""
    data = [random_inputs(entry, seed=s) for s in range(6)]
    # backend="c": the quantizer keeps every Q/DQ pair for the C kernels (prune-qdq only prunes
    # for onnxruntime), and onnxruntime runs that same QDQ model as the reference
    r = quantize(str(model_path(entry)), None, calib_data=data, input_shapes=entry.get("input_shapes"),
                 options={"cache_dir": cache}, backend="c", **options)  # fmt: skip
    qdq = tmp / "q.onnx"
    save_onnx(r.model.clone(), str(qdq))
    folder = tmp / f"c-{target}"
    res = CBackend().emit(r.model, str(folder), ctx=SimpleNamespace(options={"c_measure_flash": False,
                                                                             "target": target}))
    return folder, qdq, r, res.summary


def ort_run(path: Path, feeds: dict, optimize: bool = True) -> tuple[list[str], list[np.ndarray]]:
    """onnxruntime's outputs: with its graph optimizations (its int8 kernels), or without them
    (the QDQ model's reference semantics: each op in float between exact Q/DQ)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return [o.name for o in s.get_outputs()], s.run(None, feeds)


def output_steps(r) -> dict[str, float | None]:
    """Output name -> the scale of the DequantizeLinear producing it (None: a float output)."""
    res = {}
    for v in r.model.graph.outputs:
        p = v.producer()
        res[v.name] = float(p.input(1).const.reshape(-1)[0]) if p is not None and p.is_a("DequantizeLinear") else None
    return res


def compare(names, want, got, steps, floats: bool = True, own=None) -> float:
    """Largest difference in output steps (float outputs: absolute); asserts the bound.
    ``floats=False`` skips float outputs (compared with the reference semantics only: a float op
    after int8 ones sees inputs onnxruntime's own int8 kernels round differently).  ``own``:
    onnxruntime's unoptimized outputs, when ``want`` are its optimized ones: an int8 output may
    then be as far from ``want`` as onnxruntime's fused kernels are from its own QDQ semantics
    (a float LayerNorm or Softmax between int8 ops can carry their one-step differences on)."""
    worst = 0.0
    for k, (n, w) in enumerate(zip(names, want)):
        g, w = got[n.replace("/", "_")], np.asarray(w, np.float32).reshape(-1)
        assert g.shape == w.shape, (n, g.shape, w.shape)
        step = steps[n]
        if step is None and not floats:
            continue
        if step is not None:
            bound = np.ones(g.shape)
            if own is not None:
                bound = np.maximum(bound, np.abs(np.asarray(own[k], np.float32).reshape(-1) - w) / step)
            dist = np.abs(g - w) / step
            d = float(dist.max()) if g.size else 0.0
            assert not g.size or float(np.max(dist - bound)) <= 1e-4, \
                f"output {n}: {d:.3f} steps from onnxruntime (allowed {float(bound.max()):.3f})"
        else:
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5 * max(1.0, float(np.max(np.abs(w)))))
            d = float(np.max(np.abs(g - w)))
        worst = max(worst, d)
    return worst


@pytest.mark.parametrize("entry", MODELS, ids=IDS)
def test_quantized_model_matches_onnxruntime_on_every_board(entry, tmp_path, objcache, calib_cache):
    folder, qdq, r, summary = quantized(entry, tmp_path, calib_cache)
    assert summary["arena bytes"] <= summary["naive plan bytes"]
    cbuild.build(folder, "host", objcache)
    steps = output_steps(r)
    host = {}
    for seed in (2, 7):  # a calibration sample and an unseen one
        feeds = random_inputs(entry, seed=seed)
        host[seed] = got = cbuild.run(folder, feeds, "host", tag=f"s{seed}")
        names, own = ort_run(qdq, feeds, optimize=False)
        compare(names, own, got, steps)
        names, want = ort_run(qdq, feeds)
        compare(names, want, got, steps, floats=False, own=own)
    for board in ("aarch64", "cortex-m4"):
        if not cbuild.have(board):
            continue
        cbuild.build(folder, board, objcache)
        feeds = random_inputs(entry, seed=7)
        got = cbuild.run(folder, feeds, board, tag="s7")
        for k, v in host[7].items():
            assert got[k].tobytes() == v.tobytes(), f"{board} output {k} differs from x86"


FLOAT_MODELS = [e for e in MODELS if "qdq" not in e.get("tags", [])]  # quantized already


@pytest.mark.parametrize("entry", FLOAT_MODELS, ids=[e["name"] for e in FLOAT_MODELS])
def test_float_model_matches_onnxruntime(entry, tmp_path, objcache):
    r = qcompiler.compile(str(model_path(entry)), None, input_shapes=entry.get("input_shapes"))
    src = tmp_path / "f.onnx"
    save_onnx(r.model.clone(), str(src))
    folder = tmp_path / "c"
    CBackend().emit(r.model, str(folder), ctx=CTX)
    cbuild.build(folder, "host", objcache)
    feeds = random_inputs(entry, seed=3)
    names, want = ort_run(src, feeds)
    got = cbuild.run(folder, feeds, "host")
    for n, w in zip(names, want):
        w = np.asarray(w, np.float32).reshape(-1)
        np.testing.assert_allclose(got[n.replace("/", "_")], w, rtol=2e-4,
                                   atol=2e-5 * max(1.0, float(np.max(np.abs(w)))), err_msg=n)  # fmt: skip


SANITIZED = ["digits_cnn", "pt_transformer_block", "pt_detector_tiny", "pt_mobilenetv3_tiny",
             "pt_shufflenet_tiny", "op_softmax", "opset19", "op_conv_transpose", "op_resize_linear", "op_conv3d"]  # fmt: skip


@pytest.mark.parametrize("name", SANITIZED)
def test_sanitizers_are_clean(name, tmp_path, objcache, calib_cache):
    entry = next(e for e in MODELS if e["name"] == name)
    folder, qdq, r, _ = quantized(entry, tmp_path, calib_cache)
    cbuild.build(folder, "host", objcache, "SANITIZE=1")
    feeds = random_inputs(entry, seed=7)
    names, want = ort_run(qdq, feeds)
    got = cbuild.run(folder, feeds, "host")
    compare(names, want, got, output_steps(r), floats=False)


@pytest.mark.parametrize("act", ["Relu", "Clip:0:6"])
def test_relu_between_an_int8_op_and_its_quantize_is_the_kernels_clamp(act, tmp_path, objcache):
    """Add -> ReLU (or Clip from 0) -> QuantizeLinear with the zero point at the type's minimum:
    one int8 Add writes the quantized output (the Q's clamp is the ReLU), bit-exact with
    onnxruntime's QLinearAdd."""
    import onnx
    from small_models import add_act_model

    src = tmp_path / "m.onnx"
    onnx.save(add_act_model(act), str(src))
    rng = np.random.default_rng(0)
    calib = [{n: rng.standard_normal((1, 4, 6, 6)).astype(np.float32) for n in ("a", "b")} for _ in range(8)]
    r = quantize(str(src), None, calib_data=calib, bias_correction="false", backend="c",
                 options={"cache_dir": str(tmp_path / "c")})  # fmt: skip
    qdq = tmp_path / "q.onnx"
    save_onnx(r.model.clone(), str(qdq))
    assert any(op.op_type in ("Relu", "Clip") for op in r.model.graph)  # the ReLU is in the QDQ model
    folder = tmp_path / "cdir"
    res = CBackend().emit(r.model, str(folder), ctx=CTX)
    assert res.summary["int8 ops"] == res.summary["ops"] == 2 and res.summary["float ops"] == 0
    cbuild.build(folder, "host", objcache)
    feeds = {n: rng.standard_normal((1, 4, 6, 6)).astype(np.float32) * 2 for n in ("a", "b")}
    got = cbuild.run(folder, feeds, "host")
    names, want = ort_run(qdq, feeds)
    compare(names, want, got, output_steps(r))


@pytest.mark.parametrize("pads", [[0] * 8, [0, 0, 1, 0, 0, 0, 0, 2], [0, 0, -1, 0, 0, 0, 0, -1]],
                         ids=["zero", "grow", "crop"])
def test_pad_after_an_op_int8_and_float(pads, tmp_path, objcache):
    """A Pad of zero pads (a Swin Transformer's patch merging has one) copies its whole input,
    possibly in place: no fill may run before that copy (it did, and the output was all zeros)."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("Add", ["input", "k"], ["a"]), h.make_node("Pad", ["a", "pads", ""], ["y"], mode="constant")]
    out_shape = [1 + pads[0] + pads[4], 4 + pads[1] + pads[5], 4 + pads[2] + pads[6], 8 + pads[3] + pads[7]]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("input", T.FLOAT, [1, 4, 4, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, out_shape)],
                     [nh.from_array(np.ones(8, np.float32), "k"), nh.from_array(np.array(pads, np.int64), "pads")])  # fmt: skip
    src = tmp_path / "pad.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(src))
    rng = np.random.default_rng(0)
    data = [{"input": rng.standard_normal((1, 4, 4, 8)).astype(np.float32)} for _ in range(4)]
    r = quantize(str(src), None, calib_data=data, backend="c", options={"cache_dir": str(tmp_path / "c")})
    qdq = tmp_path / "q.onnx"
    save_onnx(r.model.clone(), str(qdq))
    for model, ref, tag in ((r.model, qdq, "int8"), (qcompiler.compile(str(src), None).model, src, "float")):
        folder = tmp_path / tag
        CBackend().emit(model, str(folder), ctx=CTX)
        cbuild.build(folder, "host", objcache)
        got = cbuild.run(folder, data[1], "host")["y"]
        want = ort_run(ref, data[1], optimize=False)[1][0].reshape(-1)
        tol = float(r.model.graph.outputs[0].producer().input(1).const.reshape(-1)[0]) if tag == "int8" else 1e-6
        assert np.abs(got - want).max() <= tol * 1.0001, tag
        assert np.abs(want).max() > 0.5  # the input reached the output


def test_a_bias_at_the_int32_limit_runs_the_layer_in_float(tmp_path, objcache):
    """A QDQ model (not ours: ours raise the weight scale) whose int32 bias sits at 2^31 - 1
    with a tiny weight scale: the int32 accumulator cannot hold bias - zp * sum(w) + products,
    so the layer runs in float between its Q/DQ (onnxruntime's reference semantics) instead of
    wrapping around or failing to generate."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(1)
    sx, sw, sy = 0.05, 1e-8, 0.01
    inits = [nh.from_array(np.array(sx, np.float32), "sx"), nh.from_array(np.array(128, np.uint8), "zx"),
             nh.from_array(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "wq"),
             nh.from_array(np.array(sw, np.float32), "sw"), nh.from_array(np.array(0, np.int8), "zw"),
             nh.from_array(np.array([2**31 - 1, -(2**31) + 1, 2**30, 7], np.int32), "bq"),
             nh.from_array(np.array(sx * sw, np.float32), "sb"), nh.from_array(np.array(0, np.int32), "zb"),
             nh.from_array(np.array(sy, np.float32), "sy"), nh.from_array(np.array(128, np.uint8), "zy")]  # fmt: skip
    nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             h.make_node("DequantizeLinear", ["wq", "sw", "zw"], ["wd"]),
             h.make_node("DequantizeLinear", ["bq", "sb", "zb"], ["bd"]),
             h.make_node("Conv", ["xd", "wd", "bd"], ["c"], pads=[1, 1, 1, 1]),
             h.make_node("QuantizeLinear", ["c", "sy", "zy"], ["yq"]),
             h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]  # fmt: skip
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 5, 5])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 5, 5])], inits)  # fmt: skip
    src = tmp_path / "qdq.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(src))
    r = qcompiler.compile(str(src), None)
    folder = tmp_path / "c"
    res = CBackend().emit(r.model, str(folder), ctx=CTX)
    assert res.summary["float ops"] >= 1
    cbuild.build(folder, "host", objcache)
    feeds = {"x": rng.standard_normal((1, 3, 5, 5)).astype(np.float32)}
    got = cbuild.run(folder, feeds, "host")["y"]
    want = ort_run(src, feeds, optimize=False)[1][0].reshape(-1)
    assert np.abs(got - want).max() <= sy * 1.0001
    assert np.abs(want).max() > 1.0  # the biases (about +-1.07 and 0.54) reach the output


def test_int8_layernorm_is_one_kernel_with_the_float_paths_bits(tmp_path, objcache):
    """LayerNormalization between Q/DQ runs as qc_layernorm_s8 (no float tensors in the arena)
    and gives exactly the bytes of dequantize -> qc_layernorm_f32 -> quantize, which match
    onnxruntime's reference within one step."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    import qcompiler.codegen.c.float_rules as fr

    rng = np.random.default_rng(4)
    nodes = [h.make_node("Add", ["x", "r"], ["a"]), h.make_node("LayerNormalization", ["a", "g", "b"], ["n"], axis=-1),
             h.make_node("MatMul", ["n", "w"], ["y"])]  # fmt: skip
    inits = [nh.from_array(rng.standard_normal((6, 16)).astype(np.float32), "r"),
             nh.from_array(rng.uniform(0.5, 1.5, 16).astype(np.float32), "g"),
             nh.from_array(rng.standard_normal(16).astype(np.float32) * 0.1, "b"),
             nh.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w")]  # fmt: skip
    g = h.make_graph(nodes, "ln", [h.make_tensor_value_info("x", T.FLOAT, [1, 6, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 6, 8])], inits)  # fmt: skip
    src = tmp_path / "ln.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(src))
    data = [{"x": rng.standard_normal((1, 6, 16)).astype(np.float32)} for _ in range(6)]
    r = quantize(str(src), None, calib_data=data, backend="c", options={"cache_dir": str(tmp_path / "c")})
    qdq = tmp_path / "q.onnx"
    save_onnx(r.model.clone(), str(qdq))
    feeds = {"x": rng.standard_normal((1, 6, 16)).astype(np.float32) * 1.5}
    got = {}
    for tag in ("s8", "f32"):
        folder = tmp_path / tag
        if tag == "f32":  # the float path: no int8 view of the LayerNorm's input
            def qin_none(lw, op, rule=fr.layernorm):
                saved, lw.qin = lw.qin, lambda v: None
                try:
                    return rule(lw, op)
                finally:
                    lw.qin = saved
            fr.FLOAT_RULES["LayerNormalization"] = qin_none
        try:
            res = CBackend().emit(r.model.clone(), str(folder), ctx=CTX)
        finally:
            fr.FLOAT_RULES["LayerNormalization"] = fr.layernorm
        text = (folder / "model.c").read_text()
        assert ("qc_layernorm_s8(" in text) == (tag == "s8") and ("qc_layernorm_f32(" in text) == (tag == "f32")
        cbuild.build(folder, "host", objcache)
        got[tag] = cbuild.run(folder, feeds, "host")
        if tag == "s8":
            s8_naive = res.summary["naive plan bytes"]
        else:
            assert s8_naive < res.summary["naive plan bytes"]
    assert got["s8"]["y"].tobytes() == got["f32"]["y"].tobytes()
    names, own = ort_run(qdq, feeds, optimize=False)
    compare(names, own, got["s8"], output_steps(r))


@pytest.mark.parametrize("attrs, message", [({"activations": ["Relu", "Tanh", "Tanh"]}, "default activations"),
                                            ({"layout": 1}, "layout=1")])
def test_recurrent_ops_the_kernel_does_not_cover_are_one_line_errors(attrs, message, tmp_path):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    from qcompiler.errors import BackendError

    rng = np.random.default_rng(0)
    node = h.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=3, **attrs)
    g = h.make_graph([node], "l", [h.make_tensor_value_info("x", T.FLOAT, [4, 1, 2])],
                     [h.make_tensor_value_info("y", T.FLOAT, [4, 1, 1, 3])],
                     [nh.from_array(rng.standard_normal((1, 12, 2)).astype(np.float32), "W"),
                      nh.from_array(rng.standard_normal((1, 12, 3)).astype(np.float32), "R")])  # fmt: skip
    src = tmp_path / "l.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 14)]), str(src))
    r = qcompiler.compile(str(src), None)
    with pytest.raises(BackendError) as e:
        CBackend().emit(r.model, str(tmp_path / "c"), ctx=CTX)
    assert message in str(e.value) and "LSTM" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("out_scale", [0.03, 0.05])
def test_gather_nd_between_q_and_dq_is_an_int8_gather(out_scale, tmp_path, objcache):
    """GatherND (batch_dims 1, a negative index) of a dequantized tensor into a Q is one int8
    qc_gather (then a requantization when the Q's scale differs), bit-exact with onnxruntime's
    reference semantics."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]), h.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
             h.make_node("GatherND", ["xd", "i"], ["t"], batch_dims=1),
             h.make_node("QuantizeLinear", ["t", "so", "zo"], ["tq"]), h.make_node("DequantizeLinear", ["tq", "so", "zo"], ["y"])]  # fmt: skip
    inits = [nh.from_array(np.float32(0.03), "s"), nh.from_array(np.uint8(128), "z"),
             nh.from_array(np.float32(out_scale), "so"), nh.from_array(np.uint8(120), "zo"),
             nh.from_array(np.array([[[2, 1], [0, -1]], [[1, 3], [2, 0]]], np.int64), "i")]  # fmt: skip
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 4, 5])],
                     [h.make_tensor_value_info("y", T.FLOAT, [2, 2, 5])], inits)  # fmt: skip
    src = tmp_path / "qdq.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(src))
    folder = tmp_path / "c"
    CBackend().emit(qcompiler.compile(str(src), None).model, str(folder), ctx=CTX)
    text = (folder / "model.c").read_text()
    gathers = [line for line in text.splitlines() if "qc_gather(" in line]
    assert len(gathers) == 1 and "int8_t" in gathers[0], gathers
    assert text.count("qc_dequantize_s8_f32(") == 1  # the output only: no float tensor before the gather
    cbuild.build(folder, "host", objcache)
    feeds = {"x": np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32) * 2}
    got = cbuild.run(folder, feeds, "host")["y"]
    want = ort_run(src, feeds, optimize=False)[1][0].reshape(-1)
    assert got.tobytes() == want.tobytes()


def _unsupported_form(case: str):
    """(nodes, extra graph inputs, initializers, opset) of an op form the C backend refuses."""
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    vi, mk = h.make_tensor_value_info, h.make_node
    i64 = lambda name, a: nh.from_array(np.array(a, np.int64), name)  # noqa: E731
    return {
        "scatter_nd_runtime_indices": ([mk("ScatterND", ["x", "i", "u"], ["y"])],
                                       [vi("i", T.INT64, [2, 1]), vi("u", T.FLOAT, [2, 3, 4, 5])], [], 13),
        "gather_nd_index_out_of_range": ([mk("GatherND", ["x", "i"], ["y"])], [], [i64("i", [[0, 1], [0, 3]])], 13),
        "gather_nd_zero_size": ([mk("Slice", ["x", "s", "e", "a"], ["z"]), mk("GatherND", ["z", "i"], ["y"])], [],
                                [i64("s", [0]), i64("e", [0]), i64("a", [3]), i64("i", [[0, 1]])], 13),
        "grid_sample_5d": ([mk("Unsqueeze", ["x", "ax"], ["x5"]), mk("GridSample", ["x5", "g"], ["y"])],
                           [vi("g", T.FLOAT, [1, 2, 2, 2, 3])], [i64("ax", [2])], 20),
    }[case]


@pytest.mark.parametrize("case, message", [("scatter_nd_runtime_indices", "needs constant indices"),
                                           ("gather_nd_index_out_of_range", "index 3 at [1, 1] is outside [-3, 3)"),
                                           ("gather_nd_zero_size", "zero-size tensors are not supported"),
                                           ("grid_sample_5d", "only 4-D inputs are supported (got [1, 3, 1, 4, 5])")])
def test_op_forms_without_a_kernel_are_one_line_errors_naming_the_node(case, message, tmp_path):
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    from qcompiler.errors import BackendError

    nodes, extra, inits, opset = _unsupported_form(case)
    nodes[-1].name = "the_node"
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, 5])] + extra,
                     [h.make_tensor_value_info("y", T.FLOAT, None)], inits)  # fmt: skip
    src = tmp_path / "m.onnx"
    onnx.save(onnx.shape_inference.infer_shapes(h.make_model(g, opset_imports=[h.make_opsetid("", opset)])), str(src))
    r = qcompiler.compile(str(src), None)
    with pytest.raises(BackendError) as e:
        CBackend().emit(r.model, str(tmp_path / "c"), ctx=CTX)
    text = str(e.value)
    assert message in text and "'the_node'" in text and nodes[-1].op_type in text and "\n" not in text, text
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("name", ["op_softmax", "op_lstm", "op_reduce_logsumexp", "pt_masked_attention", "op_sigmoid",
                                  "op_tanh"])
def test_float_kernels_with_exp_and_log_give_the_same_bytes_on_every_board(name, tmp_path, objcache):
    """Softmax, LogSumExp, the recurrent cells and the Sigmoid/Tanh/Exp/Log/SiLU unaries take
    exp/log/tanh from qc_common.h, not libm: a float model gives x86's bytes on qemu-aarch64 and
    the Cortex-M4 too."""
    entry = next(e for e in MODELS if e["name"] == name)
    r = qcompiler.compile(str(model_path(entry)), None, input_shapes=entry.get("input_shapes"))
    folder = tmp_path / "c"
    CBackend().emit(r.model, str(folder), ctx=CTX)
    feeds = random_inputs(entry, seed=5)
    cbuild.build(folder, "host", objcache)
    host = cbuild.run(folder, feeds, "host")
    boards = [b for b in ("aarch64", "cortex-m4") if cbuild.have(b)]
    for board in boards:
        cbuild.build(folder, board, objcache)
        got = cbuild.run(folder, feeds, board)
        for k, v in host.items():
            assert got[k].tobytes() == v.tobytes(), f"{board} output {k} differs from x86"
    assert boards or not cbuild.have("cortex-m4")


EINSUMS = [("i,j->ij", [(3,), (4,)]), ("bn,bn->b", [(3, 5), (3, 5)]), ("bii->b", [(2, 4, 4)]),
           ("ii->i", [(4, 4)]), ("ij,jk", [(3, 4), (4, 2)]), ("abc->ca", [(2, 3, 4)]),
           ("bi,bj,bk->bijk", [(2, 3), (2, 2), (2, 4)]), ("...ij,...j->...i", [(2, 3, 4, 5), (1, 3, 5)]),
           ("...ii", [(2, 3, 3)]), ("nchw,c->nhw", [(1, 3, 4, 5), (3,)])]  # fmt: skip


def test_einsum_forms_other_than_matrix_products(tmp_path, objcache):
    """Einsums the frontend does not turn into MatMul (outer and row-wise products, traces,
    diagonals, sums, three operands, ellipsis with broadcasting, implicit outputs) run in one
    float kernel over the letters; each matches onnxruntime."""
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h

    rng = np.random.default_rng(12)
    nodes, ins, outs, feeds = [], [], [], {}
    for i, (eq, shapes) in enumerate(EINSUMS):
        names = [f"e{i}_{j}" for j in range(len(shapes))]
        for n, s in zip(names, shapes):
            ins.append(h.make_tensor_value_info(n, T.FLOAT, list(s)))
            feeds[n] = rng.standard_normal(s).astype(np.float32)
        nodes.append(h.make_node("Einsum", names, [f"y{i}"], equation=eq, name=f"einsum{i}"))
        shape = np.einsum(eq, *[feeds[n] for n in names]).shape
        outs.append(h.make_tensor_value_info(f"y{i}", T.FLOAT, list(shape)))
    src = tmp_path / "einsum.onnx"
    onnx.save(h.make_model(h.make_graph(nodes, "einsum", ins, outs), opset_imports=[h.make_opsetid("", 13)]), str(src))
    r = qcompiler.compile(str(src), None)
    assert sum(op.op_type == "Einsum" for op in r.model.graph) == len(EINSUMS)
    folder = tmp_path / "c"
    CBackend().emit(r.model, str(folder), ctx=CTX)
    cbuild.build(folder, "host", objcache)
    names, want = ort_run(src, feeds)
    got = cbuild.run(folder, feeds, "host")
    for n, w in zip(names, want):
        np.testing.assert_allclose(got[n], np.asarray(w, np.float32).reshape(-1), rtol=1e-5, atol=1e-5, err_msg=n)
