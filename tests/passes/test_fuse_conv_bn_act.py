"""fuse-conv-bn-act: each rule on a small graph built with onnx.helper, then the corpus models.

Every rewrite test checks the op types after the pass, the IR verifier, ``onnx.checker`` (full
check) on the serialized result, and onnxruntime outputs against the original model.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from conftest import assert_close, run_ort
from corpus import good_models, model_path, random_inputs
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

import qcompiler
from qcompiler.codegen.onnx_backend import ir_to_proto
from qcompiler.errors import PipelineError
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.ir import Model, verify
from qcompiler.pass_base import PassContext
from qcompiler.passes.fuse_conv_bn_act import (
    FOLD_BN,
    FUSE_ACTIVATION,
    MATMUL_BIAS,
    STANDALONE_BN,
    FuseConvBnActPass,
    FuseOptions,
)

OPSETS = (9, 11, 13, 17)
RNG_SEED = 1234


# -- building and checking ------------------------------------------------------------------------
def f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def make(nodes, inits: dict, opset: int, x_shape=(1, 3, 6, 6), outputs=("y",)) -> onnx.ModelProto:
    """A model with float input ``x`` and float outputs; shapes come from onnx inference.

    Initializers no node reads are left out.
    """
    read = {i for n in nodes for i in n.input}
    inits = {k: v for k, v in inits.items() if k in read}
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                     [h.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                     [nh.from_array(f32(v), k) for k, v in inits.items()])  # fmt: skip
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 7
    return with_output_shapes(m)


def with_output_shapes(m: onnx.ModelProto) -> onnx.ModelProto:
    """Fill the outputs' shapes from onnx shape inference, then check the model."""
    inferred = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    known = {vi.name: vi for vi in [*inferred.graph.value_info, *inferred.graph.output]}
    for out in m.graph.output:
        if out.name in known:
            out.type.CopyFrom(known[out.name].type)
    onnx.checker.check_model(m, full_check=True)
    return m


def bn_params(rng, c: int, prefix: str = "bn") -> dict:
    return {f"{prefix}_s": rng.uniform(0.5, 2.0, c), f"{prefix}_b": rng.normal(0, 1, c),
            f"{prefix}_m": rng.normal(0, 1, c), f"{prefix}_v": rng.uniform(0.2, 3.0, c)}  # fmt: skip


def bn_node(x: str, y: str, prefix: str = "bn", **attrs) -> onnx.NodeProto:
    outs = [y, f"{prefix}_rm", f"{prefix}_rv"] if attrs.get("training_mode") else [y]
    return h.make_node("BatchNormalization", [x] + [f"{prefix}_{k}" for k in "sbmv"], outs,
                       name=prefix, **attrs)  # fmt: skip


def run_pass(proto: onnx.ModelProto, **options) -> tuple[Model, onnx.ModelProto]:
    """Load, run the pass, verify the IR, serialize and check the result with onnx.checker."""
    model = load_onnx(proto)
    FuseConvBnActPass(FuseOptions(**options))(model, PassContext())
    verify(model)
    out = ir_to_proto(model)
    onnx.checker.check_model(out, full_check=True)
    return model, out


def types(model: Model) -> list[str]:
    return [op.qualified_type for op in model.graph]


def feeds_for(proto: onnx.ModelProto, seed: int = 0) -> dict:
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    return {"x": np.random.default_rng(seed).normal(0, 2, dims).astype(np.float32)}


def same_outputs(before: onnx.ModelProto, after: onnx.ModelProto, rel: float = 1e-5) -> None:
    feeds = feeds_for(before)
    assert_close(run_ort(after, feeds), run_ort(before, feeds), rel=rel)


def check(proto: onnx.ModelProto, want: list[str], rel: float = 1e-5, **options) -> Model:
    model, out = run_pass(proto, **options)
    assert types(model) == want, types(model)
    same_outputs(proto, out, rel)
    return model


def conv(x: str, y: str, w: str, b: str | None = None, name: str = "conv", **attrs) -> onnx.NodeProto:
    attrs.setdefault("kernel_shape", [3, 3])
    attrs.setdefault("pads", [1, 1, 1, 1])
    return h.make_node("Conv", [x, w] + ([b] if b else []), [y], name=name, **attrs)


