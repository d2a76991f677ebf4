"""qcompiler: compile trained float models into quantized models for CPUs and microcontrollers.

The Python API the CLI uses::

    import qcompiler
    qcompiler.compile("model.onnx", "out.onnx", pipeline="fold-constants")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "compile", "load_model"]


def compile(model: Any, output: Any = None, **kwargs: Any):  # noqa: A001
    """Compile a model; see :func:`qcompiler.driver.compile` for the arguments."""
    from qcompiler.driver import compile as _compile

    return _compile(model, output, **kwargs)


def load_model(source: Any, **kwargs: Any):
    """Load a model into the IR; see :func:`qcompiler.driver.load_model`."""
    from qcompiler.driver import load_model as _load

    return _load(source, **kwargs)
