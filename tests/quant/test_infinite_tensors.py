"""Tensors holding +-Inf (attention masks filled with -inf) stay float; NaN is still an error."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import run_ort
from corpus import good_models, model_path
from onnx import TensorProto as T
from onnx import helper as h

from qcompiler.errors import DataError
from qcompiler.quant_api import quantize

ENTRY = next(e for e in good_models() if e["name"] == "pt_masked_attention")


def ids(seed: int) -> dict:
    x = np.random.default_rng(seed).integers(1, 16, (1, 12)).astype(np.int64)
    x[0, -4:] = 0  # padding: masked with -inf
    return {"input": x}


def test_a_minus_inf_attention_mask_stays_float(tmp_path):
    out = tmp_path / "q.onnx"
    r = quantize(str(model_path(ENTRY)), str(out), calib_data=[ids(s) for s in range(6)],
                 options={"cache_dir": str(tmp_path / "c")})  # fmt: skip
    assert any("infinite values" in w and "stays float" in w for w in r.warnings), r.warnings
    m = onnx.load(str(out))
    where = next(n for n in m.graph.node if n.op_type == "Where")
    readers = [n.op_type for n in m.graph.node if where.output[0] in n.input]
    assert readers == ["Softmax"]  # no QuantizeLinear of the masked scores
    assert sum(n.op_type == "QuantizeLinear" for n in m.graph.node) > 10  # the rest is quantized
    for seed in (1, 2, 3):
        got, want = run_ort(out, ids(seed))[0], run_ort(model_path(ENTRY), ids(seed))[0]
        assert np.all(np.isfinite(got))
        noise = float(np.sum((got.astype(np.float64) - want) ** 2))
        assert 10 * np.log10(float(np.sum(want.astype(np.float64) ** 2)) / max(noise, 1e-30)) > 20.0


def test_nan_in_a_tensor_is_still_an_error(tmp_path):
    g = h.make_graph([h.make_node("Sqrt", ["x"], ["s"]), h.make_node("Relu", ["s"], ["y"])], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, 4])], [h.make_tensor_value_info("y", T.FLOAT, [1, 4])])
    src = tmp_path / "m.onnx"
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), str(src))
    data = [{"x": np.array([[1, -1, 2, 3]], np.float32)}]
    with pytest.raises(DataError, match="NaN or Inf in tensor 's'"):
        quantize(str(src), None, calib_data=data, options={"cache_dir": str(tmp_path / "c")})