# -- fold-bn --------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("group", [1, 3])
def test_fold_bn_into_conv(opset, with_bias, group):
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (6, 3 // group, 3, 3)), **bn_params(rng, 6)}
    if with_bias:
        inits["b"] = rng.normal(0, 1, 6)
    proto = make([conv("x", "c", "w", "b" if with_bias else None, group=group),
                  bn_node("c", "y", epsilon=1e-3)], inits, opset)  # fmt: skip
    model = check(proto, ["Conv"])
    (op,) = model.graph
    assert op.name == "conv" and op.input(2) is not None and op.input(1).dtype.name == "FLOAT32"
    assert op.output.name == "y"
    # the old weights and the BN parameters are gone, only the folded weight and bias remain
    assert sorted(c.name for c in model.graph.constants) == ["conv_bias", "w_bn"]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("group", [1, 2])
def test_fold_bn_into_conv_transpose(opset, group):
    rng = np.random.default_rng(RNG_SEED)
    cin, cpg = 4, 3  # weight [Cin, Cout/group, kh, kw]: Cout = 3 * group
    inits = {"w": rng.normal(0, 1, (cin, cpg, 3, 3)), "b": rng.normal(0, 1, cpg * group),
             **bn_params(rng, cpg * group)}  # fmt: skip
    nodes = [h.make_node("ConvTranspose", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], strides=[2, 2],
                         group=group, name="deconv"), bn_node("c", "y")]  # fmt: skip
    check(make(nodes, inits, opset, x_shape=(1, cin, 5, 5)), ["ConvTranspose"])


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias", ["none", "vector", "scalar"])
def test_fold_bn_into_gemm(opset, trans_b, bias):
    rng = np.random.default_rng(RNG_SEED)
    k, n = 8, 5
    w = rng.normal(0, 1, (n, k) if trans_b else (k, n))
    inits = {"w": w, **bn_params(rng, n)}
    ins = ["x", "w"]
    if bias != "none" or opset < 11:  # C is optional from opset 11
        inits["c"] = rng.normal(0, 1, n if bias != "scalar" else 1) if bias != "none" else np.zeros(n)
        ins.append("c")
    nodes = [h.make_node("Gemm", ins, ["g"], transB=trans_b, alpha=0.7, beta=1.3, name="fc"),
             bn_node("g", "y")]  # fmt: skip
    model = check(make(nodes, inits, opset, x_shape=(3, k)), ["Gemm"])
    (op,) = model.graph
    assert op.attr("beta") == 1.0 and op.attr("alpha") == pytest.approx(0.7)


@pytest.mark.parametrize("opset", OPSETS)
def test_fold_bn_into_matmul_makes_a_gemm(opset):
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (8, 5)), **bn_params(rng, 5)}
    nodes = [h.make_node("MatMul", ["x", "w"], ["mm"], name="fc"), bn_node("mm", "y")]
    model = check(make(nodes, inits, opset, x_shape=(4, 8)), ["Gemm"])
    assert model.graph.first.name == "fc"
    # ... and the Gemm then takes the activation after it
    nodes.append(h.make_node("Relu", ["y"], ["r"], name="relu"))
    model = check(make(nodes, inits, opset, x_shape=(4, 8), outputs=("r",)), ["qcompiler.GemmAct"])
    assert model.graph.first.meta["fused_names"] == ["relu"]


def test_matmul_over_a_3d_input_is_not_folded():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (8, 5)), **bn_params(rng, 3)}
    proto = make([h.make_node("MatMul", ["x", "w"], ["mm"]), bn_node("mm", "y")], inits, 13, x_shape=(2, 3, 8))
    model = load_onnx(proto)
    bn = next(op for op in model.graph if op.op_type == "BatchNormalization")
    assert FOLD_BN.apply(bn, model) == "MatMul is not a 2-D layer [N, K] x [K, C] with BatchNormalization over C"
    # BN normalizes axis 1 (the 3 rows here): it still goes, as a per-channel Mul + Add
    check(proto, ["MatMul", "Mul", "Add"])


def test_conv_with_two_readers_keeps_its_bn_separate():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4)}
    nodes = [conv("x", "c", "w"), bn_node("c", "n"), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("Add", ["n", "r"], ["y"])]  # fmt: skip
    proto = make(nodes, inits, 13)
    model = load_onnx(proto)
    bn = next(op for op in model.graph if op.op_type == "BatchNormalization")
    assert FOLD_BN.apply(bn, model) == "Conv output has other readers than the BatchNormalization"
    conv_op = model.graph.first
    assert FUSE_ACTIVATION.apply(conv_op, model) == "Conv output has 2 readers (BatchNormalization, Relu), not one activation"
    check(proto, ["Conv", "Mul", "Add", "Relu", "Add"])


