"""Fixtures of the report and analysis tests: compiled models shared by the session."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

DIGITS = ROOT / "examples" / "digits" / "digits_cnn.onnx"
DIGITS_INI = ROOT / "examples" / "digits" / "full_quant.ini"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("calibration-cache"))


@pytest.fixture(scope="session")
def digits_result(cache_dir):
    """The digits CNN quantized with its example config (100 calibration samples)."""
    import qcompiler
    from qcompiler.quant_api import config_from_cli

    return qcompiler.compile(str(DIGITS), None, config=config_from_cli(str(DIGITS_INI), None),
                             options={"cache_dir": cache_dir})  # fmt: skip


@pytest.fixture(scope="session")
def hard_model():
    from models import hard_layer_calib, hard_layer_model

    return hard_layer_model(), hard_layer_calib()


@pytest.fixture
def cli_env(monkeypatch, cache_dir):
    monkeypatch.setenv("QCOMPILER_CACHE_DIR", cache_dir)
    return cache_dir


def nonblank_png(data: bytes) -> bool:
    """True when ``data`` is a PNG with more than a few colours (something was drawn)."""
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB")
    small = np.asarray(im.resize((200, 200)))
    return len(np.unique(small.reshape(-1, 3), axis=0)) > 20
