"""Generate the hand-built test models (needs only onnx and numpy).

    python tests/models/gen_onnx_models.py [OUT_DIR]

Writes ``onnx/*.onnx`` (valid models), ``bad/*`` (inputs that must fail cleanly) and
``manifest_handbuilt.json`` next to this script.  Seeded: reruns give byte-identical files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = Path(__file__).resolve().parent
F = T.FLOAT


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)) * 7919)


def _w(rng, *shape, scale=None) -> np.ndarray:
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
    s = scale if scale is not None else 1.0 / np.sqrt(max(fan_in, 1))
    return (rng.standard_normal(shape) * s).astype(np.float32)


def _init(name, arr) -> onnx.TensorProto:
    return nh.from_array(np.asarray(arr), name)


def _vi(name, shape, elem=F):
    return h.make_tensor_value_info(name, elem, shape)


def _model(name, nodes, inputs, outputs, inits=(), opset=17, extra_opsets=(), ir=None):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    ops = [h.make_opsetid("", opset)] + [h.make_opsetid(d, v) for d, v in extra_opsets]
    m = h.make_model(g, opset_imports=ops, producer_name="qcompiler-tests")
    m.ir_version = ir or _IR_FOR_OPSET.get(opset, 10)
    if m.ir_version < 4:  # IR 3 lists initializers among the graph inputs
        m.graph.input.extend(_vi(t.name, list(t.dims), t.data_type) for t in inits)
    if any(not o.type.tensor_type.HasField("shape") for o in m.graph.output):
        inferred = onnx.shape_inference.infer_shapes(m)
        types = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
        for o in m.graph.output:
            if not o.type.tensor_type.HasField("shape") and o.name in types:
                o.type.CopyFrom(types[o.name].type)
    return m


_IR_FOR_OPSET = {7: 3, 9: 4, 11: 6, 13: 7, 15: 8, 17: 8, 19: 9, 21: 10, 23: 11, 25: 11, 28: 11}


# -- opset coverage -----------------------------------------------------------------------------
def opset7():
    r = _rng("opset7")
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Upsample", ["p"], ["u"], scales=[1.0, 1.0, 2.0, 2.0], mode="nearest"),
        h.make_node("Add", ["u", "r"], ["a"]),
        h.make_node("Reshape", ["a", "shape"], ["f"]),
        h.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [_init("w", _w(r, 4, 3, 3, 3)), _init("shape", np.array([1, -1], np.int64)),
             _init("fw", _w(r, 10, 4 * 8 * 8)), _init("fb", _w(r, 10, scale=0.1))]
    return _model("opset7", nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 10])], inits, opset=7)


def opset9():
    r = _rng("opset9")
    nodes = [
        h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], epsilon=1e-3),
        h.make_node("LeakyRelu", ["n"], ["r"], alpha=0.1),
        h.make_node("Upsample", ["r", "scales"], ["u"], mode="nearest"),
        h.make_node("GlobalAveragePool", ["u"], ["g"]),
        h.make_node("Flatten", ["g"], ["y"]),
    ]
    inits = [_init("w", _w(r, 6, 3, 3, 3)), _init("b", _w(r, 6)), _init("s", 1 + 0.1 * _w(r, 6)),
             _init("bb", _w(r, 6)), _init("m", 0.1 * _w(r, 6)), _init("v", 0.5 + np.abs(_w(r, 6))),
             _init("scales", np.array([1, 1, 2, 2], np.float32))]
    return _model("opset9", nodes, [_vi("x", [1, 3, 6, 6])], [_vi("y", [1, 6])], inits, opset=9)


def opset11():
    r = _rng("opset11")
    nodes = [
        h.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
        h.make_node("Conv", ["p", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2]),
        h.make_node("Clip", ["c", "lo", "hi"], ["r6"]),
        h.make_node("Resize", ["r6", "roi", "scales"], ["u"], mode="linear",
                    coordinate_transformation_mode="half_pixel"),
        h.make_node("ReduceMean", ["u"], ["y"], axes=[2, 3], keepdims=0),
    ]
    inits = [_init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), _init("w", _w(r, 5, 2, 3, 3)),
             _init("lo", np.array(0, np.float32)), _init("hi", np.array(6, np.float32)),
             _init("roi", np.array([], np.float32)), _init("scales", np.array([1, 1, 2, 2], np.float32))]
    return _model("opset11", nodes, [_vi("x", [1, 2, 9, 9])], [_vi("y", [1, 5])], inits, opset=11)


def opset13():
    r = _rng("opset13")
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["m"]),
        h.make_node("Split", ["m", "split"], ["a", "b"], axis=-1),
        h.make_node("Sigmoid", ["b"], ["sb"]),
        h.make_node("Mul", ["a", "sb"], ["glu"]),
        h.make_node("Unsqueeze", ["glu", "ax0"], ["un"]),
        h.make_node("Squeeze", ["un", "ax0"], ["sq"]),
        h.make_node("Softmax", ["sq"], ["sm"], axis=-1),
        h.make_node("ReduceSum", ["sm", "ax1"], ["y"], keepdims=1),
    ]
    inits = [_init("w", _w(r, 16, 24)), _init("split", np.array([12, 12], np.int64)),
             _init("ax0", np.array([0], np.int64)), _init("ax1", np.array([-1], np.int64))]
    return _model("opset13", nodes, [_vi("x", [2, 4, 16])], [_vi("y", [2, 4, 1])], inits, opset=13)


def _conv_chain(name, opset, act_nodes):
    r = _rng(name)
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         name="conv")] + act_nodes
    inits = [_init("w", _w(r, 4, 3, 3, 3)), _init("b", _w(r, 4, scale=0.1))]
    return nodes, inits


def opset_n(opset: int):
    """A conv block using an op that is new or changed at ``opset``."""
    name = f"opset{opset}"
    acts = {
        15: [h.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
             h.make_node("Relu", ["n"], ["y"])],
        17: [h.make_node("LayerNormalization", ["c", "s4", "bb4"], ["y"], axis=-1)],
        19: [h.make_node("Pad", ["c", "pads"], ["p"], mode="reflect"),
             h.make_node("AveragePool", ["p"], ["y"], kernel_shape=[3, 3])],
        21: [h.make_node("GroupNormalization", ["c", "s", "bb"], ["g"], num_groups=2),
             h.make_node("HardSwish", ["g"], ["y"])],
        23: [h.make_node("Gelu", ["c"], ["y"], approximate="tanh")],
        28: [h.make_node("Mish", ["c"], ["mish"]), h.make_node("Identity", ["mish"], ["y"])],
    }[opset]
    r = _rng(name + "bn")
    nodes, inits = _conv_chain(name, opset, acts)
    inits += [_init("s", 1 + 0.1 * _w(r, 4)), _init("bb", _w(r, 4)), _init("m", 0.1 * _w(r, 4)),
              _init("v", 0.5 + np.abs(_w(r, 4))), _init("s4", 1 + 0.1 * _w(r, 8)),
              _init("bb4", _w(r, 8)), _init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))]
    used = {i for n in nodes for i in n.input}
    inits = [t for t in inits if t.name in used]
    return _model(name, nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 4, 8, 8])], inits, opset=opset)


# -- special cases ------------------------------------------------------------------------------
def dynamic_dims():
    r = _rng("dynamic")
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("GlobalAveragePool", ["r"], ["g"]),
        h.make_node("Flatten", ["g"], ["f"]),
        h.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [_init("w", _w(r, 8, 3, 3, 3)), _init("fw", _w(r, 5, 8)), _init("fb", _w(r, 5))]
    return _model("dynamic_dims", nodes, [_vi("x", ["N", 3, "H", "W"])], [_vi("y", ["N", 5])], inits, opset=13)


def shape_subgraph():
    """Shape -> Gather -> Concat -> Reshape and ConstantOfShape: folded by the frontend."""
    r = _rng("shape")
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
        h.make_node("Shape", ["c"], ["s"]),
        h.make_node("Constant", [], ["i0"], value=_init("i0v", np.array([0], np.int64))),
        h.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        h.make_node("Constant", [], ["m1"], value_ints=[-1]),
        h.make_node("Concat", ["n", "m1"], ["shp"], axis=0),
        h.make_node("Reshape", ["c", "shp"], ["flat"]),
        h.make_node("Constant", [], ["bshape"], value=_init("bs", np.array([1, 64], np.int64))),
        h.make_node("ConstantOfShape", ["bshape"], ["bias"], value=_init("one", np.array([0.5], np.float32))),
        h.make_node("Add", ["flat", "bias"], ["y"]),
    ]
    return _model("shape_subgraph", nodes, [_vi("x", [1, 3, 4, 4])], [_vi("y", [1, 64])],
                  [_init("w", _w(r, 4, 3, 1, 1))], opset=13)


def external_data(out_dir: Path):
    r = _rng("external")
    nodes = [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Add", ["m", "b"], ["y"])]
    m = _model("external_data", nodes, [_vi("x", [1, 32])], [_vi("y", [1, 64])],
               [_init("w", _w(r, 32, 64)), _init("b", _w(r, 64))], opset=13)
    path = out_dir / "external_data.onnx"
    (out_dir / "external_data.onnx.data").unlink(missing_ok=True)  # onnx appends to an existing file
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external_data.onnx.data", size_threshold=0)
    return None


def if_model():
    r = _rng("if")
    then_g = h.make_graph([h.make_node("Mul", ["r", "k"], ["t_out"])], "then", [], [_vi("t_out", [1, 4, 8, 8])])
    else_g = h.make_graph([h.make_node("Sigmoid", ["r"], ["e_out"])], "else", [], [_vi("e_out", [1, 4, 8, 8])])
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("ReduceMean", ["x"], ["mean"], keepdims=0),
        h.make_node("Greater", ["mean", "zero"], ["cond"]),
        h.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g),
    ]
    inits = [_init("w", _w(r, 4, 3, 3, 3)), _init("k", np.array(2.0, np.float32)),
             _init("zero", np.array(0.0, np.float32))]
    return _model("if_model", nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 4, 8, 8])], inits, opset=13)


def loop_model():
    body = h.make_graph(
        [h.make_node("Identity", ["cond_in"], ["cond_out"]),
         h.make_node("Mul", ["acc_in", "w"], ["m"]),
         h.make_node("Add", ["m", "x"], ["acc_out"])],
        "body",
        [_vi("iter", [], T.INT64), _vi("cond_in", [], T.BOOL), _vi("acc_in", [1, 8])],
        [_vi("cond_out", [], T.BOOL), _vi("acc_out", [1, 8])],
    )
    nodes = [h.make_node("Loop", ["trip", "cond", "x"], ["y"], body=body)]
    inits = [_init("trip", np.array(3, np.int64)), _init("cond", np.array(True)),
             _init("w", np.full((1, 8), 0.5, np.float32))]
    return _model("loop_model", nodes, [_vi("x", [1, 8])], [_vi("y", [1, 8])], inits, opset=13)


def scan_model():
    body = h.make_graph(
        [h.make_node("Add", ["s_in", "xi"], ["s_out"]), h.make_node("Identity", ["s_out"], ["yi"])],
        "scan_body", [_vi("s_in", [4]), _vi("xi", [4])], [_vi("s_out", [4]), _vi("yi", [4])],
    )
    nodes = [h.make_node("Scan", ["init", "x"], ["final", "y"], body=body, num_scan_inputs=1)]
    return _model("scan_model", nodes, [_vi("x", [5, 4])], [_vi("final", [4]), _vi("y", [5, 4])],
                  [_init("init", np.zeros(4, np.float32))], opset=13)


def contrib_ops():
    r = _rng("contrib")
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["m"]),
        h.make_node("Gelu", ["m"], ["g"], domain="com.microsoft"),
        h.make_node("FusedMatMul", ["g", "w2"], ["y"], domain="com.microsoft", alpha=0.5),
    ]
    return _model("contrib_ops", nodes, [_vi("x", [2, 16])], [_vi("y", [2, 8])],
                  [_init("w", _w(r, 16, 32)), _init("w2", _w(r, 32, 8))], opset=17,
                  extra_opsets=[("com.microsoft", 1)])


def qdq_model():
    """A QAT-style export: int8 per-channel weights and activation Q/DQ pairs."""
    r = _rng("qdq")
    w = _w(r, 8, 3, 3, 3)
    ws = (np.abs(w).reshape(8, -1).max(1) / 127).astype(np.float32)
    wq = np.clip(np.round(w / ws[:, None, None, None]), -127, 127).astype(np.int8)
    nodes = [
        h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        h.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
        h.make_node("Conv", ["xd", "wd"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("QuantizeLinear", ["r", "ys", "yz"], ["rq"]),
        h.make_node("DequantizeLinear", ["rq", "ys", "yz"], ["y"]),
    ]
    inits = [_init("xs", np.array(0.02, np.float32)), _init("xz", np.array(0, np.int8)),
             _init("wq", wq), _init("ws", ws), _init("wz", np.zeros(8, np.int8)),
             _init("ys", np.array(0.05, np.float32)), _init("yz", np.array(-128, np.int8))]
    return _model("qdq_model", nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 8, 8, 8])], inits, opset=13)


def qoperator_model() -> onnx.ModelProto:
    """onnxruntime's operator-format quantization (the ONNX model zoo's int8 models): QLinearConv
    with per-channel weights, MaxPool and Flatten on uint8 tensors, QLinearAdd/Mul, QLinearSigmoid,
    QLinearLeakyRelu, QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QGemm. Written
    by onnxruntime.quantization.quantize_static from a float graph and seeded data."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    r = _rng("qoperator")
    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r1"]),
        h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Conv", ["p1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        h.make_node("LeakyRelu", ["c2"], ["l2"], alpha=0.1),
        h.make_node("Add", ["l2", "p1"], ["a2"]),
        h.make_node("Sigmoid", ["a2"], ["s2"]),
        h.make_node("Mul", ["a2", "s2"], ["m2"]),
        h.make_node("AveragePool", ["m2"], ["v2"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("GlobalAveragePool", ["m2"], ["g2"]),
        h.make_node("Flatten", ["v2"], ["f1"]),
        h.make_node("Flatten", ["g2"], ["f2"]),
        h.make_node("Concat", ["f1", "f2"], ["cat"], axis=1),
        h.make_node("Gemm", ["cat", "w3", "b3"], ["y"], transB=1),
    ]
    inits = [_init("w1", _w(r, 8, 3, 3, 3)), _init("b1", _w(r, 8)), _init("w2", _w(r, 8, 8, 3, 3)),
             _init("b2", _w(r, 8)), _init("w3", _w(r, 10, 40)), _init("b3", _w(r, 10))]
    f = _model("qoperator_float", nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 10])], inits, opset=13)
    samples = [{"x": r.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        onnx.save(f, str(src))
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        m = onnx.load(str(dst))
    m.graph.name = "qoperator_model"
    del m.metadata_props[:]
    return m


def recurrent_models() -> dict[str, onnx.ModelProto]:
    """LSTM, GRU and RNN with the attributes exporters and keyword-spotting models use."""
    r = _rng("recurrent")
    S, N, I, H = 6, 2, 4, 5
    out = {}

    def mk(name, node, inits, outs, x_shape):
        out[name] = _model(name, [node], [_vi("x", x_shape)], [_vi(o, None) for o in outs], inits, opset=14)

    # bidirectional, per-batch lengths, initial states, peepholes, clip: every output
    mk("op_lstm", h.make_node("LSTM", ["x", "W", "R", "B", "lens", "h0", "c0", "P"], ["y", "y_h", "y_c"],
                              hidden_size=H, direction="bidirectional", clip=2.5),
       [_init("W", _w(r, 2, 4 * H, I)), _init("R", _w(r, 2, 4 * H, H)), _init("B", _w(r, 2, 8 * H)),
        _init("lens", np.array([6, 4], np.int32)), _init("h0", _w(r, 2, N, H)), _init("c0", _w(r, 2, N, H)),
        _init("P", _w(r, 2, 3 * H))], ["y", "y_h", "y_c"], [S, N, I])
    # reverse, linear_before_reset (PyTorch's GRU), no initial state
    mk("op_gru", h.make_node("GRU", ["x", "W", "R", "B"], ["y", "y_h"], hidden_size=H, direction="reverse",
                             linear_before_reset=1),
       [_init("W", _w(r, 1, 3 * H, I)), _init("R", _w(r, 1, 3 * H, H)), _init("B", _w(r, 1, 6 * H))],
       ["y", "y_h"], [S, N, I])
    # ONNX's own GRU form (reset before the product), only the last state used
    mk("op_gru_reset_first", h.make_node("GRU", ["x", "W", "R", "B"], ["", "y_h"], hidden_size=H),
       [_init("W", _w(r, 1, 3 * H, I)), _init("R", _w(r, 1, 3 * H, H)), _init("B", _w(r, 1, 6 * H))],
       ["y_h"], [S, N, I])
    mk("op_rnn", h.make_node("RNN", ["x", "W", "R", "B", "", "h0"], ["y"], hidden_size=H),
       [_init("W", _w(r, 1, H, I)), _init("R", _w(r, 1, H, H)), _init("B", _w(r, 1, 2 * H)),
        _init("h0", _w(r, 1, N, H))], ["y"], [S, N, I])
    return out


def image_scaler_model() -> onnx.ModelProto:
    """Tiny YOLOv2's start (ONNX model zoo, opset 8, IR 3): the experimental ImageScaler, then
    Conv, BatchNormalization, LeakyRelu, MaxPool."""
    r = _rng("imagescaler")
    nodes = [h.make_node("ImageScaler", ["x"], ["s"], bias=[-0.5, 0.1, 0.3], scale=0.8),
             h.make_node("Conv", ["s", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             h.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"], epsilon=1e-3),
             h.make_node("LeakyRelu", ["n"], ["l"], alpha=0.1),
             h.make_node("MaxPool", ["l"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]  # fmt: skip
    inits = [_init("w", _w(r, 8, 3, 3, 3)), _init("g", 1 + 0.1 * _w(r, 8)), _init("b", _w(r, 8)),
             _init("m", 0.1 * _w(r, 8)), _init("v", 0.5 + np.abs(_w(r, 8)))]
    return _model("opset8_image_scaler", nodes, [_vi("x", [1, 3, 16, 16])], [_vi("y", [1, 8, 8, 8])], inits, opset=8,
                  ir=3)


def decomposed_activations():
    """Exporter-style decompositions: hard-swish (Div and Mul-by-1/6 forms), SiLU, LayerNorm."""
    r = _rng("decomposed")
    c = lambda name, v: _init(name, np.array(v, np.float32))  # noqa: E731
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv1"),
        h.make_node("Add", ["c1", "three"], ["a1"]),
        h.make_node("Clip", ["a1", "zero", "six"], ["k1"]),
        h.make_node("Mul", ["c1", "k1"], ["m1"]),
        h.make_node("Div", ["m1", "six"], ["hs1"]),
        h.make_node("Conv", ["hs1", "w2"], ["c2"], kernel_shape=[1, 1], name="conv2"),
        h.make_node("Add", ["c2", "three"], ["a2"]),
        h.make_node("Clip", ["a2", "zero", "six"], ["k2"]),
        h.make_node("Mul", ["k2", "sixth"], ["d2"]),
        h.make_node("Mul", ["c2", "d2"], ["hs2"]),
        h.make_node("Conv", ["hs2", "w3"], ["c3"], kernel_shape=[1, 1], name="conv3"),
        h.make_node("Sigmoid", ["c3"], ["s3"]),
        h.make_node("Mul", ["c3", "s3"], ["silu"]),
        h.make_node("ReduceMean", ["silu"], ["mu"], axes=[-1]),
        h.make_node("Sub", ["silu", "mu"], ["d"]),
        h.make_node("Pow", ["d", "two"], ["d2sq"]),
        h.make_node("ReduceMean", ["d2sq"], ["var"], axes=[-1]),
        h.make_node("Add", ["var", "eps"], ["ve"]),
        h.make_node("Sqrt", ["ve"], ["sd"]),
        h.make_node("Div", ["d", "sd"], ["nrm"]),
        h.make_node("Mul", ["nrm", "gamma"], ["ng"]),
        h.make_node("Add", ["ng", "beta"], ["y"]),
    ]
    inits = [_init("w", _w(r, 6, 3, 3, 3)), _init("w2", _w(r, 6, 6, 1, 1)), _init("w3", _w(r, 6, 6, 1, 1)),
             c("three", 3.0), c("zero", 0.0), c("six", 6.0), c("sixth", 1 / 6), c("two", 2.0),
             c("eps", 1e-5), _init("gamma", 1 + 0.1 * _w(r, 8)), _init("beta", 0.1 * _w(r, 8))]
    return _model("decomposed_activations", nodes, [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 6, 8, 8])],
                  inits, opset=13)


# -- one graph per op ---------------------------------------------------------------------------
def per_op_models():
    """Small graphs, one op each, with the input shape [1, 4, 8, 8] unless the op needs more."""
    X = [1, 4, 8, 8]
    out = {}

    def one(name, node, inits=(), x_shape=X, inputs=None, opset=13):
        inputs = inputs or [_vi("x", x_shape)]
        out[f"op_{name}"] = (_model(f"op_{name}", [node], inputs, [_vi("y", None)], inits, opset=opset), node.op_type)

    r = _rng("perop")
    one("conv", h.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        [_init("w", _w(r, 8, 4, 3, 3)), _init("b", _w(r, 8))])
    one("conv_grouped", h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], group=2),
        [_init("w", _w(r, 6, 2, 3, 3))])
    one("conv_depthwise", h.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], group=4, pads=[1, 1, 1, 1]),
        [_init("w", _w(r, 4, 1, 3, 3)), _init("b", _w(r, 4))])
    one("conv_stride2", h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        [_init("w", _w(r, 8, 4, 3, 3))])
    one("conv_dilated", h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], dilations=[2, 2], pads=[2, 2, 2, 2]),
        [_init("w", _w(r, 8, 4, 3, 3))])
    one("conv_asym_pads", h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 2], pads=[0, 1, 2, 0]),
        [_init("w", _w(r, 8, 4, 3, 2))])
    one("conv_transpose", h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
        [_init("w", _w(r, 4, 6, 2, 2)), _init("b", _w(r, 6))])
    one("gemm", h.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1), [_init("w", _w(r, 10, 16)), _init("b", _w(r, 10))],
        x_shape=[2, 16])
    one("matmul", h.make_node("MatMul", ["x", "w"], ["y"]), [_init("w", _w(r, 8, 12))], x_shape=[1, 5, 8])
    for op in ("Add", "Sub", "Mul"):
        one(op.lower() + "_broadcast", h.make_node(op, ["x", "c"], ["y"]), [_init("c", _w(r, 4, 1, 1))])
    one("add_two_inputs", h.make_node("Add", ["x", "x2"], ["y"]), inputs=[_vi("x", X), _vi("x2", [1, 1, 8, 8])])
    one("concat", h.make_node("Concat", ["x", "x2"], ["y"], axis=1), inputs=[_vi("x", X), _vi("x2", [1, 2, 8, 8])])
    one("maxpool", h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    one("avgpool", h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2]))
    one("avgpool_pad", h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1))
    one("global_avgpool", h.make_node("GlobalAveragePool", ["x"], ["y"]))
    one("resize_nearest", h.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest"),
        [_init("scales", np.array([1, 1, 2, 2], np.float32))])
    one("resize_linear", h.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear"),
        [_init("sizes", np.array([1, 4, 12, 12], np.int64))])
    one("softmax", h.make_node("Softmax", ["x"], ["y"], axis=1))
    for op in ("Sigmoid", "Tanh", "Relu", "HardSwish"):
        one(op.lower(), h.make_node(op, ["x"], ["y"]), opset=14 if op == "HardSwish" else 13)
    one("clip_relu6", h.make_node("Clip", ["x", "lo", "hi"], ["y"]),
        [_init("lo", np.array(0, np.float32)), _init("hi", np.array(6, np.float32))])
    one("leaky_relu", h.make_node("LeakyRelu", ["x"], ["y"], alpha=0.2))
    one("hard_sigmoid", h.make_node("HardSigmoid", ["x"], ["y"]))
    one("reshape", h.make_node("Reshape", ["x", "s"], ["y"]), [_init("s", np.array([1, 4, 64], np.int64))])
    one("transpose", h.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1]))
    one("flatten", h.make_node("Flatten", ["x"], ["y"], axis=1))
    one("squeeze", h.make_node("Squeeze", ["x", "ax"], ["y"]), [_init("ax", np.array([0], np.int64))])
    one("unsqueeze", h.make_node("Unsqueeze", ["x", "ax"], ["y"]), [_init("ax", np.array([0], np.int64))])
    one("pad", h.make_node("Pad", ["x", "pads", "cv"], ["y"]),
        [_init("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)), _init("cv", np.array(0.5, np.float32))])
    one("reduce_mean", h.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=1))
    one("batchnorm", h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"]),
        [_init("s", 1 + 0.1 * _w(r, 4)), _init("b", _w(r, 4)), _init("m", 0.1 * _w(r, 4)),
         _init("v", 0.5 + np.abs(_w(r, 4)))])
    X3 = [1, 4, 5, 6, 6]  # NCDHW
    one("conv3d", h.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3, 3], strides=[2, 1, 1],
                              pads=[1, 1, 1, 1, 1, 1]),
        [_init("w", _w(r, 6, 4, 3, 3, 3)), _init("b", _w(r, 6))], x_shape=X3)
    one("conv3d_grouped_dilated", h.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[2, 3, 3], group=2,
                                              dilations=[2, 1, 1], strides=[1, 2, 2], pads=[1, 0, 1, 0, 1, 0]),
        [_init("w", _w(r, 4, 2, 2, 3, 3))], x_shape=X3)
    # 3-D U-Nets (volumetric segmentation) upsample with ConvTranspose3d
    one("conv_transpose3d", h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[3, 2, 3], group=2,
                                        strides=[2, 2, 1], dilations=[1, 1, 2], pads=[1, 0, 1, 0, 1, 0],
                                        output_padding=[1, 0, 0]),
        [_init("w", _w(r, 4, 3, 3, 2, 3)), _init("b", _w(r, 6))], x_shape=X3)
    one("maxpool3d", h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3, 3], strides=[2, 2, 2],
                                 pads=[0, 1, 1, 1, 1, 0], ceil_mode=1), x_shape=X3)
    one("avgpool3d", h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3, 3], strides=[1, 2, 2],
                                 pads=[1, 1, 1, 1, 1, 1]), x_shape=X3)
    one("avgpool3d_include_pad", h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 3, 3],
                                             strides=[2, 2, 2], pads=[1, 1, 1, 0, 1, 1], count_include_pad=1,
                                             ceil_mode=1), x_shape=X3)
    one("lrn", h.make_node("LRN", ["x"], ["y"], size=3, alpha=0.5, beta=0.75, bias=2.0))  # AlexNet, GoogLeNet
    one("softsign", h.make_node("Softsign", ["x"], ["y"]))
    one("thresholded_relu", h.make_node("ThresholdedRelu", ["x"], ["y"], alpha=0.3))
    one("celu", h.make_node("Celu", ["x"], ["y"], alpha=0.7))
    one("atan", h.make_node("Atan", ["x"], ["y"]))
    one("reduce_l1", h.make_node("ReduceL1", ["x"], ["y"], axes=[1], keepdims=1))
    one("reduce_logsumexp", h.make_node("ReduceLogSumExp", ["x"], ["y"], axes=[2, 3], keepdims=0))
    one("reduce_axes_apart", h.make_node("ReduceMean", ["x"], ["y"], axes=[1, 3], keepdims=1))
    one("lpnorm", h.make_node("LpNormalization", ["x"], ["y"], axis=1, p=2))  # face-embedding heads
    one("resize_cubic", h.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic"),
        [_init("scales", np.array([1, 1, 2, 1.5], np.float32))])
    one("resize_cubic_aligned", h.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="cubic", exclude_outside=1,
                                            coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.5),
        [_init("sizes", np.array([1, 4, 5, 13], np.int64))])
    one("gather_elements", h.make_node("GatherElements", ["x", "gi"], ["y"], axis=2),
        [_init("gi", (np.arange(160, dtype=np.int64).reshape(1, 4, 5, 8) * 7 % 16) - 8)])  # negatives too
    one("cumsum", h.make_node("CumSum", ["x", "ax"], ["y"], exclusive=1, reverse=1), [_init("ax", np.array(2, np.int64))])
    topk = h.make_node("TopK", ["x", "k"], ["y", "i"], axis=1)
    out["op_topk"] = (_model("op_topk", [topk, h.make_node("Cast", ["i"], ["yi"], to=F)], [_vi("x", X)],
                             [_vi("y", None), _vi("yi", None)], [_init("k", np.array([3], np.int64))]), "TopK")
    # a classifier head's ArgMax; quantized inputs tie often, and select_last_index picks the last
    am = h.make_node("ArgMax", ["x"], ["i"], axis=1, keepdims=1, select_last_index=1)
    out["op_argmax_last"] = (_model("op_argmax_last", [am, h.make_node("Cast", ["i"], ["y"], to=F)], [_vi("x", X)],
                                    [_vi("y", None)], [], opset=13), "ArgMax")
    # YOLOv5 detect heads and Hugging Face key/value caches write slices with ScatterND
    one("scatter_nd", h.make_node("ScatterND", ["x", "si", "u"], ["y"]),
        [_init("si", np.array([[0, 2], [0, -1]], np.int64))], inputs=[_vi("x", X), _vi("u", [2, 8, 8])])
    one("scatter_elements", h.make_node("ScatterElements", ["x", "si", "u"], ["y"], axis=3, reduction="add"),
        [_init("si", (np.arange(96, dtype=np.int64).reshape(1, 4, 8, 3) * 5 % 11) - 3)],
        inputs=[_vi("x", X), _vi("u", [1, 4, 8, 3])], opset=16)  # repeated indices add up
    one("gather_nd", h.make_node("GatherND", ["x", "gi"], ["y"], batch_dims=1),
        [_init("gi", np.array([[[3, 1], [0, -2], [2, 7]]], np.int64))])
    one("trilu", h.make_node("Trilu", ["x", "tk"], ["y"], upper=0), [_init("tk", np.array(1, np.int64))], opset=14)
    one("grid_sample", h.make_node("GridSample", ["x", "g"], ["y"]), inputs=[_vi("x", X), _vi("g", [1, 3, 5, 2])],
        opset=16)  # bilinear, zeros: onnxruntime's precomputed-weight form
    one("grid_sample_cubic", h.make_node("GridSample", ["x", "g"], ["y"], mode="cubic", padding_mode="reflection",
                                         align_corners=1), inputs=[_vi("x", X), _vi("g", [1, 3, 5, 2])], opset=20)
    one("shrink", h.make_node("Shrink", ["x"], ["y"], lambd=0.6, bias=0.25))
    one("hardmax", h.make_node("Hardmax", ["x"], ["y"], axis=1))
    # boolean outputs (1.0 / 0.0 in the C program): NaN where Log reads a negative, +-inf where a
    # Div divides by one of the constant's zeros
    out["op_isnan"] = (_model("op_isnan", [h.make_node("Log", ["x"], ["l"]), h.make_node("IsNaN", ["l"], ["y"])],
                              [_vi("x", X)], [_vi("y", None, T.BOOL)], opset=13), "IsNaN")
    zeros = np.where(np.arange(256).reshape(X) % 5 == 0, 0, 2).astype(np.float32)
    out["op_isinf"] = (_model("op_isinf", [h.make_node("Div", ["x", "z"], ["d"]),
                                           h.make_node("IsInf", ["d"], ["y"], detect_negative=0)],
                              [_vi("x", X)], [_vi("y", None, T.BOOL)], [_init("z", zeros)], opset=13), "IsInf")
    # batch dimensions broadcast on both sides ([2, 1] against [4]): the C backend copies one out
    one("matmul_bcast_both", h.make_node("MatMul", ["x", "w"], ["y"]),
        [_init("w", _w(_rng("matmul_bcast_both"), 4, 5, 2))], x_shape=[2, 1, 3, 5])
    return out