@pytest.mark.parametrize("opset, attrs, reason", [
    (15, {"training_mode": 1}, "BatchNormalization has training_mode=1"),
    (7, {"spatial": 0}, "BatchNormalization has spatial=0 (statistics per element, not per channel)"),
])  # fmt: skip
def test_bn_not_in_inference_form_is_left_alone(opset, attrs, reason):
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4)}
    if attrs.get("spatial") == 0:
        inits.update({k: np.resize(v, (4, 6, 6)).astype(np.float32) for k, v in bn_params(rng, 4).items()})
    proto = make([conv("x", "c", "w"), bn_node("c", "y", **attrs)], inits, opset)
    model = load_onnx(proto)
    bn = next(op for op in model.graph if op.op_type == "BatchNormalization")
    assert FOLD_BN.apply(bn, model) == reason
    assert STANDALONE_BN.apply(bn, model) == reason
    if opset >= 9:  # onnx's checker rejects the training outputs before opset 14 anyway
        _, out = run_pass(proto)
        assert [n.op_type for n in out.graph.node] == ["Conv", "BatchNormalization"]


def test_weight_that_is_not_a_constant_is_not_folded():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w0": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4)}
    nodes = [h.make_node("Relu", ["w0"], ["w"]), conv("x", "c", "w"), bn_node("c", "y")]
    proto = make(nodes, inits, 13)
    model = load_onnx(proto)
    bn = next(op for op in model.graph if op.op_type == "BatchNormalization")
    assert FOLD_BN.apply(bn, model) == "Conv weight is not a float32 constant"


def test_shared_weight_is_not_changed_for_the_other_conv():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (3, 3, 3, 3)), **bn_params(rng, 3)}
    nodes = [conv("x", "c1", "w", name="conv1"), bn_node("c1", "n"),
             conv("n", "y", "w", name="conv2")]  # fmt: skip
    model = check(make(nodes, inits, 13), ["Conv", "Conv"])
    assert model.graph.last.input(1).name == "w"


# -- fuse-activation ------------------------------------------------------------------------------
def _act_cases(opset: int):
    """(nodes reading ``c`` and writing ``y``, extra initializers, activation, alpha, beta)."""
    f32max = float(np.finfo(np.float32).max)
    cases = {
        "relu": ([h.make_node("Relu", ["c"], ["y"], name="act")], {}, "Relu", 0.0, 0.0),
        "leaky": ([h.make_node("LeakyRelu", ["c"], ["y"], alpha=0.2, name="act")], {}, "LeakyRelu", 0.2, 0.0),
        # alpha and beta go into the layer (fold-hardsigmoid); a Clip to [0, 1] is fused
        "hardsigmoid": ([h.make_node("HardSigmoid", ["c"], ["y"], alpha=0.3, beta=0.4, name="act")], {},
                        "Clip", 0.0, 1.0),
        "sigmoid": ([h.make_node("Sigmoid", ["c"], ["y"], name="act")], {}, "Sigmoid", 0.0, 0.0),
        "tanh": ([h.make_node("Tanh", ["c"], ["y"], name="act")], {}, "Tanh", 0.0, 0.0),
    }  # fmt: skip
    if opset < 11:
        cases["relu6"] = ([h.make_node("Clip", ["c"], ["y"], min=0.0, max=6.0, name="act")], {}, "Clip", 0.0, 6.0)
        cases["clip_min"] = ([h.make_node("Clip", ["c"], ["y"], min=-1.0, name="act")], {}, "Clip", -1.0, f32max)
    else:
        cases["relu6"] = ([h.make_node("Clip", ["c", "lo", "hi"], ["y"], name="act")], {"lo": 0.0, "hi": 6.0},
                          "Clip", 0.0, 6.0)
        cases["clip_max"] = ([h.make_node("Clip", ["c", "", "hi"], ["y"], name="act")], {"hi": 1.5},
                             "Clip", -f32max, 1.5)
    if opset >= 14:
        cases["hardswish"] = ([h.make_node("HardSwish", ["c"], ["y"], name="act")], {}, "HardSwish", 0.0, 0.0)
    return cases  # fmt: skip


ACT_PARAMS = [(o, k) for o in OPSETS + (14,) for k in _act_cases(o)]


