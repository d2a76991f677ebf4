"""Round trip: load, run a pipeline, save; outputs equal onnxruntime on the original."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

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
    qcompiler.compile(str(src), str(out), pipeline=pipeline, verify_each=True)
    onnx.checker.check_model(str(out), full_check=True)
    assert_close(run_ort(out, feeds), run_ort(src, feeds))
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    again = tmp_path / "again.onnx"
    qcompiler.compile(str(src), str(again), pipeline=pipeline)
    assert again.read_bytes() == out.read_bytes()


SCRIPT = Path(sys.executable).with_name("qcompiler")
CLI_MODELS = ["op_conv", "opset7", "if_model", "contrib_ops", "external_data", "pt_transformer_block"]


@pytest.mark.parametrize("name", CLI_MODELS)
def test_roundtrip_through_the_cli(name, tmp_path):
    entry = next(e for e in MODELS if e["name"] == name)
    src = model_path(entry)
    outs = [tmp_path / "a.onnx", tmp_path / "b.onnx"]
    for out in outs:
        res = subprocess.run([str(SCRIPT), "compile", str(src), "-o", str(out), "--pipeline", ""],
                             capture_output=True, text=True)  # fmt: skip
        assert res.returncode == 0 and res.stderr == "", res.stderr
        assert res.stdout.startswith(f"wrote {out}")
    assert outs[0].read_bytes() == outs[1].read_bytes()
    onnx.checker.check_model(str(outs[0]), full_check=True)
    feeds = random_inputs(entry)
    assert_close(run_ort(outs[0], feeds), run_ort(src, feeds))
    api = tmp_path / "api.onnx"
    qcompiler.compile(str(src), str(api), pipeline="")
    assert api.read_bytes() == outs[0].read_bytes()  # the CLI is the API


def _count_nodes(graph: onnx.GraphProto, op_type: str) -> int:
    n = 0
    for node in graph.node:
        n += node.op_type == op_type
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                n += _count_nodes(g, op_type)
    return n


@pytest.mark.parametrize("pipeline", ["", None], ids=["empty", "default"])
def test_control_flow_kept(pipeline, tmp_path):
    for name, op in (("if_model", "If"), ("loop_model", "Loop"), ("scan_model", "Scan")):
        entry = next(e for e in MODELS if e["name"] == name)
        src = onnx.load(str(model_path(entry)))
        out = tmp_path / f"{name}.onnx"
        qcompiler.compile(str(model_path(entry)), str(out), pipeline=pipeline)
        got = onnx.load(str(out))
        assert _count_nodes(got.graph, op) == _count_nodes(src.graph, op) >= 1
        body = next(n for n in got.graph.node if n.op_type == op)
        assert all(len(a.g.node) > 0 for a in body.attribute if a.type == onnx.AttributeProto.GRAPH)


@pytest.mark.parametrize("pipeline", ["", None], ids=["empty", "default"])
def test_contrib_ops_carried_through(pipeline, tmp_path):
    entry = next(e for e in MODELS if "contrib" in e["tags"])
    src = onnx.load(str(model_path(entry)))
    contrib = sorted(n.op_type for n in src.graph.node if n.domain == "com.microsoft")
    assert contrib
    out = tmp_path / "o.onnx"
    qcompiler.compile(str(model_path(entry)), str(out), pipeline=pipeline)
    got = onnx.load(str(out))
    assert sorted(n.op_type for n in got.graph.node if n.domain == "com.microsoft") == contrib
    assert {o.domain: o.version for o in got.opset_import}["com.microsoft"] == 1


def test_external_data_output_is_self_contained(tmp_path):
    entry = next(e for e in MODELS if "external_data" in e["tags"])
    out = tmp_path / "o.onnx"
    qcompiler.compile(str(model_path(entry)), str(out), pipeline="")
    got = onnx.load(str(out), load_external_data=False)
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in got.graph.initializer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.onnx"]
    w = next(t for t in got.graph.initializer if t.name == "w")
    src = onnx.load(str(model_path(entry)))
    ref = next(t for t in src.graph.initializer if t.name == "w")
    assert onnx.numpy_helper.to_array(w).tobytes() == onnx.numpy_helper.to_array(ref).tobytes()


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


@pytest.mark.parametrize("pipeline", ["", None], ids=["empty", "default"])
def test_unbound_dynamic_dims_stay_symbolic(pipeline, tmp_path):
    import numpy as np

    entry = next(e for e in MODELS if "dynamic" in e["tags"])
    out = tmp_path / "sym.onnx"
    qcompiler.compile(str(model_path(entry)), str(out), pipeline=pipeline)
    dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["N", "", "H", "W"]
    rng = np.random.default_rng(1)
    for shape in ((1, 3, 8, 8), (3, 3, 12, 10)):  # still runs at sizes other than the manifest's
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        assert_close(run_ort(out, feeds), run_ort(model_path(entry), feeds))


def test_corpus_fixture(corpus):
    assert set(corpus) == set(IDS) and model_path(corpus["op_conv"]).is_file()