# -- bad inputs ---------------------------------------------------------------------------------
def bad_models(bad_dir: Path, good: onnx.ModelProto) -> list[dict]:
    bad_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    data = good.SerializeToString(deterministic=True)
    (bad_dir / "truncated.onnx").write_bytes(data[: len(data) // 2])
    entries.append({"name": "truncated", "file": "bad/truncated.onnx", "expect_error": "truncated"})
    (bad_dir / "random_bytes.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    entries.append({"name": "random_bytes", "file": "bad/random_bytes.onnx", "expect_error": "random_bytes.onnx"})

    def save(name, model, expect):
        (bad_dir / f"{name}.onnx").write_bytes(model.SerializeToString(deterministic=True))
        entries.append({"name": name, "file": f"bad/{name}.onnx", "expect_error": expect})

    cyc = _model("cycle", [h.make_node("Add", ["x", "b"], ["a"], name="add_a"),
                           h.make_node("Relu", ["a"], ["b"], name="relu_b")],
                 [_vi("x", [2])], [_vi("b", [2])])
    save("cycle", cyc, "cycle")
    dup = _model("dup", [h.make_node("Relu", ["x"], ["y"], name="r1"), h.make_node("Sigmoid", ["x"], ["y"], name="s1")],
                 [_vi("x", [2])], [_vi("y", [2])])
    save("duplicate_names", dup, "'y'")
    missing = _model("missing", [h.make_node("MatMul", ["x", "weight_missing"], ["y"], name="mm")],
                     [_vi("x", [1, 2])], [_vi("y", [1, 2])])
    save("missing_initializer", missing, "weight_missing")
    dom = _model("domain", [h.make_node("Frobnicate", ["x"], ["y"], domain="com.example", name="frob")],
                 [_vi("x", [2])], [_vi("y", [2])])
    save("undeclared_domain", dom, "com.example")
    return entries


def main(out: Path = HERE) -> None:
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    entries = []

    def save(model: onnx.ModelProto, tags, op=None):
        name = model.graph.name
        (onnx_dir / f"{name}.onnx").write_bytes(model.SerializeToString(deterministic=True))
        e = {"name": name, "file": f"onnx/{name}.onnx", "source": "handbuilt",
             "opset": next(o.version for o in model.opset_import if o.domain == ""), "tags": tags}
        if op:
            e["op"] = op
        entries.append(e)

    save(opset7(), ["opset"])
    save(opset9(), ["opset"])
    save(opset11(), ["opset"])
    save(opset13(), ["opset"])
    for v in (15, 17, 19, 21, 23, 28):
        save(opset_n(v), ["opset"])
    dyn = dynamic_dims()
    save(dyn, ["dynamic"])
    entries[-1]["input_shapes"] = {"x": [2, 3, 10, 12]}
    save(shape_subgraph(), ["shape_subgraph"])
    external_data(onnx_dir)
    entries.append({"name": "external_data", "file": "onnx/external_data.onnx", "source": "handbuilt",
                    "opset": 13, "tags": ["external_data"]})
    save(if_model(), ["control_flow"])
    save(loop_model(), ["control_flow"])
    save(scan_model(), ["control_flow"])
    save(contrib_ops(), ["contrib"])
    save(qdq_model(), ["qdq"])
    save(qoperator_model(), ["qdq", "qoperator"])
    save(image_scaler_model(), ["opset", "legacy"])
    save(decomposed_activations(), ["decomposed"])
    for _name, (model, op) in per_op_models().items():
        save(model, ["per_op"], op=op)
    for _name, model in recurrent_models().items():
        save(model, ["per_op", "recurrent"], op=model.graph.node[0].op_type)
    bad = bad_models(out / "bad", opset13())
    for b in bad:
        b.update({"source": "handbuilt", "tags": ["bad"]})
    (out / "manifest_handbuilt.json").write_text(json.dumps(entries + bad, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