@pytest.mark.parametrize("opset, case", ACT_PARAMS, ids=[f"{k}-op{o}" for o, k in ACT_PARAMS])
def test_fuse_plain_activation(opset, case):
    rng = np.random.default_rng(RNG_SEED)
    nodes, extra, activation, alpha, beta = _act_cases(opset)[case]
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), "b": rng.normal(0, 1, 4), **bn_params(rng, 4), **extra}
    proto = make([conv("x", "c0", "w", "b"), bn_node("c0", "c"), *nodes], inits, opset)
    model = check(proto, ["qcompiler.ConvAct"])
    (op,) = model.graph
    assert op.name == "conv" and op.meta["fused_names"] == ["act"] and op.output.name == "y"
    assert op.attr("activation") == activation
    assert op.attr("act_alpha") == pytest.approx(alpha) and op.attr("act_beta") == pytest.approx(beta)
    assert op.attr("kernel_shape") == (3, 3) and op.attr("pads") == (1, 1, 1, 1)
    names = ["w_bn_hs", "conv_bias_hs"] if case == "hardsigmoid" else ["w_bn", "conv_bias"]
    assert [c.name for c in model.graph.constants] == names  # Clip bounds dropped too


@pytest.mark.parametrize("layer", ["Conv", "ConvTranspose", "Gemm"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fold_hardsigmoid_into_the_layer(layer, with_bias):
    """A squeeze-and-excitation gate: layer -> HardSigmoid becomes one layer with a [0, 1] Clip
    (no fusing asked for: the Clip stays an op); the float function is kept."""
    rng = np.random.default_rng(RNG_SEED)
    b = ["b"] if with_bias else []
    if layer == "Conv":
        node, inits, x_shape = conv("x", "c", "w", b[0] if b else None), {"w": rng.normal(0, 1, (4, 3, 3, 3))}, (1, 3, 6, 6)
        inits["b"] = rng.normal(0, 1, 4)
    elif layer == "ConvTranspose":
        node = h.make_node("ConvTranspose", ["x", "w", *b], ["c"], kernel_shape=[2, 2], strides=[2, 2], group=3, name="l")
        inits, x_shape = {"w": rng.normal(0, 1, (3, 2, 2, 2)), "b": rng.normal(0, 1, 6)}, (1, 3, 4, 4)
    else:
        node = h.make_node("Gemm", ["x", "w", *b], ["c"], transB=1, beta=0.5, name="l")
        inits, x_shape = {"w": rng.normal(0, 1, (5, 6)), "b": rng.normal(0, 1, 5)}, (2, 6)
    nodes = [node, h.make_node("HardSigmoid", ["c"], ["y"], alpha=0.7, beta=0.45, name="gate")]
    model = check(make(nodes, inits, 13, x_shape=x_shape), [layer, "Clip"], activations=[])
    clip = list(model.graph)[-1]
    assert clip.name == "gate" and [float(v.const) for v in clip.inputs[1:]] == [0.0, 1.0]
    # a layer output with another reader keeps its HardSigmoid
    two = [node, h.make_node("HardSigmoid", ["c"], ["y"], name="gate"), h.make_node("Relu", ["c"], ["z"], name="r")]
    check(make(two, inits, 13, x_shape=x_shape, outputs=("y", "z")), [layer, "HardSigmoid", "Relu"], activations=[])
    check(make(nodes, inits, 13, x_shape=x_shape), [layer, "HardSigmoid"], activations=[], fold_hardsigmoid=False)


@pytest.mark.parametrize("layer", ["ConvTranspose", "Gemm", "MatMul"])
def test_fuse_activation_after_other_layers(layer):
    rng = np.random.default_rng(RNG_SEED)
    if layer == "ConvTranspose":
        node = h.make_node("ConvTranspose", ["x", "w"], ["c"], kernel_shape=[2, 2], strides=[2, 2], name="l")
        inits, x_shape = {"w": rng.normal(0, 1, (3, 4, 2, 2))}, (1, 3, 4, 4)
    else:
        node = h.make_node(layer, ["x", "w"], ["c"], name="l")
        inits, x_shape = {"w": rng.normal(0, 1, (6, 5))}, (2, 6)
    nodes = [node, h.make_node("LeakyRelu", ["c"], ["y"], alpha=0.1, name="act")]
    check(make(nodes, inits, 13, x_shape=x_shape), [f"qcompiler.{layer}Act"])


def _hardswish_nodes(variant: str, opset: int) -> tuple[list, dict]:
    """The decomposed hard-swish of ``c`` into ``y`` in the forms exporters emit."""
    if opset >= 11:
        clip = [h.make_node("Clip", ["a", "zero", "six"], ["k"])]
    else:
        clip = [h.make_node("Clip", ["a"], ["k"], min=0.0, max=6.0)]
    inits = {"three": 3.0, "six": 6.0, "zero": 0.0, "sixth": np.float32(1 / 6)}
    add = h.make_node("Add", ["c", "three"], ["a"], name="hs_add")
    if variant == "relu_min":
        clip = [h.make_node("Relu", ["a"], ["r"]), h.make_node("Min", ["r", "six"], ["k"])]
    elif variant == "max_min":
        clip = [h.make_node("Max", ["zero", "a"], ["r"]), h.make_node("Min", ["six", "r"], ["k"])]
    if variant in ("div", "relu_min", "max_min"):  # torch: x * clip(x + 3, 0, 6) / 6
        tail = [h.make_node("Mul", ["c", "k"], ["m"]), h.make_node("Div", ["m", "six"], ["y"], name="hs_div")]
    elif variant == "mul_sixth_swapped":  # keras: (x + 3 swapped) clip * (1/6), then * x
        add = h.make_node("Add", ["three", "c"], ["a"], name="hs_add")
        tail = [h.make_node("Mul", ["sixth", "k"], ["d"]), h.make_node("Mul", ["d", "c"], ["y"], name="hs_mul")]
    elif variant == "mul_then_sixth":
        tail = [h.make_node("Mul", ["k", "c"], ["m"]), h.make_node("Mul", ["m", "sixth"], ["y"])]
    elif variant == "div_then_mul":
        tail = [h.make_node("Div", ["k", "six"], ["d"]), h.make_node("Mul", ["c", "d"], ["y"])]
    return [add, *clip, *tail], inits


HS_VARIANTS = ["div", "mul_sixth_swapped", "mul_then_sixth", "div_then_mul", "relu_min", "max_min"]
HS_PARAMS = [(v, o) for v in HS_VARIANTS for o in OPSETS]


@pytest.mark.parametrize("variant, opset", HS_PARAMS, ids=[f"{v}-op{o}" for v, o in HS_PARAMS])
def test_fuse_decomposed_hardswish(variant, opset):
    rng = np.random.default_rng(RNG_SEED)
    tail, extra = _hardswish_nodes(variant, opset)
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4), **extra}
    proto = make([conv("x", "c0", "w"), bn_node("c0", "c"), *tail], inits, opset)
    model = check(proto, ["qcompiler.ConvAct"])
    (op,) = model.graph
    assert op.attr("activation") == "HardSwish" and op.name == "conv"
    assert op.meta["fused_names"] == [n.name for n in tail if n.name]
    assert [c.name for c in model.graph.constants] == ["w_bn", "conv_bias"]


