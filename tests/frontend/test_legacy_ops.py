"""Experimental early-opset ops become standard ones on import."""

from __future__ import annotations

import numpy as np
from conftest import run_ort
from corpus import good_models, model_path

from qcompiler.codegen.onnx_backend import ir_to_proto
from qcompiler.frontend.onnx_frontend import load_onnx

ENTRY = next(e for e in good_models() if e["name"] == "opset8_image_scaler")


def test_image_scaler_becomes_mul_add_with_the_same_outputs(capfd):
    ir = load_onnx(str(model_path(ENTRY)))
    kinds = [op.op_type for op in ir.graph]
    assert "ImageScaler" not in kinds and kinds[:2] == ["Mul", "Add"]
    assert "experimental" not in capfd.readouterr().out  # onnx's checker no longer sees it
    x = {"x": np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)}
    got, want = run_ort(ir_to_proto(ir), x)[0], run_ort(model_path(ENTRY), x)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
