"""The test model corpus: manifest reading and random inputs (imported by tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def load_manifest() -> list[dict]:
    """Every entry of every ``manifest*.json`` beside this file, sorted by name."""
    entries = []
    for path in sorted(HERE.glob("manifest*.json")):
        entries.extend(json.loads(path.read_text()))
    return sorted(entries, key=lambda e: e["name"])


def model_path(entry: dict) -> Path:
    p = HERE / entry["file"]
    return p if p.exists() else ROOT / entry["file"]


def good_models() -> list[dict]:
    return [e for e in load_manifest() if "bad" not in e.get("tags", [])]


def bad_models() -> list[dict]:
    return [e for e in load_manifest() if "bad" in e.get("tags", [])]


def input_specs(entry: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Input name -> (concrete shape, numpy dtype), symbolic dims bound by the manifest."""
    model = onnx.load(str(model_path(entry)), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    bound = entry.get("input_shapes", {})
    specs = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        if vi.name in bound:
            shape = tuple(bound[vi.name])
        else:
            shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim)
        specs[vi.name] = (shape, onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
    return specs


def random_inputs(entry: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, (shape, dtype) in input_specs(entry).items():
        if np.issubdtype(dtype, np.floating):
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[name] = rng.random(shape) > 0.5
        else:
            feeds[name] = rng.integers(0, 4, shape).astype(dtype)
    return feeds