def test_hardswish_multiplied_by_rounded_sixth():
    """Exporters write 1/6 as 0.16666; the fused op computes exactly x*clip(x+3,0,6)/6."""
    rng = np.random.default_rng(RNG_SEED)
    tail, extra = _hardswish_nodes("mul_then_sixth", 13)
    extra["sixth"] = 0.16666
    proto = make([conv("x", "c", "w"), *tail], {"w": rng.normal(0, 1, (4, 3, 3, 3)), **extra}, 13)
    # the original is off by 0.16666 * 6 - 1 = -4e-5 relative
    check(proto, ["qcompiler.ConvAct"], rel=1e-4)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("form", ["hardsigmoid", "sigmoid"])
def test_fuse_x_times_gate(opset, form):
    rng = np.random.default_rng(RNG_SEED)
    gate = (h.make_node("HardSigmoid", ["c"], ["g"], alpha=1 / 6, beta=0.5, name="hsig") if form == "hardsigmoid"
            else h.make_node("Sigmoid", ["c"], ["g"], name="sig"))  # fmt: skip
    nodes = [conv("x", "c", "w"), gate, h.make_node("Mul", ["g", "c"], ["y"], name="mul")]
    model = check(make(nodes, {"w": rng.normal(0, 1, (4, 3, 3, 3))}, opset), ["qcompiler.ConvAct"])
    (op,) = model.graph
    assert op.attr("activation") == ("HardSwish" if form == "hardsigmoid" else "Silu")
    assert op.meta["fused_names"] == [gate.name, "mul"]


def test_x_times_other_hardsigmoid_is_left_alone():
    rng = np.random.default_rng(RNG_SEED)
    nodes = [conv("x", "c", "w"), h.make_node("HardSigmoid", ["c"], ["g"]),  # alpha 0.2: not hard-swish
             h.make_node("Mul", ["c", "g"], ["y"])]  # fmt: skip
    proto = make(nodes, {"w": rng.normal(0, 1, (4, 3, 3, 3))}, 17)
    model = load_onnx(proto)
    assert FUSE_ACTIVATION.apply(model.graph.first, model) == (
        "Conv output has 2 readers (HardSigmoid, Mul), not one activation")
    check(proto, ["Conv", "HardSigmoid", "Mul"])


