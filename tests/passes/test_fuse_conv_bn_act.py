"""fuse-conv-bn-act: structure after the rewrite and numerics through onnxruntime."""

from __future__ import annotations

from collections import Counter

import onnx
import pytest
from conftest import assert_close, run_ort
from corpus import good_models, model_path, random_inputs

import qcompiler
from qcompiler.frontend.onnx_frontend import load_onnx
from qcompiler.ir import Graph
from qcompiler.passes.fuse_conv_bn_act import fold_bn, fuse_activation

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
def test_structure_and_numerics(name, tmp_path):
    entry = next(e for e in good_models() if e["name"] == name)
    out = tmp_path / "f.onnx"
    res = qcompiler.compile(str(model_path(entry)), str(out), pipeline="fold-constants,fuse-conv-bn-act",
                            verify_each=True)
    ops = Counter(op.qualified_type for op in res.model.graph)
    for op, n in CASES[name].items():
        assert ops[op] == n, (op, ops)
    onnx.checker.check_model(str(out), full_check=True)
    feeds = random_inputs(entry)
    assert_close(run_ort(out, feeds), run_ort(model_path(entry), feeds))


def test_only_listed_activations_and_canonical_hardswish(tmp_path):
    entry = next(e for e in good_models() if e["name"] == "digits_cnn")
    res = qcompiler.compile(str(model_path(entry)), None,
                            pipeline="fold-constants,fuse-conv-bn-act{activations=[Relu,Clip]}")
    ops = Counter(op.qualified_type for op in res.model.graph)
    # hard-swish (opset 13) stays a separate, two-op x*HardSigmoid(x) instead of four ops
    assert ops["HardSigmoid"] == 1 and ops["Clip"] == 0 and ops["Div"] == 0
    assert ops["qcompiler.ConvAct"] == 4


def test_rules_say_why_they_do_not_fire():
    entry = next(e for e in good_models() if e["name"] == "pt_resnet_tiny")
    m = load_onnx(model_path(entry))
    g: Graph = m.graph
    relu = next(op for op in g if op.op_type == "Relu")
    assert fold_bn(relu, g) == "BatchNormalization does not follow Conv/ConvTranspose/Gemm/MatMul"
    # The stem conv's output feeds BN, not an activation, before BN folding.
    conv = next(op for op in g if op.op_type == "Conv")
    assert fuse_activation(conv, g, m, ["Relu"]) == "BatchNormalization is not an activation"
    add = next(op for op in g if op.op_type == "Add")
    assert fuse_activation(add, g, m, ["Relu"]) == "not a Conv/ConvTranspose/Gemm/MatMul"
