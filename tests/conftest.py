"""Shared test helpers: onnxruntime runs and the model corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "models"))
# The report tests' helpers (report_helpers, report_models) are imported by name; one conftest
# for the whole tree, since two modules named conftest would shadow each other.
sys.path.insert(0, str(Path(__file__).resolve().parent / "report"))


def run_ort(model, feeds: dict[str, np.ndarray], optimize: bool = True) -> list[np.ndarray]:
    """Run a model (path, ModelProto or bytes) on the CPU with one thread (``optimize=False``:
    without graph optimizations, so a QDQ model runs each op in float between exact Q/DQ)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    sess = ort.InferenceSession(str(model) if isinstance(model, Path) else model, opts,
                                providers=["CPUExecutionProvider"])  # fmt: skip
    return sess.run(None, feeds)


def assert_close(got: list[np.ndarray], want: list[np.ndarray], rel: float = 1e-5) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape, (g.shape, w.shape)
        w64 = np.asarray(w, dtype=np.float64)
        tol = rel * max(1.0, float(np.abs(w64).max()) if w64.size else 1.0)
        diff = float(np.abs(np.asarray(g, np.float64) - w64).max()) if w64.size else 0.0
        assert diff <= tol, f"max abs diff {diff} > {tol}"


@pytest.fixture
def ort_run():
    return run_ort


@pytest.fixture(scope="session")
def corpus() -> dict[str, dict]:
    """The good (loadable) corpus models by name: manifest entries; ``corpus.model_path(e)``."""
    from corpus import good_models

    return {e["name"]: e for e in good_models()}


# ---- report and analysis tests: compiled models shared by the session ----

@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("calibration-cache"))


@pytest.fixture(scope="session")
def digits_result(cache_dir):
    """The digits CNN quantized with its example config (100 calibration samples)."""
    import qcompiler
    from report_helpers import DIGITS, DIGITS_INI
    from qcompiler.quant_api import config_from_cli

    return qcompiler.compile(str(DIGITS), None, config=config_from_cli(str(DIGITS_INI), None),
                             options={"cache_dir": cache_dir})  # fmt: skip


@pytest.fixture(scope="session")
def hard_model():
    from report_models import hard_layer_calib, hard_layer_model

    return hard_layer_model(), hard_layer_calib()


@pytest.fixture
def cli_env(monkeypatch, cache_dir):
    monkeypatch.setenv("QCOMPILER_CACHE_DIR", cache_dir)
    return cache_dir