def test_activation_fusion_negative_reasons():
    rng = np.random.default_rng(RNG_SEED)
    w = {"w": rng.normal(0, 1, (4, 3, 3, 3))}
    # the conv output is also a graph output
    proto = make([conv("x", "c", "w"), h.make_node("Relu", ["c"], ["y"])], w, 13, outputs=("y", "c"))
    model = load_onnx(proto)
    assert FUSE_ACTIVATION.apply(model.graph.first, model) == "Conv output is a graph output"
    check(proto, ["Conv", "Relu"])
    # the activation is not in the list
    proto = make([conv("x", "c", "w"), h.make_node("Tanh", ["c"], ["y"])], w, 13)
    model = load_onnx(proto)
    assert FUSE_ACTIVATION.apply(model.graph.first, model, FuseOptions(activations=["Relu", "Clip"])) == (
        "Tanh is not in the activations to fuse")
    check(proto, ["Conv", "Tanh"], activations=["Relu", "Clip"])
    check(proto, ["Conv", "Tanh"], fuse_activation=False)
    # a hard-swish whose x + 3 also feeds something else
    tail, extra = _hardswish_nodes("div", 13)
    proto = make([conv("x", "c", "w"), *tail, h.make_node("Add", ["a", "y"], ["z"])], {**w, **extra}, 13,
                 outputs=("z",))  # fmt: skip
    model = load_onnx(proto)
    assert FUSE_ACTIVATION.apply(model.graph.first, model) == (
        "Conv output has 2 readers (Add, Mul), not one activation")


# -- canonicalize and standalone BN ---------------------------------------------------------------
@pytest.mark.parametrize("opset", OPSETS + (14,))
def test_lone_decomposed_hardswish_becomes_one_op(opset):
    tail, extra = _hardswish_nodes("div", opset)
    proto = make([h.make_node("Relu", ["x"], ["c"]), *tail], extra, opset)
    want = ["Relu", "HardSwish"] if opset >= 14 else ["Relu", "HardSigmoid", "Mul"]
    model = check(proto, want)
    assert model.graph.last.name == "hs_div" and model.graph.last.output.name == "y"
    check(proto, ["Relu", "Add", "Clip", "Mul", "Div"], canonicalize=False)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("x_shape", [(2, 5, 4, 4), (2, 5, 7), (3, 5)])
def test_standalone_bn_becomes_mul_add(opset, x_shape):
    rng = np.random.default_rng(RNG_SEED)
    proto = make([h.make_node("Relu", ["x"], ["r"]), bn_node("r", "y", epsilon=1e-4)], bn_params(rng, 5), opset,
                 x_shape=x_shape)  # fmt: skip
    model = check(proto, ["Relu", "Mul", "Add"])
    mul = model.graph.first.next
    assert mul.name == "bn" and mul.input(1).const.shape == (5,) + (1,) * (len(x_shape) - 2)
    check(proto, ["Relu", "BatchNormalization"], standalone_bn=False)


def test_options_turn_rules_off():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4)}
    proto = make([conv("x", "c", "w"), bn_node("c", "n"), h.make_node("Relu", ["n"], ["y"])], inits, 13)
    check(proto, ["qcompiler.ConvAct"])
    check(proto, ["Conv", "Mul", "Add", "Relu"], fuse_bn=False)
    check(proto, ["Conv", "BatchNormalization", "Relu"], fuse_bn=False, standalone_bn=False)
    check(proto, ["Conv", "Relu"], fuse_activation=False)
    check(proto, ["Conv", "Relu"], activations=[])


def test_unknown_activation_is_a_one_line_error(tmp_path):
    path = tmp_path / "missing.onnx"  # the pipeline is rejected before the model is read
    with pytest.raises(PipelineError) as e:
        qcompiler.compile(str(path), None, pipeline="fuse-conv-bn-act{activations=[Relu,Gelu]}")
    assert str(e.value) == ("pass 'fuse-conv-bn-act': unknown activation 'Gelu' in activations (allowed: "
                            "Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, Silu)")


