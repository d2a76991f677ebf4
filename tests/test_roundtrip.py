"""Round trip: load, run a pipeline, save; outputs equal onnxruntime on the original."""

from __future__ import annotations

import hashlib
import subprocess

import onnx
import pytest
from conftest import assert_close, run_ort
from corpus import good_models, model_path, random_inputs

import qcompiler

MODELS = good_models()
IDS = [e["name"] for e in MODELS]


def test_corpus_is_wide():
    tags = {t for e in MODELS for t in e.get("tags", [])}
    assert len(MODELS) >= 15
    for needed in ("dynamic", "external_data", "control_flow", "contrib", "qdq", "opset"):
        assert needed in tags
    opsets = {e["opset"] for e in MODELS}
    assert min(opsets) <= 7 and max(opsets) >= 21


@pytest.mark.parametrize("entry", MODELS, ids=IDS)
@pytest.mark.parametrize("pipeline", ["", None], ids=["empty", "default"])
def test_roundtrip(entry, pipeline, tmp_path):
    src = model_path(entry)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "out.onnx"
    feeds = random_inputs(entry)
    qcompiler.compile(str(src), str(out), pipeline=pipeline)
    onnx.checker.check_model(str(out), full_check=True)
    assert_close(run_ort(out, feeds), run_ort(src, feeds))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    again = tmp_path / "again.onnx"
    qcompiler.compile(str(src), str(again), pipeline=pipeline)
    assert again.read_bytes() == out.read_bytes()


def test_control_flow_kept(tmp_path):
    for name, op in (("if_model", "If"), ("loop_model", "Loop"), ("scan_model", "Scan")):
        entry = next(e for e in MODELS if e["name"] == name)
        out = tmp_path / f"{name}.onnx"
        qcompiler.compile(str(model_path(entry)), str(out))
        assert op in [n.op_type for n in onnx.load(str(out)).graph.node]


def test_dynamic_dims_bound_through_cli(tmp_path):
    entry = next(e for e in MODELS if "dynamic" in e["tags"])
    out = tmp_path / "bound.onnx"
    shape = entry["input_shapes"]["x"]
    subprocess.run(["qcompiler", "compile", str(model_path(entry)), "-o", str(out), "--pipeline", "",
                    "--input-shape", "x:" + ",".join(map(str, shape))], check=True)
    model = onnx.load(str(out))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == shape
    feeds = random_inputs(entry)
    assert_close(run_ort(out, feeds), run_ort(model_path(entry), feeds))


def test_unbound_dynamic_dims_stay_symbolic(tmp_path):
    entry = next(e for e in MODELS if "dynamic" in e["tags"])
    out = tmp_path / "sym.onnx"
    qcompiler.compile(str(model_path(entry)), str(out), pipeline="")
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["N", "", "H", "W"]
