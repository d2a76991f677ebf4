"""The committed test models are what the generator script produces, byte for byte."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnx
from corpus import good_models, model_path

HERE = Path(__file__).resolve().parent / "models"


def test_handbuilt_models_regenerate_identically(tmp_path):
    spec = importlib.util.spec_from_file_location("gen_onnx_models", HERE / "gen_onnx_models.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.main(tmp_path)
    manifest = json.loads((tmp_path / "manifest_handbuilt.json").read_text())
    assert manifest == json.loads((HERE / "manifest_handbuilt.json").read_text())
    for entry in manifest:
        assert (tmp_path / entry["file"]).read_bytes() == (HERE / entry["file"]).read_bytes(), entry["name"]


def test_every_good_model_is_valid():
    for entry in good_models():
        onnx.checker.check_model(str(model_path(entry)), full_check=True)