def test_fuses_inside_control_flow_bodies():
    rng = np.random.default_rng(RNG_SEED)
    w = nh.from_array(f32(rng.normal(0, 1, (4, 3, 3, 3))), "w")
    body = [conv("x", "c", "w", name="inner_conv"), h.make_node("Relu", ["c"], ["r"], name="inner_relu")]
    then_g = h.make_graph(body, "then", [], [h.make_tensor_value_info("r", TensorProto.FLOAT, None)])
    else_g = h.make_graph([h.make_node("Identity", ["x"], ["e"])], "else", [],
                          [h.make_tensor_value_info("e", TensorProto.FLOAT, None)])  # fmt: skip
    nodes = [h.make_node("ReduceMax", ["x"], ["mx"], keepdims=0), h.make_node("Greater", ["mx", "zero"], ["cond"]),
             h.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)]  # fmt: skip
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                     [w, nh.from_array(f32(-100.0), "zero")])  # fmt: skip
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    proto.ir_version = 7
    proto = with_output_shapes(proto)
    model, out = run_pass(proto)
    if_op = model.graph.last
    inner = [op.qualified_type for op in if_op.regions()[1]]  # attribute order: else, then
    assert inner == ["qcompiler.ConvAct"], inner
    same_outputs(proto, out)


def test_deterministic_bytes():
    rng = np.random.default_rng(RNG_SEED)
    tail, extra = _hardswish_nodes("div", 13)
    inits = {"w": rng.normal(0, 1, (4, 3, 3, 3)), **bn_params(rng, 4), **extra}
    proto = make([conv("x", "c0", "w"), bn_node("c0", "c"), *tail], inits, 13)
    assert run_pass(proto)[1].SerializeToString() == run_pass(proto)[1].SerializeToString()


# -- real exporters' models -----------------------------------------------------------------------
CASES = {
    "pt_resnet_tiny": {"BatchNormalization": 0, "qcompiler.ConvAct": 3},
    "pt_mobilenetv2_tiny": {"BatchNormalization": 0, "qcompiler.ConvAct": 8},
    "pt_mobilenetv3_tiny": {"BatchNormalization": 0, "qcompiler.ConvAct": 9},
    "digits_cnn": {"BatchNormalization": 0, "qcompiler.ConvAct": 5, "Clip": 0, "Div": 0},
    "decomposed_activations": {"qcompiler.ConvAct": 3, "Clip": 0, "Sigmoid": 0},
    "opset9": {"BatchNormalization": 0, "LeakyRelu": 0, "qcompiler.ConvAct": 1},
    "op_batchnorm": {"BatchNormalization": 0, "Mul": 1, "Add": 1},
    "pt_detector_tiny": {"BatchNormalization": 0},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_structure_and_numerics(name, tmp_path):
    entry = next(e for e in good_models() if e["name"] == name)
    out = tmp_path / "f.onnx"
    res = qcompiler.compile(str(model_path(entry)), str(out), pipeline="fold-constants,fuse-conv-bn-act",
                            verify_each=True)  # fmt: skip
    ops = Counter(op.qualified_type for op in res.model.graph)
    for op, n in CASES[name].items():
        assert ops[op] == n, (op, ops)
    onnx.checker.check_model(str(out), full_check=True)
    feeds = random_inputs(entry)
    assert_close(run_ort(out, feeds), run_ort(model_path(entry), feeds))


def test_corpus_only_listed_activations_and_canonical_hardswish():
    entry = next(e for e in good_models() if e["name"] == "digits_cnn")
    res = qcompiler.compile(str(model_path(entry)), None,
                            pipeline="fold-constants,fuse-conv-bn-act{activations=[Relu,Clip]}")  # fmt: skip
    ops = Counter(op.qualified_type for op in res.model.graph)
    # hard-swish (opset 13) stays a separate, two-op x*HardSigmoid(x) instead of four ops
    assert ops["HardSigmoid"] == 1 and ops["Clip"] == 0 and ops["Div"] == 0
    assert ops["qcompiler.ConvAct"] == 4


def _gelu_nodes(form: str) -> tuple[list, dict]:
    """The exact GELU of ``c`` as exporters write it, ending in ``y``."""
    first = (h.make_node("Mul", ["rsqrt2", "c"], ["d"], name="g_scale") if form == "mul_rsqrt2"
             else h.make_node("Div", ["c", "sqrt2"], ["d"], name="g_div"))  # fmt: skip
    nodes = [first, h.make_node("Erf", ["d"], ["e"], name="g_erf"), h.make_node("Add", ["one", "e"], ["a"], name="g_add")]
    if form in ("div_mul_half", "mul_rsqrt2"):  # torch: x * (1 + erf) then * 0.5
        nodes += [h.make_node("Mul", ["c", "a"], ["m"], name="g_mul"), h.make_node("Mul", ["m", "half"], ["y"], name="g_half")]
    elif form == "half_then_x":
        nodes += [h.make_node("Mul", ["half", "a"], ["m"], name="g_mul"), h.make_node("Mul", ["m", "c"], ["y"], name="g_x")]
    else:  # x * 0.5 first
        nodes += [h.make_node("Mul", ["c", "half"], ["xh"], name="g_half"), h.make_node("Mul", ["xh", "a"], ["y"], name="g_mul")]
    return nodes, {"sqrt2": 1.4142135, "rsqrt2": 0.70710677, "one": 1.0, "half": 0.5}


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("form", ["div_mul_half", "mul_rsqrt2", "half_then_x", "x_half_first"])
def test_decomposed_gelu_becomes_one_op(opset, form):
    """x * 0.5 * (1 + erf(x / sqrt 2)) quantizes as one op: ONNX Gelu from opset 20, before it
    qcompiler.Gelu, which the written model spells out again (same float outputs)."""
    tail, extra = _gelu_nodes(form)
    proto = make([h.make_node("Relu", ["x"], ["r"]), h.make_node("Sub", ["r", "one"], ["c"]), *tail], extra, opset)
    model = check(proto, ["Relu", "Sub", "Gelu" if opset >= 20 else "qcompiler.Gelu"])
    assert model.graph.last.output.name == "y" and model.graph.last.meta["fused_names"]
    # an intermediate read elsewhere keeps the decomposition
    tail[-1].output[0] = "y0"
    other = make([h.make_node("Relu", ["x"], ["r"]), h.make_node("Sub", ["r", "one"], ["c"]), *tail,
                  h.make_node("Add", ["y0", "e"], ["y"])], extra, opset)  # fmt: skip
    assert "Gelu" not in " ".join(types(run_pass(other)[0]))


# -- matmul-bias ------------------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, bias_first", [((2, 5, 8), False), ((2, 5, 8), True), ((4, 8), False),
                                                 ((1, 2, 3, 8), False)])  # fmt: skip
