"""The code in specs/quantization.md runs as written, and its pipeline is the default one."""

from __future__ import annotations

import re
from pathlib import Path

SPEC = Path(__file__).resolve().parents[2] / "specs" / "quantization.md"


def test_arithmetic_example_runs():
    code = re.search(r"```python\n(.*?)```", SPEC.read_text(), re.S).group(1)
    exec(compile(code, str(SPEC), "exec"), {})


def test_pipeline_text_is_the_default():
    from qcompiler.passes import DEFAULT_PIPELINES

    block = re.search(r"## The full-quant pipeline\n\n(.*?)\n\n", SPEC.read_text(), re.S).group(1)
    assert "".join(block.split()) == DEFAULT_PIPELINES["full-quant"].replace(" ", "")


def test_every_method_key_is_documented():
    from qcompiler.config import SCHEMA

    text = SPEC.read_text()
    for key in ("equalization", "bias_absorption", "bias_correction", "adaround", "adaround_iterations"):
        assert any(k.name == key for k in SCHEMA) and f"`{key}`" in text, key
