"""Paths and helpers shared by the report and analysis tests (imported by name; the fixtures
live in this folder's conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DIGITS = ROOT / "examples" / "digits" / "digits_cnn.onnx"
DIGITS_INI = ROOT / "examples" / "digits" / "full_quant.ini"


def nonblank_png(data: bytes) -> bool:
    """True when ``data`` is a PNG with more than a few colours (something was drawn)."""
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB")
    small = np.asarray(im.resize((200, 200)))
    return len(np.unique(small.reshape(-1, 3), axis=0)) > 20
