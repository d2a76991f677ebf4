"""Helpers for passes that look at tensors of the float model on the calibration data.

:func:`calibration_set` gives the compile's calibration samples (converting what the user gave
once, as ``collect-calibration`` does); :func:`run_exposing` runs the model as it is (fused ops
lowered, FakeQuant as the identity) in onnxruntime and yields, per sample, the requested
tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from qcompiler.errors import DataError
from qcompiler.ir import Model
from qcompiler.pass_base import PassContext

__all__ = ["calibration_set", "run_exposing"]


def calibration_set(model: Model, ctx: PassContext, who: str):
    """The calibration set of this compile; a one-line DataError naming ``who`` if there is none."""
    from qcompiler.data import as_calibration_set, input_specs

    specs = input_specs(model, label=str(ctx.options.get("source") or "model"))
    data = ctx.calib_data
    if data is None and ctx.config is not None and ctx.config.data_preprocess_param.calibrate_path:
        data = as_calibration_set(None, specs, ctx.config)
    if data is None:
        raise DataError(f"{who} needs calibration data: set calibrate_path in the config or pass --calib-data DIR")
    data = as_calibration_set(data, specs, ctx.config)
    ctx.calib_data = data
    return data


def run_exposing(model: Model, names: Sequence[str], samples, limit: int | None = None) -> Iterator[list[np.ndarray]]:
    """For each sample (at most ``limit``), the values of the tensors ``names`` in the model."""
    from qcompiler.calibration.collect import _session
    from qcompiler.codegen.onnx_backend import ir_to_proto

    sess = _session(ir_to_proto(model), list(names))
    outs = [o.name for o in sess.get_outputs()]
    idx = [outs.index(n) for n in names]
    wanted = [outs[i] for i in idx]
    for k, s in enumerate(samples):
        if limit is not None and k >= limit:
            break
        yield sess.run(wanted, s)