def test_linear_on_a_3d_input_becomes_one_gemm(x_shape, bias_first):
    """PyTorch's Linear on [B, T, C] exports MatMul + Add(bias): one Gemm over [B*T, C], with
    Reshapes around it when the input has more than 2 dims."""
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (8, 6)), "b": rng.normal(0, 1, 6)}
    add = h.make_node("Add", ["b", "mm"] if bias_first else ["mm", "b"], ["y"], name="add")
    proto = make([h.make_node("MatMul", ["x", "w"], ["mm"], name="fc"), add], inits, 13, x_shape=x_shape)
    want = ["Gemm"] if len(x_shape) == 2 else ["Reshape", "Gemm", "Reshape"]
    model = check(proto, want)
    gemm = next(op for op in model.graph if op.op_type == "Gemm")
    assert gemm.name == "fc" and model.graph.outputs[0].name == "y"
    assert model.graph.outputs[0].shape.dims == (*x_shape[:-1], 6)


def test_matmul_bias_negative_reasons():
    rng = np.random.default_rng(RNG_SEED)
    inits = {"w": rng.normal(0, 1, (8, 6)), "b": rng.normal(0, 1, 6), "b2": rng.normal(0, 1, (5, 6)),
             "b5": rng.normal(0, 1, 5)}  # fmt: skip
    mm = h.make_node("MatMul", ["x", "w"], ["mm"])
    cases = [
        ([h.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]), h.make_node("MatMul", ["x", "xt"], ["mm"]),
          h.make_node("Add", ["mm", "b5"], ["y"])], ("y",), "MatMul weight is not a 2-D float32 constant"),
        ([mm, h.make_node("Add", ["mm", "b2"], ["y"])], ("y",),
         "the Add's other input is not a float32 constant over the output features"),
        ([mm, h.make_node("Add", ["mm", "b"], ["y"]), h.make_node("Relu", ["mm"], ["z"])], ("y", "z"),
         "MatMul output has other readers than the Add"),
    ]  # fmt: skip
    for nodes, outs, reason in cases:
        model = load_onnx(make(nodes, inits, 13, x_shape=(1, 5, 8), outputs=outs))
        add = next(op for op in model.graph if op.op_type == "Add")
        assert MATMUL_BIAS.apply(add, model) == reason
    # and the option turns it off
    check(make([mm, h.make_node("Add", ["mm", "b"], ["y"])], inits, 13, x_shape=(1, 5, 8)), ["MatMul", "Add"],
          matmul_bias=False)
